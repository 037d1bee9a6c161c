"""config.env from the pinned ref's own ``deploy/join/config.env.template``.

Every line of the template is kept in its place: comments as they are, and each ``export
NAME=value`` with our value when the toolkit owns the variable, else with the template's value.
A placeholder (``<FILLIN>``, ``<HOST>``…) in a variable we do not own cannot be sourced by a
shell, so it is written empty and reported. Owned variables the template lacks are appended.
Values are shell-quoted (:func:`render.sh_quote`): ``source config.env`` gives back each value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from .schema import HostConfig

ASSIGN = re.compile(r"^(?P<export>export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<raw>.*)$")
PLACEHOLDER = re.compile(r"<[A-Za-z0-9_ -]+>")
SECRET = "KEYRING_PASSWORD"


def owned_values(config: HostConfig, password: str) -> dict[str, str]:
    """The variables the toolkit sets, from the validated config (INVENTORY.md 'maps to')."""
    return {
        "KEY_NAME": config.key_name,
        SECRET: password,
        "API_PORT": str(config.api_port),
        "API_SSL_PORT": str(config.api_ssl_port),
        "PUBLIC_URL": config.public_url,
        "P2P_EXTERNAL_ADDRESS": config.p2p_external_address,
        "ACCOUNT_PUBKEY": config.account_pubkey,
        "NODE_CONFIG": "./node-config.json",
        "HF_HOME": config.hf_path,
        "SEED_API_URL": config.seed_api_url,
        "SEED_NODE_RPC_URL": config.seed_node_rpc_url,
        "SEED_NODE_P2P_URL": config.seed_node_p2p_url,
        "RPC_SERVER_URL_1": config.rpc_servers[0],
        "RPC_SERVER_URL_2": config.rpc_servers[1],
    }


@dataclass
class EnvReport:
    """What the template decided for the variables the toolkit does not own."""

    defaults: dict[str, str] = field(default_factory=dict)      # kept at the template's value
    placeholders: dict[str, str] = field(default_factory=dict)  # placeholder written empty
    appended: list[str] = field(default_factory=list)           # owned, not in the template


def template_value(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:
            return raw
        return words[0] if words else ""
    return raw


def render_config_env(template: str, values: dict[str, str],
                      quote: Callable[[str], str]) -> tuple[str, EnvReport]:
    report = EnvReport()
    out: list[str] = []
    seen: set[str] = set()
    for line in template.splitlines():
        match = ASSIGN.match(line)
        if not match:
            out.append(line)
            continue
        name = match["name"]
        seen.add(name)
        if name in values:
            value = values[name]
        else:
            value = template_value(match["raw"])
            if PLACEHOLDER.search(value):
                report.placeholders[name] = value
                value = ""
            else:
                report.defaults[name] = value
        out.append(f"export {name}={quote(value)}")
    missing = [name for name in values if name not in seen]
    if missing:
        out += ["", "# Set by gonka-deploy; not in this release's config.env.template."]
        out += [f"export {name}={quote(values[name])}" for name in missing]
        report.appended = missing
    return "\n".join(out) + "\n", report
