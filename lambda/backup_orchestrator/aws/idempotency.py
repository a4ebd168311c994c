"""DynamoDB, through Powertools' idempotency utility: a scheduled slot (or one manual
invocation) runs at most once, however often it is delivered (safety rule 5). A repeated
delivery gets the first run's record (contract/report.py RunRecord), not its whole report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(child=True)

# A scheduled slot must stay claimed longer than EventBridge Scheduler keeps retrying it.
IDEMPOTENCY_SECONDS = 48 * 3600


def once_per_slot(
    execute: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
    key: str,
    table: str,
    context: LambdaContext,
) -> dict[str, Any]:
    """Run `execute` at most once per idempotency key. `execute` gives the run's answer and its
    record: the first delivery gets the answer (the whole report), the table keeps the record
    only (an item holds 400 KB, a whole report of a large fleet more), and a repeat gets it."""
    config = IdempotencyConfig(
        event_key_jmespath="idempotencyKey",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    config.register_lambda_context(context)
    store = DynamoDBPersistenceLayer(table_name=table)
    answer: dict[str, Any] | None = None

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="claim", persistence_store=store, config=config
    )
    def once(claim: dict[str, str]) -> dict[str, Any]:
        nonlocal answer
        answer, record = execute()
        return record

    record: dict[str, Any] = once(claim={"idempotencyKey": key})
    if answer is None:
        logger.info("repeated delivery: returning the first run's record")
        return record
    return answer
