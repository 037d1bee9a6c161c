"""Local state in nodes/<key_name>/: atomic, private where secret, identity made once."""

from __future__ import annotations

import json
import stat
import uuid

from gonka_deploy import state


def test_identity_is_a_uuid4_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    first = state.identity("fra-01")
    assert uuid.UUID(first["node_id"]).version == 4
    assert state.identity("fra-01") == first
    assert state.identity("ams-02")["node_id"] != first["node_id"]
    assert json.loads((tmp_path / "fra-01" / "identity.json").read_text()) == first


def test_secret_json_is_written_0600_and_replaces_atomically(tmp_path):
    path = tmp_path / "n" / "registration.json"
    state.write_json(path, {"a": 1}, secret=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    state.write_json(path, {"a": 2}, secret=True)
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["registration.json"]  # no temp left


def test_audit_appends_one_line_per_apply(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    state.append_audit("fra-01", "gpu-fra-01", ["config.env"])
    state.append_audit("fra-01", "gpu-fra-01", [])
    lines = (tmp_path / "fra-01" / "audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["changes"] for r in records] == [["config.env"], []]
    assert all(r["host"] == "gpu-fra-01" and "@" in r["who"] for r in records)
    assert stat.S_IMODE((tmp_path / "fra-01" / "audit.jsonl").stat().st_mode) == 0o600
