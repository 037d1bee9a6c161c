"""Key backups: the node's key material, encrypted, on this machine (``deploys/backup.py``)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from gonka_deploy.operations import backup
from gonka_deploy.schema import HostConfig


@deploy("Key backup")
def key_backup(config: HostConfig, node_id: str):
    backup.archived(name="Key material to backups/", join_dir=config.join_dir,
                    key_name=config.key_name, host_name=host.name, node_id=node_id,
                    release=config.release, public_host=config.public_host,
                    ssh_hostname=host.data.get("ssh_hostname") or host.name,
                    p2p_port=config.p2p_port, api_port=config.api_port)
