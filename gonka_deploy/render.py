"""Render a host's deploy/join files from its validated :class:`HostConfig`.

config.env comes from the pinned ref's own template and the override from the release's merged
compose model (:mod:`.topology`); the rest from the repo's ``templates/`` (Jinja2,
StrictUndefined). Only validated data goes in; the keyring password enters as one explicit
argument so that callers know which files carry it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .schema import HostConfig

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SHELL_SAFE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]+$")
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.mlnode.yml", "docker-compose.override.yml")
REDACTED = "*****"
# Files rendered into deploy/join of the clone; the release tracks some of them in git.
RENDERED_IN_CLONE = ("config.env", ".env", "node-config.json", "nginx.conf",
                     "docker-compose.override.yml")


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: str
    mode: int
    secret: bool  # holds the keyring password: 0600, diffs redacted


def sh_quote(value: object) -> str:
    """Quote for POSIX sh so that ``source`` gives back exactly ``value``.

    Plain values stay bare, as in the release's config.env.template.
    """
    text = str(value)
    if SHELL_SAFE.match(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def dotenv_quote(value: object) -> str:
    """Quote for a compose ``.env`` file: single quotes are literal there (no interpolation),
    and a quote inside is escaped with a backslash (docs.docker.com/compose/env-file)."""
    text = str(value)
    if SHELL_SAFE.match(text):
        return text
    return "'" + text.replace("'", "\\'") + "'"


def merge_args(*layers: list[str]) -> list[str]:
    """Merge vLLM argument lists; a later layer wins on the same flag, keeping its position."""
    merged: dict[str, list[str]] = {}
    loose: list[str] = []
    for layer in layers:
        flag = None
        for token in layer:
            if token.startswith("-") and not _is_number(token):
                name, eq, value = token.partition("=")
                flag = name
                merged[flag] = [token] if eq else [name]
            elif flag is None:
                loose.append(token)
            else:
                merged[flag].append(token)
    out = list(loose)
    for tokens in merged.values():
        out += tokens
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def yaml_scalar(value: object) -> str:
    """``value`` as one YAML flow scalar, written by PyYAML's emitter: plain when YAML reads it
    back as the same string (``/mnt/ssd`` stays ``/mnt/ssd``), quoted otherwise (``#``, ``: ``,
    a newline, a leading ``*`` or ``-``...). For templates that write YAML (the ``yaml``
    filter); never string formatting of a value there."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=False,
                          width=float("inf"))
    return text.removesuffix("\n").removesuffix("\n...")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["sh"] = sh_quote
    env.filters["dotenv"] = dotenv_quote
    env.filters["yaml"] = yaml_scalar
    env.filters["to_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    return env


ENV = _environment()


def node_config(config: HostConfig) -> list[dict]:
    """The node-config.json array: governance args, then the GPU preset, then the node's args.
    A local ML node on an extra MLNode service is reached through that service's port pair."""
    catalog = config.catalog
    pairs = {node_id: (svc.poc_port, svc.inference_port)
             for svc in config.mlnode_services for node_id in svc.nodes}
    nodes = []
    for node in config.mlnodes:
        poc_port, inference_port = pairs.get(node.id, (node.poc_port, node.inference_port))
        models = {}
        for model in node.models:
            presets = config.gpu_presets.get(model, {})
            preset = presets.get(node.preset or config.gpu_key, [])
            models[model] = {"args": merge_args(catalog[model].args, preset, node.args)}
        nodes.append({
            "id": node.id,
            "host": node.host,
            "inference_port": inference_port,
            "poc_port": poc_port,
            "max_concurrent": node.max_concurrent,
            "models": models,
        })
    return nodes


def render_nginx(config: HostConfig, resolve: bool = True, root: str | None = None) -> str:
    """nginx.conf; ``resolve=False`` is for nginx < 1.27.3 (tests on Debian 12's 1.22).
    Extra MLNode services (ML nodes that need another image) get their own port pair, where the
    current version's segment and ``/`` go to them. ``root``: the version ``/`` goes to when it
    is one of ``mlnode_versions`` (the one the api calls, during a side-by-side upgrade);
    default the current one."""
    routed = next((v for v in config.mlnode_versions if v.version == root),
                  config.current_version)
    extras = [{"service": s.service, "upstream": "mlnode_" + s.service.replace("-", "_"),
               "ports": (s.poc_port, s.inference_port)} for s in config.mlnode_services[1:]]
    return ENV.get_template("nginx.conf.j2").render(
        versions=config.mlnode_versions, current=config.current_version, root=routed,
        resolve=resolve,
        primary=config.mlnode_services[0].service, extras=extras)


def render_host(config: HostConfig) -> dict[str, RenderedFile]:
    from .topology import TEMPLATE, config_env as render_config_env, topology

    password = config.keyring_password.get_secret_value()
    topo = topology(config)
    config_env, _ = render_config_env(config, topo.files.text(TEMPLATE), password)
    files = [
        RenderedFile("config.env", config_env, 0o600, True),
        RenderedFile(".env", ENV.get_template("dotenv.j2").render(
            c=config, env=exported(config_env), compose_files=COMPOSE_FILES), 0o600, True),
        RenderedFile("node-config.json", ENV.get_template("node-config.json.j2").render(
            nodes=node_config(config)), 0o644, False),
        RenderedFile("nginx.conf", render_nginx(config), 0o644, False),
        RenderedFile("docker-compose.override.yml", topo.override, 0o644, False),
    ]
    return {f.name: f for f in files}


# What `gonka-deploy render` writes for the keyring password unless --with-secrets is given.
SECRET_PLACEHOLDER = "<KEYRING_PASSWORD: gonka-deploy render --with-secrets>"


def without_secrets(config: HostConfig) -> dict[str, RenderedFile]:
    """The host's files as :func:`render_host` makes them, with a placeholder for the keyring
    password; refuses (ValueError) if the real one still shows in any form."""
    from pydantic import SecretStr

    files = render_host(config.model_copy(
        update={"keyring_password": SecretStr(SECRET_PLACEHOLDER)}))
    real = config.keyring_password.get_secret_value()
    for rendered in files.values():
        if redact(rendered.content, [real], keys=()) != rendered.content:
            raise ValueError(f"{rendered.name}: the keyring password is still in the render")
    return files


def node_labels(config: HostConfig, node_id: str) -> dict[str, str]:
    """The node identity every metric of a host carries."""
    return {"key_name": config.key_name, "node_id": node_id, "location": config.location,
            "tags": ",".join(config.tags)}


def scrape_jobs(config: HostConfig) -> list[dict]:
    m = config.monitoring
    jobs = [
        {"name": "prometheus", "target": m.listen, "path": None},
        {"name": "node-exporter", "target": f"127.0.0.1:{m.node_exporter_port}", "path": None},
        {"name": "gonka-node", "target": "127.0.0.1:26660", "path": None},
    ]
    if m.api_metrics:
        target, _, path = m.api_metrics.partition("/")
        jobs.append({"name": "gonka-api", "target": target, "path": "/" + path if path else None})
    if m.gpu_exporter:
        jobs.append({"name": "gpu", "target": m.gpu_exporter, "path": None})
    if config.alerting.enabled:
        jobs.append({"name": "gonka-exporter",
                     "target": f"127.0.0.1:{config.alerting.exporter_port}", "path": None})
    return jobs


def exporter_args(config: HostConfig) -> dict:
    """The gonka exporter's arguments (hostside/status_probe.py --serve): no secret."""
    from .address import account_address

    return {"data_mount": config.data_mount, "seed_api_url": config.seed_api_url,
            "account_address": account_address(config.account_pubkey), "timeout": 5,
            "seed_ttl": 60}


# The empty directory (in the monitoring project, so on the data filesystem) the gonka exporter
# gets at the data mount's path: statvfs there reads the data filesystem, and nothing of the
# data is in the container.
EXPORTER_STATVFS_DIR = "exporter-statvfs"


def render_monitoring(config: HostConfig, node_id: str) -> dict[str, RenderedFile]:
    """The host's monitoring compose project (under ``{data_mount}/monitoring``): Prometheus
    and node-exporter; with ``alerting.enabled`` also the alert rules, Alertmanager and the gonka
    exporter. ``alertmanager.yml`` is secret (0600) when it holds the Telegram bot token."""
    from .hostside import source

    alerting = config.alerting if config.alerting.enabled else None
    compose = ENV.get_template("monitoring/docker-compose.yml.j2").render(
        c=config, m=config.monitoring, a=alerting, exporter_args=json.dumps(
            exporter_args(config), sort_keys=True), statvfs_dir=EXPORTER_STATVFS_DIR)
    prometheus = ENV.get_template("monitoring/prometheus.yml.j2").render(
        c=config, jobs=scrape_jobs(config), labels=node_labels(config, node_id),
        interval=config.alerting.evaluation_interval, alerting=alerting)
    files = [RenderedFile("docker-compose.yml", compose, 0o644, False),
             RenderedFile("prometheus.yml", prometheus, 0o644, False)]
    if alerting:
        token = alerting.telegram.bot_token if alerting.telegram else None
        files += [
            RenderedFile("rules.yml", ENV.get_template("monitoring/rules.yml.j2").render(
                c=config, h=config.health), 0o644, False),
            RenderedFile("alertmanager.yml", ENV.get_template(
                "monitoring/alertmanager.yml.j2").render(
                    c=config, a=alerting, token=token.get_secret_value() if token else None),
                0o600 if token else 0o644, token is not None),
            RenderedFile("status_probe.py", source("status_probe.py"), 0o644, False),
        ]
    return {f.name: f for f in files}


def fleet_targets(hosts: list[tuple[HostConfig, str, str]]) -> str:
    """file_sd targets for a central Prometheus: each host's Prometheus, for ``/federate``.

    ``hosts`` holds (config, node_id, address to reach the host at).
    """
    groups = []
    for config, node_id, address in hosts:
        port = config.monitoring.listen.rsplit(":", 1)[1]
        groups.append({"targets": [f"{address}:{port}"], "labels": node_labels(config, node_id)})
    return ENV.get_template("monitoring/targets.json.j2").render(groups=groups)


def exported(config_env: str) -> list[tuple[str, str]]:
    """The ``export NAME=value`` lines of a rendered config.env, values unquoted as sh would."""
    pairs = []
    for line in config_env.splitlines():
        if line.startswith("export "):
            name, _, raw = line.removeprefix("export ").partition("=")
            words = shlex.split(raw) if raw else []
            pairs.append((name, words[0] if words else ""))
    return pairs


SECRET_KEYS = ("KEYRING_PASSWORD",)


def redact(text: str, secrets: list[str], keys: tuple[str, ...] = SECRET_KEYS) -> str:
    """Replace every secret value, and its shell-quoted form, with a fixed marker; also the value
    of any ``[export ]KEY=`` line of a secret key, whatever it holds (an old password that this
    run does not know, for instance)."""
    for key in keys:
        text = re.sub(rf"^((?:export\s+)?{re.escape(key)}=).*$", rf"\g<1>{REDACTED}", text,
                      flags=re.M)
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        for form in sorted({secret, sh_quote(secret), dotenv_quote(secret)}, key=len,
                           reverse=True):
            text = text.replace(form, REDACTED)
    return text
