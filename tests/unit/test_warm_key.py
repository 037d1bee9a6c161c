"""The warm key's creation (operations/keys.py ``_create_key``, run by ``keys.warm_key``), called
directly with a fake host: the command it runs, what it records, and what it never shows.
And the host-side wrapper that keeps that command's output out of the engine's logs
(gonka_deploy/hostside/compose_unlogged.sh), run here with a stand-in ``docker``."""

from __future__ import annotations

import json
import logging
import os
import shlex
import stat
import subprocess
from pathlib import Path
from unittest.mock import MagicMock

import pytest
import yaml
from pydantic import SecretStr
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.hostside import source
from gonka_deploy.operations import keys
from gonka_deploy.state import NodeState
from tests.unit.fixtures import FakeHost

JOIN = "/mnt/ssd/gonka/deploy/join"
FILES = ["docker-compose.yml", "docker-compose.mlnode.yml", "docker-compose.override.yml"]
HOME = f"{JOIN}/.inference"
PASSWORD = "correct-horse-battery-9"
MNEMONIC = " ".join(["abandon"] * 23 + ["zoo"])
ADDRESS = "gonka1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn7hzdtn"
RECORD = json.dumps({"name": "fra-01", "type": "local", "address": ADDRESS,
                     "pubkey": '{"@type":"/cosmos.crypto.secp256k1.PubKey","key":"A0"}',
                     "mnemonic": MNEMONIC})


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path / "nodes"))
    return tmp_path / "nodes"


class Host(FakeHost):
    """The fixtures' fake host, also keeping each command's stdin (where secrets go)."""

    def run_shell_command(self, command, **kwargs):
        answer = super().run_shell_command(command, **kwargs)
        self.shell_commands[-1] = {"command": self.shell_commands[-1],
                                   "stdin": kwargs.get("_stdin")}
        return answer


def create(shell: list[dict], save_mnemonic: bool) -> tuple[bool, Host]:
    host = Host({}, shell)
    with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
        done = keys._create_key(JOIN, FILES, "fra-01", SecretStr(PASSWORD), save_mnemonic)
    return done, host


def everything_written(root: Path) -> str:
    return "\n".join(p.read_text() for p in root.rglob("*") if p.is_file())


def test_keys_add_runs_once_in_an_api_container_that_logs_nothing(state_dir):
    done, host = create([{"stdout": [RECORD]}], save_mnemonic=False)
    assert done
    (command,) = host.shell_commands  # one `keys add`, nothing else
    argv = shlex.split(command["command"])
    assert argv[:3] == ["sh", "-c", source("compose_unlogged.sh")]
    assert argv[3:] == ["_", JOIN, "api", "3", *FILES, "run", "--rm", "--no-deps", "-T", "api",
                        "inferenced", "keys", "add", "fra-01", "--keyring-backend", "file",
                        "--output", "json"]
    # the password only on stdin, twice (a new file keyring asks to re-enter it)
    assert command["stdin"] == f"{PASSWORD}\n{PASSWORD}\n"
    assert PASSWORD not in command["command"]


def test_the_address_is_recorded_and_the_mnemonic_is_never_logged_nor_kept(state_dir, caplog,
                                                                        capsys):
    caplog.set_level(logging.DEBUG)
    done, _ = create([{"stdout": [RECORD]}], save_mnemonic=False)
    assert done
    node = NodeState("fra-01")
    assert node.warm_address() == ADDRESS
    assert node.mnemonic() is None and not node.has_mnemonic()
    assert MNEMONIC not in everything_written(state_dir)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert f"created warm key fra-01: {ADDRESS}" in logs
    out = capsys.readouterr()
    for text in (logs, out.out, out.err):
        assert MNEMONIC not in text and "abandon" not in text and PASSWORD not in text


def test_the_mnemonic_is_kept_locally_0600_only_when_asked(state_dir, caplog):
    caplog.set_level(logging.DEBUG)
    done, _ = create([{"stdout": [RECORD]}], save_mnemonic=True)
    assert done
    node = NodeState("fra-01")
    assert node.mnemonic() == MNEMONIC and node.warm_address() == ADDRESS
    (kept,) = [p for p in state_dir.rglob("*") if p.is_file() and MNEMONIC in p.read_text()]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "mnemonic saved locally, 0600" in logs and MNEMONIC not in logs


def test_a_failed_keys_add_records_nothing_and_shows_only_its_stderr(state_dir, caplog):
    caplog.set_level(logging.DEBUG)
    done, _ = create([{"ok": False, "stdout": [RECORD],
                       "stderr": ["Enter keyring passphrase:", "Error: connection lost"]}],
                     save_mnemonic=True)
    assert done is False
    assert NodeState("fra-01").warm_address() is None and not NodeState("fra-01").has_mnemonic()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "keys add failed" in logs and "Error: connection lost" in logs
    assert "no second key is made" in logs
    assert MNEMONIC not in logs


