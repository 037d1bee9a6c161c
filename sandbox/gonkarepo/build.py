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
# The second stand-in release: one commit on top of main (a fast-forward for a host's clone).
NEXT = {"release": "v0.2.14", "branch": "release/v0.2.14-sandbox", "tag": "v0.2.14-sandbox",
        "date": "2026-07-23T12:00:00+00:00"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "gonka sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@gonka.invalid",
    "GIT_COMMITTER_NAME": "gonka sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@gonka.invalid",
    "GIT_AUTHOR_DATE": DATE,
    "GIT_COMMITTER_DATE": DATE,
}


def _git(*args: str, cwd: Path, date: str = DATE) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **IDENTITY,
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    p = subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True)
    if p.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


def _write(work: Path, release: str) -> None:
    for old in work.rglob("*"):
        if old.is_file() and ".git" not in old.relative_to(work).parts:
            old.unlink()
    for rel, text in sorted(files(release).items()):
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build(dest: Path) -> str:
    """Create (or replace) the bare repo at dest; returns the commit sha of main."""
    return build_all(dest)[BRANCH]


def build_all(dest: Path) -> dict[str, str]:
    """Create (or replace) the bare repo at dest; returns {ref: commit} of main and the
    next release's branch."""
    dest = dest.resolve()
    if dest.exists():
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory(prefix="gonkarepo-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        _git("init", "-q", "-b", BRANCH, cwd=work)
        _write(work, "v0.2.13")
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", "deploy/join for the sandbox (main-2026-06-19 layout)",
             cwd=work)
        _git("tag", TAG, cwd=work)
        sha = _git("rev-parse", "HEAD", cwd=work)
        _git("checkout", "-q", "-b", NEXT["branch"], cwd=work)
        _write(work, NEXT["release"])
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", f"Upgrade {NEXT['release']} (sandbox stand-in)", cwd=work,
             date=NEXT["date"])
        _git("tag", NEXT["tag"], cwd=work, date=NEXT["date"])
        refs = {BRANCH: sha, NEXT["branch"]: _git("rev-parse", "HEAD", cwd=work)}
        _git("checkout", "-q", BRANCH, cwd=work)
        _git("clone", "-q", "--bare", str(work), str(dest), cwd=Path(tmp))
    _git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}", cwd=dest)
    _git("remote", "remove", "origin", cwd=dest)
    (dest / "git-daemon-export-ok").touch()  # `git daemon` serves it without --export-all
    return refs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m gonkarepo")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the bare repo DEST.git")
    b.add_argument("dest", type=Path)
    p = sub.add_parser("profiles", help="write the sandbox release profiles into DIR "
                       "(for GONKA_RELEASES_PATH)")
    p.add_argument("dir", type=Path)
    p.add_argument("--repo", type=Path, required=True, help="the bare repo `build` wrote")
    p.add_argument("--url", required=True, help="gonka_repo_url hosts clone it from")
    p.add_argument("--gateway", required=True, help="address of the sandbox's seed sim")
    a = ap.parse_args(argv)
    if a.cmd == "profiles":
        from .profiles import write_profiles

        for name in write_profiles(a.dir, a.repo, a.url, a.gateway):
            print(f"PROFILE {name}")
        return 0
    refs = build_all(a.dest)
    print(f"TAG {TAG}")
    print(f"COMMIT {refs[NEXT['branch']]} REF {NEXT['branch']}")
    print(f"COMMIT {refs[BRANCH]} REF {BRANCH}")  # last: what sandbox/bench/services.py reads
    return 0
