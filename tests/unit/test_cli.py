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
    assert out.strip() == "ok: 3 host(s), 3 ML node(s), release v0.2.16-post1"


def test_validate_console_script_exits_1_without_password(monkeypatch, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GONKA_SECRETS_DIR": str(tmp_path)}
    proc = subprocess.run([str(Path(sys.executable).with_name("gonka-deploy")), "validate",
                           "inventories/prod.py"], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "gpu-fra-01: keyring_password: missing" in proc.stderr


def test_render_with_secrets_writes_0600_files_in_a_0700_directory(in_repo, tmp_path, capsys):
    out = tmp_path / "rendered"
    assert cli.main(["render", "inventories/prod.py", "--out", str(out), "--with-secrets",
                     "--limit", "gpu-fra-*", "--release", "v0.2.13"]) == 0
    assert [p.name for p in out.iterdir()] == ["gpu-fra-01"]
    assert stat.S_IMODE((out / "gpu-fra-01").stat().st_mode) == 0o700
    files = {p.name: p for p in (out / "gpu-fra-01").iterdir()}
    assert set(files) == {"config.env", ".env", "node-config.json", "nginx.conf",
                          "docker-compose.override.yml"}
    modes = {name: stat.S_IMODE(p.stat().st_mode) for name, p in files.items()}
    assert modes["config.env"] == modes[".env"] == 0o600
    assert modes["nginx.conf"] == 0o644
    assert PASSWORD in files["config.env"].read_text()
    assert json.loads(files["node-config.json"].read_text())[0]["id"] == "node1"
    assert "/mnt/ssd/gonka/deploy/join" in capsys.readouterr().out


def test_render_writes_a_placeholder_for_the_password_by_default(in_repo, tmp_path, capsys):
    out = tmp_path / "rendered"
    assert cli.main(["render", "inventories/prod.py", "--out", str(out),
                     "--limit", "gpu-fra-01", "--release", "v0.2.13"]) == 0
    texts = {p.name: p.read_text() for p in (out / "gpu-fra-01").iterdir()}
    assert not any(PASSWORD in text for text in texts.values())
    placeholder = "'<KEYRING_PASSWORD: gonka-deploy render --with-secrets>'"
    assert f"export KEYRING_PASSWORD={placeholder}\n" in texts["config.env"]
    assert f"\nKEYRING_PASSWORD={placeholder}\n" in texts[".env"]
    assert capsys.readouterr().out.splitlines()[-1] == (
        "secrets: a placeholder in place of each keyring password (--with-secrets writes the "
        "real ones)")


def test_render_refuses_a_host_name_that_leaves_out_and_writes_nothing(in_repo, tmp_path,
                                                                     capsys):
    inventory = tmp_path / "inv" / "inv.py"
    inventory.parent.mkdir()
    inventory.write_text((REPO / "inventories" / "prod.py").read_text().replace(
        '"gpu-fra-01",', '"../../escaped",'))
    out = tmp_path / "a" / "b" / "out"
    assert cli.main(["render", str(inventory), "--out", str(out), "--with-secrets",
                     "--release", "v0.2.13"]) == 1
    err = capsys.readouterr().err
    assert "  ../../escaped: (inventory host name): not a safe host name" in err
    assert not (tmp_path / "a" / "escaped").exists() and not out.exists()
    assert not any(PASSWORD in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_render_never_writes_through_a_link_planted_in_out(in_repo, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "gpu-fra-01").mkdir(parents=True)
    elsewhere.write_text("untouched\n")
    (out / "gpu-fra-01" / "config.env").symlink_to(elsewhere)
    with pytest.raises(SystemExit, match="config.env is not a plain file: refusing"):
        cli.main(["render", "inventories/prod.py", "--out", str(out), "--with-secrets",
                  "--limit", "gpu-fra-01", "--release", "v0.2.13"])
    assert elsewhere.read_text() == "untouched\n"


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
    assert [g["targets"] for g in groups] == [["203.0.113.10:9090"], ["203.0.113.20:9090"],
                                              ["203.0.113.30:9090"]]
    ids = {g["labels"]["key_name"]: g["labels"]["node_id"] for g in groups}
    assert set(ids) == {"fra-01", "ams-02", "waw-03"}
    for key, node_id in ids.items():  # the persistent identity, made once
        assert NodeState(key, root=tmp_path / "nodes").identity().node_id == node_id
    assert groups[0]["labels"]["tags"] == "h100,tier-1"


def test_render_for_another_release_shows_its_drift_and_edits_nothing(in_repo, tmp_path, capsys):
    before = {p: p.read_bytes() for p in (REPO / "group_data").glob("*.py")}
    assert cli.main(["render", "inventories/prod.py", "--out", str(tmp_path / "r"),
                     "--limit", "gpu-fra-01", "--release", "v0.2.14"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("release v0.2.14 at ee730031dece")
    assert out[1:-1] == [
        "gpu-fra-01:   drift: port: bridge 30303->30303/tcp is published by the release on every "
        "interface; bound to 127.0.0.1 (list '30303' in public_ports to open it)",
        "gpu-fra-01:   drift: port: bridge 30303->30303/udp is published by the release on every "
        "interface; bound to 127.0.0.1 (list '30303/udp' in public_ports to open it)"]
    override = (tmp_path / "r" / "gpu-fra-01" / "docker-compose.override.yml").read_text()
    assert "- 127.0.0.1:30303:30303/udp" in override
    assert before == {p: p.read_bytes() for p in (REPO / "group_data").glob("*.py")}


def test_render_stops_naming_each_host_when_the_release_files_cannot_be_fetched(
        in_repo, tmp_path, monkeypatch, capsys):
    from gonka_deploy.release import repo

    repo._FAILED.clear()
    monkeypatch.setenv("GONKA_CACHE_DIR", str(tmp_path / "cache"))
    # The default release stores no files; its repo is given as one that does not exist.
    inventory = tmp_path / "inv.py"
    inventory.write_text((REPO / "inventories" / "prod.py").read_text().replace(
        '"_sudo": True,', f'"_sudo": True, "gonka_repo_url": "file://{tmp_path}/no.git",'))
    assert cli.main(["render", str(inventory), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "inventory invalid: 3 problem(s) on 3 of 3 host(s)"
    for line, host in zip(err[1:], ("gpu-ams-02", "gpu-fra-01", "gpu-waw-03"), strict=True):
        assert line.startswith(f"  {host}: release: release v0.2.16-post1 stores no upstream "
                               f"files; fetching deploy/join at 136041c81ea8 from file://")
        assert "failed: fatal:" in line
    assert not (tmp_path / "r").exists()


def test_releases_lists_each_profile_with_its_ref_default_and_unverified_count(capsys):
    assert cli.main(["releases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["release", "date", "gonka_ref", "default", "unverified",
                                "upstream", "files"]
    assert lines[1].split() == ["v0.2.13", "2026-06-19", "8a35022bea25", "1", "stored", "(4)"]
    assert lines[2].split()[:3] == ["v0.2.14", "2026-07-23", "ee730031dece"]
    newest = lines[3].split()
    assert newest[:4] == ["v0.2.16-post1", "2026-10-06", "136041c81ea8", "yes"]
    assert int(newest[4]) >= 10 and "not stored" in lines[3]
    assert cli.main(["releases", "-v"]) == 0
    assert "UNVERIFIED line" in capsys.readouterr().out
