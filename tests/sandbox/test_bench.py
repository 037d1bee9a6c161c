"""The SSH test-host bench: real sshd hosts in namespaces, loop disks, proxies, teardown, gc,
and the real pyinfra CLI against them. Needs root + mmdebstrap (skips with the reason if not)."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sandbox


def _connect_reply(gateway: str, target: str) -> str:
    """Send one CONNECT to the fleet's egress proxy; return its status line."""
    with socket.create_connection((gateway, 3128), timeout=20) as s:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        s.settimeout(20)
        return s.recv(4096).decode("latin-1").split("\r\n")[0]


def test_three_hosts_start_in_under_five_seconds(ssh_hosts):
    t0 = time.monotonic()
    hosts = ssh_hosts(3)
    elapsed = time.monotonic() - t0
    assert [h.run("hostname").strip() for h in hosts] == [h.name for h in hosts]
    assert elapsed < 5, f"3 hosts took {elapsed:.2f} s"


def test_each_host_answers_ssh_as_root_and_as_ubuntu_with_sudo(ssh_hosts):
    for h in ssh_hosts(3):
        assert h.run("id -u").strip() == "0"
        assert h.run("id -un", user="ubuntu").strip() == "ubuntu"
        assert h.run("sudo -n id -u", user="ubuntu").strip() == "0"


def test_data_disk_is_a_blank_block_device_of_one_gib_by_default(ssh_hosts):
    (h,) = ssh_hosts(1)
    assert h.run("test -b /dev/vdb && blockdev --getsize64 /dev/vdb").strip() == str(1 << 30)
    # blkid -p exits 2 when it finds no signature; the first MiB reads as zeros
    assert h.run("blkid -p /dev/vdb; echo rc=$?").strip().endswith("rc=2")
    assert h.run("cmp -n 1048576 /dev/vdb /dev/zero && echo zeros").strip() == "zeros"
    # a real node: libblkid resolves labels to it (a bind-mounted node would not be found)
    h.run("mkfs.ext4 -q -L gpudata /dev/vdb && mkdir -p /data && mount LABEL=gpudata /data")
    assert h.run("findfs LABEL=gpudata").strip() == "/dev/vdb"
    assert h.run("findmnt -n -o SOURCE /data").strip() == "/dev/vdb"


def test_data_disk_size_is_configurable(fleet):
    from sandbox.bench import Fleet

    with Fleet(mode=fleet.mode, disk_size="64M", apt_proxy=False, egress=False) as small:
        (h,) = small.add(1)
        assert h.run("blockdev --getsize64 /dev/vdb").strip() == str(64 << 20)


def test_hosts_reach_each_others_address_but_not_each_others_loopback(fleet, ssh_hosts):
    if fleet.mode == "lo":
        pytest.skip("mode lo shares the machine's network on purpose")
    a, b = ssh_hosts(2)
    # a listener on b's loopback only, with a bounded lifetime
    b.run("setsid timeout 60 python3 -c 'import socket; s = socket.socket(); "
          "s.bind((\"127.0.0.1\", 7777)); s.listen(); s.accept()' >/dev/null 2>&1 &")
    probe = "timeout 3 bash -c 'exec 3<>/dev/tcp/{}/{}' 2>/dev/null && echo open || echo closed"
    deadline = time.monotonic() + 10
    while b.run(probe.format("127.0.0.1", 7777)).strip() != "open":
        assert time.monotonic() < deadline, "listener on b's loopback did not come up"
        time.sleep(0.05)
    assert a.run(probe.format("127.0.0.1", 7777)).strip() == "closed"
    assert a.run(probe.format(b.address, 22)).strip() == "open"
    assert b.run(probe.format(a.address, 22)).strip() == "open"
    assert a.run("getent hosts sandbox-gw").split()[0] == fleet.gateway


