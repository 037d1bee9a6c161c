"""Local state in nodes/<key_name>/: one owner, typed records, atomic, private where secret,
identity made once, nothing written by a run that is not executing."""

from __future__ import annotations

import re
import stat
import subprocess
import uuid
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from pydantic import ValidationError
from pyinfra.context import ctx_state

from gonka_deploy import state
from gonka_deploy.schema import MLNodeVersion
from gonka_deploy.state import (
    DryRunWrite,
    NodeState,
    Registration,
    UpgradeHistory,
    UpgradeStage,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    return tmp_path


def test_identity_is_a_uuid4_made_once_and_kept(root):
    first = NodeState("fra-01").identity()
    assert uuid.UUID(first.node_id).version == 4
    assert NodeState("fra-01").identity() == first
    assert NodeState("ams-02").identity().node_id != first.node_id


def test_a_dry_run_may_create_the_identity_and_nothing_else(root):
    node = NodeState("fra-01")
    with ctx_state.use(MagicMock(is_executing=False)):
        node.identity()
        made = node.snapshot()
        with pytest.raises(DryRunWrite):
            node.set_warm_address("gonka1abc")
        with pytest.raises(DryRunWrite):
            node.append_audit("gpu-fra-01", ["x"])
    assert node.snapshot() == made and len(made) == 1
    with ctx_state.use(MagicMock(is_executing=True)):
        node.set_warm_address("gonka1abc")
    assert node.warm_address() == "gonka1abc"


def test_the_mnemonic_is_written_0600_and_replaced_atomically(root):
    node = NodeState("fra-01")
    node.save_mnemonic("word " * 23 + "last")
    node.save_mnemonic("other " * 23 + "last")
    path = next(p for p in node.dir.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert node.mnemonic().startswith("other")
    assert len(list(node.dir.iterdir())) == 1  # no temp file left


def test_upgrade_history_round_trips_typed_and_rejects_a_bad_record(root):
    node = NodeState("fra-01")
    old = MLNodeVersion(version="v3.0.8", image="ghcr.io/gonka-ai/mlnode:3.0.13", current=True)
    new = MLNodeVersion(version="v3.0.9", image="ghcr.io/gonka-ai/mlnode:3.0.14", current=False)
    stage = UpgradeStage(stage="prepare", before=[old], after=[old, new], at=state.now())
    node.set_upgrades(UpgradeHistory(history=[stage]))
    back = NodeState("fra-01").upgrades()
    assert back.history[0].after[1] == new and isinstance(back.history[0].after[1], MLNodeVersion)
    with pytest.raises(ValidationError):
        UpgradeStage(stage="prepare", before=[{"version": "3.0.8", "image": "x"}], after=[],
                     at="now")


def test_records_with_unknown_fields_are_refused(root):
    with pytest.raises(ValidationError):
        Registration(registered_by="gonka-deploy", at="now", surprise=1)


def test_audit_appends_one_line_per_apply(root):
    node = NodeState("fra-01")
    node.append_audit("gpu-fra-01", ["config.env"])
    node.append_audit("gpu-fra-01", [])
    entries = node.audit()
    assert [e.changes for e in entries] == [["config.env"], []]
    assert all(e.host == "gpu-fra-01" and "@" in e.who for e in entries)
    audit = next(p for p in node.dir.iterdir() if p.suffix == ".jsonl")
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600


def test_no_file_name_of_the_local_state_appears_outside_its_owner():
    """`nodes/<key_name>/` has one owner: no other code or test names a file in it."""
    names = re.findall(r'^_[A-Z_]+ = "([^"]+)"$', (REPO / "gonka_deploy/state.py").read_text(),
                       re.M)
    assert len(names) >= 9, names
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "*.py", "*.json", "*.sh"],
                             capture_output=True, text=True, check=True).stdout.split()
    found = [f"{path}: {name}" for path in tracked if path != "gonka_deploy/state.py"
             and (REPO / path).exists()
             for name in names if name in (REPO / path).read_text()]
    assert found == []


def test_a_restore_record_of_an_older_version_still_reads():
    """The restore record is read now (a restore elsewhere is refused while it is recorded): a
    record written before the chain check (with the old bare flag) must still parse."""
    from gonka_deploy.state import Restore

    record = Restore.model_validate_json(
        '{"archive": "backups/fra-01/20261130T050505Z.gkb", "archive_created": '
        '"2026-11-30T05:05:05+00:00", "from_host": "gpu-fra-01", "host": "gpu-fra-02", '
        '"at": "2026-12-01T10:00:00+00:00", "files": ["x"], "consensus_key_reuse_allowed": true}')
    assert record.host == "gpu-fra-02" and record.old_host_destroyed == []
    assert record.chain_height is None
