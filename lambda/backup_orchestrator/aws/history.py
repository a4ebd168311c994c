"""The history table (DynamoDB): what the last runs did about each server, and each server's
last restore drill, so a miss is explained later and a drill is known to be due.

One item per server (`id` = `server#<name>`): the last few runs' outcomes, newest first, each
reason cut to 1,000 bytes (an item stays under 8 KB, whatever the fleet and the service's
words), and an expiry (`expiration`, the table's TTL attribute) that forgets a server no run has
seen for a while. One item per drilled server (`id` = `drill#<name>`), written by the drill
state machine. A run reads the items (one Scan, in pages) and writes the servers it was about.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backup_orchestrator.aws.errors import UnexpectedAnswer
from backup_orchestrator.domain import messages
from backup_orchestrator.domain.compliance import REMEMBERED_RUNS, RunEntry
from backup_orchestrator.domain.drills import LastDrill

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

PREFIX = "server#"
# The items of the last drill of each server.
DRILL_PREFIX = "drill#"
# A server no run has been about for this long is forgotten.
KEEP_SECONDS = 90 * 86_400


def items(client: DynamoDBClient, table: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what follows `prefix` in its id, the item) for each item of the table whose id starts
    with `prefix`, every page of the scan."""
    page: dict[str, Any] = {"TableName": table}
    while True:
        answer = client.scan(**page)
        for item in answer.get("Items", []):
            key = item["id"]["S"]
            if key.startswith(prefix):
                yield key.removeprefix(prefix), item
        if "LastEvaluatedKey" not in answer:
            return
        page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class History:
    """The history table, through a DynamoDB client."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def load(self) -> dict[str, list[RunEntry]]:
        """Every remembered server's last runs, newest first."""
        return {
            server: [_entry(e["M"]) for e in item.get("runs", {}).get("L", [])]
            for server, item in items(self.client, self.table, PREFIX)
        }

    def last_drills(self) -> dict[str, LastDrill]:
        """Every server's last drill, by server name."""
        return {
            server: _last_drill(item)
            for server, item in items(self.client, self.table, DRILL_PREFIX)
        }

    def record(
        self,
        entries: Iterable[tuple[str, RunEntry]],
        remembered: dict[str, list[RunEntry]],
    ) -> None:
        """Add each (server, entry) in front of what `remembered` holds for it, keeping the last
        REMEMBERED_RUNS; the items are written whole (one writer: a run at a time)."""
        expires = int(time.time()) + KEEP_SECONDS
        puts = []
        for server, entry in entries:
            runs = [entry, *remembered.get(server, [])][:REMEMBERED_RUNS]
            puts.append(
                {
                    "PutRequest": {
                        "Item": {
                            "id": {"S": f"{PREFIX}{server}"},
                            "runs": {"L": [{"M": _item(e)} for e in runs]},
                            "expiration": {"N": str(expires)},
                        }
                    }
                }
            )
        for start in range(0, len(puts), 25):
            batch: Any = {self.table: puts[start : start + 25]}
            for pause in (0.1, 0.2, 0.4, 0.8, 1.6):
                batch = self.client.batch_write_item(RequestItems=batch).get("UnprocessedItems", {})
                if not batch:
                    break
                time.sleep(pause)
            else:
                raise UnexpectedAnswer(
                    f"DynamoDB left {len(batch[self.table])} history items unwritten"
                )


def _item(entry: RunEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "runId": {"S": entry.run_id},
        "at": {"S": entry.at.isoformat()},
        "outcome": {"S": entry.outcome},
        # The service's words in a reason have no length of their own: an item stays small.
        "reason": {"S": messages.cut(entry.reason, messages.REASON_BYTES)},
    }
    if entry.backup_id:
        item["backupId"] = {"S": entry.backup_id}
    return item


def _entry(item: dict[str, Any]) -> RunEntry:
    return RunEntry(
        run_id=item["runId"]["S"],
        at=datetime.fromisoformat(item["at"]["S"]),
        outcome=item["outcome"]["S"],
        reason=item["reason"]["S"],
        backup_id=item.get("backupId", {}).get("S"),
    )


def _last_drill(item: dict[str, Any]) -> LastDrill:
    result = item["result"]["S"]
    return LastDrill(
        result=result,
        started_at=datetime.fromisoformat(item["startedAt"]["S"]),
        # What the drill counted is the recovery time only when the server got HEALTHY.
        seconds=int(item["seconds"]["N"]) if result == "OK" else None,
        backup_id=item.get("backupId", {}).get("S", ""),
        backup_age_seconds=int(item["backupAgeSeconds"]["N"])
        if "backupAgeSeconds" in item
        else None,
        drill_server=item.get("drillServer", {}).get("S", ""),
        cleanup_confirmed=item.get("cleanupConfirmed", {}).get("BOOL"),
        reason=item.get("line", {}).get("S", ""),
    )
