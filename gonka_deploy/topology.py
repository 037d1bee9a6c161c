"""A host's compose topology, computed from the pinned ref's own files.

1. The release's files (stored with the profile, or the repo cache) and the host's config.env
   (from the ref's template) give the merged compose model of the release, as Docker Compose on
   the host will see it (:mod:`release.compose`).
2. ``docker-compose.override.yml`` follows from that model: every published port outside the
   host's allowed public set (p2p, api, api-ssl, ``public_ports``) is bound to 127.0.0.1 with
   ``ports: !override`` (Compose appends ``ports`` across files otherwise, GOTCHAS #2); every
   service gets its image from the profile (+ host data); the MLNode services follow the ML
   nodes' images (:attr:`HostConfig.mlnode_services`) and the side-by-side versions.
3. The release merged with the override is computed again: a merge error stops the host, naming
   the file, and the result is checked (no port public that should not be).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .configenv import EnvReport, owned_values, render_config_env
from .release.compose import ComposeError, Port, merged_model, ports
from .release.profiles import ReleaseError, ReleaseProfile, load_profile
from .release.repo import ReleaseFiles, release_files
from .schema import HostConfig

TEMPLATE = "deploy/join/config.env.template"
OVERRIDE = "deploy/join/docker-compose.override.yml"
PLACEHOLDER_SECRET = "*****"  # the merge never needs the real password
# Ports the toolkit itself needs on the host, loopback only: chain RPC for health checks, CometBFT
# metrics for Prometheus, REST for the upgrade deploy's pending-upgrade query.
LOCAL_PORTS = {"node": (26657, 26660, 1317)}


class TopologyError(Exception):
    """The release's files cannot give this host a topology; names the file and the cause."""


class Override(list):
    """A YAML sequence tagged ``!override`` (Compose >= 2.24: replace instead of append)."""


def _represent_override(dumper: yaml.SafeDumper, data: Override):
    return dumper.represent_sequence("!override", list(data))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Override, _represent_override)


@dataclass(frozen=True)
class Topology:
    profile: ReleaseProfile
    files: ReleaseFiles
    env_report: EnvReport
    base: dict           # the release's files merged, with this host's config.env
    merged: dict         # ... and our override
    override: str        # docker-compose.override.yml
    closed: list[Port]   # published on every interface by the release, bound to 127.0.0.1
    opened: list[Port]   # published by the release and allowed public


def config_env(config: HostConfig, template: str, password: str) -> tuple[str, EnvReport]:
    from .render import sh_quote

    return render_config_env(template, owned_values(config, password), sh_quote)


_CACHE: dict[str, Topology] = {}


def topology(config: HostConfig) -> Topology:
    """The host's topology, cached per config (render, drift and the roles share it); the
    password takes no part in it."""
    key = config.model_dump_json()
    if key not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = _compute(config)
    return _CACHE[key]


def _compute(config: HostConfig) -> Topology:
    from .render import exported

    try:
        profile = load_profile(config.release)
        files = release_files(profile, config.gonka_ref, config.gonka_repo_url)
    except ReleaseError as exc:
        raise TopologyError(str(exc)) from None
    template = files.text(TEMPLATE)
    if template is None:
        raise TopologyError(f"{TEMPLATE} is not among the release's files ({files.source})")
    text, report = config_env(config, template, PLACEHOLDER_SECRET)
    env = dict(exported(text))
    missing = [f for f in profile.compose_files if f not in files.files]
    if missing:
        raise TopologyError(f"{', '.join(missing)}: not among the release's files "
                            f"({files.source})")
    try:
        base = merged_model(files.files, profile.compose_files, env)
    except ComposeError as exc:
        raise TopologyError(f"merging {', '.join(profile.compose_files)} of {files.commit[:12]} "
                            f"({files.source}): {exc}") from None
    override, closed, opened = compute_override(config, profile, base)
    try:
        merged = merged_model({**files.files, OVERRIDE: override},
                              [*profile.compose_files, OVERRIDE], env)
    except ComposeError as exc:
        raise TopologyError(f"merging {OVERRIDE} over the release's compose files: {exc}") \
            from None
    leaks = [p for p in ports(merged) if p.public and not _allowed(config, profile, p)]
    if leaks:  # the override failed at its one job: never upload it
        raise TopologyError(f"{OVERRIDE} leaves public: " + ", ".join(p.label for p in leaks))
    return Topology(profile, files, report, base, merged, override, closed, opened)


