"""A release whose files do not merge stops `pyinfra … --dry` before any operation, naming the
host and the file (the real pyinfra CLI, on the local connector: nothing but the release check
runs before the stop)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .helpers import PASSWORD, PUBKEY_02, REPO
from .test_releases import copy_profile


def test_a_release_that_does_not_merge_stops_the_dry_run_naming_host_and_file(tmp_path):
    releases = tmp_path / "releases"
    releases.mkdir()
    copy_profile("v0.2.14", releases, "broken", edit={
        "deploy/join/docker-compose.mlnode.yml": "services:\n  inference:\n    ports: 5\n"})
    inventory = tmp_path / "local.py"
    data = {"key_name": "local-01", "public_host": "203.0.113.77", "account_pubkey": PUBKEY_02,
            "release": "broken", "data_disk": None,
            "mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]}]}
    inventory.write_text(f"hosts = [('@local', {data!r})]\n")
    env = dict(os.environ, GONKA_RELEASES_PATH=str(releases), GONKA_KEYRING_PASSWORD=PASSWORD,
               GONKA_STATE_DIR=str(tmp_path / "nodes"), GONKA_CACHE_DIR=str(tmp_path / "c"),
               GONKA_SECRETS_DIR=str(tmp_path / "none"))
    proc = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), str(inventory),
                           "deploys/node.py", "--dry"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "@local: release: merging deploy/join/docker-compose.yml, " \
           "deploy/join/docker-compose.mlnode.yml of " in out, out[-3000:]
    assert "docker-compose.mlnode.yml" in out.split("@local: release:", 1)[1]
    assert "Traceback" not in out
    assert "Phase 1" not in out and "Beginning operation run" not in out
    assert not (tmp_path / "nodes").exists()
