"""Validate every host of an inventory before any host is touched.

One entry point for both ``gonka-deploy validate`` and the deploys: :func:`validate_hosts` takes
``(host name, merged data)`` pairs and returns the configs of the valid hosts plus every problem
found, as ``host: field: what is wrong (got ...)``. Nothing here connects to a host.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from .release.profiles import DEFAULT_RELEASE, ReleaseError, load_profile, with_profile
from .schema import FROM_RELEASE, HostConfig, check_host_name, unknown_keys
from .secrets import (
    SecretError,
    missing_message,
    resolve_keyring_password,
    resolve_telegram_token,
    sources_hint,
    telegram_sources_hint,
)

SECRET_FIELDS = {"keyring_password"}
HOST_NAME_FIELD = "(inventory host name)"
MAX_GOT = 80


@dataclass(frozen=True, order=True)
class Problem:
    host: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.host}: {self.field}: {self.message}"


class InventoryInvalid(Exception):
    """Raised with every problem of an inventory; ``str()`` is the whole error block."""

    def __init__(self, problems: list[Problem], host_count: int):
        self.problems = problems
        super().__init__(format_problems(problems, host_count))


def format_problems(problems: list[Problem], host_count: int) -> str:
    hosts = len({p.host for p in problems})
    lines = [f"inventory invalid: {len(problems)} problem(s) on {hosts} of {host_count} host(s)"]
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_GOT else text[: MAX_GOT - 3] + "..."


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def _from_validation_error(host: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        field = _field_path(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        top = field.split(".")[0].split("[")[0]
        if error["type"] == "missing":
            problems.append(Problem(host, field, "missing (required)"))
            continue
        lines = message.split("\n")
        for line in lines:
            # Validators that check several things name the exact field on each line.
            head, sep, rest = line.partition(": ")
            if sep and (head.split(".")[0].split("[")[0] == top or not field) and " " not in head:
                problems.append(Problem(host, head, rest))
                continue
            if (top in SECRET_FIELDS or len(lines) > 1 or "(got " in line
                    or error["type"] == "model_attributes_type"):
                problems.append(Problem(host, field or "(host)", line))
            else:
                problems.append(Problem(host, field or "(host)",
                                        f"{line} (got {_got(error.get('input'))})"))
    return problems


def from_release() -> set[str]:
    return {name for name, field in HostConfig.model_fields.items()
            if field.json_schema_extra == FROM_RELEASE}


def host_values(data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The schema's keys of a host's data over its release profile; and the profile's error."""
    values = {k: v for k, v in data.items() if k in HostConfig.model_fields}
    try:
        profile = load_profile(str(values.get("release", DEFAULT_RELEASE)))
    except ReleaseError as exc:
        return values, str(exc)
    return with_profile(profile, values), None


