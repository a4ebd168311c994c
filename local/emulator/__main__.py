"""python -m local.emulator: serve emulated OpsWorks CM accounts on 127.0.0.1.

Every account and region is served: the one a request's credentials and signature name (see
callers.py). A fleet file seeds the default one and sets what it states; options given on the
command line win over it (and are copied by the accounts and regions first used later), and
`--fail-backups` adds to the fleet's `failBackups`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from local import fleet
from local.emulator.backend import EmulatorConfig
from local.emulator.http import make_server
from local.emulator.wire import Emulator

# Options that set the account (EmulatorConfig fields): left out, they are None and the fleet
# file, else the default, decides.
ACCOUNT_OPTIONS = (
    "manual_backup_limit",
    "server_limit",
    "backup_seconds",
    "server_seconds",
    "delete_seconds",
    "deleting_counts_toward_limit",
    "restore_seconds",
)


def _number(
    kind: Callable[[str], float], low: float, what: str, high: float | None = None
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{what} must be {bounds}, not {text}")
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
        type=_number(int, 0, "--port", high=65535),
        default=4580,
        help="TCP port; 0 picks a free one (default 4580)",
    )
    add(
        "--manual-backup-limit",
        type=_number(int, 0, "--manual-backup-limit"),
        help="account-wide manual backups (default: the fleet file's, else 50)",
    )
    add(
        "--server-limit",
        type=_number(int, 0, "--server-limit"),
        help="servers in the account (default: the fleet file's, else 10)",
    )
    add(
        "--backup-seconds",
        type=_number(float, 0, "--backup-seconds"),
        help="how long a backup stays IN_PROGRESS (default 120)",
    )
    add(
        "--server-seconds",
        type=_number(float, 0, "--server-seconds"),
        help="how long CREATING, MODIFYING, UNDER_MAINTENANCE, RESTORING, DELETING last"
        " (default 60)",
    )
    add(
        "--delete-seconds",
        type=_number(float, 0, "--delete-seconds"),
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
        help="backups of servers whose name matches end FAILED (repeatable; added to the fleet "
        "file's failBackups)",
    )
    add(
        "--restore-seconds",
        type=_number(float, 0, "--restore-seconds"),
        help="how long a server created from a backup stays CREATING (default: the fleet "
        "file's, else 180)",
    )
    add(
        "--fail-restores",
        metavar="GLOB",
        action="append",
        default=[],
        help="servers created from a backup of a server whose name matches end FAILED "
        "(repeatable; added to the fleet file's failRestores)",
    )
    add(
        "--latency-ms",
        type=_number(float, 0, "--latency-ms"),
        default=0.0,
        help="added to every response (default 0)",
    )
    add(
        "--deleting-counts",
        dest="deleting_counts_toward_limit",
        action=argparse.BooleanOptionalAction,
        help="a manual backup being deleted counts toward the limit until it is gone (the API "
        "reference leaves it open; default: the fleet file's, else the slot is free once "
        "deletion starts)",
    )
    add(
        "--region",
        default="us-east-1",
        help="the default region: the fleet file seeds it and unsigned requests reach it; a "
        "signed request reaches the account and region it names (default us-east-1)",
    )
    add(
        "--fleet",
        type=Path,
        metavar="FILE",
        help="seed the account from a fleet file (see local/fleets/demo.json)",
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Emulator:
    """The emulated account: defaults, then the fleet file, then the command line.

    Raises fleet.FleetError when the fleet file is not valid.
    """
    config = EmulatorConfig(region=args.region)
    emulator = Emulator(config, rate=args.rate, burst=int(args.burst), latency_ms=args.latency_ms)
    if args.fleet:
        fleet.seed(emulator, fleet.load(args.fleet))
    for field in ACCOUNT_OPTIONS:
        value = getattr(args, field)
        if value is not None:
            setattr(config, field, value)
    config.fail_backups = tuple(dict.fromkeys((*config.fail_backups, *args.fail_backups)))
    config.fail_restores = tuple(dict.fromkeys((*config.fail_restores, *args.fail_restores)))
    return emulator


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        emulator = build(args)
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
