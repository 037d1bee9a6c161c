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
    return data


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
