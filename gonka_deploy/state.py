"""Local state on the operator's machine: ``nodes/<key_name>/`` (gitignored).

Writes are atomic (temp file in the same folder, fsync, rename, fsync of the folder), so a crash
never leaves a half-written file. Anything that may carry a secret is written 0600.
``audit.jsonl`` is append-only: one line per apply per host.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "GONKA_STATE_DIR"


def state_root() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, "nodes"))


def node_dir(key_name: str) -> Path:
    path = state_root() / key_name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # before any byte is written: a secret is never world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, value: Any, secret: bool = False) -> None:
    atomic_write(path, json.dumps(value, indent=2, sort_keys=True) + "\n",
                 0o600 if secret else 0o644)


def identity(key_name: str) -> dict[str, str]:
    """The node's persistent identity: a UUID v4 made once per key_name, never regenerated
    while ``identity.json`` exists."""
    path = node_dir(key_name) / "identity.json"
    if path.exists():
        return json.loads(path.read_text())
    value = {"key_name": key_name, "node_id": str(uuid.uuid4()),
             "created": _now()}
    # O_EXCL-like: a concurrent run that won the race keeps its id.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return json.loads(path.read_text())
    os.close(fd)
    write_json(path, value)
    return value


def append_audit(key_name: str, host: str, changes: list[str], **extra: Any) -> None:
    record = {"at": _now(), "who": _who(), "host": host, "changes": changes, **extra}
    path = node_dir(key_name) / "audit.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
