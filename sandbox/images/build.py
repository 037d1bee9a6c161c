"""Build the stand-in images as OCI blobs (no docker daemon needed), cached by content.

Every image is three things: the shared base layer (Debian 12 with python3, nginx, Prometheus,
node-exporter; built once with mmdebstrap, about a minute), the shared sim layer (the gonkasim
package, the shims and wrappers: a few hundred KB, rebuilt when they change, deterministic), and
a per-reference config (entrypoint, environment). A host that pulls a second image fetches only
its config. Blobs live under $GONKA_SANDBOX_DIR/images/blobs/sha256/.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import catalog

HERE = Path(__file__).resolve().parent
SANDBOX = HERE.parent
ROOTFS_SH = HERE / "rootfs.sh"
LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SIMS = "/opt/gonkasim"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Image:
    ref: str                 # name:tag
    role: str
    manifest: bytes
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


class Store:
    """A content-addressed blob directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs/sha256").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "blobs/sha256" / digest.removeprefix("sha256:")

    def put(self, data: bytes, media_type: str) -> Blob:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if not path.exists():
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            tmp.rename(path)
        return Blob(digest, len(data), media_type)

    def put_file(self, src: Path, media_type: str) -> Blob:
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        path = self.path(digest)
        if not path.exists():
            os.replace(src, path)
        else:
            src.unlink()
        return Blob(digest, path.stat().st_size, media_type)


