"""Phase 7's host-side script (gonka_deploy/verifyscript.py) on this machine: the docker group
check reads the host's /etc/group and /etc/passwd (here: files the test wrote), and no part of
the toolkit or the sandbox's host setup puts an account into that group (issue 20 item 13)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gonka_deploy.verifyscript import CHECK_NAMES, SCRIPT

REPO = Path(__file__).resolve().parents[2]
GROUP = "root:x:0:\nsudo:x:27:ubuntu\ndocker:x:998:{members}\nnogroup:x:65534:\n"
PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "ubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n{extra}")


def checks(tmp_path, group: str | None, passwd: str = PASSWD.format(extra="")) -> dict:
    """Every check of the script, run as phase 7 runs it; nothing answers on the endpoints
    (port 1 of loopback refuses at once), docker is absent: only the docker group is read."""
    if group is not None:
        (tmp_path / "group").write_text(group)
    (tmp_path / "passwd").write_text(passwd)
    dead = "http://127.0.0.1:1"
    args = {"join_dir": str(tmp_path), "api_port": 1, "version": "v3.0.8",
            "service": "mlnode-308", "seed_api_url": dead, "account_address": "gonka1x",
            "public_url": "http://203.0.113.10:8000", "mlnode_ids": ["node1"],
            "gpu": {"model": "H100", "count": 1, "vram_gb": 80}, "rpc_url": dead,
            "rest_url": dead, "admin_url": dead, "ml_url": dead, "timeout": 1,
            "docker": str(tmp_path / "no-docker"), "group_file": str(tmp_path / "group"),
            "passwd_file": str(tmp_path / "passwd")}
    p = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])["checks"]
    assert [c["name"] for c in out] == list(CHECK_NAMES)
    return {c["name"]: c for c in out}


def test_non_root_docker_group_members_are_a_warning_naming_each(tmp_path):
    got = checks(tmp_path, GROUP.format(members="root,deploy,alice"),
                 PASSWD.format(extra="ci:x:1001:998::/home/ci:/bin/sh\n"))["docker_group"]
    assert got["ok"] is None                      # a warning: never fails the host
    assert "account(s) alice, ci, deploy in the docker group" in got["detail"]
    assert "KEYRING_PASSWORD" in got["detail"] and "root" not in got["detail"].split(" in ")[0]


@pytest.mark.parametrize("group,detail", [
    (GROUP.format(members=""), "no non-root account in the docker group"),
    (GROUP.format(members="root"), "no non-root account in the docker group"),
    ("root:x:0:\nsudo:x:27:ubuntu\n", "no docker group on the host"),
])
def test_no_one_but_root_in_the_docker_group_passes(tmp_path, group, detail):
    got = checks(tmp_path, group)["docker_group"]
    assert (got["ok"], got["detail"]) == (True, detail)


def test_an_unreadable_group_file_is_a_failed_check_not_a_pass(tmp_path):
    got = checks(tmp_path, None)["docker_group"]
    assert got["ok"] is False and got["detail"].startswith("check error: ")


# Commands that put an account into a group: useradd/usermod -G/-aG/--groups, gpasswd -a/-M,
# adduser <user> <group>, addgroup <user> <group>, pyinfra's server.user(groups=...).
ADDS_TO_GROUP = re.compile(
    r"\b(usermod|useradd)\b[^\n]*(\s-a?G\s*|\s--groups[\s=])(?P<groups>[\w,$\"'{}.-]+)"
    r"|\bgpasswd\b[^\n]*\s-[aM]\b"
    r"|\b(adduser|addgroup)\s+[\w$\"'{}.-]+\s+(?P<group>[\w$\"'{}.-]+)"
    r"|\bserver\.user\([^)]*\bgroups\s*=")
WHERE = ("gonka_deploy", "roles", "deploys", "sandbox", "group_data", "config.py", "scripts")


def test_phase_1_and_the_sandbox_put_no_account_into_the_docker_group():
    """Phase 1 installs and starts Docker only (operations/docker.py); no host-side program,
    role, deploy or the sandbox's host setup adds an account to a group other than the sandbox
    login's `sudo` (rootfs.sh: `useradd -m -s /bin/bash -G sudo ubuntu`)."""
    found = []
    for top in WHERE:
        base = REPO / top
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()
                                                     and p.suffix in ("", ".py", ".sh", ".j2"))
        for path in paths:
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for m in ADDS_TO_GROUP.finditer(text):
                found.append((str(path.relative_to(REPO)), m.group(0).strip(),
                              m.group("groups") or m.group("group")))
    assert found == [("sandbox/bench/rootfs.sh", "useradd -m -s /bin/bash -G sudo", "sudo")]
    # and the guard itself sees what it guards against
    for line in ("usermod -aG docker ubuntu", "gpasswd -a ubuntu docker", "adduser ubuntu docker",
                 "server.user(user='ubuntu', groups=['docker'])", "useradd -G docker,sudo x"):
        assert ADDS_TO_GROUP.search(line), line
