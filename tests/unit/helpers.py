"""Shared test data: the repo's group data and a valid host, as pyinfra would merge them."""

from __future__ import annotations

import copy
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "unit-test-Keyring-Pass-0123"
PUBKEY_02 = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"  # 0x02 + 32 bytes


def group_data() -> dict:
    data = runpy.run_path(str(REPO / "group_data" / "all.py"))
    return {k: v for k, v in data.items() if not k.startswith("__")}


def host_data(**changes) -> dict:
    data = {
        "ssh_hostname": "127.0.0.1",
        "key_name": "unit-01",
        "public_host": "203.0.113.10",
        "account_pubkey": PUBKEY_02,
        "data_disk": "/dev/vdb",
        "gpu": {"model": "H100", "count": 4, "vram_gb": 80},
        "mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]}],
    }
    data.update(copy.deepcopy(changes))
    if "poc_participation" not in changes:
        data["poc_participation"] = unserved_poc_refused({**group_data(), **data})
    return data


def unserved_poc_refused(data: dict) -> dict:
    """The choice every PoC model of the host's release needs (issue 13): the test host serves
    one model; it refuses the release's other PoC models unless the case chooses."""
    from gonka_deploy.release.profiles import ReleaseError, load_profile

    try:
        catalog = load_profile(str(data.get("release", "v0.2.16-post1"))).model_catalog
    except ReleaseError:
        return {}
    catalog = {**catalog, **data.get("model_catalog", {}), **data.get("model_catalog_extra", {})}
    served = {m for node in data.get("mlnodes", []) for m in node.get("models", [])}
    return {m: "refuse" for m, entry in catalog.items() if entry.get("poc") is True
            and m not in served}


def merged(**changes) -> dict:
    return {**group_data(), **host_data(**changes)}


def host_config(password: str = PASSWORD, **changes):
    """A validated HostConfig of the repo's group data and a valid host, over its release
    profile (``release=`` picks another one)."""
    from gonka_deploy.schema import HostConfig
    from gonka_deploy.validate import host_values

    values, error = host_values(merged(**changes))
    assert error is None, error
    values["keyring_password"] = password
    return HostConfig.model_validate(values)
