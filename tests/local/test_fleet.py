"""Fleet files: the demo fleet loads; mistakes are named; the emulator can be seeded from one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backup_orchestrator.domain.marker import run_of
from local.emulator import Emulator
from local.fleet import FLEETS_DIR, FleetError, load, seed


def test_demo_fleet_seeds_the_account(emulator: Emulator) -> None:
    seed(emulator, load(FLEETS_DIR / "demo.json"))

    backend = emulator.backend
    assert set(backend.servers) == {
        "chef-prod",
        "puppet-prod",
        "chef-busy",
        "puppet-flaky",
        "chef-sandbox",
    }
    assert backend.servers["chef-busy"].status == "UNDER_MAINTENANCE"
    assert backend.manual_backups_used() == 21
    assert backend.config.manual_backup_limit == 22
    own = [b for b in backend.backups.values() if run_of(b.description)]
    assert len(own) == 18
    # One of them was made before the product tagged its backups: no tier, no tags.
    untagged = [b for b in own if not b.tags]
    assert [b.server_name for b in untagged] == ["puppet-prod"]
    assert " tier=" not in untagged[0].description
    # chef-legacy was deleted: its manual backups stay, and it is older than them.
    legacy = [b for b in backend.backups.values() if b.server_name == "chef-legacy"]
    assert len(legacy) == 2


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"servers": [{"name": "9bad"}]}, "servers.0.name"),
        ({"servers": [{"name": "a", "status": "ASLEEP"}]}, "servers.0"),
        ({"servers": [{"name": "a", "backups": [{"ageDays": -1}]}]}, "servers.0.backups.0.ageDays"),
        (
            {"servers": [{"name": "a", "backups": [{"ageDays": 1, "type": "NIGHTLY"}]}]},
            "servers.0.backups.0.type",
        ),
        ({"servers": [], "acount": {}}, "acount"),
        ({"account": {"manualBackupLimit": 0}, "servers": []}, "account.manualBackupLimit"),
        ({"servers": [{"name": "a", "ageDays": 5, "backups": [{"ageDays": 6}]}]}, "servers.0"),
        ({"servers": [{"name": "a", "deleted": "sometimes"}]}, "servers.0.deleted"),
        (
            {"account": {"deletingCountsTowardLimit": "maybe"}, "servers": []},
            "account.deletingCountsTowardLimit",
        ),
        ({"account": {"restoreSeconds": -1}, "servers": []}, "account.restoreSeconds"),
        ({"failRestores": "puppet-*", "servers": []}, "failRestores"),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, document: dict[str, object], field: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(document))

    with pytest.raises(FleetError, match=f"field '{field}'"):
        load(path)


def test_a_deleted_server_leaves_its_manual_backups_and_a_recreated_one_starts_afresh(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(
        json.dumps(
            {
                "account": {"deletingCountsTowardLimit": True},
                "servers": [
                    {
                        "name": "prod",
                        "ageDays": 100,
                        "deleted": True,
                        "backups": [
                            {"ageDays": 50, "own": True},
                            {"ageDays": 40, "type": "AUTOMATED"},
                        ],
                    },
                ],
            }
        )
    )

    seed(emulator, load(path))

    backend = emulator.backend
    assert "prod" not in backend.servers
    [left] = backend.backups.values()
    assert (left.server_name, left.backup_type) == ("prod", "MANUAL")
    assert run_of(left.description) is not None
    assert backend.config.deleting_counts_toward_limit


def test_emulator_refuses_a_bad_fleet_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text("{not json")

    result = subprocess.run(
        [sys.executable, "-m", "local.emulator", "--port", "0", "--fleet", str(path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: fleet file")
    assert "is not JSON" in result.stderr
