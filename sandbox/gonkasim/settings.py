"""Per-host simulation settings: $GONKASIM_SETTINGS or /etc/gonkasim/sim.json, all keys optional."""

from __future__ import annotations

import copy
import json
import os

DEFAULT_PATH = "/etc/gonkasim/sim.json"

DEFAULTS: dict = {
    "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
    "nvidia_smi_fail": False,
    "sync_seconds": 3,
    "block_seconds": 0.5,
    "start_height": 1000,
    "seed_api_url": "",
    # seconds the node spends initialising (init-docker.sh: genesis, keys, config) before its
    # RPC answers; a slow host for tests that need a long wait
    "init_seconds": 0,
    # MLNode: seconds a model takes to load after POST /api/v1/inference/up; image tags that
    # never become healthy (a bad release)
    "mlnode_load_seconds": 0,
    "mlnode_broken_tags": [],
    # api: the epoch schedule (see gonkasim/api.py Epochs); a PoC far away by default
    "epoch": {},
}


def path() -> str:
    return os.environ.get("GONKASIM_SETTINGS") or DEFAULT_PATH


def load() -> dict:
    """Defaults overlaid with the settings file; a missing file means defaults."""
    out = copy.deepcopy(DEFAULTS)
    try:
        with open(path()) as f:
            data = json.load(f)
    except FileNotFoundError:
        return out
    for key, value in data.items():
        # "gpu" is replaced whole: {"model": "H200"} must not inherit the H100's 80 GB.
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "gpu":
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out
