"""The cached artefacts every fleet shares: the SSH key pair and the base rootfs.

Both live under $GONKA_SANDBOX_DIR (default /var/tmp/gonka-sandbox). The base is named
base-<hash of rootfs.sh + the public key>, so a changed recipe (package list) builds a new base
and an unchanged one is reused. It is built into a temp dir and renamed, under a file lock, so a
crashed or concurrent build never leaves or uses a half-built base.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOTFS_SH = HERE / "rootfs.sh"


def sandbox_dir() -> Path:
    return Path(os.environ.get("GONKA_SANDBOX_DIR", "/var/tmp/gonka-sandbox"))


def key_path(root: Path | None = None) -> Path:
    return (root or sandbox_dir()) / "keys" / "id_ed25519"


def base_name(pubkey: bytes) -> str:
    digest = hashlib.sha256(ROOTFS_SH.read_bytes() + b"\0" + pubkey).hexdigest()
    return f"base-{digest[:16]}"


def _ensure_key(key: Path) -> None:
    if key.exists() and key.with_suffix(".pub").exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True)
    key.unlink(missing_ok=True)
    key.with_suffix(".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gonka-sandbox",
                    "-f", str(key)], check=True, stdout=subprocess.DEVNULL)


def ensure_base(root: Path | None = None) -> tuple[Path, Path]:
    """Return (base rootfs dir, private key path), building what is missing."""
    root = root or sandbox_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # concurrent sessions: one builds, the rest wait
        key = key_path(root)
        _ensure_key(key)
        base = root / base_name(key.with_suffix(".pub").read_bytes())
        if (base / "usr/sbin/sshd").exists():
            return base, key
        for stale in root.glob("base-*.tmp*"):   # left by a crashed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f"{base.name}.tmp{os.getpid()}"
        print("building base rootfs (about 60 s, once)...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([str(ROOTFS_SH), str(tmp), str(key.with_suffix(".pub"))],
                              capture_output=True, text=True)
        if proc.returncode:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"base rootfs build failed (rc {proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
        tmp.rename(base)
        _prune_old_bases(root, keep=base)
        print(f"base rootfs ready in {time.monotonic() - t0:.0f} s: {base}",
              file=sys.stderr, flush=True)
        return base, key


def _prune_old_bases(root: Path, keep: Path) -> None:
    """Remove bases of older recipes that no running fleet overlays (~700 MB each)."""
    in_use = {keep.name}
    for state in root.glob("run/*/state.json"):
        try:
            in_use.add(Path(json.loads(state.read_text())["base"]).name)
        except (OSError, ValueError, KeyError, TypeError):
            return                       # unsure what is in use: keep everything
    for old in root.glob("base-*"):
        if old.name not in in_use and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
