"""Turn a bare GPU server into a running, registered Gonka host.

    pyinfra inventories/prod.py deploys/node.py --dry   # see every change
    pyinfra inventories/prod.py deploys/node.py         # apply

The whole inventory is validated before any host is touched (config.py installs the check; the
call below repeats it when this deploy runs under another config). Phases are added by roles/.
"""

from pyinfra import host, logger

from gonka_deploy.pyinfra_hooks import host_config

config = host_config()
logger.info(f"[{host.name}] {config.key_name}: validated ({config.release}); "
            "no phases are wired into deploys/node.py yet")
