"""The run lock: one apply at a time per host (``gonka_deploy/operations/runlock.py``).

Every deploy that changes hosts calls it first; read-only deploys (verify, status) never do.
"""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import runlock
from gonka_deploy.schema import HostConfig

FIRST = "One apply at a time on this host"
UPSTREAM = "Upstream's deployment lock too (deploy/join exists now)"


@deploy("Run lock")
def run_lock(config: HostConfig, deploy_name: str, name: str = FIRST):
    runlock.held(name=name, deploy=deploy_name, join_dir=config.join_dir)
