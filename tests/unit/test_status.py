"""``gonka-deploy status``: the host-side probe against fake endpoints on loopback, the verdict
on a probe document, and a dead host bounded by the timeout."""

from __future__ import annotations

import json
import os
import socketserver
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from gonka_deploy import status as status_module
from gonka_deploy.address import account_address
from gonka_deploy.hostside import HERE, source
from gonka_deploy.status import (
    STATUS_KEX,
    fleet_status,
    host_status,
    kex_options,
    remote_command,
    run_probe,
    ssh_argv,
)
from tests.unit.helpers import PUBKEY_02, host_config

ADDRESS = account_address(PUBKEY_02)


def healthy_doc(**changes) -> dict:
    doc = {
        "chain": {"height": 1000, "catching_up": False, "block_age_s": 3.0, "error": None},
        "seed_height": {"height": 1002, "error": None},
        "containers": {"services": {"node": {"running": True, "id": "abc", "image": "n:1",
                                             "started_at": "2026-11-01T05:00:00.123456789Z"}},
                       "error": None},
        "versions": {"node_binary": "v0.2.16", "node": "v0.2.16", "api": "v0.2.16",
                     "error": None},
        "participant": {"registered": True, "status": "ACTIVE", "inference_count": 95,
                        "missed_requests": 5, "error": None},
        "epoch": {"epoch_id": 7, "in_epoch": True, "weight": 1234, "error": None},
        "mlnodes": {"nodes": [{"id": "node1", "state": "INFERENCE", "enabled": True,
                               "serving": True, "version": "3.0.14", "models": ["m"],
                               "failure_reason": None}], "error": None},
        "gpus": {"count": 4, "names": ["NVIDIA H100 80GB HBM3"], "error": None},
        "disk": {"path": "/mnt/ssd", "free_bytes": 900 * 10**9, "total_bytes": 2 * 10**12,
                 "error": None},
        "clone": {"head": None, "sha256": {}, "error": None},
    }
    for key, value in changes.items():
        doc[key] = {**doc[key], **value}
    return doc


def judge(doc, **config_changes):
    return host_status("gpu-01", host_config(**config_changes), doc, None, 0.5)


def test_every_field_of_a_healthy_host():
    s = judge(healthy_doc())
    assert s.healthy and s.problems == [] and s.reachable
    assert (s.chain.height, s.chain.lag, s.chain.catching_up) == (1000, 2, False)
    assert (s.versions.node_binary, s.versions.api) == ("v0.2.16", "v0.2.16")
    p = s.participant
    assert (p.address, p.registered, p.in_epoch, p.weight, p.epoch_id) == (
        ADDRESS, True, True, 1234, 7)
    assert p.missed_pct == 5.0        # missed / (inferences + missed), as upstream computes it
    assert [(m.id, m.state, m.serving) for m in s.mlnodes] == [("node1", "INFERENCE", True)]
    assert (s.gpus.seen, s.gpus.expected, s.disk.free_gb) == (4, 4, 900.0)


@pytest.mark.parametrize("changes,reason", [
    ({"containers": {"services": {}}, "chain": {"height": None, "error": "refused"}},
     "node container not running"),
    ({"chain": {"block_age_s": 500.0}}, "chain stalled: latest block 1000 is 500 s old"),
    ({"seed_height": {"height": 1100}}, "lagging: 100 blocks behind the seed"),
    ({"chain": {"catching_up": True}}, "catching up for too long"),
    ({"participant": {"registered": False}}, "not registered on the seed api"),
    ({"epoch": {"in_epoch": False, "weight": None}}, "not in the current epoch 7"),
    ({"participant": {"missed_requests": 30}}, "missed requests 24.0 %"),
    ({"mlnodes": {"nodes": [{"id": "node1", "state": "FAILED", "enabled": True,
                             "serving": False, "failure_reason": "CUDA out of memory"}]}},
     "ML node node1 not serving: FAILED (CUDA out of memory)"),
    ({"mlnodes": {"nodes": []}}, "ML node node1 unknown to the api"),
    ({"gpus": {"count": 3}}, "3 GPU(s) seen, the inventory says 4"),
    ({"disk": {"free_bytes": 10 * 10**9}}, "data disk /mnt/ssd: 10.0 GB free (limit 50 GB)"),
])
def test_unhealthy_names_why(changes, reason):
    s = judge(healthy_doc(**changes))
    assert not s.healthy
    assert any(reason in p for p in s.problems), s.problems


