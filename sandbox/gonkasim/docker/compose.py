"""The compose model: load several -f files, merge them like docker compose v2, interpolate.

Only what the gonka deploy files use is modelled: services with image, container_name,
hostname, command, environment, volumes, ports, expose, depends_on, profiles and deploy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ComposeError(Exception):
    """A problem compose itself would report (bad file, missing variable, unknown service)."""


class Override:
    """Value tagged `!override`: replaces the base value instead of merging with it."""

    def __init__(self, value):
        self.value = value


class Reset:
    """Value tagged `!reset`: removes the key from the merged model."""


class _Loader(yaml.SafeLoader):
    pass


def _construct_override(loader, node):
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))


_Loader.add_constructor("!override", _construct_override)
_Loader.add_constructor("!reset", lambda loader, node: Reset())


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


# ---------------------------------------------------------------- interpolation

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`, `${VAR:+r}`,
    `$VAR` and `$$`; defaults may nest (`${HF_HOME:-${HOME}/.cache}`)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _matching_brace(text, i + 1)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if not m:
                out.append("$")
                i += 1
                continue
            out.append(env.get(m.group(0), ""))
            i = m.end()
    return "".join(out)


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ComposeError(f"invalid interpolation format for {text!r}: missing closing brace")


def _expand(body: str, env: dict[str, str]) -> str:
    m = _NAME.match(body)
    if not m:
        raise ComposeError(f"invalid interpolation format for ${{{body}}}")
    name, rest = m.group(0), body[m.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            break
    else:
        raise ComposeError(f"invalid interpolation format for ${{{body}}}")
    empty = value is None or (op.startswith(":") and value == "")
    if op in (":-", "-"):
        return interpolate(arg, env) if empty else value
    if op in (":?", "?"):
        if empty:
            msg = interpolate(arg, env) or f"variable {name} is not set"
            raise ComposeError(f"required variable {name} is missing a value: {msg}")
        return value
    return "" if empty else interpolate(arg, env)


def _interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Override):
        return Override(_interpolate_tree(node.value, env))
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, env) for v in node]
    return node


# ---------------------------------------------------------------- merging

# sequences compose replaces rather than appends when an override file sets them
_REPLACE = {"command", "entrypoint", "profiles", "test", "dns_search"}
# sequences of "KEY=VALUE" (or maps) merged by key
_BY_KEY = {"environment", "labels", "extra_hosts", "sysctls"}


def _as_dict(value) -> dict:
    if isinstance(value, dict):
        return dict(value)
    out: dict = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def _volume_target(entry) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _merge_value(key: str, base, over):
    if isinstance(over, Override):
        return strip_tags(over.value)
    if base is None:
        return strip_tags(over)
    if isinstance(base, dict) and isinstance(over, dict) and key not in _BY_KEY | {"depends_on"}:
        return merge_maps(base, over)  # tags deeper down apply at their own level
    over = strip_tags(over)
    if key in _BY_KEY:
        return {**_as_dict(base), **_as_dict(over)}
    if key == "depends_on":
        return {**_depends_dict(base), **_depends_dict(over)}
    if key == "volumes" and isinstance(base, list) and isinstance(over, list):
        targets = {_volume_target(v) for v in over}
        return [v for v in base if _volume_target(v) not in targets] + list(over)
    if isinstance(base, list) and isinstance(over, list) and key not in _REPLACE:
        return list(base) + [v for v in over if v not in base]
    return over


def merge_maps(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        else:
            out[key] = _merge_value(key, out.get(key), value)
    return out


def strip_tags(node):
    """A single file's tree without merge tags (`!reset` keys vanish)."""
    if isinstance(node, Override):
        return strip_tags(node.value)
    if isinstance(node, dict):
        return {k: strip_tags(v) for k, v in node.items() if not isinstance(v, Reset)}
    if isinstance(node, list):
        return [strip_tags(v) for v in node if not isinstance(v, Reset)]
    return node


def _depends_dict(value) -> dict:
    if isinstance(value, dict):
        return {k: dict(v or {}) for k, v in value.items()}
    return {name: {"condition": "service_started"} for name in value or []}


# ---------------------------------------------------------------- normalised model


def parse_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, val = line.partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        out[key.strip()] = val
    return out


