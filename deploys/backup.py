"""Back up each host's key material, encrypted with a passphrase, to this machine.

    export GONKA_BACKUP_PASSPHRASE=...     # or _<KEY_NAME>, or BACKUP_PASSPHRASE= in secrets/
    pyinfra inventories/prod.py deploys/backup.py -y

Archives go to ``backups/<key_name>/<created>.gkb`` (0600; ``GONKA_BACKUP_DIR`` moves them);
an unchanged host gets no new one. What is kept and the format: ``gonka_deploy/backup.py`` and
``gonka_deploy/hostside/keyfiles.py``. On a blank host, ``deploys/node.py`` restores the newest
archive before the node first starts (``restore_backup``; only once the chain shows the old
key silent, ``restore_check_blocks``, or ``old_host_destroyed`` names the host in doubt). The
passphrase of a new archive must be strong (``secrets.check_backup_passphrase``). The run lock
is held: a backup never reads a node another run is changing.
"""

from gonka_deploy.pyinfra_hooks import host_config
from gonka_deploy.state import identity
from roles.backup import key_backup
from roles.lock import run_lock

config = host_config()

run_lock(config, "deploys/backup.py")
key_backup(config, identity(config.key_name).node_id)
