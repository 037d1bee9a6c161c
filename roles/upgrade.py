"""Side-by-side MLNode upgrade stages (deploys/mlnode_upgrade.py).

prepare: the new MLNode runs beside the current one, nginx routes both `/vX.Y.Z/` paths, the api
confirms it reaches the new one. The chain switches (partial upgrade height). cleanup: `/` goes to
the new one, then the old one is stopped and removed. rollback: back to the versions the last
stage found, from the node's upgrade history in its local state (nodes/<key_name>/).

Every stage routes only to an MLNode that answers: containers first, each MLNode waited for in
its own container, then nginx. `/` goes to the version the api calls (read from its status when
the routes are written), so after a rollback of cleanup it stays on the new version the chain
switched to, not on an old MLNode whose model was stopped.

Nothing here reads the host: this code runs while the operation list is built, before the run
lock is taken and before the operator confirms, and another run may change the host until the
lock is held. Each decision from the host's state (where `/` goes, whether the old MLNode still
runs, whether a rollback would remove the MLNode the api calls) is an operation that reads it
when it runs, after the lock (gonka_deploy/operations/upgrade.py).
"""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import compose, files, health, nginx, upgrade
from gonka_deploy.pyinfra_hooks import host_topology
from gonka_deploy.render import COMPOSE_FILES, render_host, render_nginx
from gonka_deploy.schema import HostConfig, MLNodeVersion
from gonka_deploy.state import UpgradeStage

ADMIN = "http://127.0.0.1:9200/admin/v1"
MLNODE_HEALTH = "http://127.0.0.1:8080/health"   # inside the MLNode container (uvicorn :8080)
UPGRADES = "http://127.0.0.1:1317/productscience/inference/inference/partial_upgrade"
# `root` for the routes: `/` to the version the api calls when the routes are written
API_CALLS = "@the-api-calls"


def status_url(config: HostConfig) -> str:
    return f"http://127.0.0.1:{config.api_port}/v1/status"


def with_versions(config: HostConfig, versions: list[MLNodeVersion]) -> HostConfig:
    """The host's config with other MLNode versions, validated again as a whole."""
    return HostConfig.model_validate({**config.model_dump(), "mlnode_versions": versions})


def routes(config: HostConfig, stage: str, root: str | None, what: str = "ML proxy routes"):
    """nginx.conf for ``config``, ``/`` to ``root``; with ``API_CALLS``, to the version the api
    calls when the operation runs (every candidate rendered here, the choice made there)."""
    if root != API_CALLS:
        nginx.config(name=f"{stage}: {what}", directory=config.join_dir,
                     files=list(COMPOSE_FILES), content=render_nginx(config, root=root))
        return
    contents = {v.version: render_nginx(config, root=v.version) for v in config.mlnode_versions}
    upgrade.routed_to_api(name=f"{stage}: {what} (/ to the version the api calls)",
                          directory=config.join_dir, files=list(COMPOSE_FILES),
                          contents={**contents, "": render_nginx(config)},
                          status_url=status_url(config), upgrades_url=UPGRADES)


def converge(config: HostConfig, stage: str, pull: bool = False, root: str | None = None):
    """Make the host run ``config.mlnode_versions``: override, containers, each MLNode answering
    in its container, then nginx (``/`` to ``root`` when it is one of them), then each through
    the ML proxy."""
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
    for version in config.mlnode_versions:
        # before nginx routes to it: a request must never wait on an MLNode still starting
        health.wait_service(name=f"{stage}: MLNode {version.version} answers in its container",
                            directory=join, files=names, service=version.service,
                            url=MLNODE_HEALTH, what=f"MLNode {version.version}",
                            timeout=config.wait_timeout_s)
    routes(config, stage, root)
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
    converge(config, "prepare", pull=True, root=API_CALLS)
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
    # `/` to the new version (it answers: prepare waited for it and the api calls it) before
    # the old one's model stops; then nothing routes to the old one, and it goes while the
    # override still defines it (the converged override retires its service). A re-run finds
    # it gone and only converges.
    target = with_versions(config, after)
    upgrade.old_retired(name=f"cleanup: / to {new.version}, stop and remove MLNode "
                        f"{old.version} (while it exists)", directory=config.join_dir,
                        files=list(COMPOSE_FILES), service=old.service, version=old.version,
                        routes_first=render_nginx(config, root=new.version),
                        routes_after=render_nginx(target, root=new.version))
    converge(target, "cleanup", root=new.version)


@deploy("MLNode upgrade: rollback")
def rollback(config: HostConfig, last: UpgradeStage):
    """Back to the versions ``last`` (the latest recorded stage) found. Running it again
    converges to the same versions: it never goes further back. ``/`` follows the version the
    api calls; a rollback that would remove the MLNode the api calls is refused."""
    before = with_versions(config, last.before)
    kept = {v.version for v in last.before}
    upgrade.rollback_keeps_called(name="rollback: the api's MLNode stays",
                                  status_url=status_url(config), upgrades_url=UPGRADES,
                                  stage=last.stage, kept=sorted(kept),
                                  added=[v.version for v in last.after if v.version not in kept])
    extra = [v.service for v in last.after if v.version not in kept]
    if extra:
        # nginx first stops routing to them (the rest answers: it runs now), then they go,
        # while the compose files still define them
        routes(before, "rollback", API_CALLS, what="ML proxy routes without the new MLNode")
        compose.removed(name="rollback: remove the new MLNode", directory=config.join_dir,
                        files=list(COMPOSE_FILES), services=extra)
    converge(before, "rollback", root=API_CALLS)
    upgrade.undone(name="rollback: mark the stage undone", key_name=config.key_name)


@deploy("MLNode upgrade: status")
def status(config: HostConfig):
    upgrade.pending(name="pending upgrade", status_url=status_url(config), upgrades_url=UPGRADES)