# ---------------------------------------------------------------- ports


def _role(profile: ReleaseProfile, port: Port) -> str | None:
    spec = f"{port.service}:{port.target}/{port.protocol}"
    return next((role for role, value in profile.public_endpoints.items() if value == spec), None)


def _listed(config: HostConfig, port: Port) -> bool:
    for entry in config.public_ports:
        number, _, proto = str(entry).partition("/")
        if number == port.published and proto in ("", port.protocol):
            return True
    return False


def _allowed(config: HostConfig, profile: ReleaseProfile, port: Port) -> bool:
    return _role(profile, port) is not None or _listed(config, port)


def desired_ports(config: HostConfig, profile: ReleaseProfile, service: str,
                  current: list[Port]) -> tuple[list[str], list[Port], list[Port]]:
    published = {"p2p": config.p2p_port, "api": config.api_port, "api-ssl": config.api_ssl_port}
    out, closed, opened = [], [], []
    for port in current:
        role = _role(profile, port)
        if role is not None:
            out.append(Port(port.service, port.target, str(published[role]), port.protocol,
                            port.host_ip).short())
        elif not port.public or _listed(config, port):
            out.append(port.short())
            if port.public:
                opened.append(port)
        else:
            out.append(port.short("127.0.0.1"))
            closed.append(port)
    targets = {p.target for p in current}
    for target in LOCAL_PORTS.get(service, ()):
        if target not in targets:
            out.append(f"127.0.0.1:{target}:{target}")
    return out, closed, opened


# ---------------------------------------------------------------- MLNode services


