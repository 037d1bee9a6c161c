"""Turn a bare GPU server into a running, registered Gonka host.

    pyinfra inventories/prod.py deploys/node.py --dry   # see every change
    pyinfra inventories/prod.py deploys/node.py         # apply

The whole inventory is validated before any host is touched (config.py installs the check; the
call below repeats it when this deploy runs under another config). One role per phase.
"""

from gonka_deploy.pyinfra_hooks import host_config
from gonka_deploy.state import identity
from roles.chain import chain_tuning
from roles.configuration import configuration
from roles.lock import UPSTREAM, run_lock
from roles.network import network_node
from roles.participation import participation_on_chain
from roles.release import release_check
from roles.repo import repo_and_models
from roles.server import server
from roles.stack import full_stack
from roles.verify import verification

config = host_config()
release_check(config)                    # the release and its drift, before anything else
node_id = identity(config.key_name).node_id

run_lock(config, "deploys/node.py")      # one apply at a time on a host, held to the end
server(config, node_id)                  # 1: admin keys, preflight, data disk, monitoring
repo_and_models(config)                  # 2: gonka repo, model downloads (not waited for)
run_lock(config, "deploys/node.py", UPSTREAM)  # and upstream's deploy/join lock from now on
configuration(config)                    # 3: config.env, .env, node-config.json, nginx, override
network_node(config)                     # 4: tmkms + node, warm key, registration
chain_tuning(config)                     # 5: peers and pruning; node restarted only on change
full_stack(config)                       # 6: weights complete, full stack, ML nodes in the api
participation_on_chain(config)           # PoC intents (warm key); cold-key txs printed
verification(config)                     # 7: read-only checks; a failed check fails the host
# The final report per host is printed after the run (gonka_deploy.pyinfra_hooks).