def test_teardown_leaves_nothing_behind(fleet, machine_traces):
    from sandbox.bench import Fleet

    fleet_traces, leftovers = machine_traces
    f = Fleet(mode=fleet.mode).start()
    try:
        hosts = f.add(1) + f.add(1, docker=True)
        hosts[0].run("mkfs.ext4 -q /dev/vdb && mkdir -p /data && mount /dev/vdb /data")
        # a running container: its dockerd's cgroups on the machine must go with the host
        hosts[1].run("docker run -d --name held nginx:1.28.0 >/dev/null", timeout=120)
        traces = fleet_traces(f)
        assert len(traces["loops"]) == 2 and len(traces["pids"]) >= 4
        assert traces["cgroups"], "the docker host's containers have no cgroup of their own"
        assert len(leftovers(traces)) >= 8, "the traces check must see a running fleet"
    finally:
        f.stop()
    assert leftovers(traces) == []


def test_gc_cleans_a_fleet_whose_owner_was_killed(fleet, machine_traces):
    from sandbox.bench import gc

    _, leftovers = machine_traces
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom sandbox.bench import Fleet\n"
         f"f = Fleet(mode={fleet.mode!r}).start()\nf.add(2)\n"
         "print(f.dir, flush=True)\nsys.stdin.read()\n"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line, "the owner process did not start its fleet"
        state = json.loads((Path(line) / "state.json").read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdin.close()
        child.stdout.close()
    traces = {
        "dir": line,
        "loops": [h["disk"] for h in state["hosts"]],
        "netns": [h["netns"] for h in state["hosts"] if h["netns"]],
        "links": [h["veth"] for h in state["hosts"] if h["veth"]]
        + ([state["bridge"]] if state["bridge"] else []),
        "pids": [h["pid"] for h in state["hosts"]] + list(state["services"].values()),
        "claim": f"/run/gonka-sandbox/slot-{state['slot']}",
    }
    assert leftovers(traces), "the killed owner's fleet should still be there before gc"
    assert gc() >= 1
    assert leftovers(traces) == []


DEPLOY = """\
from pyinfra.operations import files, server

files.put(name="Put the marker", src={src!r}, dest="/etc/sandbox-marker.txt", mode="644")
server.shell(name="Say hello", commands=["hostname > /tmp/hello"])
"""


def test_pyinfra_cli_deploys_and_a_rerun_changes_nothing(ssh_hosts, run_pyinfra, tmp_path):
    hosts = ssh_hosts(2)
    (tmp_path / "marker.txt").write_text("marker 42\n")
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY.format(src=str(tmp_path / "marker.txt")))
    # one host as root, one as ubuntu with sudo, like an operator inventory
    inv = [(hosts[0].name, hosts[0].ssh_data("root")), (hosts[1].name, hosts[1].ssh_data("ubuntu"))]
    rc, out = run_pyinfra(inv, deploy, cwd=tmp_path)
    assert rc == 0, out[-3000:]
    put = out.split("Put the marker", 1)[1].split("--> Starting operation", 1)[0]
    assert put.count("Success") == 2, out[-3000:]
    for h in hosts:
        assert h.run("cat /etc/sandbox-marker.txt") == "marker 42\n"
        assert (h.upper / "etc/sandbox-marker.txt").read_text() == "marker 42\n"
        assert h.run("cat /tmp/hello").strip() == h.name
    rc, out2 = run_pyinfra(inv, deploy, cwd=tmp_path)
    assert rc == 0, out2[-3000:]
    put = out2.split("Put the marker", 1)[1].split("--> Starting operation", 1)[0]
    assert put.count("No changes") == 2, out2[-3000:]


def test_systemd_is_pid_1_in_nspawn_mode(nspawn_fleet):
    (h,) = nspawn_fleet.add(1)
    try:
        state = h.run("systemctl is-system-running --wait", check=False, timeout=90).strip()
        assert state in ("running", "degraded"), state
        assert h.run("cat /proc/1/comm").strip() == "systemd"
        assert h.run("test -b /dev/vdb && blockdev --getsize64 /dev/vdb").strip() == str(1 << 30)
    finally:
        nspawn_fleet.remove([h])