def _clean(node):
    """A service definition from the merged model, written back in compose's input syntax."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            value = _clean(value)
            if value is None or value == {}:
                continue
            if key == "count" and value == -1:
                value = "all"
            out[key] = value
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _short_volume(volume: dict):
    if volume.get("type") == "bind" and set(volume) <= {"type", "source", "target", "bind",
                                                        "read_only"}:
        if set(volume.get("bind") or {}) <= {"create_host_path"}:
            return f"{volume['source']}:{volume['target']}" + (":ro" if volume.get(
                "read_only") else "")
    return volume


def mlnode_definition(base: dict, name: str, image: str) -> dict:
    """An extra MLNode service like the release's own (its GPU request, volumes, env, command),
    with its own image and host name; no ports, container name or profiles."""
    service = {k: v for k, v in base.items()
               if k not in ("container_name", "ports", "profiles", "hostname", "image",
                            "networks", "expose", "depends_on", "labels")}
    service = _clean(service)
    if isinstance(service.get("environment"), dict):
        service["environment"] = [f"{k}={v}" for k, v in service["environment"].items()]
    if "volumes" in service:
        service["volumes"] = [_short_volume(v) for v in service["volumes"]]
    return {"image": image, "hostname": name, **service}


def mlnode_services(config: HostConfig) -> dict[str, tuple[str, str]]:
    """Compose service -> (image, comment) for every MLNode service the host runs."""
    out = {}
    plan = config.mlnode_services
    for version in config.mlnode_versions:
        if version.current:
            for index, svc in enumerate(plan):
                what = f"MLNode {version.version} (current)"
                if index:
                    what += (f": ML nodes {', '.join(svc.nodes)}, through the ML proxy's ports "
                             f"{svc.poc_port}/{svc.inference_port}")
                out[svc.service] = (svc.image, what)
        else:
            out[version.service] = (version.image, f"MLNode {version.version} (side-by-side: "
                                                   f"idle until the api calls /{version.version}/)")
    return out


# ---------------------------------------------------------------- the override


def compute_override(config: HostConfig, profile: ReleaseProfile,
                     base: dict) -> tuple[str, list[Port], list[Port]]:
    services = base.get("services", {})
    base_mlnode = config.mlnode_base_service
    if base_mlnode not in services:
        raise TopologyError(f"the release's compose files define no {base_mlnode!r} "
                            f"(mlnode_base_service); services: {', '.join(sorted(services))}")
    mlnodes = mlnode_services(config)
    doc: dict[str, dict] = {}
    closed: list[Port] = []
    opened: list[Port] = []
    all_ports = ports(base)
    for name in services:
        entry: dict = {}
        if name == base_mlnode:
            if name in mlnodes:
                entry["image"] = mlnodes[name][0]
            else:
                entry["profiles"] = ["retired"]  # its version left mlnode_versions
        elif name in config.images:
            entry["image"] = config.images[name]
        current = [p for p in all_ports if p.service == name]
        wanted, shut, kept = desired_ports(config, profile, name, current)
        closed += shut
        opened += kept
        if wanted != [p.short() for p in current]:
            entry["ports"] = Override(wanted)
        if entry:
            doc[name] = entry
    for name, (image, _) in mlnodes.items():
        if name != base_mlnode:
            doc[name] = mlnode_definition(services[base_mlnode], name, image)
    return _dump(config, profile, doc, mlnodes), closed, opened


def _dump(config: HostConfig, profile: ReleaseProfile, doc: dict,
          mlnodes: dict[str, tuple[str, str]]) -> str:
    allowed = ", ".join([f"p2p {config.p2p_port}", f"api {config.api_port}",
                         f"api-ssl {config.api_ssl_port}",
                         *[f"{p}" for p in config.public_ports]])
    head = [
        f"# Rendered by gonka-deploy for {config.key_name} (release {config.release}, "
        f"{config.gonka_ref[:12]}); re-render, do not edit.",
        "#",
        f"# Public: {allowed}. Every other port the release publishes is bound to",
        "# 127.0.0.1; Compose appends `ports` lists across -f files, so each changed list is",
        "# replaced with !override (Compose >= 2.24). Images: the release profile and host data.",
    ]
    comments = [*head, *(f"  # {mlnodes[name][1]}" for name in doc
                         if name in mlnodes and name != config.mlnode_base_service)]
    # The comments are the only text here not written by the YAML emitter: a control
    # character (a newline) in a value would start YAML of its own.
    for line in comments:
        if not line.isprintable():
            raise TopologyError(f"{OVERRIDE}: refusing a comment with a control character: "
                                f"{ascii(line)}")
    body = []
    for name, entry in doc.items():
        if name in mlnodes and name != config.mlnode_base_service:
            body.append(f"  # {mlnodes[name][1]}")
        text = yaml.dump({name: entry}, Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, width=100)
        body.append("\n".join("  " + line for line in text.rstrip("\n").splitlines()))
        body.append("")
    return "\n".join([*head, "services:", *body]).rstrip("\n") + "\n"


# ---------------------------------------------------------------- drift


def checked_files(config: HostConfig) -> dict[str, str]:
    """Repo path -> sha256 of the release files render used (the profile's stored copies or
    the cache's), which the host's clone must hold unchanged: the compose files, the config.env
    template and nginx.conf."""
    import hashlib

    topo = topology(config)
    names = [*topo.profile.compose_files, TEMPLATE, "deploy/join/nginx.conf"]
    return {rel: hashlib.sha256(topo.files.files[rel].encode()).hexdigest()
            for rel in names if rel in topo.files.files}


def drift_report(config: HostConfig, clone_sums: dict[str, str] | None = None) -> list[str]:
    """The host's drift items (:mod:`release.drift`); ``clone_sums``: sha256 of the host
    clone's files by repo path (see :func:`checked_files`), read when the clone is at the
    pinned commit."""
    from .release.drift import Inputs, report

    topo = topology(config)
    profile = topo.profile
    services = topo.base.get("services", {})
    mlnodes = mlnode_services(config)
    images = {**config.images, **{name: image for name, (image, _) in mlnodes.items()}}
    profile_images = {**profile.images,
                      config.mlnode_base_service: next(v["image"] for v in profile.mlnode_versions
                                                       if v.get("current"))}
    return report(Inputs(
        release=profile.name, commit=topo.files.commit,
        stores_files=profile.stores_files and config.gonka_ref == profile.gonka_ref,
        files_source=topo.files.source,
        compose_images={name: svc.get("image") for name, svc in services.items()},
        images=images, profile_images=profile_images,
        defaults=topo.env_report.defaults, placeholders=topo.env_report.placeholders,
        reviewed=profile.template_defaults, closed=topo.closed,
        stored_sums=checked_files(config), clone_sums=clone_sums))
