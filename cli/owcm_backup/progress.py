"""What run --wait shows while the backups run, on standard error: a live table on a terminal,
plain lines (one per change, and a heartbeat per check) when it goes to a file or a pipe."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from owcm_backup.follow import RUNNING, Done, Followed, Progress, Waited
from owcm_backup.output import duration

HINT = "Ctrl-C stops the waiting, not the backups"
STYLES = {"OK": "green", RUNNING: "yellow"}


def progress_for(stream: TextIO) -> Progress:
    console = Console(file=stream)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console)
    return LineProgress(stream)


def retention(followed: Followed, by_tracker: bool) -> str:
    """What became, so far, of one backup's deferred deletions."""
    if not followed.deletions:
        return "-"
    if followed.pending:
        who = " (the tracker)" if by_tracker else ""
        return f"{len(followed.deletions)} to delete once OK{who}"
    counts: dict[Done, int] = {}
    for deletion in followed.deletions:
        counts[deletion.done] = counts.get(deletion.done, 0) + 1
    words = {
        Done.DELETED: "deleted",
        Done.ALREADY_GONE: "already gone",
        Done.REFUSED: "refused",
        Done.KEPT: "kept",
        Done.NOT_APPLIED: "not applied",
        Done.BY_TRACKER: "left to the tracker",
        Done.PENDING: "to delete",
    }
    return ", ".join(f"{words[done]} {n}" for done, n in counts.items())


def _every(poll: float) -> str:
    return f"{poll:g}s" if poll < 60 else duration(poll)


def _elapsed(followed: Followed, waited: Waited) -> float:
    return waited.elapsed() if followed.pending else followed.seconds


class LineProgress:
    """Plain lines, for logs and pipes: what changed, else who is still running."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.reported: set[str] = set()

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, waited: Waited, poll: float) -> None:
        count = len(waited.backups)
        self._say(
            f"following {count} backup{'s' * (count != 1)}, checking every {_every(poll)} ({HINT})"
        )

    def update(self, waited: Waited) -> None:
        clock = f"[{duration(waited.elapsed())}]"
        if waited.check_error:
            self._say(f"{clock} could not check the backups ({waited.check_error}); trying again")
            return
        changed = [b for b in waited.backups if not b.pending and b.backup_id not in self.reported]
        for followed in changed:
            self.reported.add(followed.backup_id)
            said = f" ({followed.reason})" if followed.reason else ""
            kept = (
                f"; retention: {retention(followed, waited.by_tracker)}"
                if followed.deletions
                else ""
            )
            self._say(
                f"{clock} {followed.server_name} {followed.backup_id}: {followed.status} after "
                f"{duration(followed.seconds)}{said}{kept}"
            )
        running = [b for b in waited.backups if b.pending]
        if running and not changed:
            names = ", ".join(f"{b.server_name} ({b.backup_id})" for b in running)
            self._say(f"{clock} in progress: {names}")

    def stop(self, waited: Waited) -> None:
        return


class LiveProgress:
    """A table redrawn in place: server, backup, status, time so far, retention."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.poll = 0.0
        self.waited: Waited | None = None
        self.live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def start(self, waited: Waited, poll: float) -> None:
        self.waited, self.poll = waited, poll
        self.live.start()

    def update(self, waited: Waited) -> None:
        self.live.refresh()

    def stop(self, waited: Waited) -> None:
        self.live.stop()

    def _render(self) -> Table:
        waited = self.waited
        table = Table(title="OpsWorks CM backups", title_justify="left")
        for column in ("SERVER", "BACKUP", "STATUS", "ELAPSED", "RETENTION"):
            table.add_column(column)
        if waited is None:
            return table
        for followed in waited.backups:
            status = Text(followed.status, style=STYLES.get(followed.status, "red"))
            if followed.reason:
                status.append(f" {followed.reason}")
            table.add_row(
                followed.server_name,
                followed.backup_id,
                status,
                duration(_elapsed(followed, waited)),
                retention(followed, waited.by_tracker),
            )
        if self.live.is_started:
            table.caption = (
                f"could not check ({waited.check_error}); trying again"
                if waited.check_error
                else f"checking every {_every(self.poll)}; {HINT}"
            )
        return table
