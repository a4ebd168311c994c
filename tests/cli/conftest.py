"""The CLI tests' account: three tagged servers in the emulator, and backups of two of them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from local.emulator import Emulator, ManualClock
from tests.conftest import add_own_backup

TAG = {"opsworks-cm-backup": "enabled"}


@pytest.fixture
def fleet(emulator: Emulator, clock: ManualClock) -> Emulator:
    backend = emulator.backend
    backend.add_server("chef-prod", tags=TAG)
    backend.add_server(
        "puppet-prod", engine="Puppet", tags={**TAG, "opsworks-cm-backup:retain": "1"}
    )
    backend.add_server("chef-busy", status="UNDER_MAINTENANCE", tags=TAG)
    for days in (1, 2):
        add_own_backup(emulator, "puppet-prod", days)
    backend.add_backup("chef-prod", clock.now() - timedelta(days=3), backup_type="AUTOMATED")
    return emulator