def test_catching_up_recently_started_is_healthy_and_thresholds_are_group_data():
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    s = judge(healthy_doc(chain={"catching_up": True}, seed_height={"height": 99999},
                          containers={"services": {"node": {"running": True,
                                                            "started_at": recent}}}))
    assert s.healthy, s.problems
    s = judge(healthy_doc(disk={"free_bytes": 10 * 10**9}), health={"min_free_gb": 5})
    assert s.healthy, s.problems


def test_seed_unreachable_is_a_warning_not_a_verdict():
    s = judge(healthy_doc(participant={"registered": None, "error": "seed: timed out"},
                          epoch={"in_epoch": None, "error": "seed: timed out"}))
    assert s.healthy and any("participant unknown" in w for w in s.warnings)


def test_unreachable_host():
    s = host_status("gpu-01", host_config(), None, "no answer within 3 s", 3.0)
    assert not s.healthy and not s.reachable
    assert s.problems == ["unreachable: no answer within 3 s"]


# --- a malformed probe document: that host is one unhealthy row, the others are reported ---

MALFORMED = [
    (lambda d: d["chain"].update(height="1000"), "chain.height: Input should be a valid integer"),
    (lambda d: d["gpus"].update(count="4"), "gpus.count: Input should be a valid integer"),
    (lambda d: d.update(chain=[1000]), "chain: Input should be a valid dictionary"),
    (lambda d: d["disk"].update(free_bytes=[]), "disk.free_bytes: Input should be a valid "
     "integer"),
    (lambda d: d["mlnodes"].update(nodes={"node1": {}}), "mlnodes.nodes: Input should be a "
     "valid list"),
    (lambda d: d["participant"].update(registered="yes"), "participant.registered: Input "
     "should be a valid boolean"),
    (lambda d: d["chain"].update(height=True), "chain.height: Input should be a valid integer"),
    (lambda d: d.pop("epoch"), "epoch: Field required"),
]


@pytest.mark.parametrize("spoil,reason", MALFORMED)
def test_a_document_that_does_not_parse_is_unhealthy_naming_the_field(spoil, reason):
    doc = healthy_doc()
    spoil(doc)
    s = judge(doc)
    assert s.reachable and not s.healthy
    assert len(s.problems) == 1 and s.problems[0].startswith("probe document does not parse: ")
    assert reason in s.problems[0], s.problems
    # nothing of a document that did not parse is judged or shown as a reading
    assert s.chain.height is None and s.gpus.seen is None and s.participant.registered is None


def test_one_malformed_host_among_good_ones_is_one_unhealthy_row(monkeypatch):
    """fleet_status over three hosts, the middle one's probe printing `height: "1000"` and
    `gpus.count: "4"`: three rows, the two good hosts healthy, the bad one named with why."""
    bad = healthy_doc(chain={"height": "1000"}, gpus={"count": "4"})
    docs = {"gpu-01": healthy_doc(), "gpu-02": bad, "gpu-03": healthy_doc()}
    monkeypatch.setattr(status_module, "run_probe",
                        lambda name, *a, **k: (json.loads(json.dumps(docs[name])), None))
    monkeypatch.setattr(status_module, "clone_files", lambda config: [])
    monkeypatch.setattr(status_module, "last_apply", lambda name, config: None)
    monkeypatch.setattr(status_module, "drift", lambda config, doc: [])
    configs = {name: host_config() for name in docs}
    fleet = fleet_status([(name, {}) for name in docs], configs, timeout=5)
    rows = {s.host: s for s in fleet.hosts}
    assert list(rows) == ["gpu-01", "gpu-02", "gpu-03"] and not fleet.healthy
    assert rows["gpu-01"].healthy and rows["gpu-03"].healthy
    assert rows["gpu-01"].chain.height == 1000 and rows["gpu-03"].gpus.seen == 4
    problem = rows["gpu-02"].problems
    assert not rows["gpu-02"].healthy and rows["gpu-02"].reachable and len(problem) == 1
    assert "chain.height: Input should be a valid integer (got \"1000\")" in problem[0]
    assert "gpus.count: Input should be a valid integer (got \"4\")" in problem[0]
    assert json.loads(fleet.model_dump_json())["hosts"][1]["problems"] == problem


def test_a_host_the_controller_cannot_judge_is_its_own_row(monkeypatch):
    """Whatever else breaks on one host's answer (here drift) stays that host's row."""
    monkeypatch.setattr(status_module, "run_probe", lambda *a, **k: (healthy_doc(), None))
    monkeypatch.setattr(status_module, "clone_files", lambda config: [])
    monkeypatch.setattr(status_module, "last_apply", lambda name, config: None)

    def drift(config, doc):
        if config.key_name == "broken":
            raise KeyError("surprise")
        return []

    monkeypatch.setattr(status_module, "drift", drift)
    configs = {"a": host_config(), "b": host_config(key_name="broken")}
    fleet = fleet_status([("a", {}), ("b", {})], configs, timeout=5)
    a, b = fleet.hosts
    assert a.healthy and not b.healthy and b.reachable
    assert b.problems == ["status could not judge the host: KeyError: 'surprise'"]


