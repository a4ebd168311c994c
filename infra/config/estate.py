"""Many accounts and regions from one app: the context keys `deployments`, `monitoringAccount`,
`monitoringSinks` and `organizationUnits`, validated, and the names every stack, role and topic
of the estate takes (docs/estate.md).

No `deployments` and no `organizationUnits` is today's single stack in the CLI's account and
region. Each entry of `deployments` is one account-region: `account` and `region`, and any other
stack key (`selectTag`, `maxServers`, ...) overrides the context's value for that deployment
only. The CLI (`owcm-backup status --deployments`) reads the same keys through this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.config.model import Config, ConfigError, from_context

STACK_NAME = "OpsWorksCMBackup"
CENTRAL_STACK_NAME = "OpsWorksCMBackupCentral"
STACK_SET_STACK_NAME = "OpsWorksCMBackupStackSet"
# The role each member stack creates for the monitoring account's `owcm-backup status`; IAM names
# are account-wide, so the region is part of the name.
READ_ONLY_ROLE = "OpsWorksCMBackupReadOnly"
# The central alert topic, one per region in the monitoring account: members publish to it by
# this name (no cross-account reference between stacks).
CENTRAL_TOPIC = "opsworks-cm-backup-central-alerts"
# The orchestrator function's role in a member stack: named, so that the central topic's and key's
# policies can name it (aws:PrincipalArn); the region is part of the name (IAM is account-wide).
ORCHESTRATOR_ROLE = "OpsWorksCMBackupOrchestrator"
DELEGATED_ADMIN = "delegatedAdmin"
DEPLOY_FROM = (DELEGATED_ADMIN, "managementAccount")
ESTATE_KEYS = ("deployments", "monitoringAccount", "monitoringSinks", "organizationUnits")

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_OU = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
_BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]{1,40}$")
_SINK = re.compile(r"^arn:aws[a-z-]*:oam:([a-z0-9-]+):(\d{12}):sink/[0-9a-zA-Z-]+$")


@dataclass(frozen=True)
class Deployment:
    """One account-region of the estate and the stack config it runs with."""

    account: str
    region: str
    config: Config

    @property
    def stack_name(self) -> str:
        return stack_name(self.account, self.region)

    @property
    def read_only_role_arn(self) -> str:
        return read_only_role_arn(self.account, self.region)


@dataclass(frozen=True)
class Organization:
    """`organizationUnits`: the member stack as a service-managed StackSet."""

    units: tuple[str, ...]
    regions: tuple[str, ...]
    asset_bucket_prefix: str
    # The account the StackSet is deployed from: a delegated administrator of CloudFormation
    # StackSets, or the organization's management account itself.
    deploy_from: str = DELEGATED_ADMIN

    @property
    def delegated_admin(self) -> bool:
        return self.deploy_from == DELEGATED_ADMIN


@dataclass(frozen=True)
class Estate:
    """What the app deploys: the deployments (none: today's single stack), the monitoring
    account, the organization's StackSet."""

    deployments: tuple[Deployment, ...]
    monitoring_account: str | None
    organization: Organization | None
    # The context without the estate keys: the config of the single stack, and of the StackSet.
    base: Config
    # `monitoringSinks`: the sink ARN of each region's central stack, once it is deployed (sink
    # ARNs hold an ID the service makes up, and a member cannot reference another account's
    # stack): a member whose region has none is deployed without its link.
    sinks: Mapping[str, str] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        return not self.deployments and self.organization is None

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region a member runs in, in first-seen order (one central stack each)."""
        seen = [d.region for d in self.deployments]
        if self.organization:
            seen += list(self.organization.regions)
        return tuple(dict.fromkeys(seen))

    @property
    def member_accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.account for d in self.deployments))


def stack_name(account: str, region: str) -> str:
    return f"{STACK_NAME}-{account}-{region}"


def central_stack_name(region: str) -> str:
    return f"{CENTRAL_STACK_NAME}-{region}"


def read_only_role_name(region: str) -> str:
    return f"{READ_ONLY_ROLE}-{region}"


def read_only_role_arn(account: str, region: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/{read_only_role_name(region)}"


def orchestrator_role_name(region: str) -> str:
    return f"{ORCHESTRATOR_ROLE}-{region}"


def orchestrator_role_arn(account: str, region: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/{orchestrator_role_name(region)}"


def central_topic_arn(account: str, region: str, partition: str = "aws") -> str:
    return f"arn:{partition}:sns:{region}:{account}:{CENTRAL_TOPIC}"


def _json(value: Any) -> Any:
    """A value as the CDK CLI passes `-c key=<json>`: text, parsed when it is JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _account(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ACCOUNT.match(value):
        raise ConfigError(f"context key {key}={value!r}: must be a 12-digit AWS account ID")
    return value


def _region(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _REGION.match(value):
        raise ConfigError(f"context key {key}={value!r}: must be an AWS region, like eu-west-1")
    return value


def _deployment(index: int, entry: Any, base: Mapping[str, Any]) -> Deployment:
    key = f"deployments[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(
            f"context key {key}={entry!r}: must be an object with account and region, "
            'for example {"account": "111111111111", "region": "eu-west-1"}'
        )
    account = _account(f"{key}.account", entry.get("account"))
    region = _region(f"{key}.region", entry.get("region"))
    overrides = {k: v for k, v in entry.items() if k not in ("account", "region")}
    nested = sorted(set(overrides) & set(ESTATE_KEYS))
    if nested:
        raise ConfigError(
            f"context key {key}.{nested[0]}: is a key of the whole estate, not of one deployment"
        )
    try:
        config = from_context({**base, **overrides})
    except ConfigError as exc:
        # Name the entry in each key the message names: deployments[1].maxServers.
        message = str(exc).replace("unknown context key '", f"unknown context key '{key}.")
        message = message.replace("context key ", f"context key {key}.").replace(
            f"context key {key}.'{key}.", f"context key '{key}."
        )
        raise ConfigError(f"{message} ({account}/{region})") from None
    return Deployment(account, region, config)


def _organization(value: Any) -> Organization:
    key = "organizationUnits"
    value = _json(value)
    if not isinstance(value, dict):
        raise ConfigError(
            f"context key {key}={value!r}: must be an object with ids, regions and "
            'assetBucketPrefix, for example {"ids": ["ou-ab12-cdef3456"], '
            '"regions": ["eu-west-1"], "assetBucketPrefix": "acme-owcm-assets"}'
        )
    unknown = sorted(set(value) - {"ids", "regions", "assetBucketPrefix", "deployFrom"})
    if unknown:
        raise ConfigError(f"context key {key}.{unknown[0]}: is not a known field")
    ids, regions = value.get("ids"), value.get("regions")
    if not isinstance(ids, list) or not ids:
        raise ConfigError(f"context key {key}.ids={ids!r}: must be a non-empty list of OU IDs")
    for i, unit in enumerate(ids):
        if not isinstance(unit, str) or not _OU.match(unit):
            raise ConfigError(
                f"context key {key}.ids[{i}]={unit!r}: must be an OU ID (ou-xxxx-xxxxxxxx) or "
                "the root (r-xxxx)"
            )
    if not isinstance(regions, list) or not regions:
        raise ConfigError(f"context key {key}.regions={regions!r}: must be a non-empty list")
    for i, region in enumerate(regions):
        _region(f"{key}.regions[{i}]", region)
    prefix = value.get("assetBucketPrefix")
    if not isinstance(prefix, str) or not _BUCKET_PREFIX.match(prefix):
        raise ConfigError(
            f"context key {key}.assetBucketPrefix={prefix!r}: must be the start of the S3 "
            "bucket names that hold the assets in each region (<prefix>-<region>), lower case"
        )
    deploy_from = value.get("deployFrom", DELEGATED_ADMIN)
    if deploy_from not in DEPLOY_FROM:
        raise ConfigError(
            f"context key {key}.deployFrom={deploy_from!r}: must be {' or '.join(DEPLOY_FROM)} "
            "(the account the StackSet is deployed from)"
        )
    return Organization(tuple(ids), tuple(dict.fromkeys(regions)), prefix, deploy_from)


def _sinks(value: Any, monitoring: str | None) -> dict[str, str]:
    key = "monitoringSinks"
    value = _json(value)
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"context key {key}={value!r}: must be an object of region -> sink ARN, for example "
            '{"eu-west-1": "arn:aws:oam:eu-west-1:999999999999:sink/1a2b3c4d-..."}'
        )
    if monitoring is None:
        raise ConfigError(f"context key {key}: the sinks are the monitoringAccount's; give it")
    for region, arn in value.items():
        _region(f"{key}.{region}", region)
        found = _SINK.match(arn) if isinstance(arn, str) else None
        if not found:
            raise ConfigError(
                f"context key {key}.{region}={arn!r}: must be the ARN of the sink of the central "
                f"stack in {region} (stack output of {central_stack_name(region)}), "
                f"arn:aws:oam:{region}:{monitoring}:sink/<id>"
            )
        if found.group(1) != region or found.group(2) != monitoring:
            raise ConfigError(
                f"context key {key}.{region}={arn!r}: must be a sink of the monitoringAccount "
                f"{monitoring} in {region}, not of {found.group(2)} in {found.group(1)}"
            )
    return dict(value)


def estate_from_context(context: Mapping[str, Any]) -> Estate:
    """The estate the context describes. Raises ConfigError naming the key (and the entry)."""
    base = {k: v for k, v in context.items() if k not in ESTATE_KEYS}
    config = from_context(dict(base))
    raw = _json(context.get("deployments", []))
    if not isinstance(raw, list):
        raise ConfigError(
            f"context key deployments={raw!r}: must be a list of "
            '{"account": ..., "region": ...} objects'
        )
    deployments = tuple(_deployment(i, entry, base) for i, entry in enumerate(raw))
    seen: dict[tuple[str, str], int] = {}
    for i, d in enumerate(deployments):
        if (d.account, d.region) in seen:
            raise ConfigError(
                f"context key deployments[{i}]: {d.account}/{d.region} is already "
                f"deployments[{seen[(d.account, d.region)]}]; one deployment per account-region"
            )
        seen[(d.account, d.region)] = i
    given = context.get("monitoringAccount")
    monitoring = None if given in (None, "") else _account("monitoringAccount", given)
    organization = None
    if context.get("organizationUnits") not in (None, "", [], {}):
        organization = _organization(context["organizationUnits"])
    if monitoring and not deployments and organization is None:
        raise ConfigError(
            "context key monitoringAccount: watches the accounts of `deployments` or "
            "`organizationUnits`; give one of them"
        )
    sinks = _sinks(context.get("monitoringSinks"), monitoring)
    return Estate(deployments, monitoring, organization, config, sinks)
