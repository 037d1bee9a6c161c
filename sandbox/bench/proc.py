"""Process helpers: run a command, tell whether a PID is alive, kill by PID, walk a process
tree."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def sh(*cmd, check: bool = True, timeout: float | None = 120) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], text=True, capture_output=True, timeout=timeout)
    if check and p.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))!r} exited {p.returncode}: "
                           f"{p.stderr.strip()}")
    return p


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError, OSError):
        return None


def process_table() -> dict[int, list[str]]:
    """Every process's ``/proc/<pid>/stat`` fields after the command name (state, ppid, ...),
    read in one pass over ``/proc``."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                table[int(entry)] = fields
    return table


def descendants(root: int, table: dict[int, list[str]]) -> list[int]:
    """root and every process under it, from one :func:`process_table`."""
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def pid_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie (os.kill(pid, 0) says yes to zombies)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def owner_token(pid: int) -> str:
    """pid:starttime, so a recycled PID is not mistaken for a fleet's owner."""
    fields = _stat(pid)
    return f"{pid}:{fields[19] if fields else 0}"


def owner_alive(token: str) -> bool:
    try:
        pid, start = token.split(":")
        return pid_alive(int(pid)) and owner_token(int(pid)) == token
    except ValueError:
        return False


def kill_tree(pid: int, group: bool, timeout: float = 5.0) -> None:
    """SIGTERM pid (its process group if group), then SIGKILL after timeout."""
    if not pid or not pid_alive(pid):
        return

    def send(sig: int) -> None:
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        send(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