def test_drift_of_a_malformed_document_is_the_files_only():
    config = host_config(release="v0.2.14")      # a release whose upstream files are stored
    files_only = status_module.drift(config, None)
    other = healthy_doc(containers={"services": {"node": {"running": True, "image": "x:1"}}})
    assert status_module.drift(config, other) == files_only + [
        "running: service node runs x:1, the host's files say "
        "ghcr.io/product-science/inferenced:0.2.14"]
    malformed = healthy_doc(containers={"services": [{"node": {"image": "x:1"}}]})
    assert status_module.drift(config, malformed) == files_only


# --- the probe on this machine, against fake endpoints -------------------------------------

class Fake(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        code, body = self.routes.get(self.path, (404, {"message": "not found"}))
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_):
        pass


@pytest.fixture
def endpoints():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    server.shutdown()


class FakeDocker(Fake):
    """The Docker Engine API on a unix socket (client_address is '' there)."""

    def address_string(self):
        return "docker.sock"

    def do_GET(self):  # noqa: N802
        path, _, query = self.path.partition("?")
        if path == "/containers/json":
            # the compose label the probe filters on, as dockerd receives it
            FakeDocker.queries.append(query)
        code, body = self.routes.get(path, (404, {"message": "No such container"}))
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.end_headers()
        self.wfile.write(raw)


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def docker_socket(tmp_path):
    path = str(tmp_path / "docker.sock")
    server = UnixHTTPServer(path, FakeDocker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeDocker.queries = []
    yield path
    server.shutdown()


def test_probe_reads_every_source(endpoints, docker_socket, tmp_path):
    url, port = endpoints
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime())
    Fake.routes = {
        "/status": (200, {"result": {"sync_info": {"latest_block_height": "50",
                                                   "latest_block_time": stamp,
                                                   "catching_up": False}}}),
        "/chain-rpc/status": (200, {"result": {"sync_info": {"latest_block_height": "52"}}}),
        "/abci_info": (200, {"result": {"response": {"data": "inference",
                                                    "version": "v0.2.16-post1"}}}),
        "/v1/versions": (200, {"api_version": {"version": "v0.2.16"},
                               "node_version": {"version": "v0.2.16"}}),
        f"/v2/participants/{ADDRESS}": (200, {"participant": {
            "status": "ACTIVE", "current_epoch_stats": {"inference_count": "9",
                                                        "missed_requests": "1"}}}),
        "/v1/epochs/current/participants": (200, {"active_participants": {
            "epoch_id": "3", "participants": [{"index": ADDRESS, "weight": 77}]}}),
        "/admin/v1/nodes": (200, [{"node": {"id": "node1", "models": {"m": {"args": []}}},
                                   "state": {"current_status": "POC",
                                             "admin_state": {"enabled": True}}}]),
    }
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\nfor i in 1 2 3 4; do echo 'NVIDIA H100, 81559'; done\n")
    smi.chmod(stat.S_IRWXU)
    args = {"join_dir": str(tmp_path), "data_mount": str(tmp_path), "api_port": port,
            "seed_api_url": url, "account_address": ADDRESS, "rpc_url": url,
            "admin_url": url, "timeout": 2}
    FakeDocker.routes = {
        "/containers/json": (200, [{"Id": "c1"}]),
        "/containers/c1/json": (200, {"Id": "c1", "Config": {
            "Image": "ghcr.io/product-science/inferenced:0.2.16",
            "Labels": {"com.docker.compose.service": "node"}},
            "State": {"Running": True, "StartedAt": "2026-11-30T05:00:00.1Z"}}),
    }
    env = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin", DOCKER_SOCKET=docker_socket)
    p = subprocess.run([sys.executable, "-", json.dumps(args)], input=source("status_probe.py"),
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["chain"]["height"] == 50 and doc["chain"]["block_age_s"] < 30
    assert doc["seed_height"]["height"] == 52
    assert doc["versions"]["api"] == "v0.2.16"
    assert doc["versions"]["node_binary"] == "v0.2.16-post1"
    assert doc["containers"]["services"]["node"]["running"] is True
    label = f"com.docker.compose.project.working_dir={tmp_path}"
    assert [json.loads(q["filters"][0]) for q in map(parse_qs, FakeDocker.queries)] == [
        {"label": [label]}]
    assert doc["participant"]["missed_requests"] == 1
    assert (doc["epoch"]["in_epoch"], doc["epoch"]["weight"]) == (True, 77)
    assert doc["epoch"]["epoch_id"] == 3      # an int, whether the api sends 3 or "3"
    assert doc["mlnodes"]["nodes"][0]["serving"] is True
    assert doc["gpus"]["count"] == 4
    assert doc["disk"]["free_bytes"] > 0
    s = host_status("h", host_config(health={"min_free_gb": 0}), doc, None, 1.0)
    assert s.problems == [] and s.chain.node_running is True, s.problems

    # no docker socket: the containers are unknown (a warning), never a traceback
    env["DOCKER_SOCKET"] = str(tmp_path / "absent.sock")
    p = subprocess.run([sys.executable, "-", json.dumps(args)], input=source("status_probe.py"),
                       capture_output=True, text=True, env=env, timeout=60)
    s = host_status("h", host_config(health={"min_free_gb": 0}), json.loads(p.stdout), None, 1.0)
    assert s.problems == [] and s.chain.node_running is None, s.problems
    assert any(w.startswith("containers: docker: ") and "absent.sock" in w
               for w in s.warnings), s.warnings


# --- SSH: connection data, and a dead host bounded by the timeout ---------------------------

def test_ssh_argv_uses_the_inventory_connection_data():
    argv = ssh_argv("gpu-01", {"ssh_hostname": "10.0.0.5", "ssh_user": "ubuntu",
                               "ssh_port": 2222, "ssh_key": "/k", "ssh_known_hosts_file":
                               "/dev/null", "ssh_strict_host_key_checking": "off"}, 30)
    assert argv[-1] == "ubuntu@10.0.0.5"
    assert ["-p", "2222"] == argv[argv.index("-p"):argv.index("-p") + 2]
    assert "StrictHostKeyChecking=no" in argv and "UserKnownHostsFile=/dev/null" in argv
    kex = ssh_argv("gpu-01", {}, 30, ("-o", f"KexAlgorithms={STATUS_KEX}"))
    assert kex[kex.index(f"KexAlgorithms={STATUS_KEX}") - 1] == "-o"
    assert remote_command({"a": "b c"}, sudo=True) == "sudo -n python3 - '{\"a\": \"b c\"}'"


def test_the_cheap_key_exchange_goes_first_only_where_the_client_takes_it(tmp_path,
                                                                        monkeypatch):
    kex_options.cache_clear()
    try:
        assert kex_options() == ("-o", f"KexAlgorithms={STATUS_KEX}")  # this machine's OpenSSH
        kex_options.cache_clear()
        old = tmp_path / "ssh"    # an ssh before "^" lists: refuses the option, exit 255
        # readconf.c's words for a list it cannot parse, on a -o option
        old.write_text("#!/bin/sh\necho \"command-line line 0: Bad SSH2 KexAlgorithms "
                       "'${4#KexAlgorithms=}'.\" >&2\nexit 255\n")
        old.chmod(stat.S_IRWXU)
        monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        assert kex_options() == ()
        assert not any("Kex" in word for word in ssh_argv("h", {}, 30, kex_options()))
    finally:
        kex_options.cache_clear()


def test_a_host_that_hangs_times_out_without_holding_the_others(tmp_path, monkeypatch):
    fake = tmp_path / "ssh"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    t0 = time.monotonic()
    doc, error = run_probe("dead", {"ssh_hostname": "192.0.2.1"}, {}, timeout=1.5)
    assert doc is None and error == "no answer within 1.5 s"
    assert time.monotonic() - t0 < 10


def test_probe_is_a_real_file():
    assert (HERE / "status_probe.py").is_file()


def test_status_loads_the_inventory_without_gevent_patching_subprocess():
    code = (
        "import json, sys\n"
        "from gonka_deploy.validate import load_inventory\n"
        "hosts = load_inventory('inventories/prod.py', patch_stdlib=False)\n"
        "import gevent.monkey, subprocess\n"
        "print(json.dumps([[h for h, _ in hosts], gevent.monkey.is_module_patched('subprocess'),"
        " subprocess.Popen.__module__]))\n")
    unpatched = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                          text=True, check=True, cwd=HERE.parents[1]).stdout)
    patched = json.loads(subprocess.run(
        [sys.executable, "-c", code.replace("patch_stdlib=False", "patch_stdlib=True")],
        capture_output=True, text=True, check=True, cwd=HERE.parents[1]).stdout)
    assert unpatched[0] == patched[0] and unpatched[0]           # the same hosts
    assert unpatched[1:] == [False, "subprocess"]
    assert patched[1:] == [True, "gevent.subprocess"]
