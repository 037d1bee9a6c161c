"""The host-side pull program (gonka_deploy/hostside/pull.py) against a fake `docker` on PATH:
present images are never pulled, transient errors are retried (bounded), permanent ones fail at
once naming the image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gonka_deploy.hostside import source

FAKE = r"""#!/usr/bin/env python3
import json, os, sys
world = json.load(open(os.environ["WORLD"]))
with open(os.environ["WORLD"] + ".calls", "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if args[:2] == ["image", "inspect"]:
    sys.exit(0 if args[-1] in world["present"] else 1)
if args[0] == "pull":
    answers = world["pull"].get(args[1], [])
    n = sum(1 for line in open(os.environ["WORLD"] + ".calls") if '"pull"' in line)
    rc, err = answers[min(n, len(answers)) - 1]
    sys.stderr.write(err + "\n")
    sys.exit(rc)
if args[0] == "compose":
    print(json.dumps(world["config"]))
    sys.exit(0)
sys.exit(2)
"""


def run(tmp_path: Path, world: dict, *args: str) -> tuple[int, str, list[list[str]]]:
    (tmp_path / "docker").write_text(FAKE)
    (tmp_path / "docker").chmod(0o755)
    (tmp_path / "world.json").write_text(json.dumps(world))
    env = dict(os.environ, WORLD=str(tmp_path / "world.json"),
               PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    # backoff sleeps are real but short here: 2 s, then 4 s
    p = subprocess.run([sys.executable, "-c", source("pull.py"), *args], env=env,
                       capture_output=True, text=True, timeout=60)
    calls_file = tmp_path / "world.json.calls"
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()] \
        if calls_file.exists() else []
    return p.returncode, p.stdout + p.stderr, calls


def test_present_image_is_not_pulled_even_with_the_registry_down(tmp_path):
    rc, out, calls = run(tmp_path, {"present": ["a:1"], "pull": {}}, "a:1")
    assert rc == 0, out
    assert not [c for c in calls if c[0] == "pull"]


def test_permanent_error_fails_at_once_naming_the_image(tmp_path):
    err = ("Error response from daemon: manifest for ghcr.io/x/y:9 not found: "
           "manifest unknown: manifest unknown")
    rc, out, calls = run(tmp_path, {"present": [], "pull": {"ghcr.io/x/y:9": [[1, err]]}},
                         "ghcr.io/x/y:9")
    assert rc == 1
    assert f"cannot pull ghcr.io/x/y:9: {err}" in out
    assert len([c for c in calls if c[0] == "pull"]) == 1


def test_transient_errors_are_retried_then_succeed(tmp_path):
    refused = ('Error response from daemon: Get "https://ghcr.io/v2/": dial tcp '
               '169.254.200.1:443: connect: connection refused')
    world = {"present": [], "pull": {"m:1": [[1, refused], [0, "ok"]]}}
    rc, out, calls = run(tmp_path, world, "--attempts", "3", "m:1")
    assert rc == 0, out
    assert "retry 1/2 in 2 s" in out and "pulled m:1" in out
    assert len([c for c in calls if c[0] == "pull"]) == 2


def test_unreachable_registry_gives_up_after_the_bound(tmp_path):
    refused = "Error response from daemon: Get \"https://ghcr.io/v2/\": connection refused"
    world = {"present": [], "pull": {"m:1": [[1, refused]]}}
    rc, out, calls = run(tmp_path, world, "--attempts", "2", "m:1")
    assert rc == 1
    assert "cannot pull m:1: registry unreachable after 2 attempts" in out
    assert len([c for c in calls if c[0] == "pull"]) == 2


def test_compose_mode_pulls_the_named_services_and_their_dependencies_only(tmp_path):
    config = {"services": {"node": {"image": "n:1", "depends_on": {"tmkms": {}}},
                           "tmkms": {"image": "t:1"}, "api": {"image": "a:1"}}}
    world = {"present": ["t:1"], "config": config, "pull": {"n:1": [[0, ""]]}}
    rc, out, calls = run(tmp_path, world, "--compose", "-f", "x.yml", "node")
    assert rc == 0, out
    assert [c[1] for c in calls if c[0] == "pull"] == ["n:1"]
    assert ["compose", "-f", "x.yml", "config", "--format", "json"] in calls
