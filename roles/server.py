"""Phase 1: admin SSH keys, preflight, the data disk, monitoring."""

from __future__ import annotations

import uuid

from pydantic import SecretStr
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files as pyinfra_files

from gonka_deploy.facts.hf import proxy_env
from gonka_deploy.operations import checks, compose, disk, docker, files, ssh
from gonka_deploy.render import EXPORTER_STATVFS_DIR, render_monitoring
from gonka_deploy.schema import HostConfig

DATA_LABEL = "gonka-data"
APT_RETRIES = "/etc/apt/apt.conf.d/80gonka-deploy-retries"
# Fixed namespace: the filesystem UUID of a host's data disk is a function of its node identity.
UUID_NAMESPACE = uuid.UUID("5b0e8a58-8d5e-4f43-9a49-5e2f1f0c6a10")


def data_disk_uuid(config: HostConfig, node_id: str) -> str:
    """The UUID of this node's data filesystem: derived from its recorded identity, decided
    before any operation runs (fstab never gets a UUID read from a disk that the same run has
    yet to format), and the mark that makes a filesystem ours (with type, label and mount)."""
    return str(uuid.uuid5(UUID_NAMESPACE, f"{node_id}:{config.data_disk}"))


@deploy("Phase 1: server")
def server(config: HostConfig, node_id: str):
    ssh.authorized_keys(
        name="Admin SSH keys",
        user=host.data.get("ssh_user") or "root",
        keys=config.admin_ssh_keys,
        exclusive=config.admin_ssh_keys_exclusive,
    )
    # apt's own retry of transient download failures (with its backoff), for every apt run of
    # this toolkit and of the operator: a reset connection to the mirror is not a failed host.
    files.rendered(name="apt retries", path=APT_RETRIES, content='Acquire::Retries "5";\n')
    packages = ["git", "python3-venv", "e2fsprogs"] + (
        ["xfsprogs"] if config.data_fstype == "xfs" else [])
    # Refresh the package lists only when something is missing: a stale list makes the install
    # fail, and an update on every run would make a converged host report a change.
    installed = host.get_fact(DebPackages) or {}
    missing = [name for name in packages if name not in installed]
    apt.packages(name="Host packages", packages=packages, update=bool(missing),
                 cache_time=3600 if missing else None)
    docker.engine(name="Docker Engine")
    docker.compose_plugin(name="Compose plugin",
                          env=proxy_env(config.outbound_proxy, config.no_proxy))
    docker.running(name="Docker running")
    checks.preflight(name="Preflight")

    if config.data_disk:
        chosen = data_disk_uuid(config, node_id)
        spec = f"UUID={chosen}"
        disk.filesystem(name="Data disk filesystem", device=config.data_disk,
                        fstype=config.data_fstype, label=DATA_LABEL, uuid=chosen,
                        mount_path=config.data_mount)
        disk.fstab_entry(name="Data disk in fstab", path=config.data_mount, spec=spec,
                         fstype=config.data_fstype)
        disk.mounted(name="Data disk mounted", path=config.data_mount, spec=spec)
    else:
        pyinfra_files.directory(name="Data directory", path=config.data_mount)
    checks.free_space(name="Free space", path=config.data_mount,
                      min_bytes=config.min_free_gb * 10**9, device=config.data_disk)

    if config.monitoring.enabled:
        monitoring(config, node_id)


def monitoring(config: HostConfig, node_id: str):
    directory = f"{config.data_mount}/monitoring"
    pyinfra_files.directory(name="Monitoring directory", path=directory, mode="0755")
    # The prom/prometheus and prom/alertmanager images run as nobody (65534).
    pyinfra_files.directory(name="Prometheus data", path=f"{directory}/data",
                            user="nobody", group="nogroup", mode="0755")
    if config.alerting.enabled:
        pyinfra_files.directory(name="Alertmanager data", path=f"{directory}/alertmanager-data",
                                user="nobody", group="nogroup", mode="0755")
        # empty and read-only in the exporter: only the data filesystem's statvfs is its
        pyinfra_files.directory(name="Exporter statvfs directory",
                                path=f"{directory}/{EXPORTER_STATVFS_DIR}", mode="0555")
    rendered = render_monitoring(config, node_id)
    telegram = config.alerting.telegram
    token = [telegram.bot_token] if telegram and telegram.bot_token else []
    changed = {}
    for name, f in rendered.items():
        if f.secret:
            # alertmanager.yml with the Telegram bot token (Alertmanager 0.25 has no
            # bot_token_file): 0600, owned by the container's user, compared by hash, the
            # token masked on the host and redacted in every diff
            changed[name] = files.rendered(
                name=f"Monitoring {name}", path=f"{directory}/{name}",
                content=SecretStr(f.content), mode=f.mode, owner="nobody:nogroup",
                secrets=token, secret_keys=("bot_token",))
        else:
            changed[name] = files.rendered(name=f"Monitoring {name}",
                                           path=f"{directory}/{name}", content=f.content,
                                           mode=f.mode)
    up = compose.up(name="Monitoring up", directory=directory, files=["docker-compose.yml"])
    # compose recreates on a changed definition, not on a changed mounted file: restart the
    # service whose mounted file changed.
    mounted = {"prometheus": ("prometheus.yml", "rules.yml"),
               "alertmanager": ("alertmanager.yml",), "gonka-exporter": ("status_probe.py",)}
    for service, names in mounted.items():
        ops = [changed[n] for n in names if n in changed]
        if not ops:
            continue
        compose.restart(
            name=f"Monitoring {service} restart",
            directory=directory,
            files=["docker-compose.yml"],
            services=[service],
            _if=lambda ops=ops: any(o.did_change() for o in ops) and not up.did_change(),
        )
