"""Turn a bare GPU server into a running, registered Gonka host.

    pyinfra inventories/prod.py deploys/node.py --dry   # see every change
    pyinfra inventories/prod.py deploys/node.py         # apply

The whole inventory is validated before any host is touched (config.py installs the check; the
call below repeats it when this deploy runs under another config). One role per phase.
"""

from gonka_deploy.pyinfra_hooks import host_config
from gonka_deploy.state import identity
from roles.configuration import configuration
from roles.models import models_ready
from roles.repo import repo_and_models
from roles.server import server

config = host_config()
node_id = identity(config.key_name)["node_id"]

server(config, node_id)
repo_and_models(config)
configuration(config)
# Phases 4-7 land with the next issue; until then the run ends once the weights are complete.
models_ready(config)
