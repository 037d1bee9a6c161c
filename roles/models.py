"""Wait for the model weights (the phase that starts the ML node needs them)."""

from __future__ import annotations

from pyinfra.api import deploy

from gonka_deploy.operations import hf
from gonka_deploy.schema import HostConfig

from .repo import model_env, model_pins


@deploy("Models ready")
def models_ready(config: HostConfig, timeout: float = 6 * 3600):
    hf.wait_models(name="Wait for models", models=model_pins(config), env=model_env(config),
                   timeout=timeout)