def test_egress_proxy_refuses_hosts_outside_the_allowlist(fleet, ssh_hosts):
    assert _connect_reply(fleet.gateway, "example.com:443").split()[1] == "403"
    assert _connect_reply(fleet.gateway, "pypi.org:80").split()[1] == "403"
    (h,) = ssh_hosts(1)
    out = h.run(f"curl -sS -o /dev/null -x http://{fleet.gateway}:3128 https://example.com "
                "2>&1; echo rc=$?")
    assert "403" in out and "rc=56" in out


def test_egress_proxy_tunnels_to_an_allowed_host(fleet):
    assert _connect_reply(fleet.gateway, "pypi.org:443").startswith("HTTP/1.1 200")


def test_apt_in_hosts_goes_through_the_fleets_apt_cacher(fleet, ssh_hosts):
    (h,) = ssh_hosts(1)
    assert f"http://{fleet.gateway}:3142" in h.run("apt-config dump Acquire::http::Proxy")
    # no DNS in a host: a direct fetch fails at once, the proxied one works
    url = "http://deb.debian.org/debian/dists/bookworm-updates/InRelease"
    if fleet.mode != "lo":          # mode lo shares the machine's network and resolver
        direct = h.run(f"timeout 10 curl -sS -o /dev/null --noproxy '*' {url} 2>&1; echo rc=$?")
        assert "rc=6" in direct, direct
    code = h.run(f"curl -sS -o /dev/null -w '%{{http_code}}' -x http://{fleet.gateway}:3142 {url}")
    assert code == "200"


@pytest.mark.skipif(os.environ.get("GONKA_SANDBOX_PYPI") != "1",
                    reason="downloads from PyPI; set GONKA_SANDBOX_PYPI=1 to run")
def test_pip_download_works_through_the_egress_proxy(fleet, ssh_hosts):
    (h,) = ssh_hosts(1)
    out = h.run(f"python3 -m venv /tmp/v && https_proxy=http://{fleet.gateway}:3128 "
                "/tmp/v/bin/pip download -q --no-deps six==1.16.0 -d /tmp/dl && ls /tmp/dl",
                timeout=300)
    assert "six-1.16.0" in out


def test_hosts_are_seeded_with_sims_shims_and_per_host_settings(fleet, tmp_path):
    from sandbox.bench import Fleet

    (tmp_path / "gs").mkdir()
    (tmp_path / "gs" / "__init__.py").write_text("VERSION = 'seeded'\n")
    (tmp_path / "shims").mkdir()
    for name in ("docker", "inferenced"):
        (tmp_path / "shims" / name).write_text(f"#!/bin/sh\necho {name}-shim\n")
    dirs = {"gonkasim": tmp_path / "gs", "shims": tmp_path / "shims"}
    with Fleet(mode=fleet.mode, disk_size=None, seed_dirs=dirs, apt_proxy=False,
               egress=False) as f:
        a, b = f.add(1, sim={"nvidia_smi_fail": True}) + f.add(1, prefix="cpu")
        assert b.name == "cpu-02" and b.disk is None
        assert a.run("PYTHONPATH=/opt/gonkasim python3 -c "
                     "'import gonkasim; print(gonkasim.VERSION)'").strip() == "seeded"
        assert a.run("docker").strip() == "docker-shim"
        assert a.run("stat -c %a /usr/local/bin/docker").strip() == "755"
        assert a.run("command -v inferenced || echo none").strip() == "none"
        assert a.run("/opt/gonkasim/images/api/bin/inferenced").strip() == "inferenced-shim"
        sim_a = json.loads(a.run("cat /etc/gonkasim/sim.json"))
        sim_b = json.loads(b.run("cat /etc/gonkasim/sim.json"))
        assert sim_a["nvidia_smi_fail"] is True and "nvidia_smi_fail" not in sim_b
        assert sim_b["gpu"] == {"model": "H100", "count": 1, "vram_gb": 80}
        assert sim_b["seed_api_url"] == f"http://{f.gateway}:18000"
    # missing source dirs are skipped, not an error
    with Fleet(mode=fleet.mode, disk_size=None, apt_proxy=False, egress=False,
               seed_dirs={"gonkasim": tmp_path / "nope", "shims": tmp_path / "nope"}) as f:
        (h,) = f.add(1)
        assert h.run("ls /opt/gonkasim 2>&1 || true").strip().endswith("No such file or directory")


