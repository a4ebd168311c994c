"""The command line. Each flag that feeds the run is checked where it is parsed, by the rule the
function applies to the same field, so a mistake is reported naming the flag."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from backup_orchestrator.contract.events import ManualEvent
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.contract.validation import problems
from owcm_backup.adopt import command_adopt
from owcm_backup.commands import command_delete_orphans, command_plan, command_run
from owcm_backup.drill import command_drill
from owcm_backup.estate import command_estate_status
from owcm_backup.session import PACKAGED_MODELS
from owcm_backup.status import command_status

DISTRIBUTION = "opsworks-cm-backup"


class Parser(argparse.ArgumentParser):
    """Errors in one line, naming the command whose help to read."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def _checked(
    model: type[BaseModel], field: str, convert: Callable[[str], Any], extra: dict[str, Any]
) -> Callable[[str], Any]:
    """An argparse type: `convert` the text, then validate it as `field` of `model`."""

    def check(text: str) -> Any:
        value = convert(text)
        try:
            model.model_validate({field: value, **extra})
        except ValidationError as exc:
            said = "; ".join(m for f, m in problems(exc) if f.split(".")[0] == field)
            if said:
                raise argparse.ArgumentTypeError(f"{said} (got {text!r})") from None
        return value

    return check


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"names no server: {text!r}")
    return names


def _event_field(field: str, convert: Callable[[str], Any] = str) -> Callable[[str], Any]:
    return _checked(ManualEvent, field, convert, {})


