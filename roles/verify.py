"""Phase 7: verify the running host (read-only; a failed check fails the host)."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy import participation
from gonka_deploy.address import account_address
from gonka_deploy.operations import participation as chain, verify
from gonka_deploy.release.profiles import load_profile
from gonka_deploy.schema import HostConfig


@deploy("Phase 7: verification")
def verification(config: HostConfig):
    current = config.current_version
    verify.stack(
        name="Verify the host",
        join_dir=config.join_dir,
        api_port=config.api_port,
        version=current.version,
        service=current.service,
        seed_api_url=config.seed_api_url,
        account_address=account_address(config.account_pubkey),
        public_url=config.public_url,
        gpu=config.gpu.model_dump(),
        mlnode_ids=[node.id for node in config.mlnodes],
        key_name=config.key_name,
        upgrades=[u.model_dump(include={"name", "height", "version"})
                  for u in load_profile(config.release).chain_upgrades],
    )
    # What the chain sees of the host's participation: warnings with their fix, never a failure.
    chain.checked(name="Verify participation on chain", wanted=participation.wanted(config))
