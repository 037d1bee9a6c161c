"""Image references -> what a container of that image runs in the sandbox."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

# (pattern on the image name without tag/digest, kind, role)
_RULES: list[tuple[str, str, str]] = [
    ("ghcr.io/product-science/tmkms-softsign-with-keygen", "sim", "tmkms"),
    ("ghcr.io/product-science/inferenced", "sim", "node"),
    ("ghcr.io/product-science/api", "sim", "api"),
    ("ghcr.io/product-science/proxy", "sim", "proxy"),
    ("ghcr.io/product-science/explorer", "sim", "explorer"),
    ("ghcr.io/product-science/versiond", "sim", "idle"),
    ("ghcr.io/product-science/bridge", "sim", "idle"),
    ("ghcr.io/product-science/proxy-ssl", "sim", "idle"),
    ("*/mlnode", "sim", "mlnode"),
    ("nginx", "nginx", "nginx"),
    ("docker.io/library/nginx", "nginx", "nginx"),
    ("prom/prometheus", "prometheus", "prometheus"),
    ("prom/node-exporter", "node-exporter", "node-exporter"),
    ("quay.io/prometheus/node-exporter", "node-exporter", "node-exporter"),
    # a plain Debian image runs its compose command with the host's (Debian 12) tools
    ("debian", "raw", "raw"),
    ("busybox", "raw", "raw"),
]


@dataclass(frozen=True)
class ImageRole:
    kind: str  # sim | nginx | prometheus | node-exporter | raw
    role: str


def image_name(ref: str) -> str:
    """`repo/name:tag@sha256:...` -> `repo/name`."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def resolve(ref: str) -> ImageRole | None:
    name = image_name(ref)
    for pattern, kind, role in _RULES:
        if fnmatch.fnmatchcase(name, pattern):
            return ImageRole(kind, role)
    return None


def pull_denied(ref: str) -> str:
    return (f"Error response from daemon: pull access denied for {image_name(ref)}, "
            "repository does not exist or may require 'docker login': denied: "
            "requested access to the resource is denied")