def parse_port(entry) -> dict:
    """Short or long port syntax -> {host_ip, published, target, protocol}."""
    if isinstance(entry, dict):
        return {
            "host_ip": str(entry.get("host_ip", "")),
            "published": str(entry.get("published", "") or ""),
            "target": int(entry["target"]),
            "protocol": entry.get("protocol", "tcp"),
        }
    text, _, proto = str(entry).partition("/")
    parts = text.rsplit(":", 2)
    host_ip = published = ""
    if len(parts) == 3:
        host_ip, published, target = parts
    elif len(parts) == 2:
        published, target = parts
    else:
        target = parts[0]
    host_ip = host_ip.strip("[]")
    return {"host_ip": host_ip, "published": published, "target": int(target),
            "protocol": proto or "tcp"}


def parse_volume(entry, project_dir: Path) -> dict:
    """Short or long volume syntax -> {type, source, target, read_only}."""
    if isinstance(entry, dict):
        vtype = entry.get("type", "volume")
        source = str(entry.get("source", ""))
        target = str(entry["target"])
        ro = bool(entry.get("read_only", False))
    else:
        parts = str(entry).split(":")
        if len(parts) == 1:
            return {"type": "volume", "source": "", "target": parts[0], "read_only": False}
        source, target = parts[0], parts[1]
        ro = len(parts) > 2 and "ro" in parts[2].split(",")
        vtype = "bind" if source.startswith((".", "/", "~")) else "volume"
    if vtype == "bind":
        source = os.path.expanduser(source)
        source = str((project_dir / source).resolve()) if not os.path.isabs(source) else source
    return {"type": vtype, "source": source, "target": target, "read_only": ro}