def _cli(*args: str, out_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, GONKA_SANDBOX_OUT=str(out_dir), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_up_writes_the_inventory_and_down_removes_everything(fleet, tmp_path,
                                                                  machine_traces):
    _, leftovers = machine_traces
    up = _cli("up", "2", "--mode", fleet.mode, out_dir=tmp_path)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "gpu-02" in _cli("status", out_dir=tmp_path).stdout
        assert _cli("ssh", "gpu-02", "hostname", out_dir=tmp_path).stdout.strip() == "gpu-02"
        ns: dict = {}
        exec((tmp_path / "inventories/sandbox.py").read_text(), ns)
        gd: dict = {}
        exec((tmp_path / "inventories/group_data/sandbox.py").read_text(), gd)
        state = json.loads((tmp_path / ".sandbox/state.json").read_text())
        secret = tmp_path / "secrets/sandbox-gpu-01.env"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert len(secret.read_text().strip().removeprefix("KEYRING_PASSWORD=")) == 24
    finally:
        down = _cli("down", out_dir=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    names = [name for name, _ in ns["sandbox_hosts"]]
    assert names == ["gpu-01", "gpu-02"]
    data = dict(ns["sandbox_hosts"])["gpu-01"]
    assert data["ssh_user"] == "ubuntu" and data["_sudo"] is True
    assert data["key_name"] == "sandbox-gpu-01" and data["data_disk"] == "/dev/vdb"
    pub = base64.b64decode(data["account_pubkey"])
    assert len(pub) == 33 and pub[0] == 2
    gw = state["gateway"]
    assert gd["seed_api_url"] == f"http://{gw}:18000" and gd["outbound_proxy"].endswith(":3128")
    assert gd["rpc_servers"] == [gd["seed_node_rpc_url"]] * 2
    for path in state["written"]:          # inventory, group data, secrets: gone after down
        assert not Path(path).exists()
    traces = {"dir": state["fleet_dir"], "loops": [h["disk"] for h in state["hosts"]],
              "netns": [], "links": [], "pids": [int(state["keeper"].split(":")[0])],
              "claim": f"/run/gonka-sandbox/{Path(state['fleet_dir']).name}"}
    assert leftovers(traces) == []
    assert _cli("status", out_dir=tmp_path).stdout.startswith("down")


def test_serve_runs_a_machine_side_service_the_hosts_reach_as_sandbox_gw(fleet, ssh_hosts,
                                                                          tmp_path):
    (tmp_path / "hello.txt").write_text("hello from the machine\n")
    p = fleet.serve("test-http", [sys.executable, "-m", "http.server", "--bind", fleet.gateway,
                                  "18099"], 18099, cwd=tmp_path)
    assert p.poll() is None and fleet.services["test-http"] == p.pid
    (h,) = ssh_hosts(1)
    assert h.run("curl -sS --noproxy '*' http://sandbox-gw:18099/hello.txt") == \
        "hello from the machine\n"
    assert "GET /hello.txt" in fleet.log("test-http")


def test_serve_reports_a_service_that_exits_with_its_log(fleet):
    with pytest.raises(RuntimeError, match="(?s)did not start.*no such thing"):
        fleet.serve("test-broken", ["sh", "-c", "echo no such thing; exit 3"], 18098, timeout=10)
    assert "test-broken" not in fleet.services
