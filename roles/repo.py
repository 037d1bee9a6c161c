"""Phase 2: the gonka repo clone and the model weights (downloads start, nothing waits)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files as pyinfra_files

from gonka_deploy.facts.hf import hf_env, proxy_env
from gonka_deploy.operations import git, hf
from gonka_deploy.render import RENDERED_IN_CLONE
from gonka_deploy.schema import HostConfig

HF_VENV = "/opt/gonka-deploy/hf-venv"


def outbound_env(config: HostConfig) -> dict[str, str]:
    return proxy_env(config.outbound_proxy, config.no_proxy)


def model_pins(config: HostConfig) -> list[tuple[str, str]]:
    """(hf_repo, hf_commit) of every model of every ML node of the host, once each."""
    pins = []
    for node in config.mlnodes:
        for model in node.models:
            entry = config.catalog[model]
            if (entry.hf_repo, entry.hf_commit) not in pins:
                pins.append((entry.hf_repo, entry.hf_commit))
    return pins


def model_env(config: HostConfig) -> dict[str, str]:
    return hf_env(config.hf_path, config.hf_endpoint, config.outbound_proxy, config.no_proxy)


@deploy("Phase 2: repo and models")
def repo_and_models(config: HostConfig):
    git.checkout(
        name="Gonka repo",
        url=config.gonka_repo_url,
        path=config.gonka_path,
        ref=config.gonka_ref,
        managed=[f"deploy/join/{name}" for name in RENDERED_IN_CLONE],
        _env=outbound_env(config),
    )
    pyinfra_files.directory(name="Tools directory", path="/opt/gonka-deploy")
    hf.client(name="Hugging Face client", venv=HF_VENV, version=config.hf_client_version,
              env=outbound_env(config))
    pyinfra_files.directory(name="Model cache", path=config.hf_path)
    for repo, sha in model_pins(config):
        hf.model(name=f"Model {repo}", repo=repo, sha=sha, env=model_env(config),
                 hf_bin=f"{HF_VENV}/bin/hf")
