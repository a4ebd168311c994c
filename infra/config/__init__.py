"""The stack's configuration: the validated model of every CDK context key (`model`, on top of
the run's settings in `basics`) and the schedule's cron grammar it checks the schedule with
(`cron`)."""

from infra.config.model import LOG_RETENTION_DAYS, Config, ConfigError, RulePack, from_context

__all__ = ["LOG_RETENTION_DAYS", "Config", "ConfigError", "RulePack", "from_context"]
