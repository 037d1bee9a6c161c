"""Services the sandbox network offers its hosts, on the fleet's gateway address: the seed
network sim, the Hugging Face endpoint and a git daemon serving the stand-in gonka repo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent
REPO = SANDBOX.parent


def sim_env() -> dict:
    path = os.pathsep.join(p for p in (str(SANDBOX), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def _serve_once(fleet, name: str, argv: list[str], port: int, **kw) -> None:
    # Another test of the same session may have started it already; the repo and the model
    # are deterministic, so the running one serves the same content.
    if name not in fleet.services:
        fleet.serve(name, argv, port, **kw)


def start_services(fleet, state: dict, hf_args: list[str] | None = None) -> None:
    """Start the seed sim, the HF endpoint and the git daemon on the fleet's gateway; record in
    ``state`` the pinned model (``model``, ``model_commit``) and the repo commit (``gonka_ref``)."""
    gw, env, py = fleet.gateway, sim_env(), sys.executable
    _serve_once(fleet, "seed", [py, "-m", "gonkasim", "seed", "--listen", f"{gw}:18000",
                                "--state", str(fleet.dir / "seed-state")], 18000, env=env,
                cwd=REPO)
    state["services"].append(f"seed sim        http://{gw}:18000")

    _serve_once(fleet, "hf", [py, "-m", "gonkasim", "hf", "--listen", f"{gw}:18080",
                              "--data", str(fleet.dir / "hf-data"), *(hf_args or [])], 18080,
                env=env, cwd=REPO)
    m = re.search(r"^MODEL (\S+) COMMIT (\S+) SIZE (\d+)", fleet.log("hf"), re.M)
    if not m:
        raise RuntimeError(f"the HF endpoint printed no MODEL line:\n{fleet.log('hf')[-2000:]}")
    state["model"], state["model_commit"] = m.group(1), m.group(2)
    state["services"].append(f"HF endpoint     http://{gw}:18080")

    gitdir = fleet.dir / "git"
    gitdir.mkdir(exist_ok=True)
    p = subprocess.run([py, "-m", "gonkarepo", "build", str(gitdir / "gonka.git")],
                       env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    lines = p.stdout.strip().splitlines()
    m = re.match(r"COMMIT (\S+) REF (\S+)", lines[-1]) if lines else None
    if p.returncode or not m:
        raise RuntimeError(f"gonkarepo build failed (rc {p.returncode}):\n"
                           f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
    state["gonka_ref"] = m.group(1)
    # the real git daemon per connection (--inetd) behind a deep accept queue: its own
    # listener's backlog of 5 drops clones when a whole fleet starts at once (gitserve.py)
    _serve_once(fleet, "git", [py, str(Path(__file__).with_name("gitserve.py")),
                               f"--listen={gw}:9418", f"--base-path={gitdir}"], 9418, cwd=gitdir)
    state["services"].append(f"git daemon      git://{gw}/gonka.git ({m.group(2)})")
