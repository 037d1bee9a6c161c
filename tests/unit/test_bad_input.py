"""Every bad input is rejected with the host and the field named, before any host is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gonka_deploy import cli

from .bad_inputs import CASES, environment, inventory_hosts
from .helpers import REPO, host_data


@pytest.fixture()
def case_inventory(tmp_path, monkeypatch):
    hosts = inventory_hosts(host_data())
    path = tmp_path / "cases.py"
    path.write_text(f"case_hosts = {hosts!r}\n")
    env = environment(hosts)
    for key in [k for k in os.environ if k.startswith("GONKA_KEYRING_PASSWORD")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GONKA_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.chdir(REPO)
    return path


def _assert_cases_named(output: str) -> None:
    lines = output.splitlines()
    missing = []
    for name, _, field, fragment in CASES:
        prefix = f"{name}: {field}: "
        if not any(line.strip().startswith(prefix) and fragment in line for line in lines):
            missing.append(f"{prefix}...{fragment}")
    assert not missing, "not reported:\n" + "\n".join(missing) + "\n--- output:\n" + output
    assert not any(line.strip().startswith("control-ok:") for line in lines), output


def test_there_are_at_least_30_distinct_bad_inputs():
    assert len({name for name, *_ in CASES}) >= 30


def test_validate_names_host_and_field_of_every_bad_input(case_inventory, capsys):
    assert cli.main(["validate", str(case_inventory)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("inventory invalid:")
    _assert_cases_named(err)


def test_pyinfra_dry_run_rejects_every_bad_input_before_connecting(case_inventory):
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), str(case_inventory), "deploys/node.py", "--dry"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "inventory invalid:" in output
    _assert_cases_named(output)
    # Rejected before any connection was attempted: no connect result is printed.
    assert "Connected" not in output and "Could not connect" not in output, output


def test_errors_never_print_the_password(case_inventory, capsys):
    cli.main(["validate", str(case_inventory)])
    err = capsys.readouterr().err
    for secret in ("short-pw9", "<FILLIN>-and-then-some", "a-literal-password-in-inventory"):
        assert secret not in err
