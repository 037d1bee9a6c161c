"""Write the stand-in repo as one deterministic commit (fixed names and dates -> stable sha)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .files import files

BRANCH = "main"
TAG = "v0.2.13-sandbox"
DATE = "2026-06-19T12:00:00+00:00"
IDENTITY = {
    "GIT_AUTHOR_NAME": "gonka sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@gonka.invalid",
    "GIT_COMMITTER_NAME": "gonka sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@gonka.invalid",
    "GIT_AUTHOR_DATE": DATE,
    "GIT_COMMITTER_DATE": DATE,
}


def _git(*args: str, cwd: Path) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **IDENTITY}
    p = subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True)
    if p.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


def build(dest: Path) -> str:
    """Create (or replace) the bare repo at dest; returns the commit sha of main."""
    dest = dest.resolve()
    if dest.exists():
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory(prefix="gonkarepo-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        _git("init", "-q", "-b", BRANCH, cwd=work)
        for rel, text in sorted(files().items()):
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", "deploy/join for the sandbox (main-2026-06-19 layout)",
             cwd=work)
        _git("tag", TAG, cwd=work)
        sha = _git("rev-parse", "HEAD", cwd=work)
        _git("clone", "-q", "--bare", str(work), str(dest), cwd=Path(tmp))
    _git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}", cwd=dest)
    _git("remote", "remove", "origin", cwd=dest)
    (dest / "git-daemon-export-ok").touch()  # `git daemon` serves it without --export-all
    return sha


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m gonkarepo")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the bare repo DEST.git")
    b.add_argument("dest", type=Path)
    a = ap.parse_args(argv)
    sha = build(a.dest)
    print(f"TAG {TAG}")
    print(f"COMMIT {sha} REF {BRANCH}")
    return 0
