"""Release profiles for the stand-in repo's releases, in the format of the project's
``releases/<name>.py`` (read through GONKA_RELEASES_PATH): ``sandbox-v0.2.13`` for ``main`` and
``sandbox-v0.2.14`` for ``release/v0.2.14-sandbox``, each with its upstream files stored beside
it, verbatim, with their sha256.

``write_profile`` writes one more under another name with other values (the chain upgrades
test: its chain's upgrades, binaries and seed).

The v0.2.14 profile leaves its new template variable unreviewed, so that the drift report of a
bump names it, as it would for an upstream release nobody has read yet.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from pprint import pformat

from .build import BRANCH, NEXT
from .files import MLNODE_SEGMENT, MLNODE_SERVICE, RELEASES, files, images

UPSTREAM = ("deploy/join/config.env.template", "deploy/join/docker-compose.yml",
            "deploy/join/docker-compose.mlnode.yml", "deploy/join/nginx.conf")
# Variables of the stand-in template the toolkit does not own and leaves at their value.
REVIEWED = ["DAPI_API__POC_CALLBACK_URL", "DAPI_CHAIN_NODE__URL", "DAPI_CHAIN_NODE__P2P_URL",
            "PORT", "INFERENCE_PORT", "KEYRING_BACKEND", "DAPI_CHAIN_NODE__MIN_GAS_PRICE_NGONKA",
            "QUERY_GAS_LIMIT"]
DATES = {"v0.2.13": "2026-06-19", "v0.2.14": "2026-07-23"}


def _commit(repo: Path, ref: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "rev-parse", ref], check=True,
                          capture_output=True, text=True).stdout.strip()


def profile_text(name: str, release: str, commit: str, url: str, gateway: str,
                 sums: dict[str, str], extra: dict | None = None) -> str:
    rpc = f"http://{gateway}:18000/chain-rpc/"
    service_images = images(release)
    mlnode = service_images.pop(MLNODE_SERVICE)
    values = {
        "name": name,
        "date": DATES[release],
        "gonka_repo_url": url,
        "gonka_ref": commit,
        "upstream_files": sums,
        "compose_files": ["deploy/join/docker-compose.yml",
                          "deploy/join/docker-compose.mlnode.yml"],
        "chain_id": "gonka-mainnet",
        "seed_api_url": f"http://{gateway}:18000",
        "seed_node_rpc_url": rpc,
        "seed_node_p2p_url": f"tcp://{gateway}:5000",
        "rpc_servers": [rpc, rpc],
        "public_endpoints": {"p2p": "node:26656/tcp", "api": "proxy:80/tcp",
                             "api-ssl": "proxy:443/tcp"},
        "template_defaults": REVIEWED,
        "images": service_images,
        "mlnode_base_service": MLNODE_SERVICE,
        "mlnode_versions": [{"version": MLNODE_SEGMENT, "image": mlnode, "current": True}],
        "chain_upgrades": [],
        "model_catalog": {},
        "gpu_presets": {},
        **(extra or {}),
    }
    head = (f"# Sandbox release profile {name}: the stand-in repo's {release} "
            f"(sandbox/gonkarepo); generated, do not edit.\n\n")
    return head + "".join(f"{key} = {pformat(value, width=96 - len(key), sort_dicts=False)}\n"
                          for key, value in values.items())


def write_profile(dest: Path, repo: Path, url: str, gateway: str, name: str,
                  release: str = "v0.2.13", **extra) -> str:
    """One profile of a stand-in release under another name, with ``extra`` values (a chain
    with upgrades and its own seed, say): its stored files beside it. Returns the name."""
    refs = {"v0.2.13": BRANCH, NEXT["release"]: NEXT["branch"]}
    content = files(release)
    sums = {}
    for rel in UPSTREAM:
        path = dest / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content[rel])
        sums[rel] = hashlib.sha256(content[rel].encode()).hexdigest()
    text = profile_text(name, release, _commit(repo, refs[release]), url, gateway, sums, extra)
    (dest / f"{name}.py").write_text(text)
    return name


def write_profiles(dest: Path, repo: Path, url: str, gateway: str) -> list[str]:
    """Write both profiles (and their stored files) into dest; return their names."""
    return [write_profile(dest, repo, url, gateway, f"sandbox-{release}", release)
            for release in RELEASES]

