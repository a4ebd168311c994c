"""What the CLI tells scripts: its exit codes, and the error a person can fix."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    # Not everything asked for was done: a server not backed up, a backup that did not end OK,
    # a tracker that did not start, nothing selected, or AWS refused a call.
    NOT_DONE = 1
    # Bad input: nothing was read or changed.
    BAD_INPUT = 2
    # 128 + the signal, as a shell reports a command the signal ended.
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class CliError(Exception):
    """A problem the operator can fix; printed as one line, exit 2."""
