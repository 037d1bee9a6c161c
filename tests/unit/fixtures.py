"""pyinfra-style fixture harness: facts in, exact commands out, no host.

Operation cases live in ``tests/operations/<module>.<op>/<behaviour>.json``::

    {"kwargs": {...},
     "facts": {"disk.DiskProbe": {"device=/dev/vdb": {...}}, "server.Mounts": {...}},
     "executing": false,
     "commands": ["mkfs.ext4 ...", {"command": "sh -c <WRITE_SCRIPT> ...", "stdin": "..."}],
     "noop_description": "...",            # when no command is expected
     "refused": "fragment of the message",  # the host fails with it (REFUSE_SCRIPT)
     "exception": {"name": "TypeError", "message": "..."},
     "logs": ["would format /dev/vdb (ext4, 1.0 GiB)"],
     "local_state": {"fra-01": {"warm_address": "gonka1..."}},  # NodeState records before
     "local_backups": {"fra-01": [{"created": "...", "files": {"path": "content"}, ...}]},
     "shell": [{"ok": true, "stdout": ["..."]}],  # answers to commands run inside the body
                                                 # (also "swaps", "upgrades", "participation_sent")
     "secret_kwargs": ["content"]}          # kwargs passed wrapped in SecretStr

Fact cases live in ``tests/facts/<module>.<Fact>/<behaviour>.json`` with ``kwargs``, ``command``,
``output`` (lines) and the expected ``fact``. Long scripts show as ``<NAME>`` placeholders.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shlex
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

from pydantic import SecretStr
from pyinfra.api import FunctionCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state

TESTS = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "PROBE_SCRIPT": "gonka_deploy.facts.disk",
    "WRITE_SCRIPT": "gonka_deploy.operations.util",
    "COMPOSE_SCRIPT": "gonka_deploy.facts.compose",
    "HF_SCRIPT": "gonka_deploy.hfscript",
    "REFUSE_SCRIPT": "gonka_deploy.operations.util",
    "NGINX_SCRIPT": "gonka_deploy.operations.nginx",
    "VERIFY_SCRIPT": "gonka_deploy.verifyscript",
    "STAT_SCRIPT": "gonka_deploy.facts.files",
    "HTTP_SCRIPT": "gonka_deploy.facts.gonka",
    "TRANSIENT_PATTERN": "gonka_deploy.hostside",
    "PULL_SCRIPT": "gonka_deploy.operations.compose",
    "ENGINE_SCRIPT": "gonka_deploy.facts.docker",
    "KEY_SCRIPT": "gonka_deploy.operations.docker",
    "PLUGIN_SCRIPT": "gonka_deploy.operations.docker",
    "WAIT_SCRIPT": "gonka_deploy.operations.docker",
    "HTTP_PROBE_SCRIPT": "gonka_deploy.facts.compose",
    "RUNLOCK_SCRIPT": "gonka_deploy.facts.runlock",
    "PYTHON_SCRIPT": "gonka_deploy.facts.runlock",
    "KEYFILES_SCRIPT": "gonka_deploy.facts.backup",
    "COSMOVISOR_SCRIPT": "gonka_deploy.facts.cosmovisor",
    "DIGEST_SCRIPT": "gonka_deploy.facts.files",
}
# The run's Diffie-Hellman exponent in operation cases (gonka_deploy.facts.files): a case's
# keyed digest (`dh:OWN:MAC`, made with tests/unit/keyed_digest.py) verifies under it.
FIXTURE_EXPONENT = int("5eed" * 20, 16)
ALIASES = {"COMPOSE_SCRIPT": "STATE_SCRIPT", "HF_SCRIPT": "SCRIPT", "NGINX_SCRIPT": "UPDATE_SCRIPT",
           "VERIFY_SCRIPT": "SCRIPT"}


def _placeholders() -> dict[str, str]:
    from gonka_deploy.hostside import source

    out = {shlex.quote(source("retry.sh")): "<RETRY_SCRIPT>"}
    for name, module in SCRIPTS.items():
        script = getattr(importlib.import_module(module), ALIASES.get(name, name))
        out[shlex.quote(script)] = f"<{name}>"
    return out


def command_text(command) -> str | dict:
    if isinstance(command, FunctionCommand):
        return f"function:{command.function.__name__}"  # its arguments may hold secrets
    if isinstance(command, StringCommand):
        text = command.get_raw_value()
        for script, marker in _placeholders().items():
            text = text.replace(script, marker)
        stdin = command.connector_arguments.get("_stdin")
        return {"command": text, "stdin": stdin} if stdin is not None else text
    return repr(command)


def fact_key(cls) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def kwargs_key(kwargs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


class FakeHost:
    name = "fake-host"
    print_prefix = "[fake-host] "
    data: dict = {}

    def __init__(self, facts: dict, shell: list | None = None):
        self.facts = facts
        self.noops: list[str] = []
        self.shell = list(shell or [])
        self.shell_commands: list = []

    def run_shell_command(self, command, **kwargs):
        """A command an operation runs inside its body (e.g. taking the run lock), answered in
        order from the case's ``shell`` list; a command the case does not answer is an error."""
        self.shell_commands.append(command_text(command))
        if not self.shell:
            raise KeyError(f"the case gives no answer for the command {command_text(command)}")
        answer = self.shell.pop(0)
        out, err = answer.get("stdout", []), answer.get("stderr", [])
        return answer.get("ok", True), SimpleNamespace(
            stdout_lines=out, stderr_lines=err, stdout="\n".join(out), stderr="\n".join(err))

    def get_fact(self, cls, *args, **kwargs):
        # An unknown fact is a typo in the case or an operation reading something new: say so
        # instead of answering None (which every operation takes as "nothing there").
        if fact_key(cls) not in self.facts:
            raise KeyError(f"the case gives no fact {fact_key(cls)!r} "
                           f"(it gives {', '.join(sorted(self.facts)) or 'none'})")
        value = self.facts[fact_key(cls)]
        if kwargs and isinstance(value, dict) and kwargs_key(kwargs) in value:
            return value[kwargs_key(kwargs)]
        if kwargs and isinstance(value, dict) and all("=" in k for k in value):
            return None  # not given for these arguments: as if the command found nothing
        return value

    def noop(self, description: str) -> None:
        self.noops.append(description)


