"""Chain upgrades in the sandbox: the stand-in upgrade binaries over HTTPS on the gateway (as
GitHub's release downloads serve the real zips), and a seed whose chain is past upgrades.

That seed is its own service (port 18001): the session's shared seed has no upgrades, so the
nodes of other tests never need upgrade binaries.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

from ..images import registry as regmod
from .services import REPO, sim_env

BINARIES_PORT = 18443
UPGRADE_SEED_PORT = 18001


def issue_cert(images_root: Path, ip: str) -> tuple[Path, Path]:
    """A server certificate for ``ip`` from the sandbox CA (which the hosts trust), made once."""
    d = Path(regmod.tls(images_root)["ca"]).parent
    cert, key = d / f"binaries-{ip}.crt", d / f"binaries-{ip}.key"
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert.exists() and key.exists():
            return cert, key

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip}",
                "-keyout", f"{key.name}.tmp", "-out", f"binaries-{ip}.csr")
        (d / f"binaries-{ip}.cnf").write_text(f"subjectAltName=IP:{ip}\n"
                                             "extendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"binaries-{ip}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "3650", "-extfile", f"binaries-{ip}.cnf",
                "-out", f"{cert.name}.tmp")
        (d / f"{key.name}.tmp").rename(key)
        (d / f"{cert.name}.tmp").rename(cert)
    return cert, key


def serve_binaries(fleet, versions: list[str]) -> dict[str, dict[str, dict]]:
    """Publish stand-in zips of ``versions`` and serve them; returns, per version and program,
    the profile entry ``{"url", "sha256", "binary_sha256"}``."""
    from gonkasim import upgradebins

    root = fleet.dir / "binaries"
    published = upgradebins.publish(str(root), versions)
    if "binaries" not in fleet.services:
        cert, key = issue_cert(fleet.root / "images", fleet.gateway)
        fleet.serve("binaries", [sys.executable, "-m", "gonkasim", "binaries", "--listen",
                                 f"{fleet.gateway}:{BINARIES_PORT}", "--root", str(root),
                                 "--cert", str(cert), "--key", str(key)], BINARIES_PORT,
                    env=sim_env(), cwd=REPO)
    base = f"https://{fleet.gateway}:{BINARIES_PORT}/"
    return {version: {program: {"url": base + entry["path"], "sha256": entry["sha256"],
                                "binary_sha256": entry["binary_sha256"]}
                      for program, entry in programs.items()}
            for version, programs in published.items()}


def serve_upgrade_seed(fleet, applied: list[dict]) -> str:
    """A seed (own state, port 18001) whose chain applied ``applied`` ({name, height}); returns
    its base URL."""
    state = fleet.dir / "seed-upgrades"
    state.mkdir(exist_ok=True)
    spec = state / "upgrades-at-start.json"
    spec.write_text(json.dumps({"applied": applied}))
    if "seed-upgrades" not in fleet.services:
        fleet.serve("seed-upgrades", [sys.executable, "-m", "gonkasim", "seed", "--listen",
                                      f"{fleet.gateway}:{UPGRADE_SEED_PORT}", "--state",
                                      str(state), "--upgrades", str(spec)], UPGRADE_SEED_PORT,
                    env=sim_env(), cwd=REPO)
    return f"http://{fleet.gateway}:{UPGRADE_SEED_PORT}"
