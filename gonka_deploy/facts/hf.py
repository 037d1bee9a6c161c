"""Facts about Hugging Face models on a host: the client, and each pinned snapshot."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hfscript import SCRIPT


def proxy_env(proxy: str | None, no_proxy: list[str] | None = None) -> dict[str, str]:
    """The outbound-proxy variables (both spellings: tools read one or the other)."""
    if not proxy:
        return {}
    env = dict.fromkeys(("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY"), proxy)
    if no_proxy:
        env["no_proxy"] = env["NO_PROXY"] = ",".join(no_proxy)
    return env


def hf_env(hf_home: str, endpoint: str | None, proxy: str | None,
           no_proxy: list[str] | None = None) -> dict[str, str]:
    """The environment every Hugging Face command on a host runs with."""
    env = {"HF_HOME": hf_home, "HF_HUB_DISABLE_UPDATE_CHECK": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_XET_HIGH_PERFORMANCE": "1"}
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    return {**env, **proxy_env(proxy, no_proxy)}


def env_command(env: dict[str, str], *bits) -> StringCommand:
    return StringCommand("env", *[QuoteString(f"{k}={v}") for k, v in sorted(env.items())], *bits)


class HfModel(FactBase[dict[str, Any] | None]):
    """
    Returns the state of a pinned model snapshot in ``$HF_HOME``: complete or not, bytes present
    and expected, and the pid of a running detached download.

    .. code:: python

        {"repo": "testorg/tiny-model", "sha": "0f58…", "complete": False, "running": 4242,
         "total": 8388608, "have": 4194304, "files": 9, "missing_count": 2, "missing": [...]}
    """

    @override
    def requires_command(self, repo: str, sha: str, env: dict[str, str]) -> str:
        return "python3"

    @override
    def command(self, repo: str, sha: str, env: dict[str, str]) -> StringCommand:
        return env_command(env, "python3", "-c", QuoteString(SCRIPT), "status",
                           QuoteString(repo), QuoteString(sha))

    @override
    def process(self, output: list[str]) -> dict[str, Any] | None:
        return json.loads(output[-1]) if output else None


class HfClientVersion(FactBase[str | None]):
    """Returns the huggingface_hub version installed in a venv, or None."""

    @override
    def command(self, venv: str) -> StringCommand:
        code = "import huggingface_hub; print(huggingface_hub.__version__)"
        return StringCommand(QuoteString(f"{venv}/bin/python"), "-c", QuoteString(code),
                             "2>/dev/null", "||", "true")

    @override
    def process(self, output: list[str]) -> str | None:
        return output[-1].strip() if output and output[-1].strip() else None
