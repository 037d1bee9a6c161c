"""Side-by-side MLNode upgrade stages (deploys/mlnode_upgrade.py).

prepare: the new MLNode runs beside the current one, nginx routes both `/vX.Y.Z/` paths, the api
confirms it reaches the new one. The chain switches (partial upgrade height). cleanup: the old one
is stopped and removed, `/` goes to the new one. rollback: back to the versions the last stage
found, from the node's upgrade history in its local state (nodes/<key_name>/).
"""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import compose, files, health, nginx, upgrade
from gonka_deploy.pyinfra_hooks import host_topology
from gonka_deploy.render import COMPOSE_FILES, render_host, render_nginx
from gonka_deploy.schema import HostConfig, MLNodeVersion
from gonka_deploy.state import UpgradeStage

ADMIN = "http://127.0.0.1:9200/admin/v1"
UPGRADES = "http://127.0.0.1:1317/productscience/inference/inference/partial_upgrade"


def status_url(config: HostConfig) -> str:
    return f"http://127.0.0.1:{config.api_port}/v1/status"


def with_versions(config: HostConfig, versions: list[MLNodeVersion]) -> HostConfig:
    """The host's config with other MLNode versions, validated again as a whole."""
    return HostConfig.model_validate({**config.model_dump(), "mlnode_versions": versions})


def converge(config: HostConfig, stage: str, pull: bool = False):
    """Make the host run ``config.mlnode_versions``: override, containers, nginx, health."""
    join, names = config.join_dir, list(COMPOSE_FILES)
    host_topology(config)  # a release that does not merge stops the run before any command
    override = render_host(config)["docker-compose.override.yml"]
    files.rendered(name=f"{stage}: compose override", path=f"{join}/{override.name}",
                   content=override.content, mode=override.mode)
    for version in config.mlnode_versions if pull else []:
        compose.pulled(name=f"{stage}: pull {version.image}", directory=join, files=names,
                       service=version.service, image=version.image)
    wanted = [v.service for v in config.mlnode_versions]
    compose.up(name=f"{stage}: MLNode containers", directory=join, files=names, services=wanted)
    nginx.config(name=f"{stage}: ML proxy routes", directory=join, files=names,
                 content=render_nginx(config))
    for version in config.mlnode_versions:
        health.wait_http(name=f"{stage}: MLNode {version.version} answers",
                         url=f"http://127.0.0.1:8080/{version.version}/health",
                         what=f"MLNode {version.version} through the ML proxy",
                         timeout=config.wait_timeout_s)


@deploy("MLNode upgrade: prepare")
def prepare(config: HostConfig):
    current = config.current_version
    new = [v for v in config.mlnode_versions if not v.current]
    upgrade.recorded(name="prepare: record for rollback", key_name=config.key_name,
                     stage="prepare", before=[current],
                     after=config.mlnode_versions)
    converge(config, "prepare", pull=True)
    for version in new:
        upgrade.confirmed(name=f"prepare: api reaches {version.version}", admin_url=ADMIN,
                          version=version.version)


@deploy("MLNode upgrade: cleanup")
def cleanup(config: HostConfig):
    old = config.current_version
    (new,) = [v for v in config.mlnode_versions if not v.current]
    upgrade.switched(name=f"cleanup: the api calls {new.version}", status_url=status_url(config),
                     upgrades_url=UPGRADES, version=new.version)
    after = [MLNodeVersion(version=new.version, image=new.image, current=True)]
    upgrade.recorded(name="cleanup: record for rollback", key_name=config.key_name,
                     stage="cleanup", before=config.mlnode_versions, after=after)
    upgrade.mlnode_stopped(name=f"cleanup: stop MLNode {old.version}",
                           state_url=f"http://127.0.0.1:8080/{old.version}/api/v1/state",
                           stop_url=f"http://127.0.0.1:8080/{old.version}/api/v1/stop",
                           version=old.version)
    target = with_versions(config, after)
    converge(target, "cleanup")
    compose.removed(name=f"cleanup: remove {old.service}", directory=config.join_dir,
                    files=list(COMPOSE_FILES), services=[old.service])


@deploy("MLNode upgrade: rollback")
def rollback(config: HostConfig, last: UpgradeStage):
    """Back to the versions ``last`` (the latest recorded stage) found. Running it again
    converges to the same versions: it never goes further back."""
    before = with_versions(config, last.before)
    kept = {v.version for v in last.before}
    extra = [v.service for v in last.after if v.version not in kept]
    if extra:
        # While the compose files still define them; nothing routes to them after the rollback.
        compose.removed(name="rollback: remove the new MLNode", directory=config.join_dir,
                        files=list(COMPOSE_FILES), services=extra)
    converge(before, "rollback")
    upgrade.undone(name="rollback: mark the stage undone", key_name=config.key_name)


@deploy("MLNode upgrade: status")
def status(config: HostConfig):
    upgrade.pending(name="pending upgrade", status_url=status_url(config), upgrades_url=UPGRADES)
