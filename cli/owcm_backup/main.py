"""The entry point: run one command and turn every way it can end into an exit code and, at
most, a line on standard error."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from backup_orchestrator.aws.retries import THROTTLING_CODES
from backup_orchestrator.contract.events import InvalidRequestError
from backup_orchestrator.contract.settings import SettingsError
from owcm_backup.errors import CliError, Exit
from owcm_backup.parser import parse
from owcm_backup.session import RETRIES, ensure_model_path

# Where the service runs (its endpoints, before its end of life): a region outside the list
# is the usual reason an endpoint cannot be reached.
REGIONS = (
    "us-east-1, us-east-2, us-west-1, us-west-2, ap-northeast-1, ap-southeast-1, "
    "ap-southeast-2, eu-central-1, eu-west-1"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 not done (see commands), 2 bad input, 130 Ctrl-C, 141 the reader
    of standard output went away."""
    ensure_model_path()
    args = parse(argv)
    try:
        code: int = args.command(args)
        # Written out here, so a reader that went away is noticed while it can be handled.
        sys.stdout.flush()
    except (SettingsError, InvalidRequestError, CliError) as exc:
        return _fail(str(exc), Exit.BAD_INPUT)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        said = f"AWS answered {error.get('Code')}: {error.get('Message')}"
        if error.get("Code") in THROTTLING_CODES:
            said += (
                f" (still throttled after {RETRIES.attempts} attempts: other callers are using "
                "the account's OpsWorks CM request rate; try again, or lower this command's pace "
                "with OPSWORKSCM_RATE, 5 requests a second by default)"
            )
        return _fail(said, Exit.NOT_DONE)
    except BotoCoreError as exc:
        hint = (
            f" (OpsWorks CM answers in {REGIONS})"
            if isinstance(exc, EndpointConnectionError)
            else ""
        )
        return _fail(f"{exc}{hint}", Exit.NOT_DONE)
    except RuntimeError as exc:
        return _fail(str(exc), Exit.NOT_DONE)
    except KeyboardInterrupt:
        return _fail(
            "interrupted (a backup already started goes on in OpsWorks CM; `owcm-backup status` "
            "shows it)",
            Exit.INTERRUPTED,
        )
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do, and keep
        # the interpreter's last flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.BROKEN_PIPE
    return code


def _fail(message: str, code: Exit) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
