"""python -m local.emulator: serve an emulated OpsWorks CM account on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from local import fleet
from local.emulator.backend import EmulatorConfig
from local.emulator.http import make_server
from local.emulator.wire import Emulator


def _number(kind: Callable[[str], float], low: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} must be at least {low}, not {text}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.emulator",
        description="Serve an emulated AWS OpsWorks CM account (JSON 1.1 protocol) on 127.0.0.1.",
    )
    add = parser.add_argument
    add(
        "--port",
        type=_number(int, 0, "--port"),
        default=4580,
        help="TCP port; 0 picks a free one (default 4580)",
    )
    add(
        "--manual-backup-limit",
        type=_number(int, 0, "--manual-backup-limit"),
        default=50,
        help="account-wide manual backups (default 50)",
    )
    add(
        "--server-limit",
        type=_number(int, 0, "--server-limit"),
        default=10,
        help="servers in the account (default 10)",
    )
    add(
        "--backup-seconds",
        type=_number(float, 0, "--backup-seconds"),
        default=120.0,
        help="how long a backup stays IN_PROGRESS (default 120)",
    )
    add(
        "--server-seconds",
        type=_number(float, 0, "--server-seconds"),
        default=60.0,
        help="how long CREATING, MODIFYING, UNDER_MAINTENANCE, RESTORING, DELETING last"
        " (default 60)",
    )
    add(
        "--delete-seconds",
        type=_number(float, 0, "--delete-seconds"),
        default=5.0,
        help="how long a backup stays DELETING (default 5)",
    )
    add(
        "--rate",
        type=_number(float, 0, "--rate"),
        default=5.0,
        help="requests per second before ThrottlingException; 0 turns throttling off (default 5)",
    )
    add(
        "--burst",
        type=_number(int, 1, "--burst"),
        default=10,
        help="burst of requests above the rate (default 10)",
    )
    add(
        "--fail-backups",
        metavar="GLOB",
        action="append",
        default=[],
        help="backups of servers whose name matches end FAILED (repeatable)",
    )
    add(
        "--restore-seconds",
        type=_number(float, 0, "--restore-seconds"),
        default=180.0,
        help="how long a server created from a backup stays CREATING (default 180)",
    )
    add(
        "--fail-restores",
        metavar="GLOB",
        action="append",
        default=[],
        help="servers created from a backup of a server whose name matches end FAILED (repeatable)",
    )
    add(
        "--latency-ms",
        type=_number(float, 0, "--latency-ms"),
        default=0.0,
        help="added to every response (default 0)",
    )
    add(
        "--deleting-counts",
        action="store_true",
        help="a manual backup being deleted counts toward the limit until it is gone (the API "
        "reference leaves it open; default: the slot is free once deletion starts)",
    )
    add("--region", default="us-east-1", help="region in ARNs (default us-east-1)")
    add(
        "--fleet",
        type=Path,
        metavar="FILE",
        help="seed the account from a fleet file (see local/fleets/demo.json)",
    )
    return parser.parse_args(argv)


def config_of(args: argparse.Namespace) -> EmulatorConfig:
    """The emulated account's behaviour as the command line asks for it."""
    return EmulatorConfig(
        manual_backup_limit=int(args.manual_backup_limit),
        server_limit=int(args.server_limit),
        backup_seconds=args.backup_seconds,
        server_seconds=args.server_seconds,
        delete_seconds=args.delete_seconds,
        fail_backups=tuple(args.fail_backups),
        restore_seconds=args.restore_seconds,
        fail_restores=tuple(args.fail_restores),
        deleting_counts_toward_limit=args.deleting_counts,
        region=args.region,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = Emulator(
        config_of(args), rate=args.rate, burst=int(args.burst), latency_ms=args.latency_ms
    )
    if args.fleet:
        try:
            fleet.seed(emulator, fleet.load(args.fleet))
        except fleet.FleetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        server = make_server(emulator, "127.0.0.1", int(args.port))
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"OpsWorks CM emulator listening on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
