"""Phase 4: the chain node up, the warm key, the participant registration."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.address import account_address
from gonka_deploy.operations import backup, compose, cosmovisor, health, keys
from gonka_deploy.release.profiles import load_profile
from gonka_deploy.render import COMPOSE_FILES
from gonka_deploy.schema import HostConfig

CHAIN_RPC = "http://127.0.0.1:26657/status"


@deploy("Phase 4: network node and keys")
def network_node(config: HostConfig):
    join, files = config.join_dir, list(COMPOSE_FILES)
    # A blank host whose node has a key backup here gets its keys back before tmkms and the
    # node first start, and before the warm key step: no new key, no second registration.
    backup.restored(name="Keys from the node's backup (blank host only)", join_dir=join,
                    key_name=config.key_name, choice=config.restore_backup,
                    rpc_url=str(config.seed_node_rpc_url),
                    check_blocks=config.restore_check_blocks,
                    old_host_destroyed=config.old_host_destroyed)
    # Before the node's first start: state sync lands past the chain's upgrades, and the
    # image's own binary would crash-loop there (and a pending plan's binary is placed ahead).
    upgrades = load_profile(config.release).chain_upgrades
    cosmovisor.binaries(name="Chain upgrade binaries (cosmovisor)", join_dir=join,
                        upgrades=[u.model_dump() for u in upgrades],
                        seed_rpc_url=config.seed_node_rpc_url, seed_api_url=config.seed_api_url,
                        cache_dir=f"{config.data_mount}/.gonka-deploy/downloads",
                        release=config.release)
    compose.up(name="tmkms and node up", directory=join, files=files,
               services=["tmkms", "node"], no_deps=True)
    health.wait_http(name="Chain RPC answers", url=CHAIN_RPC, what="chain RPC",
                     timeout=config.wait_timeout_s)
    keys.warm_key(name="Warm key", directory=join, files=files, home=f"{join}/.inference",
                  key_name=config.key_name, password=config.keyring_password,
                  save_mnemonic=config.save_warm_mnemonic)
    keys.registration(name="Participant registration", directory=join, files=files,
                      key_name=config.key_name, public_url=config.public_url,
                      account_pubkey=config.account_pubkey,
                      account_address=account_address(config.account_pubkey),
                      seed_api_url=config.seed_api_url)
    if config.grant_from_local_keyring:
        keys.granted(name="Grant ML operations (local cold key)", key_name=config.key_name,
                     seed_api_url=config.seed_api_url, cold_key_name=config.cold_key_name,
                     chain_api=config.chain_api,
                     cold_address=account_address(config.account_pubkey),
                     keyring_backend=config.cold_keyring_backend)