@dataclass
class Service:
    name: str
    raw: dict
    project: str
    project_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return str(self.raw.get("image", ""))

    @property
    def container_name(self) -> str:
        return self.raw.get("container_name") or f"{self.project}-{self.name}-1"

    @property
    def hostname(self) -> str | None:
        return self.raw.get("hostname")

    @property
    def profiles(self) -> list[str]:
        return list(self.raw.get("profiles") or [])

    @property
    def environment(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in _as_dict(self.raw.get("environment")).items():
            if value is not None:
                out[key] = str(value)
            elif key in self.env:  # `- NAME` alone takes the shell's value, else is left out
                out[key] = self.env[key]
        return out

    @property
    def command(self) -> list[str] | None:
        cmd = self.raw.get("command")
        if cmd is None:
            return None
        if isinstance(cmd, str):
            import shlex

            return shlex.split(cmd)
        return [str(c) for c in cmd]

    @property
    def ports(self) -> list[dict]:
        return [parse_port(p) for p in self.raw.get("ports") or []]

    @property
    def volumes(self) -> list[dict]:
        return [parse_volume(v, self.project_dir) for v in self.raw.get("volumes") or []]

    @property
    def depends_on(self) -> dict[str, dict]:
        return _depends_dict(self.raw.get("depends_on"))

    @property
    def wants_gpu(self) -> bool:
        devices = (((self.raw.get("deploy") or {}).get("resources") or {})
                   .get("reservations") or {}).get("devices") or []
        return any(d.get("driver") == "nvidia" or "gpu" in (d.get("capabilities") or [])
                   for d in devices)

    def config_hash(self) -> str:
        """Stable over key order and runs: sha256 of the canonical JSON of the service."""
        blob = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Project:
    name: str
    directory: Path
    files: list[Path]
    model: dict
    env: dict[str, str]
    profiles: list[str] = field(default_factory=list)

    @property
    def services(self) -> dict[str, Service]:
        return {name: Service(name, raw or {}, self.name, self.directory, self.env)
                for name, raw in (self.model.get("services") or {}).items()}

    def enabled(self, explicit: list[str] | None = None) -> list[str]:
        """Services active under the current profiles (named ones are always active)."""
        explicit = explicit or []
        out = []
        for name, svc in self.services.items():
            if not svc.profiles or name in explicit or set(svc.profiles) & set(self.profiles):
                out.append(name)
        return out

    def ordered(self, names: list[str], with_deps: bool = True) -> list[str]:
        """`names` (plus their dependencies when with_deps) in depends_on order."""
        services = self.services
        for n in names:
            if n not in services:
                raise ComposeError(f"no such service: {n}")
        active = set(self.enabled(names))
        out: list[str] = []
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in out:
                return
            if n in visiting:
                raise ComposeError(f"dependency cycle detected at service {n}")
            visiting.add(n)
            for dep, opts in services[n].depends_on.items():
                if dep not in services or dep not in active:
                    if opts.get("required", True) and dep not in services:
                        raise ComposeError(f"service {n} depends on undefined service {dep}")
                    continue
                if with_deps or dep in names:
                    visit(dep)
            visiting.discard(n)
            out.append(n)

        for n in names:
            visit(n)
        return out

    def normalized(self) -> dict:
        """The model as `docker compose config` prints it (long port/volume syntax)."""
        services = {}
        for name, svc in sorted(self.services.items()):
            raw = dict(svc.raw)
            if "environment" in raw:
                raw["environment"] = svc.environment
            if "ports" in raw:
                raw["ports"] = [_port_out(p) for p in svc.ports]
            if "volumes" in raw:
                raw["volumes"] = [_volume_out(v) for v in svc.volumes]
            if "depends_on" in raw:
                raw["depends_on"] = {k: {"condition": v.get("condition", "service_started"),
                                         "required": v.get("required", True)}
                                     for k, v in svc.depends_on.items()}
            if "command" in raw:
                raw["command"] = svc.command
            if "expose" in raw:
                raw["expose"] = [str(e) for e in raw["expose"]]
            services[name] = raw
        out = {"name": self.name, "services": services}
        for key in ("volumes", "networks"):
            if self.model.get(key):
                out[key] = self.model[key]
        return out


def _port_out(p: dict) -> dict:
    out: dict = {"mode": "ingress"}
    if p["host_ip"]:
        out["host_ip"] = p["host_ip"]
    out["target"] = p["target"]
    if p["published"]:
        out["published"] = p["published"]
    out["protocol"] = p["protocol"]
    return out


def _volume_out(v: dict) -> dict:
    out = {"type": v["type"], "source": v["source"], "target": v["target"]}
    if v["read_only"]:
        out["read_only"] = True
    if v["type"] == "bind":
        out["bind"] = {"create_host_path": True}
    return out


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def load_project(files: list[str], project_name: str | None = None,
                 project_dir: str | None = None, env_file: str | None = None,
                 profiles: list[str] | None = None, cwd: str | None = None,
                 environ: dict[str, str] | None = None) -> Project:
    """Resolve files like compose (COMPOSE_FILE, then docker-compose.yml / compose.yaml)."""
    cwd_path = Path(cwd or os.getcwd())
    environ = dict(os.environ if environ is None else environ)
    base_dir = Path(project_dir).resolve() if project_dir else None
    dotenv: dict[str, str] = {}
    env_path = Path(env_file) if env_file else (base_dir or cwd_path) / ".env"
    if not env_path.is_absolute():
        env_path = cwd_path / env_path
    if env_path.is_file():
        dotenv = parse_env_file(env_path)
    elif env_file:
        raise ComposeError(f"couldn't find env file: {env_path}")
    env = {**dotenv, **environ}  # the shell wins over .env, like compose
    if not files:
        listed = env.get("COMPOSE_FILE")
        if listed:
            sep = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
            files = [f for f in listed.split(sep) if f]
        else:
            for cand in ("compose.yaml", "compose.yml", "docker-compose.yml",
                         "docker-compose.yaml"):
                if ((base_dir or cwd_path) / cand).is_file():
                    files = [cand]
                    break
            else:
                raise ComposeError("no configuration file provided: not found")
    paths = [(base_dir or cwd_path) / f if not os.path.isabs(f) else Path(f) for f in files]
    paths = [Path(os.path.abspath(p)) for p in paths]
    directory = base_dir or paths[0].parent
    model: dict = {}
    for path in paths:
        if not path.is_file():
            raise ComposeError(f"open {path}: no such file or directory")
        try:
            tree = load_yaml(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ComposeError(f"yaml: {path}: {exc}") from exc
        tree = _interpolate_tree(tree, env)
        model = merge_maps(model, tree) if model else strip_tags(tree)
    name = project_name or env.get("COMPOSE_PROJECT_NAME") or model.get("name")
    name = _sanitize(str(name or directory.name))
    active = list(profiles or [])
    if not active and env.get("COMPOSE_PROFILES"):
        active = [p for p in env["COMPOSE_PROFILES"].split(",") if p]
    return Project(name=name, directory=directory, files=paths, model=model, env=env,
                   profiles=active)