def put_local_state(key_name: str, records: dict) -> None:
    """Write a node's local state through its one owner (``gonka_deploy.state``)."""
    from gonka_deploy.state import ImageSwaps, NodeState, SentTx, UpgradeHistory

    node = NodeState(key_name)
    for name, value in records.items():
        if name == "upgrades":
            node.set_upgrades(UpgradeHistory.model_validate(value))
        elif name == "swaps":
            for record in ImageSwaps.model_validate(value).swaps.values():
                node.set_swap(record)
        elif name == "participation_sent":
            for sent in value:
                node.record_sent(SentTx.model_validate(sent))
        elif name == "warm_address":
            node.set_warm_address(value)
        elif name == "restore":
            from gonka_deploy.state import Restore

            node.set_restore(Restore.model_validate(value))
        else:
            raise KeyError(f"no local state record {name!r} in the case")


def put_local_backup(key_name: str, spec: dict) -> None:
    """An archive in ``backups/<key_name>/`` made through its one writer (gonka_deploy/backup.py):
    ``files`` (path -> text), ``passphrase``, ``modes`` (path -> mode), the rest manifest
    fields over defaults."""
    import hashlib

    from gonka_deploy import backup

    files = {path: text.encode() for path, text in spec["files"].items()}
    modes = spec.get("modes", {})
    fields = {k: v for k, v in spec.items() if k not in ("files", "passphrase", "modes")}
    manifest = backup.Manifest(**{
        "host": "gpu-fra-01", "key_name": key_name, "release": "v0.2.16-post1",
        "node_id": "0b7c2d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e", "public_host": "203.0.113.7",
        "p2p_port": 5000, "api_port": 8000, **fields,
        "files": [backup.FileEntry(path=p, size=len(d), mode=modes.get(p, 0o600),
                                   sha256=hashlib.sha256(d).hexdigest())
                  for p, d in files.items()]})
    backup.write_archive(key_name, manifest.created,
                         backup.seal(manifest, files, SecretStr(spec["passphrase"])))


