"""After the full stack: PoC participation per model, collateral and fees, as the chain sees
them (the warm key acts; the cold key's transactions are printed, or sent when opted in)."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy import participation
from gonka_deploy.operations import participation as chain
from gonka_deploy.render import COMPOSE_FILES
from gonka_deploy.schema import HostConfig


@deploy("Participation: PoC models, collateral, fees")
def participation_on_chain(config: HostConfig):
    chain.converged(name="PoC participation and collateral on chain",
                    wanted=participation.wanted(config), directory=config.join_dir,
                    files=list(COMPOSE_FILES), password=config.keyring_password,
                    cold_txs_local=config.cold_txs_from_local_keyring)
