"""Phase 3: render the deploy/join files. Nothing restarts here; later phases react to changes."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import files
from gonka_deploy.render import render_host
from gonka_deploy.schema import HostConfig


@deploy("Phase 3: configuration")
def configuration(config: HostConfig) -> dict:
    """Returns each file's operation, for ``_if=…did_change`` in later phases."""
    secret = config.keyring_password.get_secret_value()
    return {
        name: files.rendered(
            name=f"Render {name}",
            path=f"{config.join_dir}/{name}",
            content=f.content,
            mode=f.mode,
            secrets=[secret] if f.secret else [],
        )
        for name, f in render_host(config).items()
    }
