"""Phase 3: render the deploy/join files. Nothing restarts here; later phases react to changes."""

from __future__ import annotations

from pydantic import SecretStr
from pyinfra.api import deploy

from gonka_deploy.operations import files, nginx
from gonka_deploy.render import COMPOSE_FILES, render_host
from gonka_deploy.schema import HostConfig


@deploy("Phase 3: configuration")
def configuration(config: HostConfig) -> dict:
    """Returns each file's operation, for ``_if=…did_change`` in later phases."""
    rendered = render_host(config)
    # nginx.conf only before the first start: once the proxy runs, phase 6 tests a new one in
    # the container and reloads it (roles/stack.py).
    nginx_conf = rendered.pop("nginx.conf")
    ops = {
        name: files.rendered(
            name=f"Render {name}",
            path=f"{config.join_dir}/{name}",
            # Files holding the password stay wrapped until the operation writes them.
            content=SecretStr(f.content) if f.secret else f.content,
            mode=f.mode,
            secrets=[config.keyring_password] if f.secret else [],
        )
        for name, f in rendered.items()
    }
    ops["nginx.conf"] = nginx.config(name="Render nginx.conf", directory=config.join_dir,
                                     files=list(COMPOSE_FILES), content=nginx_conf.content,
                                     create_only=True)
    return ops
