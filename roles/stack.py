"""Phase 6: the full stack, once the weights are complete; the ML nodes known to the api."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import compose, health, hf, mlnodes, nginx
from gonka_deploy.render import COMPOSE_FILES, node_config, render_nginx
from gonka_deploy.schema import HostConfig

from .repo import model_env, model_pins
from .swap import swap_services

ADMIN = "http://127.0.0.1:9200/admin/v1"


@deploy("Phase 6: full stack")
def full_stack(config: HostConfig):
    join, files = config.join_dir, list(COMPOSE_FILES)
    hf.wait_models(name="Models complete", models=model_pins(config), env=model_env(config),
                   timeout=config.model_wait_timeout_s)
    # An MLNode whose image changed is swapped guarded (phase check, disable, recreate, wait,
    # enable) before `up`, which then finds it as defined: never a bare recreate.
    swap_services(config)
    compose.up(name="Stack up", directory=join, files=files)
    # compose sees env and image changes, not a mounted file: nginx.conf is tested in the
    # running proxy, then reloaded (after `up`, so every upstream it names exists).
    nginx.config(name="ML proxy config", directory=join, files=files,
                 content=render_nginx(config))
    timeout = config.wait_timeout_s
    health.wait_http(name="api admin answers", url=f"{ADMIN}/nodes", what="api admin API",
                     timeout=timeout)
    health.wait_http(name="proxy answers", url=f"http://127.0.0.1:{config.api_port}/health",
                     what="proxy", timeout=timeout)
    health.wait_http(name="ML proxy answers",
                     url=f"http://127.0.0.1:8080/{config.current_version.version}/health",
                     what="ML proxy and MLNode", timeout=timeout)
    mlnodes.registered(name="ML nodes known to the api", admin_url=ADMIN,
                       nodes=node_config(config))
    # A recreated MLNode (a new image: a release bump) is FAILED for the api until it answers
    # again; wait for it (bounded) rather than fail verification on a node that is loading.
    mlnodes.served(name="ML nodes served by the api", admin_url=ADMIN,
                   ids=[node.id for node in config.mlnodes], timeout=config.wait_timeout_s)