def validate_host(name: str, data: Mapping[str, Any],
                  environ: Mapping[str, str] | None = None
                  ) -> tuple[HostConfig | None, list[Problem]]:
    problems: list[Problem] = []
    bad_name = check_host_name(name)
    if bad_name:
        # the name becomes a path (render --out DIR/<name>) and a log prefix: refused whatever
        # the rest holds; shown escaped, so that it cannot forge lines of this report
        name = name if isinstance(name, str) and name.isprintable() else ascii(name)
        problems.append(Problem(name, HOST_NAME_FIELD, f"{bad_name} (got {_got(name)})"))
    values, release_error = host_values(data)
    if release_error:
        problems.append(Problem(name, "release", release_error))
    for key in unknown_keys(data):
        close = difflib.get_close_matches(key, HostConfig.model_fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(Problem(name, key, f"unknown key{hint}"))
    if "keyring_password" in data:
        problems.append(Problem(name, "keyring_password", "must not be set in inventory or group "
                                "data (secrets never live there): "
                                + sources_hint(str(data.get("key_name", name)))))
        values.pop("keyring_password")
    key_name = data.get("key_name")
    if isinstance(key_name, str) and "keyring_password" not in data:
        try:
            secret = resolve_keyring_password(key_name, environ)
        except SecretError as exc:
            problems.append(Problem(name, "keyring_password", str(exc)))
        else:
            if secret is None:
                problems.append(Problem(name, "keyring_password", missing_message(key_name)))
            else:
                values["keyring_password"] = secret.value
    problems += _telegram_token(name, data, values, environ)
    try:
        config = HostConfig.model_validate(values)
    except ValidationError as exc:
        found = _from_validation_error(name, exc)
        # The secret's absence is already reported with its sources above, and what an unknown
        # release would have given with that release.
        hidden = {"keyring_password"} | (from_release() if release_error else set())
        problems += [p for p in found if not (p.field in hidden
                                              and p.message == "missing (required)")]
        return None, problems
    return (config if not problems else None), problems


def _telegram_token(name: str, data: Mapping[str, Any], values: dict,
                    environ: Mapping[str, str] | None) -> list[Problem]:
    """The Telegram bot token of ``alerting.telegram``: from env or secrets/, never data."""
    alerting = data.get("alerting")
    telegram = alerting.get("telegram") if isinstance(alerting, Mapping) else None
    if not isinstance(telegram, Mapping):
        return []
    key_name = str(data.get("key_name", name))
    if "bot_token" in telegram:
        return [Problem(name, "alerting.telegram.bot_token", "must not be set in inventory or "
                        "group data (secrets never live there): "
                        + telegram_sources_hint(key_name))]
    try:
        secret = resolve_telegram_token(key_name, environ)
    except SecretError as exc:
        return [Problem(name, "alerting.telegram.bot_token", str(exc))]
    if secret is None:
        return [Problem(name, "alerting.telegram.bot_token",
                        "missing: " + telegram_sources_hint(key_name))]
    values["alerting"] = {**alerting, "telegram": {**telegram, "bot_token": secret.value}}
    return []


def validate_hosts(hosts: Iterable[tuple[str, Mapping[str, Any]]],
                   environ: Mapping[str, str] | None = None
                   ) -> tuple[dict[str, HostConfig], list[Problem]]:
    hosts = list(hosts)
    configs: dict[str, HostConfig] = {}
    problems: list[Problem] = []
    for name, data in hosts:
        config, found = validate_host(name, data, environ)
        problems += found
        if config is not None:
            configs[name] = config
    problems += _inventory_checks(hosts)
    return configs, sorted(set(problems), key=lambda p: (p.host, p.field))


def topology_problems(configs: Mapping[str, HostConfig]) -> list[Problem]:
    """Each host's release topology (its files, the merge with our override): a problem per
    host that cannot have one, naming the file and the cause. Fetches a profile's files into
    the repo cache when it stores none."""
    from .topology import TopologyError, topology

    problems = []
    for name, config in configs.items():
        try:
            topology(config)
        except TopologyError as exc:
            problems.append(Problem(name, "release", str(exc)))
    return sorted(problems)


def _inventory_checks(hosts: list[tuple[str, Mapping[str, Any]]]) -> list[Problem]:
    """Checks across hosts: names that must be unique in the whole inventory."""
    problems = []
    for field, label in (("key_name", "key_name"), ("public_url", "public_host:api_port")):
        owners: dict[Any, list[str]] = {}
        for name, data in hosts:
            if field == "public_url":
                value = (data.get("public_host"), data.get("api_port", 8000))
                if value[0] is None:
                    continue
            else:
                value = data.get(field)
                if value is None:
                    continue
            owners.setdefault(value, []).append(name)
        for value, names in owners.items():
            if len(names) > 1:
                shown = ":".join(map(str, value)) if isinstance(value, tuple) else value
                for name in names:
                    others = ", ".join(n for n in names if n != name)
                    problems.append(Problem(name, field if field == "key_name" else "public_host",
                                            f"duplicate {label} {shown!r} (also on {others})"))
    return problems


def _cli_package_unpatched() -> None:
    """Register the ``pyinfra_cli`` package without running its ``__init__``, which does one
    thing: ``gevent.monkey.patch_all()`` (pyinfra 3.10), for running deploys. A command that
    only reads the inventory and then runs processes of its own (``status``: one ``ssh`` per
    host) keeps the stdlib as it is: gevent's patched ``subprocess`` forks the whole
    interpreter for each ``ssh`` (measured 24 ms of CPU each on 20 hosts) and polls its pipes.
    The package's modules import as usual. No-op once the package is imported."""
    import importlib.util
    import sys

    if "pyinfra_cli" in sys.modules:
        return
    spec = importlib.util.find_spec("pyinfra_cli")
    sys.modules["pyinfra_cli"] = importlib.util.module_from_spec(spec)  # __path__ set, not run


def load_inventory(path: str | os.PathLike, cwd: str | None = None,
                   limit: list[str] | None = None,
                   patch_stdlib: bool = True) -> list[tuple[str, dict]]:
    """Load an inventory and its group data exactly as the pyinfra CLI does
    (``patch_stdlib=False``: without pyinfra's gevent patches, see
    :func:`_cli_package_unpatched`; for a process that runs no deploy)."""
    from types import SimpleNamespace

    if not patch_stdlib:
        _cli_package_unpatched()
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory  # heavy import, only when needed

    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"inventory file not found: {path}")
    # The CLI's file loader records the file it executes on the current state; outside a
    # pyinfra run a bare namespace stands in for it.
    with ctx_state.use(SimpleNamespace(current_exec_filename=None)):
        inventory = make_inventory(path, cwd=cwd or os.getcwd())
    hosts = [(host.name, host.data.dict()) for host in inventory]
    if limit:
        import fnmatch

        hosts = [h for h in hosts if any(fnmatch.fnmatch(h[0], pat) for pat in limit)]
    return hosts


def public_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """Data safe to print: secret values replaced."""
    return {k: ("*****" if k in SECRET_FIELDS or isinstance(v, SecretStr) else v)
            for k, v in data.items()}