def _setting(name: str) -> Callable[[str], Any]:
    # The model on the path so that only the setting in question can be wrong.
    return _checked(Settings, name, str, {"AWS_DATA_PATH": str(PACKAGED_MODELS)})


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _endpoint(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"must be a URL with its scheme, for example http://127.0.0.1:4580, not {text!r}"
        )
    return text


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def build_parser() -> Parser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint-url", type=_endpoint, help="OpsWorks CM endpoint (for example the emulator)"
    )
    common.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    common.add_argument("--profile", help="AWS named profile")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")

    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "--servers",
        action="append",
        type=_event_field("servers", _names),
        metavar="NAME[,NAME...]",
        help="back up these servers, tagged or not (repeatable)",
    )
    keep = selection.add_mutually_exclusive_group()
    keep.add_argument(
        "--retain", type=_event_field("retain", _whole), help="backups to keep per server, 1-49"
    )
    keep.add_argument(
        "--retention",
        type=_event_field("retention"),
        metavar="TIERS",
        help="tiers to keep per server, for example 'daily:7 weekly:4 monthly:3' (daily is "
        "required; not with --retain)",
    )
    selection.add_argument(
        "--select-tag",
        type=_setting("SELECT_TAG"),
        metavar="KEY=VALUE",
        help="selection tag (SELECT_TAG)",
    )
    selection.add_argument(
        "--prune-scope", choices=["own", "all-manual"], help="what may be pruned (PRUNE_SCOPE)"
    )

    parser = Parser(prog="owcm-backup", description="Plan, run and inspect OpsWorks CM backups.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], **kwargs: Any) -> Parser:
        sub: Parser = commands.add_parser(name, **kwargs)
        sub.set_defaults(command=run, parser=sub)
        return sub

    command(
        "plan",
        command_plan,
        parents=[common, selection],
        help="dry run: what would be created and deleted",
    )
    run = command(
        "run",
        command_run,
        parents=[common, selection],
        help="back up now (same code path as the Lambda)",
    )
    run.add_argument(
        "--description",
        type=_event_field("description"),
        help="text added to the backups' description",
    )
    run.add_argument("--wait", action="store_true", help="follow the backups to the end")
    run.add_argument(
        "--poll", type=_positive, default=30.0, help="seconds between checks (default 30)"
    )
    run.add_argument(
        "--timeout", type=_positive, default=3 * 3600, help="give up waiting after (s)"
    )
    run.add_argument(
        "--tracker-arn", help="hand the backups to this deployed tracker state machine"
    )
    status = command(
        "status",
        _status,
        parents=[common],
        help="servers, selection, retention, RPO and compliance, and the quota; with "
        "--deployments, of every account-region of the estate",
    )
    status.add_argument(
        "--select-tag", metavar="KEY=VALUE", type=_setting("SELECT_TAG"), help="selection tag"
    )
    status.add_argument(
        "--rpo-hours",
        metavar="N",
        type=_setting("RPO_HOURS"),
        help="recovery point objective of servers without their own tag (RPO_HOURS; the "
        "deployed stack's is the function's RPO_HOURS)",
    )
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a selected server has no good backup within its RPO (with "
        "--deployments: anywhere, or a deployment could not be read)",
    )
    status.add_argument(
        "--deployments",
        action="store_true",
        help="the estate's central view, from the monitoring account (--profile): every "
        "deployment of --config read through its read-only role, one table with ACCOUNT and "
        "REGION; each judged by its own settings (not with --select-tag or --rpo-hours); "
        "drills, alert delivery and adoption are left to `status` in each account",
    )
    status.add_argument(
        "--config",
        default="cdk.json",
        metavar="PATH",
        help="with --deployments: the cdk.json whose context lists deployments and "
        "monitoringAccount (default: cdk.json here)",
    )
    status.set_defaults(prune_scope=None)
    orphans = command(
        "delete-orphans",
        command_delete_orphans,
        parents=[common],
        help="delete backups of servers that no longer exist (asks first)",
    )
    orphans.add_argument(
        "--server", action="append", metavar="NAME", help="only this deleted server (repeatable)"
    )
    orphans.add_argument(
        "--include-others", action="store_true", help="also backups this product did not make"
    )
    orphans.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    adopt = command(
        "adopt",
        command_adopt,
        parents=[common],
        help="tag the backups this product made before it tagged its own (a dry run without --yes)",
    )
    adopt.add_argument(
        "--server", action="append", metavar="NAME", help="only this server's backups (repeatable)"
    )
    adopt.add_argument("--yes", action="store_true", help="tag them (default: only show)")
    drill = command(
        "drill",
        command_drill,
        parents=[common],
        help="restore a server's newest good backup into a temporary server now, measure, delete",
    )
    drill.add_argument(
        "--servers",
        action="append",
        required=True,
        type=_names,
        metavar="NAME[,NAME...]",
        help="drill these servers, due or not (repeatable)",
    )
    drill.add_argument("--backup-id", help="restore this backup (one server only)")
    drill.add_argument("--wait", action="store_true", help="follow the drill to its end")
    drill.add_argument(
        "--dry-run", action="store_true", help="show what would be created; change nothing"
    )
    drill.add_argument(
        "--state-machine-arn",
        help="run the drill as an execution of this deployed drill state machine "
        "(DRILL_STATE_MACHINE_ARN)",
    )
    drill.add_argument(
        "--poll", type=_positive, default=30.0, help="seconds between checks (default 30)"
    )
    drill.add_argument(
        "--timeout", type=_positive, help="give up waiting for an execution after (s)"
    )
    return parser


def _status(args: argparse.Namespace) -> int:
    """status, of this account, or with --deployments of the whole estate."""
    return command_estate_status(args) if args.deployments else command_status(args)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; a mistake exits 2 with one line naming the flag."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        parser: Parser = args.parser
        known = [s for action in parser._actions for s in action.option_strings]
        guesses = {
            word: difflib.get_close_matches(word.split("=")[0], known, n=1)
            for word in unknown
            if word.startswith("-")
        }
        hint = "".join(f" (did you mean {g[0]}?)" for g in guesses.values() if g)
        parser.error(f"unrecognized argument{'s' * (len(unknown) > 1)}: {' '.join(unknown)}{hint}")
    return args
