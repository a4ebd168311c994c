"""The runtime's limits the stack reads at synth time, so a setting the functions would refuse
(or could not honour within a Step Functions quota) is refused by `cdk synth` with the context
key named. One import for infra/: it reads nothing else of the runtime.
"""

from backup_orchestrator.contract.task_errors import (
    RETRIED,
    NameTaken,
    NoFreeSlot,
    ServerChanging,
    ServerNotFound,
)
from backup_orchestrator.contract.validation import problems
from backup_orchestrator.domain.compliance import RPO_MAX, RPO_MIN
from backup_orchestrator.domain.drill_servers import COPIED, DRILL_EXECUTION, OPTIONAL
from backup_orchestrator.domain.drill_servers import execution_seconds as drill_execution_seconds
from backup_orchestrator.domain.drills import Frequency
from backup_orchestrator.domain.history_budget import (
    BATCH,
    DELETIONS_ALLOWANCE,
    HISTORY_LIMIT,
    TASK_RETRIES,
    max_polls,
    polls_until,
    tracker_polls,
)
from backup_orchestrator.domain.records import RETAIN_MAX, RETAIN_MIN, PruneScope
from backup_orchestrator.domain.tiers import Retention, RetentionError, parse_retention

__all__ = [
    "BATCH",
    "COPIED",
    "DELETIONS_ALLOWANCE",
    "DRILL_EXECUTION",
    "HISTORY_LIMIT",
    "OPTIONAL",
    "RETAIN_MAX",
    "RETAIN_MIN",
    "RETRIED",
    "RPO_MAX",
    "RPO_MIN",
    "TASK_RETRIES",
    "Frequency",
    "NameTaken",
    "NoFreeSlot",
    "PruneScope",
    "Retention",
    "RetentionError",
    "ServerChanging",
    "ServerNotFound",
    "drill_execution_seconds",
    "max_polls",
    "parse_retention",
    "polls_until",
    "problems",
    "tracker_polls",
]
