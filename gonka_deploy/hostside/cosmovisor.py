"""Chain upgrade binaries under cosmovisor, on the host (``python3 -c SCRIPT MODE ARGS_JSON``).

    cosmovisor.py state ARGS_JSON     what is there: print one JSON line
    cosmovisor.py install ARGS_JSON   download, verify, extract, place, link; says each step

The layout is the one the node and api images' cosmovisor uses (DAEMON_HOME /root/.inference and
/root/.dapi, bind-mounted from ``deploy/join/.inference`` and ``.dapi``):
``<home>/cosmovisor/upgrades/<name>/bin/<program>`` and the ``current`` link (FACTS-chain §1).

state ARGS: {"homes": {"inference": DIR, "dapi": DIR}, "container_homes": {same keys: the path
inside the container}, "upgrades": [NAME...], "measure_data": bool}. Per home: whether the
service has started there before (the node: ``config/config.toml``, written by ``inferenced
init`` on its first start; the api: ``data/``, made by its init-docker.sh on every start), where
``current`` points (``upgrades/<name>``, ``genesis``, or the raw link), whether ``data/`` exists,
and for each named upgrade the sha256 and mode of every file of ``bin/`` and the marker this
program leaves. Plus the free bytes of the filesystem, and the size of the node's ``data/`` when
``measure_data`` (cosmovisor copies it whole before an upgrade).

install ARGS: {"cache": DIR, "attempts": N, "items": [{"upgrade", "home", "program", "url",
"sha256", "binary_sha256"}], "links": {HOME: NAME}, "mkdirs": [DIR]}. Each zip is downloaded
into the cache (resumed with a Range request after a cut, transient faults retried with backoff
and said, a 4xx fails at once), checked against its sha256, extracted flat (like ``unzip -j``)
into a staging directory beside the upgrade's, made executable, checked against the binary's
sha256 when known, then renamed into place: cosmovisor never sees a half-made upgrade
directory (it refuses those: "upgrade dir already exists, won't overwrite"). A file already
there with other content is never overwritten: the run fails naming it. Then each ``current``
named in links is pointed at ``upgrades/<name>`` (relative, replaced atomically). Exit 1 names
what failed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import ssl
import stat
import sys
import time
import urllib.error
import urllib.request
import zipfile

MARKER = "gonka-deploy.json"
PROGRAMS = ("inferenced", "decentralized-api")
CHUNK = 1 << 20
TIMEOUT = 30.0
BACKOFF_CAP = 60.0


class Failed(Exception):
    """A step that cannot succeed: the message names it."""


class Transient(Exception):
    """A network fault worth another try."""


def say(text: str) -> None:
    print(text, flush=True)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- state
def link_target(cosmovisor: str, container_home: str) -> str | None:
    """Where ``current`` points, relative to the cosmovisor dir when it can be: cosmovisor
    itself may write an absolute link made inside the container (dangling on the host)."""
    link = os.path.join(cosmovisor, "current")
    if not os.path.islink(link):
        return "(not a link)" if os.path.exists(link) else None
    target = os.readlink(link).rstrip("/")
    for root in (os.path.join(container_home, "cosmovisor"), cosmovisor):
        if target.startswith(root.rstrip("/") + "/"):
            return target[len(root.rstrip("/")) + 1:]
    return target


def upgrade_state(cosmovisor: str, name: str) -> dict:
    folder = os.path.join(cosmovisor, "upgrades", name)
    files = {}
    bindir = os.path.join(folder, "bin")
    if os.path.isdir(bindir):
        for entry in sorted(os.listdir(bindir)):
            path = os.path.join(bindir, entry)
            if os.path.isfile(path) and not os.path.islink(path):
                mode = os.stat(path).st_mode
                files[entry] = {"sha256": sha256_file(path), "mode": stat.S_IMODE(mode)}
    marker = None
    try:
        with open(os.path.join(folder, MARKER)) as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        pass
    return {"dir": os.path.isdir(folder), "files": files, "marker": marker}


def disk_usage(path: str) -> int:
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def state(args: dict) -> dict:
    out: dict = {}
    containers = args.get("container_homes") or {}
    for key, home in args["homes"].items():
        cosmovisor = os.path.join(home, "cosmovisor")
        started = (os.path.isfile(os.path.join(home, "config", "config.toml")) if key == "inference"
                   else os.path.isdir(os.path.join(home, "data")))
        out[key] = {
            "started": started,
            "current": link_target(cosmovisor, containers.get(key, home)),
            "data_dir": os.path.isdir(os.path.join(home, "data")),
            "upgrades": {name: upgrade_state(cosmovisor, name) for name in args["upgrades"]},
        }
    probe = args["homes"].get("inference") or next(iter(args["homes"].values()))
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    fs = os.statvfs(probe)
    out["free_bytes"] = fs.f_bavail * fs.f_frsize
    data = os.path.join(args["homes"].get("inference", ""), "data")
    measure = args.get("measure_data") and os.path.isdir(data)
    out["data_bytes"] = disk_usage(data) if measure else None
    return out


# ---------------------------------------------------------------- download
def fetch(url: str, part: str, context=None) -> None:
    """One attempt: continue ``part`` from its size (Range), or start over when the server sends
    the whole file. Raises Transient for faults worth another try, Failed for the rest."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT, context=context)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return  # nothing after what we have: the file is complete (the checksum says)
        if exc.code in (408, 429) or exc.code >= 500:
            raise Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise Failed(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise Failed(f"{url}: {reason}") from None
        raise Transient(str(reason)) from None
    with response:
        if response.status == 206:
            mode, done = "ab", have
        else:
            mode, done = "wb", 0
        size = response.headers.get("Content-Length")
        total = done + int(size) if size and size.isdigit() else None
        if have and done:
            say(f"  resuming at {have} bytes")
        last = time.monotonic()
        try:
            with open(part, mode) as handle:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    handle.write(block)
                    done += len(block)
                    if total and time.monotonic() - last > 10:
                        say(f"  {done * 100 // total}% of {total} bytes")
                        last = time.monotonic()
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(f"cut after {done} bytes: {exc}") from None
        if total is not None and done < total:
            raise Transient(f"cut after {done} of {total} bytes")


def download(url: str, digest: str, cache: str, attempts: int, delay: float) -> str:
    """The verified zip in the cache (downloaded, or resumed, now)."""
    os.makedirs(cache, mode=0o700, exist_ok=True)
    final = os.path.join(cache, f"{digest}.zip")
    if os.path.exists(final) and sha256_file(final) == digest:
        return final
    part = final + ".part"
    for attempt in range(1, attempts + 1):
        try:
            fetch(url, part)
            break
        except Transient as exc:
            if attempt == attempts:
                raise Failed(f"{url}: no complete download after {attempts} attempts "
                             f"({exc})") from None
            wait = min(delay * 2 ** (attempt - 1), BACKOFF_CAP)
            say(f"  download of {url} failed transiently ({exc}); retry {attempt} of "
                f"{attempts - 1} in {wait:.0f} s")
            time.sleep(wait)
    got = sha256_file(part)
    if got != digest:
        os.unlink(part)  # a wrong file is not resumed: the next run starts from byte 0
        raise Failed(f"{url}: sha256 {got}, the plan says {digest}")
    os.replace(part, final)
    return final


# ---------------------------------------------------------------- install
def extract(zip_path: str, program: str, into: str) -> dict[str, str]:
    """Every file of the zip flat into ``into`` (``unzip -j``); programs 0755, the rest 0644.
    Returns {file name: sha256}."""
    os.makedirs(into, mode=0o755, exist_ok=True)
    sums = {}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            name = os.path.basename(info.filename)
            if info.is_dir() or not name or name in (".", ".."):
                continue
            path = os.path.join(into, name)
            digest = hashlib.sha256()
            with archive.open(info) as src, open(path, "wb") as dst:
                for block in iter(lambda: src.read(CHUNK), b""):
                    digest.update(block)
                    dst.write(block)
            os.chmod(path, 0o755 if name in PROGRAMS else 0o644)
            sums[name] = digest.hexdigest()
    if program not in sums:
        raise Failed(f"{zip_path}: the zip has no {program} (it has {', '.join(sorted(sums))})")
    return sums


def place(item: dict, zip_path: str) -> None:
    name, home, program = item["upgrade"], item["home"], item["program"]
    upgrades = os.path.join(home, "cosmovisor", "upgrades")
    final = os.path.join(upgrades, name)
    staging = os.path.join(upgrades, f".{name}.gonka-deploy.tmp")
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that died here
    os.makedirs(upgrades, mode=0o755, exist_ok=True)
    try:
        sums = extract(zip_path, program, os.path.join(staging, "bin"))
        want = item.get("binary_sha256")
        if want and sums[program] != want:
            raise Failed(f"{program} of {item['url']} has sha256 {sums[program]}, the profile "
                         f"says {want}")
        marker = {"upgrade": name, "url": item["url"], "sha256": item["sha256"], "files": sums}
        with open(os.path.join(staging, MARKER), "w") as handle:
            json.dump(marker, handle, indent=1, sort_keys=True)
        if not os.path.exists(final):
            os.rename(staging, final)  # one step: the whole directory or nothing
            say(f"installed {final}/bin/{program}")
            return
        bindir = os.path.join(final, "bin")
        os.makedirs(bindir, mode=0o755, exist_ok=True)
        conflicts = []
        for fname, digest in sums.items():
            dest = os.path.join(bindir, fname)
            if os.path.lexists(dest) and (not os.path.isfile(dest) or sha256_file(dest) != digest):
                conflicts.append(dest)
        if conflicts:
            raise Failed(f"{', '.join(conflicts)} already exist(s) with other content than "
                         f"{item['url']} (sha256 {item['sha256'][:12]}…): not overwritten; "
                         "move it away if it is not what should run")
        # The program last: cosmovisor takes the upgrade as there once bin/<program> is.
        for fname in sorted(sums, key=lambda f: f == program):
            dest = os.path.join(bindir, fname)
            if not os.path.exists(dest):
                os.replace(os.path.join(staging, "bin", fname), dest)
            os.chmod(dest, 0o755 if fname in PROGRAMS else 0o644)
        os.replace(os.path.join(staging, MARKER), os.path.join(final, MARKER))
        say(f"completed {final}/bin/{program}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def link(home: str, name: str) -> None:
    cosmovisor = os.path.join(home, "cosmovisor")
    current = os.path.join(cosmovisor, "current")
    if os.path.exists(current) and not os.path.islink(current):
        raise Failed(f"{current} is not a symlink: not replaced")
    program = os.path.join(cosmovisor, "upgrades", name, "bin")
    if not any(os.access(os.path.join(program, p), os.X_OK) for p in PROGRAMS):
        raise Failed(f"{program} holds no executable program: {current} not moved")
    tmp = current + ".gonka-deploy.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(f"upgrades/{name}", tmp)
    os.replace(tmp, current)
    say(f"{current} -> upgrades/{name}")


def install(args: dict) -> None:
    delay = float(os.environ.get("GONKA_RETRY_DELAY", "2"))
    attempts = int(args.get("attempts", 4))
    for item in args["items"]:
        say(f"{item['upgrade']}: {item['program']} from {item['url']}")
        zip_path = download(item["url"], item["sha256"], args["cache"], attempts, delay)
        say(f"  sha256 {item['sha256']} ok")
        place(item, zip_path)
        os.unlink(zip_path)  # installed: the zip (100 MB+) is not kept
    for directory in args.get("mkdirs", []):
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
            say(f"created {directory}")
    for home, name in (args.get("links") or {}).items():
        link(home, name)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("state", "install"):
        print("usage: cosmovisor.py state|install ARGS_JSON", file=sys.stderr)
        return 2
    args = json.loads(argv[1])
    try:
        if argv[0] == "state":
            print(json.dumps(state(args), sort_keys=True))
        else:
            install(args)
    except Failed as exc:
        print(f"cannot install chain upgrade binaries: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