def _tar_dir(root: Path, out: Path) -> None:
    """A layer tar of a directory: sorted, owners and modes kept, hard links as links."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            for name in [*sorted(dirnames), *sorted(filenames)]:
                full = os.path.join(dirpath, name)
                arc = os.path.normpath(os.path.join(rel_dir, name))
                info = tar.gettarinfo(full, arcname=arc)
                if info is None:                 # sockets: not part of an image
                    continue
                info.uname = info.gname = ""
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


def base_layer(store: Store, root: Path) -> Blob:
    """The shared Debian layer, built once per recipe (rootfs.sh) under a lock."""
    recipe = hashlib.sha256(ROOTFS_SH.read_bytes()).hexdigest()[:16]
    record = root / f"base-{recipe}.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            blob = Blob(**json.loads(record.read_text()))
            if store.path(blob.digest).exists():
                return blob
        print("building the stand-in images' base layer (about a minute, once)...",
              file=sys.stderr, flush=True)
        t0 = time.monotonic()
        tmp = root / f"rootfs.tmp{os.getpid()}"
        try:
            p = subprocess.run([str(ROOTFS_SH), str(tmp)], capture_output=True, text=True)
            if p.returncode:
                raise RuntimeError(f"stand-in base build failed (rc {p.returncode}):\n"
                                   f"{p.stdout[-2000:]}{p.stderr[-3000:]}")
            tar = root / f"layer.tmp{os.getpid()}"
            _tar_dir(tmp, tar)
            blob = store.put_file(tar, LAYER)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        record.write_text(json.dumps(blob.__dict__))
        print(f"stand-in base layer ready in {time.monotonic() - t0:.0f} s "
              f"({blob.size / 2**20:.0f} MiB)", file=sys.stderr, flush=True)
        return blob


def _sim_files() -> dict[str, tuple[bytes, int]]:
    """Path in the image -> (content, mode) of the sim layer."""
    out: dict[str, tuple[bytes, int]] = {}
    pkg = SANDBOX / "gonkasim"
    for p in sorted(pkg.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            out[f"{SIMS}/gonkasim/{p.relative_to(pkg)}"] = (p.read_bytes(), 0o644)
    shims, wrappers = SANDBOX / "shims", HERE / "bin"
    placed = {
        "api/bin/inferenced": shims / "inferenced",
        "node/bin/inferenced": shims / "inferenced",
        "mlnode/bin/nvidia-smi": shims / "nvidia-smi",
        "mlnode/bin/uvicorn": wrappers / "uvicorn",
        "nginx/bin/nginx": wrappers / "nginx",
        "idle/bin/versiond-router": wrappers / "versiond-router",
        "python/bin/nvidia-smi": shims / "nvidia-smi",
    }
    for rel, src in placed.items():
        out[f"{SIMS}/images/{rel}"] = (src.read_bytes(), 0o755)
    out["root/init-docker.sh"] = ((wrappers / "init-docker.sh").read_bytes(), 0o755)
    return out


def sim_layer(store: Store) -> Blob:
    """The small shared layer, byte-for-byte the same for the same sources."""
    buf = io.BytesIO()
    files = _sim_files()
    dirs = sorted({str(Path(p).parent.relative_to("/") if p.startswith("/") else
                       Path(p).parent) for p in files})
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        done = set()
        for d in dirs:
            parts = Path(d).parts
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub in done:
                    continue
                done.add(sub)
                info = tarfile.TarInfo(sub)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                if sub == "root":
                    info.mode = 0o700
                tar.addfile(info)
        prom = tarfile.TarInfo("prometheus")      # the data dir of the prom/prometheus image
        prom.type, prom.mode, prom.uid, prom.gid = tarfile.DIRTYPE, 0o755, 65534, 65534
        tar.addfile(prom)
        for path in sorted(files):
            data, mode = files[path]
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return store.put(buf.getvalue(), LAYER)


def image_config(ref: str, role: str) -> dict:
    """The runtime config of a stand-in: what `docker run` of the real image would start."""
    env = [f"PATH={SIMS}/images/{role}/bin:{STD_PATH}", f"GONKASIM_IMAGE={ref}"]
    cfg: dict = {"WorkingDir": "/root", "Labels": {"org.gonka.sandbox.role": role,
                                                    "org.gonka.sandbox.ref": ref}}
    if role == "nginx":
        cfg.update(Cmd=["nginx", "-g", "daemon off;"], StopSignal="SIGQUIT", WorkingDir="/")
    elif role == "prometheus":
        cfg.update(Entrypoint=["/usr/bin/prometheus"], User="nobody", WorkingDir="/prometheus",
                   Cmd=["--config.file=/etc/prometheus/prometheus.yml",
                        "--storage.tsdb.path=/prometheus"])
    elif role == "node-exporter":
        cfg.update(Entrypoint=["/usr/bin/prometheus-node-exporter"], User="nobody", WorkingDir="/")
    elif role == "alertmanager":    # prom/alertmanager: ENTRYPOINT /bin/alertmanager, nobody
        cfg.update(Entrypoint=["/usr/bin/prometheus-alertmanager"], User="nobody",
                   WorkingDir="/alertmanager",
                   Cmd=["--config.file=/etc/alertmanager/alertmanager.yml",
                        "--storage.path=/alertmanager"])
    elif role == "python":          # python:3.x-slim: CMD python3
        cfg.update(Cmd=["python3"], WorkingDir="/")
    else:
        pythonpath = [SIMS] + ([f"{SIMS}/gonkasim/fake_site"] if role == "mlnode" else [])
        env += [f"PYTHONPATH={':'.join(pythonpath)}", "PYTHONUNBUFFERED=1"]
        if role in ("api", "node"):
            # inferenced records its calls where the host can read them: the bind-mounted
            # .inference (a `compose run --rm` container's own files are gone after it)
            env.append("GONKASIM_LOG_DIR=/root/.inference/.gonkasim")
        cfg["Cmd"] = {"node": ["sh", "./init-docker.sh"],
                      "mlnode": ["uvicorn", "api.app:app", "--host=0.0.0.0", "--port=8080"],
                      }.get(role, ["python3", "-m", "gonkasim", role])
    cfg["Env"] = env
    return cfg


def build(root: Path, refs: list[str] | None = None) -> list[Image]:
    """Every referenced stand-in, its blobs in root's store."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root)
    base = base_layer(store, root)
    sims = sim_layer(store)
    images = []
    for ref in refs or catalog.referenced():
        name, tag, _ = catalog.split(ref)
        role = catalog.role(name)
        if role is None:
            raise ValueError(f"no stand-in for image {ref!r}: add its name to catalog.ROLES")
        config = {"architecture": "amd64", "os": "linux", "config": image_config(ref, role),
                  "rootfs": {"type": "layers", "diff_ids": [base.digest, sims.digest]},
                  "history": [{"created_by": "sandbox/images/rootfs.sh"},
                              {"created_by": "sandbox/images/build.py: simulators"}]}
        cblob = store.put(json.dumps(config, sort_keys=True).encode(), CONFIG)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": cblob.descriptor(),
                               "layers": [base.descriptor(), sims.descriptor()]},
                              sort_keys=True).encode()
        images.append(Image(f"{name}:{tag}", role, manifest, cblob, (base, sims)))
    return images
