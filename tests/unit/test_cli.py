"""gonka-deploy validate | render | inventory-docs, as an operator runs them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gonka_deploy import cli, docs
from gonka_deploy.state import NodeState

from .helpers import PASSWORD, REPO


@pytest.fixture()
def in_repo(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GONKA_KEYRING_PASSWORD", PASSWORD)
    monkeypatch.setenv("GONKA_SECRETS_DIR", str(tmp_path / "none"))


def test_validate_prod_example_prints_one_line_summary(in_repo, capsys):
    assert cli.main(["validate", "inventories/prod.py"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "ok: 2 host(s), 2 ML node(s), release main-2026-06-19 (v0.2.13)"


def test_validate_console_script_exits_1_without_password(monkeypatch, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GONKA_SECRETS_DIR": str(tmp_path)}
    proc = subprocess.run([str(Path(sys.executable).with_name("gonka-deploy")), "validate",
                           "inventories/prod.py"], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "gpu-fra-01: keyring_password: missing" in proc.stderr


def test_render_writes_each_host_with_secret_files_0600(in_repo, tmp_path, capsys):
    out = tmp_path / "rendered"
    assert cli.main(["render", "inventories/prod.py", "--out", str(out),
                     "--limit", "gpu-fra-*"]) == 0
    assert [p.name for p in out.iterdir()] == ["gpu-fra-01"]
    files = {p.name: p for p in (out / "gpu-fra-01").iterdir()}
    assert set(files) == {"config.env", ".env", "node-config.json", "nginx.conf",
                          "docker-compose.override.yml"}
    modes = {name: stat.S_IMODE(p.stat().st_mode) for name, p in files.items()}
    assert modes["config.env"] == modes[".env"] == 0o600
    assert modes["nginx.conf"] == 0o644
    assert PASSWORD in files["config.env"].read_text()
    assert json.loads(files["node-config.json"].read_text())[0]["id"] == "node1"
    assert "/mnt/ssd/gonka/deploy/join" in capsys.readouterr().out


def test_missing_inventory_is_a_clear_error(in_repo):
    with pytest.raises(SystemExit, match="inventory file not found: nope.py"):
        cli.main(["validate", "nope.py"])


def test_readme_inventory_reference_is_generated_from_the_schema():
    readme = REPO / "README.md"
    assert docs.update_readme(readme, check=True), "run `make inventory-docs`"
    text = readme.read_text()
    for key in ("key_name", "account_pubkey", "mlnode_versions", "model_catalog", "gpu_presets"):
        assert f"`{key}`" in text


def test_prometheus_targets_lists_every_host_with_its_identity(in_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path / "nodes"))
    out = tmp_path / "targets.json"
    assert cli.main(["prometheus-targets", "inventories/prod.py", "--out", str(out)]) == 0
    groups = json.loads(out.read_text())
    assert [g["targets"] for g in groups] == [["203.0.113.10:9090"], ["203.0.113.20:9090"]]
    ids = {g["labels"]["key_name"]: g["labels"]["node_id"] for g in groups}
    assert set(ids) == {"fra-01", "ams-02"}
    for key, node_id in ids.items():  # the persistent identity, made once
        assert NodeState(key, root=tmp_path / "nodes").identity().node_id == node_id
    assert groups[0]["labels"]["tags"] == "h100,tier-1"
