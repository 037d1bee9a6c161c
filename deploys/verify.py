"""Verify running Gonka hosts (phase 7 alone); changes nothing on them.

    pyinfra inventories/prod.py deploys/verify.py -y

Checks chain sync, the participant on the seed api, proxy health and dashboard, the api's ML
nodes, MLNode state, GPUs and CUDA in the MLNode container, recent container logs, the chain
binaries that run against the release profile's newest applied upgrade, whether the host is
ready for a pending chain upgrade (binaries placed, disk for cosmovisor's backup), then the
host's PoC participation, collateral and fees as the chain sees them (warnings with their fix);
keeps the result in the node's local state (nodes/<key_name>/) and fails each host with a
failed check. The whole inventory is validated first, as for deploys/node.py.
"""

from gonka_deploy.pyinfra_hooks import host_config
from roles.verify import verification

config = host_config()

verification(config)
