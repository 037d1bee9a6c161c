"""Small helpers for tests that drive a sandbox host over SSH by hand."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading

POLL = """\
deadline=$(( $(date +%s) + {secs} ))
until out=$({cmd}); do
  [ "$(date +%s)" -ge "$deadline" ] && {{ echo "timeout: {cmd}" >&2; exit 1; }}
  sleep 0.2
done
printf '%s\\n' "$out"
"""


def drained(proc: subprocess.Popen) -> list[str]:
    """The lines of a background run's output, read by a thread as they come (a full pipe
    would stop the run); the list grows until the run ends."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return lines


def poll(host, cmd: str, secs: int = 60) -> str:
    """Run cmd on the host until it succeeds (bounded by secs); its last output."""
    return host.run(POLL.format(cmd=cmd, secs=secs), timeout=secs + 30)


def put(host, path: str, text: str, mode: str = "0644") -> None:
    """Write a file on the host, created with its mode; the text travels on stdin."""
    quoted = shlex.quote(path)
    subprocess.run([*host.ssh_argv(), f"mkdir -p {shlex.quote(os.path.dirname(path))} && "
                    f"(umask 077 && cat > {quoted}) && chmod {mode} {quoted}"],
                   input=text, text=True, check=True, capture_output=True, timeout=60)
