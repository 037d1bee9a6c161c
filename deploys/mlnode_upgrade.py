"""Side-by-side MLNode upgrade, driven by `mlnode_versions` in group data and a stage:

    pyinfra inventories/prod.py deploys/mlnode_upgrade.py --data stage=status    # what is pending
    pyinfra inventories/prod.py deploys/mlnode_upgrade.py --data stage=prepare   # before the height
    pyinfra inventories/prod.py deploys/mlnode_upgrade.py --data stage=cleanup   # after the switch
    pyinfra inventories/prod.py deploys/mlnode_upgrade.py --data stage=rollback  # undo the last
    pyinfra inventories/prod.py deploys/mlnode_upgrade.py --data stage=swap      # image swap

swap: the MLNode image changed in group data (the current version's image, or an ML node's
own): each changed MLNode service is swapped in place, guarded (refused during PoC; the nodes
disabled in the api, the service recreated, the model waited for, the nodes enabled; rolled back
to the previous image on failure). The node deploy takes the same path in phase 6.

prepare: add the new version (`current: false`) to mlnode_versions first. cleanup refuses until
the api calls the new version. After cleanup, make the new version the only entry of
mlnode_versions (`current: true`), as the run's output says.
"""

from pyinfra import host, logger

from gonka_deploy.operations.util import refuse_deploy
from gonka_deploy.pyinfra_hooks import host_config
from gonka_deploy.state import NodeState
from roles.lock import run_lock
from roles.swap import image_swap
from roles.upgrade import cleanup, prepare, rollback, status

config = host_config()
stage = config.stage
new = [v for v in config.mlnode_versions if not v.current]

if stage not in (None, "status"):  # status only reads: it never waits for or takes the lock
    run_lock(config, f"deploys/mlnode_upgrade.py stage={stage}")

if stage is None:
    refuse_deploy("set the stage: --data stage=status|prepare|cleanup|rollback|swap")
elif stage == "swap":
    image_swap(config)
elif stage == "status":
    status(config)
elif stage in ("prepare", "cleanup") and len(new) != 1:
    refuse_deploy(f"{stage} needs mlnode_versions with the current version and exactly one new "
                  f"version (current: false); found {len(new)} new")
elif stage == "prepare":
    prepare(config)
elif stage == "cleanup":
    cleanup(config)
    after = {**new[0].model_dump(), "current": True}
    logger.info(f"[{host.name}] after cleanup, set in group data: mlnode_versions = [{after}]")
else:
    history = NodeState(config.key_name).upgrades().history
    if not history:
        refuse_deploy(f"nothing to roll back: no upgrade stage recorded for {config.key_name}")
    else:
        rollback(config, history[-1])
