"""The guarded MLNode image swap (gonka_deploy/operations/swap.py), for every MLNode service of
the host whose image changed: ``deploys/mlnode_upgrade.py --data stage=swap`` and phase 6 of the
node deploy take this one path; neither recreates an MLNode bare."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import compose, files, swap
from gonka_deploy.pyinfra_hooks import host_topology
from gonka_deploy.render import COMPOSE_FILES, render_host
from gonka_deploy.schema import HostConfig

ADMIN = "http://127.0.0.1:9200/admin/v1"


def epoch_url(config: HostConfig) -> str:
    # The api's public epoch endpoint through the host's proxy, as upstream's testnet guide
    # reads it: `curl -sS http://127.0.0.1:8000/v1/epochs/latest`.
    return f"http://127.0.0.1:{config.api_port}/v1/epochs/latest"


def swap_services(config: HostConfig, prefix: str = "") -> None:
    """Pull each MLNode service's image (no pull when present), then swap it guarded where the
    running container has another image."""
    join, names = config.join_dir, list(COMPOSE_FILES)
    for service in config.mlnode_services:
        compose.pulled(name=f"{prefix}pull {service.image}", directory=join, files=names,
                       service=service.service, image=service.image)
        swap.image_swapped(name=f"{prefix}{service.service} runs {service.image}",
                           key_name=config.key_name, directory=join, files=names,
                           service=service.service, image=service.image,
                           nodes=list(service.nodes), admin_url=ADMIN,
                           epoch_url=epoch_url(config),
                           min_blocks=config.mlnode_swap_min_blocks_to_poc,
                           timeout=config.mlnode_swap_timeout_s)


@deploy("MLNode upgrade: swap")
def image_swap(config: HostConfig):
    """The override names the new image, then each changed MLNode service is swapped."""
    host_topology(config)  # a release that does not merge stops the run before any command
    override = render_host(config)["docker-compose.override.yml"]
    files.rendered(name="swap: compose override", path=f"{config.join_dir}/{override.name}",
                   content=override.content, mode=override.mode)
    swap_services(config, prefix="swap: ")