def cases(kind: str) -> list[Path]:
    return sorted((TESTS / kind).glob("*/*.json"))


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def run_operation(path: Path, caplog, tmp_path: Path, monkeypatch) -> None:
    spec = json.loads(path.read_text())
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path / "nodes"))
    monkeypatch.setattr("gonka_deploy.facts.files._run_exponent", lambda: FIXTURE_EXPONENT)
    monkeypatch.setenv("GONKA_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("GONKA_SECRETS_DIR", str(tmp_path / "secrets"))
    for name in [n for n in os.environ if n.startswith("GONKA_BACKUP_PASSPHRASE")]:
        monkeypatch.delenv(name)
    for key_name, records in spec.get("local_state", {}).items():
        put_local_state(key_name, records)
    for key_name, archives in spec.get("local_backups", {}).items():
        for archive in archives:
            put_local_backup(key_name, archive)
    module_name, op_name = path.parent.name.rsplit(".", 1)
    op = getattr(importlib.import_module(f"gonka_deploy.operations.{module_name}"), op_name)
    kwargs = spec.get("kwargs", {})
    # JSON has no secret type: wrap what the case names, as the schema and roles do.
    for name in spec.get("secret_kwargs", []) + [k for k in ("password", "passphrase")
                                                 if kwargs.get(k) is not None]:
        value = kwargs[name]
        kwargs[name] = ([SecretStr(v) for v in value] if isinstance(value, list)
                        else SecretStr(value))
    host = FakeHost(spec.get("facts", {}), spec.get("shell"))
    state = MagicMock(is_executing=spec.get("executing", False))
    caplog.set_level(logging.INFO)
    with ctx_state.use(state), ctx_host.use(host):
        if "exception" in spec:
            try:
                list(op._inner(**kwargs))
            except Exception as exc:  # noqa: BLE001 - the case names the exact type
                assert type(exc).__name__ == spec["exception"]["name"]
                assert spec["exception"]["message"] in str(exc), str(exc)
            else:
                raise AssertionError(f"{path}: expected {spec['exception']['name']}")
            return
        commands = [command_text(c) for c in op._inner(**kwargs)]
    logs = [r.getMessage().replace(host.print_prefix, "") for r in caplog.records]
    if "refused" in spec:
        assert len(commands) == 1 and commands[0].startswith("sh -c <REFUSE_SCRIPT> _ "), commands
        message = shlex.split(commands[0].split(" _ ", 1)[1])[0]
        assert spec["refused"] in message, message
        assert f"refused: {message}" in logs
        return
    assert commands == spec.get("commands", []), json.dumps(commands, indent=1)
    if not commands:
        # null: nothing to do now, and not a "no change" either (planned for later)
        expected = spec["noop_description"]
        assert host.noops == ([expected] if expected is not None else [])
    else:
        assert not host.noops
    for line in spec.get("logs", []):
        assert line in logs, logs
    for line in spec.get("not_logs", []):
        assert not any(line in log for log in logs), logs
    assert not host.shell, f"answers left unused: {host.shell}"
    ran = "\n".join(map(str, host.shell_commands))
    for fragment in spec.get("shell_commands", []):  # fragments of the commands run in the body
        assert fragment in ran, ran


def run_fact(path: Path) -> None:
    spec = json.loads(path.read_text())
    module_name, cls_name = path.parent.name.rsplit(".", 1)
    cls = getattr(importlib.import_module(f"gonka_deploy.facts.{module_name}"), cls_name)
    fact = cls()
    kwargs = spec.get("kwargs", {})
    if "command" in spec:
        command = fact.command(**kwargs)
        assert command_text(command) == spec["command"]
    assert fact.process(spec["output"]) == spec["fact"]
