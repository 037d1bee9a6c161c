"""Stand-in chain upgrade binaries, their zips, and cosmovisor's directory as the images use it.

A stand-in binary is a small shell script that carries its version (``version=v0.2.15``) and
prints it for ``<program> version``, as the real ``inferenced version`` does. Zips are flat and
hold what upstream's hold (gonka-ai/gonka@ee730031: inference-chain/Dockerfile and
decentralized-api/Dockerfile, binary-exporter stages): ``inferenced-amd64.zip`` = inferenced,
libwasmvm_muslc.x86_64.a, wrapped_token.wasm, libgcc_s.so.1; ``decentralized-api-amd64.zip`` =
decentralized-api, inferenced, libwasmvm_muslc.x86_64.a, libgcc_s.so.1. Every entry has the
mtime 2000-01-01 00:00 (upstream's ``touch -t 200001010000``), so a zip's sha256 depends on the
version only.

``Cosmovisor`` is the part of cosmovisor (v1.7.2 in the images) the simulators need: ``init``
(genesis/bin and ``current``), the ``current`` binary's version, an upgrade's binary, the switch
at an upgrade height (backup of data/, ``current`` moved, upgrade-info.json written).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import shutil
import zipfile

ASSETS = {"inferenced": "inferenced-amd64.zip", "decentralized-api": "decentralized-api-amd64.zip"}
ZIP_FILES = {
    "inferenced": ("inferenced", "libwasmvm_muslc.x86_64.a", "wrapped_token.wasm",
                   "libgcc_s.so.1"),
    "decentralized-api": ("decentralized-api", "inferenced", "libwasmvm_muslc.x86_64.a",
                          "libgcc_s.so.1"),
}
VERSION_LINE = re.compile(rb"^version=(\S+)$", re.M)
NUMBERS = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def script(program: str, version: str) -> bytes:
    return (f"#!/bin/sh\n"
            f"# gonkasim stand-in for {program} {version} (sandbox/gonkasim/upgradebins.py)\n"
            f"version={version}\n"
            f'if [ "$1" = version ]; then echo "$version"; exit 0; fi\n'
            f'echo "stand-in {program} $version: only \\`version\\` is simulated" >&2\n'
            f"exit 1\n").encode()


def version_of(path: str) -> str | None:
    """The version a stand-in binary carries; None when it is missing or carries none."""
    try:
        with open(path, "rb") as f:
            match = VERSION_LINE.search(f.read(4096))
    except OSError:
        return None
    return match.group(1).decode() if match else None


def numbers(version: str) -> tuple[int, ...] | None:
    match = NUMBERS.search(version or "")
    return tuple(int(g) for g in match.groups()) if match else None


def has_handler(binary_version: str, upgrade: str) -> bool:
    """A binary carries the handler of every upgrade up to its own release (upgrades.go
    registers them all)."""
    mine, theirs = numbers(binary_version), numbers(upgrade)
    return bool(mine and theirs and mine >= theirs)


def build_zip(program: str, version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ZIP_FILES[program]:
            data = (script(name, version) if name in ASSETS
                    else f"stand-in {name} of {version}\n".encode())
            info = zipfile.ZipInfo(name, (2000, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ASSETS else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def publish(root: str, versions: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """Write ``release/<version>/<asset>`` under root (served as ``release%2F<version>/…``, as
    GitHub's release URLs are); returns {version: {program: {path, sha256, binary_sha256}}}."""
    import hashlib

    out: dict = {}
    for version in versions:
        for program, asset in ASSETS.items():
            data = build_zip(program, version)
            rel = f"release/{version}/{asset}"
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            out.setdefault(version, {})[program] = {
                "path": f"release%2F{version}/{asset}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "binary_sha256": hashlib.sha256(script(program, version)).hexdigest()}
    return out


class Cosmovisor:
    """DAEMON_HOME/cosmovisor of one program, as the image's init-docker.sh and cosmovisor
    leave it (FACTS-chain §1)."""

    def __init__(self, home: str, program: str, image_version: str):
        self.home, self.program, self.image_version = home, program, image_version
        self.root = os.path.join(home, "cosmovisor")

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def current_bin(self) -> str:
        return self.path("current", "bin", self.program)

    def upgrade_bin(self, name: str) -> str:
        return self.path("upgrades", name, "bin", self.program)

    def _write_image_binary(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(script(self.program, self.image_version))
        os.chmod(path, 0o755)

    def init(self) -> list[str]:
        """`cosmovisor init /usr/bin/<program>`: genesis/bin from the image, `current` -> genesis
        when there is none (an existing `current` is kept). Returns the log lines."""
        lines = []
        genesis = self.path("genesis", "bin", self.program)
        if not os.path.exists(genesis):
            lines.append(f"copying executable into place: {genesis!r}")
            self._write_image_binary(genesis)
        current = self.path("current")
        if not os.path.lexists(current):
            os.symlink("genesis", current)
        lines.append(f"the current symlink points to: {os.path.realpath(self.current_bin)!r}")
        return lines

    def restore(self) -> bool:
        """init-docker.sh (8a35022b): a `current` whose binary is missing or not executable gets
        the image's binary copied in ("restoring from image")."""
        current = self.path("current")
        binary = self.current_bin
        if os.path.lexists(current) and not (os.path.isfile(binary)
                                             and os.access(binary, os.X_OK)):
            self._write_image_binary(binary)
            return True
        return False

    def version(self) -> str:
        return version_of(self.current_bin) or self.image_version

    def has(self, name: str) -> bool:
        binary = self.upgrade_bin(name)
        return os.path.isfile(binary) and os.access(binary, os.X_OK)

    def applied_name(self) -> str | None:
        """The upgrade `current` runs, from the upgrade-info.json cosmovisor wrote there."""
        try:
            with open(self.path("current", "upgrade-info.json")) as f:
                return json.load(f).get("name")
        except (OSError, ValueError):
            return None

    def switch(self, plan: dict, backup: bool = True) -> list[str]:
        """What cosmovisor does at an upgrade height with the binary in place: back up data/,
        point `current` at the upgrade (an absolute link, as a newer cosmovisor writes it),
        keep the plan in the upgrade's upgrade-info.json. Returns the log lines."""
        lines = ["daemon shutting down in an attempt to restart"]
        data = os.path.join(self.home, "data")
        if backup and os.path.isdir(data):
            day = datetime.date.today()
            dst = os.path.join(self.home, f"data-backup-{day.year}-{day.month}-{day.day}")
            lines.append("starting to take backup of data directory")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(data, dst, symlinks=True)
            lines.append(f"backup completed backup saved at={dst}")
        lines.append("pre-upgrade command does not exist. continuing the upgrade.")
        tmp = self.path("current.tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.path("upgrades", plan["name"]), tmp)
        os.replace(tmp, self.path("current"))
        with open(self.path("upgrades", plan["name"], "upgrade-info.json"), "w") as f:
            json.dump(plan, f)
        lines.append(f"upgrade detected, relaunching app={self.program}")
        return lines
