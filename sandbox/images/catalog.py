"""Which stand-in runs for which image name, and which image references exist.

A reference is served when the release data names it: the repo's group data and release
profiles, the stand-in gonka repo's compose files, plus EXTRA_REFS (tags tests pull on purpose).
Adding a name is one line in ROLES; a tag appears when the data mentions it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# image name (without tag) -> role. Gonka roles run `python3 -m gonkasim <role>`; "nginx",
# "prometheus", "node-exporter" and "alertmanager" run Debian's real programs, "python" Debian's
# python3 (with the sandbox's nvidia-smi, as the NVIDIA toolkit injects it into GPU containers).
ROLES: dict[str, str] = {
    "ghcr.io/product-science/tmkms-softsign-with-keygen": "tmkms",
    "ghcr.io/product-science/inferenced": "node",
    "ghcr.io/product-science/api": "api",
    "ghcr.io/product-science/proxy": "proxy",
    "ghcr.io/product-science/explorer": "explorer",
    "ghcr.io/gonka-ai/mlnode": "mlnode",
    "nginx": "nginx",
    "prom/prometheus": "prometheus",
    "prom/node-exporter": "node-exporter",
    "prom/alertmanager": "alertmanager",
    "python": "python",
}
# any other ghcr.io/product-science/<name> (versiond, bridge, proxy-ssl, edge-api, ...) stays
# up doing nothing, like a service our stack does not talk to
DEFAULT_ROLE = "idle"
GONKA_PREFIX = "ghcr.io/product-science/"

# Tags tests use beyond what the data names (the MLNode upgrade pulls a newer MLNode).
EXTRA_REFS = (
    "ghcr.io/gonka-ai/mlnode:3.0.14",
    "prom/prometheus:v2.53.2",
    "prom/node-exporter:v1.8.2",
)

# The registries those names live on, as dockerd contacts them; the hosts resolve each to the
# sandbox registry (docker.io names are pulled from registry-1.docker.io).
REGISTRY_HOSTS = ("ghcr.io", "registry-1.docker.io", "docker.io", "index.docker.io")

_NAME = (r"(?:ghcr\.io/[a-z0-9-]+/[a-z0-9._-]+|nginx|python|prom/[a-z0-9-]+|"
         r"docker\.io/[a-z0-9/._-]+)")
REF_RE = re.compile(rf"(?<![\w./-])({_NAME}):([\w][\w.-]{{0,127}})(@sha256:[0-9a-f]{{64}})?")


def split(ref: str) -> tuple[str, str, str | None]:
    """`name:tag[@sha256:...]` -> (name, tag, digest or None)."""
    name_tag, _, digest = ref.partition("@")
    name, _, tag = name_tag.rpartition(":")
    if not name or "/" in tag:
        name, tag = name_tag, "latest"
    return name, tag, digest or None


def role(name: str) -> str | None:
    """The stand-in role for an image name; None when the sandbox has no stand-in for it."""
    name = name.removeprefix("docker.io/").removeprefix("library/")
    if name in ROLES:
        return ROLES[name]
    return DEFAULT_ROLE if name.startswith(GONKA_PREFIX) else None


def repository(name: str) -> tuple[str, str]:
    """(registry host, repository path) as dockerd requests it: `nginx` is
    registry-1.docker.io/library/nginx, `ghcr.io/a/b` is ghcr.io/a/b."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first):
        host, path = first, rest
    else:
        host, path = "registry-1.docker.io", name
    if host in ("docker.io", "index.docker.io"):
        host = "registry-1.docker.io"
    if host == "registry-1.docker.io" and "/" not in path:
        path = f"library/{path}"
    return host, path


def refs_in(text: str) -> set[str]:
    """Every image reference in a text (compose file, group data, profile)."""
    return {f"{m[1]}:{m[2]}" for m in REF_RE.finditer(text) if role(m[1])}


def data_texts() -> list[str]:
    """The texts image references are taken from: group data, release profiles, the stand-in
    repo's files (read as text: the sandbox does not import the product)."""
    patterns = ("group_data/*.py", "releases/**/*.py", "gonka_deploy/schema.py")
    texts = [p.read_text() for pattern in patterns for p in sorted(REPO.glob(pattern))]
    try:
        from sandbox.gonkarepo import files as repo_files

        texts += list(repo_files.files().values())
    except ImportError:        # another layout of the stand-in repo: its files on disk
        texts += [p.read_text() for p in sorted((REPO / "sandbox/gonkarepo").rglob("*.y*ml"))]
    return texts


def referenced() -> list[str]:
    """Every `name:tag` the sandbox serves, sorted (digests are the stand-ins' own)."""
    refs = set(EXTRA_REFS)
    for text in data_texts():
        refs |= refs_in(text)
    return sorted(refs)
