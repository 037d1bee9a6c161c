"""A container's first process: `python3 -m gonkasim.docker.boot SPEC.json [--foreground]`.

Started by the engine inside the container's network namespace and a private mount namespace
(`ip netns exec NS unshare -m ...`). It bind-mounts the volumes at their container paths, then
either execs the command (--foreground, for `run`) or runs it as a child and stays as the
container's init: SIGTERM is passed on, and the exit code is written for `ps`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys


def _mount(args: list[str]) -> None:
    subprocess.run(["mount", *args], check=True)


def apply_mounts(spec: dict) -> None:
    for target in spec.get("tmpfs", []):
        os.makedirs(target, exist_ok=True)
        _mount(["-t", "tmpfs", "-o", "mode=755", "tmpfs", target])
    for m in spec.get("mounts", []):
        src, dst = m["source"], m["target"]
        if not os.path.exists(dst):
            # docker creates a missing mount point inside the container's filesystem
            if os.path.isdir(src):
                os.makedirs(dst, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(dst) or "/", exist_ok=True)
                open(dst, "a").close()
        _mount(["--bind", src, dst])
        if m.get("read_only"):
            _mount(["-o", "remount,bind,ro", dst])


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        spec = json.load(f)
    foreground = "--foreground" in argv[1:]
    try:
        apply_mounts(spec)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"Error response from daemon: failed to mount volumes: {exc}", file=sys.stderr)
        return 126
    env = spec["env"]
    cwd = spec.get("cwd") or "/"
    os.makedirs(cwd, exist_ok=True)
    os.chdir(cwd)
    if foreground:
        try:
            os.execvpe(spec["argv"][0], spec["argv"], env)
        except OSError as exc:
            print(f"exec {spec['argv'][0]}: {exc.strerror}", file=sys.stderr)
            return 127
    try:
        child = subprocess.Popen(spec["argv"], env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"exec {spec['argv'][0]}: {exc.strerror}", file=sys.stderr, flush=True)
        _write_exit(spec, 127)
        return 127

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    rc = child.wait()
    code = 128 - rc if rc < 0 else rc  # killed by signal N -> 128+N, as docker shows
    _write_exit(spec, code)
    return code


def _write_exit(spec: dict, code: int) -> None:
    path = spec.get("exitcode")
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(str(code))
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
