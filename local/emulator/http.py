"""The emulator as an HTTP endpoint that any SDK or the AWS CLI can use with --endpoint-url."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local.emulator.wire import Emulator


def make_server(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free port); call `serve_forever` to answer requests."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = emulator.handle(self.headers.get("X-Amz-Target", ""), body, dict(self.headers))
            self._send(answer.status, answer.headers, answer.body)

        def do_GET(self) -> None:
            # A liveness answer for people and scripts checking the endpoint is up.
            body = json.dumps({"service": "opsworkscm", "status": "ok"}).encode()
            self._send(200, {"Content-Type": "application/json"}, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            # Not send_response: its Date is this machine's time; the emulator's answers carry
            # the account's clock.
            self.send_response_only(status)
            if "Date" not in headers:
                self.send_header("Date", self.date_time_string())
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)
