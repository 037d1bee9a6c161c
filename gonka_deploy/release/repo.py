"""The pinned repo's ``deploy/join`` files, before a host has its clone.

A profile that stores its upstream files gives them for its own ``gonka_ref``. Any other commit
(a profile that stores none, or a host that pins another ref) is read from a local cache keyed by
commit, ``~/.cache/gonka-deploy/repo/<commit>/deploy/join/…`` (``GONKA_CACHE_DIR`` moves it),
filled once with ``git`` from ``gonka_repo_url`` and then read-only: a commit's files never
change.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .profiles import SHA40, ReleaseError, ReleaseProfile

log = logging.getLogger("gonka_deploy.release")
JOIN = "deploy/join"
GIT_TIMEOUT = 300
RETRIES = (1.0, 3.0)  # seconds to wait before the 2nd and 3rd try of a transient failure
TRANSIENT = re.compile(r"timed out|Connection reset|early EOF|RPC failed|returned error: 5\d\d|"
                       r"remote end hung up|Temporary failure", re.I)


@dataclass(frozen=True)
class ReleaseFiles:
    commit: str
    files: dict[str, str]  # repo path (deploy/join/...) -> text
    source: str            # where they came from, for messages

    def text(self, rel: str) -> str | None:
        return self.files.get(rel)


def cache_root() -> Path:
    base = os.environ.get("GONKA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gonka-deploy")
    return Path(base) / "repo"


def release_files(profile: ReleaseProfile, ref: str, repo_url: str) -> ReleaseFiles:
    """The deploy/join files of ``ref``: stored with the profile, cached, or fetched now."""
    if ref == profile.gonka_ref and profile.stores_files:
        return ReleaseFiles(ref, profile.stored_files(), f"stored in {profile.files_dir}")
    commit = ref if SHA40.match(ref) else resolve_ref(repo_url, ref, profile.name)
    why = ("stores no upstream files" if ref == profile.gonka_ref
           else f"stores files for {profile.gonka_ref[:12]}, not for {ref}")
    return cached_files(commit, repo_url, f"release {profile.name} {why}")


_FAILED: dict[tuple[str, str], str] = {}  # one try per commit and URL in a run


def cached_files(commit: str, repo_url: str, why: str) -> ReleaseFiles:
    folder = cache_root() / commit
    if not folder.is_dir():
        if (commit, repo_url) in _FAILED:
            raise ReleaseError(_FAILED[commit, repo_url])
        try:
            fetch(commit, repo_url, folder, why)
        except ReleaseError as exc:
            _FAILED[commit, repo_url] = str(exc)
            raise
    files = {}
    for path in sorted((folder / JOIN).rglob("*")):
        if path.is_file():
            try:
                files[path.relative_to(folder).as_posix()] = path.read_text()
            except UnicodeDecodeError:
                continue  # a binary asset: no compose file or template
    return ReleaseFiles(commit, files, f"cache {folder}")


def _git(args: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess:
    """Run git with bounded retries on transient network faults (said in the log)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    for attempt in range(len(RETRIES) + 1):
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                              timeout=GIT_TIMEOUT, check=False)
        if proc.returncode == 0:
            return proc
        err = proc.stderr.decode(errors="replace").strip()
        if attempt < len(RETRIES) and TRANSIENT.search(err):
            log.warning(f"{what}: {_cause(err)}; retrying in {RETRIES[attempt]:.0f} s "
                        f"(try {attempt + 2} of {len(RETRIES) + 1})")
            time.sleep(RETRIES[attempt])
            continue
        raise ReleaseError(f"{what} failed: {_cause(err) or f'exit {proc.returncode}'}")
    raise AssertionError("unreachable")


def _cause(stderr: str) -> str:
    """git's own reason: its first fatal/error line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    named = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (named or lines or [""])[0] if named else (lines[-1] if lines else "")


def resolve_ref(repo_url: str, ref: str, release: str) -> str:
    with tempfile.TemporaryDirectory(prefix="gonka-ref-") as tmp:
        out = _git(["ls-remote", repo_url, ref, f"{ref}^{{}}"], Path(tmp),
                   f"release {release}: resolving {ref} at {repo_url}").stdout.decode()
    found = dict(reversed(line.split("\t", 1)) for line in out.splitlines() if "\t" in line)
    peeled = [sha for name, sha in found.items() if name.endswith("^{}")]
    commit = peeled[0] if peeled else next(iter(found.values()), None)
    if not commit:
        raise ReleaseError(f"release {release}: {repo_url} has no ref {ref!r}")
    return commit


def fetch(commit: str, repo_url: str, folder: Path, why: str) -> None:
    """Fill the cache folder for ``commit`` with its deploy/join tree, atomically, read-only."""
    what = f"{why}; fetching {JOIN} at {commit[:12]} from {repo_url}"
    log.warning(f"{what} into {folder}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{commit[:12]}-", dir=folder.parent) as tmp:
        git_dir = Path(tmp) / "git"
        _git(["init", "--quiet", "--bare", str(git_dir)], Path(tmp), what)
        bare = ["--git-dir", str(git_dir)]
        try:
            _git([*bare, "fetch", "--quiet", "--depth", "1", repo_url, commit], Path(tmp), what)
        except ReleaseError:
            # A server that refuses a fetch by commit: fetch its branches and tags instead.
            _git([*bare, "fetch", "--quiet", repo_url, "+refs/heads/*:refs/h/*",
                  "+refs/tags/*:refs/t/*"], Path(tmp), what)
        archive = _git([*bare, "archive", "--format=tar", commit, JOIN], Path(tmp),
                       f"{what}: {JOIN} at that commit").stdout
        out = Path(tmp) / commit
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(out, filter="data")
        _read_only(out)
        try:
            out.rename(folder)
        except OSError:
            if not folder.is_dir():  # another run filled it meanwhile: same commit, same files
                raise
            shutil.rmtree(out, ignore_errors=True)


def _read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
    os.chmod(root, 0o555)
