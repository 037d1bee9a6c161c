"""The sandbox's image registry: Debian's docker-registry (distribution 2.8) on the fleet's
gateway, port 443, with TLS from a sandbox CA, serving the stand-ins under their own names.

Hosts resolve ghcr.io and Docker Hub's registry to the gateway (/etc/hosts) and trust the CA
through /etc/docker/certs.d/<registry>/ca.crt, so `docker pull ghcr.io/gonka-ai/mlnode:3.0.13`
on a host is a real pull. Blobs (content-addressed) are shared by every fleet on the machine;
tags are each fleet's own: fleets started from different checkouts (other sim code) push other
manifests under the same names, and a host must pull what its own fleet built. push() uploads
only what the fleet's registry lacks, over the registry's own HTTP API v2.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import shutil
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

from . import build, catalog

BINARY = "/usr/bin/docker-registry"
PORT = 443


def available() -> str | None:
    """Why this machine cannot serve images, or None."""
    if not Path(BINARY).exists():
        return "the sandbox registry needs docker-registry (apt-get install docker-registry)"
    if not shutil.which("openssl"):
        return "the sandbox registry needs openssl (apt-get install openssl)"
    return None


def tls(root: Path) -> dict[str, Path]:
    """The sandbox CA and the registry's certificate for every registry name (made once)."""
    d = Path(root) / "tls"
    paths = {"ca": d / "ca.crt", "cert": d / "registry.crt", "key": d / "registry.key"}
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(p.exists() for p in paths.values()):
            return paths
        sans = ",".join(f"DNS:{n}" for n in catalog.REGISTRY_HOSTS)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                "-subj", "/CN=gonka sandbox CA", "-keyout", "ca.key", "-out", "ca.tmp")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sandbox registry",
                "-keyout", "registry.key.tmp", "-out", "registry.csr")
        (d / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "registry.csr", "-CA", "ca.tmp", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "3650", "-extfile", "ext.cnf",
                "-out", "registry.crt.tmp")
        (d / "registry.key.tmp").rename(paths["key"])
        (d / "registry.crt.tmp").rename(paths["cert"])
        (d / "ca.tmp").rename(paths["ca"])       # last: its presence means all are there
        return paths


def storage(root: Path, own: Path) -> Path:
    """The fleet's registry storage under ``own``: its repositories (tags, layer links) are its
    own, its blobs directory is the machine's shared one (a symlink: same filesystem, so the
    registry's rename of a finished upload into it works)."""
    shared = Path(root) / "storage" / "docker/registry/v2/blobs"
    shared.mkdir(parents=True, exist_ok=True)
    v2 = Path(own) / "docker/registry/v2"
    v2.mkdir(parents=True, exist_ok=True)
    if not (v2 / "blobs").is_symlink():
        (v2 / "blobs").symlink_to(shared)
    return Path(own)


def config(storage_dir: Path, listen: str, tls_paths: dict[str, Path]) -> str:
    """docker-registry's config.yml (distribution 2.8 format; JSON is valid YAML)."""
    return json.dumps({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(storage_dir)},
                    "delete": {"enabled": False}, "maintenance": {
                        "uploadpurging": {"enabled": False}}},
        "http": {"addr": listen, "tls": {"certificate": str(tls_paths["cert"]),
                                         "key": str(tls_paths["key"])}},
    }, indent=1)


class Client:
    """The part of the registry API v2 a push needs (one connection, CA-verified TLS)."""

    def __init__(self, address: str, ca: Path, port: int = PORT):
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.check_hostname = False          # we dial the gateway address, not a registry name
        self.address, self.port, self.ctx = address, port, ctx
        self.conn: http.client.HTTPSConnection | None = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                ok=(200, 201, 202, 204)) -> http.client.HTTPResponse:
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.address, self.port,
                                                        context=self.ctx, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                resp.read_body = resp.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError):
                self.conn.close()
                self.conn = None
                if attempt == 2 or hasattr(body, "read"):
                    raise
                time.sleep(0.5)
                continue
            if resp.status not in ok and resp.status != 404:
                raise RuntimeError(f"registry: {method} {path}: {resp.status} "
                                   f"{resp.read_body[:300]!r}")
            return resp
        raise AssertionError("unreachable")

    def has_blob(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}").status == 200

    def push_blob(self, repo: str, blob: build.Blob, path: Path, mount_from: str | None) -> None:
        if self.has_blob(repo, blob.digest):
            return
        query = f"?mount={blob.digest}&from={mount_from}" if mount_from else ""
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/{query}")
        if resp.status == 201:                # mounted from another repository: no upload
            return
        loc = urllib.parse.urlsplit(resp.getheader("Location"))
        sep = "&" if loc.query else ""
        target = f"{loc.path}?{loc.query}{sep}digest={blob.digest}"
        with open(path, "rb") as f:
            self.request("PUT", target, body=f, headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(blob.size)})

    def push(self, image: build.Image, store: build.Store, seen: dict[str, str]) -> None:
        """Blobs, then the manifest under its tag. seen: blob digest -> a repo holding it."""
        _, repo = catalog.repository(catalog.split(image.ref)[0])
        for blob in (*image.layers, image.config):
            self.push_blob(repo, blob, store.path(blob.digest), seen.get(blob.digest))
            seen.setdefault(blob.digest, repo)
        tag = catalog.split(image.ref)[1]
        self.request("PUT", f"/v2/{repo}/manifests/{tag}", body=image.manifest,
                     headers={"Content-Type": build.MANIFEST})


def push_all(images: list[build.Image], root: Path, address: str, ca: Path) -> None:
    """Push every image (only what the fleet's registry lacks), under a machine-wide lock."""
    store = build.Store(root)
    client = Client(address, ca)
    with open(Path(root) / ".push.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seen: dict[str, str] = {}
        for image in images:
            client.push(image, store, seen)
