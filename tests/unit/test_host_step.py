"""A FunctionCommand's False fails the host (pyinfra 3.10 itself ignores the return value)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

DEPLOY = '''
from pyinfra.api import FunctionCommand
from gonka_deploy.operations.util import host_step, operation

def gave_up():
    return False

@operation(is_idempotent=False)
def bare():
    yield FunctionCommand(gave_up, (), {})

@operation(is_idempotent=False)
def stepped():
    yield from host_step(gave_up, what="the bounded wait")

{name}(name="under test")
'''


def run(tmp_path, name: str) -> subprocess.CompletedProcess:
    path = tmp_path / "deploy.py"
    path.write_text(DEPLOY.replace("{name}", name))
    # outside the repo root: its config.py would validate an operator inventory
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "pyinfra", "@local", str(path), "-y"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_pyinfra_alone_takes_a_false_function_command_as_success(tmp_path):
    # Why host_step exists: if pyinfra starts honouring the return value, this fails.
    assert run(tmp_path, "bare").returncode == 0


def test_host_step_fails_the_host_naming_the_step(tmp_path):
    done = run(tmp_path, "stepped")
    assert done.returncode != 0
    assert "the bounded wait failed (see above)" in done.stdout + done.stderr
