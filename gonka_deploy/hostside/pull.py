"""Make images present on a host, pulling only missing ones (``python3 -c SCRIPT ...``).

    pull.py [--attempts N] [--timeout S] IMAGE...
    pull.py [--attempts N] [--timeout S] --compose [-f FILE]... [--no-deps] [SERVICE...]

With --compose the images are those of the named services (and what they depend on), or of
every enabled service, as ``docker compose config`` resolves them in the current directory.
An image already present is never pulled (the registry may be unreachable: operators pre-load
10 GB MLNode images). A missing one is pulled; transient registry errors are retried with
bounded backoff (each retry is printed), permanent ones (unknown manifest, denied) fail at once.
Exit 1 names the image that could not be had, and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

PERMANENT = ("manifest unknown", "not found", "pull access denied", "denied:", "unauthorized",
             "invalid reference format")
BACKOFF_CAP = 30.0


def docker(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def present(image: str) -> bool:
    return docker("image", "inspect", "--format", "{{.Id}}", image).returncode == 0


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def permanent(error: str) -> bool:
    low = error.lower()
    return any(p in low for p in PERMANENT)


def pull(image: str, attempts: int, timeout: float, sleep=time.sleep) -> str | None:
    """Pull one image; None when it is there, else why it could not be had."""
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            p = docker("pull", image, timeout=timeout)
        except subprocess.TimeoutExpired:
            p = subprocess.CompletedProcess([], 124, "", f"no answer within {timeout:.0f} s")
        if p.returncode == 0:
            print(f"pulled {image}", flush=True)
            return None
        error = last_line(p.stderr or p.stdout)
        if permanent(error):
            return error
        if attempt < attempts:
            delay = min(2.0 ** attempt, BACKOFF_CAP)
            print(f"pull of {image} failed ({error}); retry {attempt}/{attempts - 1} in "
                  f"{delay:.0f} s", flush=True)
            sleep(delay)
    return f"registry unreachable after {attempts} attempts: {error}"


def compose_images(files: list[str], services: list[str], deps: bool = True) -> list[str]:
    args = [a for f in files for a in ("-f", f)]
    p = docker("compose", *args, "config", "--format", "json")
    if p.returncode:
        raise SystemExit(f"docker compose config failed: {last_line(p.stderr)}")
    defined = json.loads(p.stdout).get("services", {})
    todo, seen = list(services or defined), []
    while todo:
        name = todo.pop(0)
        if name in seen or name not in defined:
            continue
        seen.append(name)
        if deps:
            todo += list(defined[name].get("depends_on") or {})
    images = []
    for name in seen:
        image = defined[name].get("image")
        if image and image not in images:
            images.append(image)
    return images


def main(argv: list[str]) -> int:
    attempts, timeout, files, compose, deps, rest = 4, 3600.0, [], False, True, []
    it = iter(argv)
    for arg in it:
        if arg == "--attempts":
            attempts = int(next(it))
        elif arg == "--timeout":
            timeout = float(next(it))
        elif arg == "--compose":
            compose = True
        elif arg == "--no-deps":
            deps = False
        elif arg == "-f":
            files.append(next(it))
        else:
            rest.append(arg)
    images = compose_images(files, rest, deps) if compose else rest
    for image in images:
        if present(image):
            continue
        print(f"pulling {image}", flush=True)
        why = pull(image, attempts, timeout)
        if why:
            print(f"cannot pull {image}: {why}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
