"""Phase 5: chain tuning (peers in config.toml, pruning in app.toml); restart the node only if a
file changed. Nothing here touches .tmkms, the keyring or node_key.json."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import compose, health, toml
from gonka_deploy.render import COMPOSE_FILES
from gonka_deploy.schema import HostConfig

from .network import CHAIN_RPC


def config_toml_values(config: HostConfig) -> dict:
    values = {"p2p.persistent_peers": ",".join(config.persistent_peers)}
    if config.seeds:
        values["p2p.seeds"] = ",".join(config.seeds)
    return values


def app_toml_values(config: HostConfig) -> dict:
    # app.toml keeps these as strings (Cosmos SDK's own template writes them quoted).
    return {"pruning": config.pruning.mode,
            "pruning-keep-recent": str(config.pruning.keep_recent),
            "pruning-interval": str(config.pruning.interval)}


@deploy("Phase 5: chain tuning")
def chain_tuning(config: HostConfig):
    folder = f"{config.join_dir}/.inference/config"
    peers = toml.settings(name="config.toml peers", path=f"{folder}/config.toml",
                          values=config_toml_values(config), created_by="the node")
    pruning = toml.settings(name="app.toml pruning", path=f"{folder}/app.toml",
                            values=app_toml_values(config), created_by="the node")
    compose.restart(name="Restart node", directory=config.join_dir, files=list(COMPOSE_FILES),
                    services=["node"], _if=lambda: peers.did_change() or pruning.did_change())
    health.wait_http(name="Chain RPC answers after tuning", url=CHAIN_RPC, what="chain RPC",
                     timeout=config.wait_timeout_s)