def test_output_without_a_key_record_is_never_shown(state_dir, caplog):
    """A line that is not the record (a warning, a text-mode listing with the mnemonic) is
    not echoed into the log: it may be the mnemonic."""
    caplog.set_level(logging.DEBUG)
    done, _ = create([{"stdout": [f"- address: {ADDRESS}", MNEMONIC, "{not json"]}],
                     save_mnemonic=True)
    assert done is False
    assert NodeState("fra-01").warm_address() is None
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "printed no key record" in logs and MNEMONIC not in logs


def test_a_record_after_a_prompt_line_is_found(state_dir):
    done, _ = create([{"stdout": ["Enter keyring passphrase (attempt 1/3):", RECORD]}],
                     save_mnemonic=False)
    assert done and NodeState("fra-01").warm_address() == ADDRESS


def run_op(facts: dict) -> list:
    host = Host(facts)
    with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
        commands = list(keys.warm_key._inner(directory=JOIN, files=FILES, home=HOME,
                                             key_name="fra-01", password=SecretStr(PASSWORD)))
    return commands


def execute(command, shell: list[dict]) -> Host:
    host = Host({}, shell)
    with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
        command.function(*command.args, **command.kwargs)
    return host


def exists(value: bool) -> dict:
    return {"gonka.WarmKeyExists": {f"home={HOME},key_name=fra-01": value}}


def test_a_run_cut_after_the_key_was_made_never_makes_a_second_one(state_dir):
    # run 1: no key; keys add makes it, then the connection drops before its answer arrives
    (first,) = run_op(exists(False))
    assert first.function.__name__ == "_create_key"
    host = execute(first, [{"ok": False, "stderr": ["Connection to host closed."]}])
    assert "keys add" in host.shell_commands[0]["command"]
    assert NodeState("fra-01").warm_address() is None
    # run 2: the keyring holds the key now: only its address is read, keys add never runs
    (second,) = run_op(exists(True))
    assert second.function.__name__ == "_read_address"
    host = execute(second, [{"stdout": [ADDRESS]}])
    (ran,) = host.shell_commands
    assert "keys show" in ran["command"] and "keys add" not in ran["command"]
    assert NodeState("fra-01").warm_address() == ADDRESS
    # run 3: key and address known: nothing runs
    assert run_op(exists(True)) == []


# --- the host-side wrapper ------------------------------------------------------------------

@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` that records its argv, the compose files it was given, and its stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record.json"
    (bin_dir / "docker").write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "files = {args[i + 1]: open(args[i + 1]).read() for i, a in enumerate(args)\n"
        "         if a == '-f' and args[i + 1].startswith('/')}\n"
        f"json.dump({{'argv': args, 'files': files, 'stdin': sys.stdin.read()}},\n"
        f"          open({str(record)!r}, 'w'))\n"
        "print('{\"address\": \"x\"}')\n"
        "sys.exit(int(__import__('os').environ.get('FAKE_RC', '0')))\n")
    (bin_dir / "docker").chmod(0o755)
    project = tmp_path / "join"
    project.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return {"env": env, "record": record, "project": str(project)}


def wrapper(fake_docker, *args: str, rc: int = 0) -> subprocess.CompletedProcess:
    env = dict(fake_docker["env"], FAKE_RC=str(rc))
    return subprocess.run(["sh", "-c", source("compose_unlogged.sh"), "_", *args],
                          input="pw\npw\n", capture_output=True, text=True, env=env, timeout=30)


def test_the_wrapper_adds_a_logging_none_file_for_the_service_and_removes_it(fake_docker):
    done = wrapper(fake_docker, fake_docker["project"], "api", "2", "a.yml", "b c.yml",
                   "run", "--rm", "-T", "api", "inferenced", "keys", "add", "k")
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"address": "x"}\n'  # the command's own stdout, untouched
    seen = json.loads(fake_docker["record"].read_text())
    argv = seen["argv"]
    fragment = argv[6]
    assert argv == ["compose", "-f", "a.yml", "-f", "b c.yml", "-f", fragment, "run", "--rm",
                    "-T", "api", "inferenced", "keys", "add", "k"]
    assert yaml.safe_load(seen["files"][fragment]) == {
        "services": {"api": {"logging": {"driver": "none"}}}}
    assert seen["stdin"] == "pw\npw\n"  # the passphrase reaches the command
    assert not Path(fragment).exists()  # removed on exit


def test_the_wrapper_passes_the_commands_failure_on_and_still_cleans_up(fake_docker):
    done = wrapper(fake_docker, fake_docker["project"], "api", "1", "a.yml", "run", "api",
                   rc=3)
    assert done.returncode == 3
    fragment = json.loads(fake_docker["record"].read_text())["argv"][4]
    assert not Path(fragment).exists()


@pytest.mark.parametrize("args,why", [
    (["api", "x", "a.yml", "run"], "bad file count"),
    (["api", "1", "a.yml"], "no compose command"),
    (["api: {}", "1", "a.yml", "run"], "bad service name"),
])
def test_the_wrapper_refuses_malformed_arguments_without_running_docker(fake_docker, args, why):
    done = wrapper(fake_docker, fake_docker["project"], *args)
    assert done.returncode == 2 and why in done.stderr
    assert not fake_docker["record"].exists()
