"""`gonka-deploy status` and the alerts, for real, on three converged sandbox hosts.

One module-scoped scenario: three hosts converge (Prometheus, the rules, Alertmanager and the
gonka exporter included, the webhook receiver a small HTTP server on the fleet's gateway, rule
windows kept short through group data); `status` shows every field of each and exits 0; the
node of one is stopped: `status` exits 1 naming that host and why, the others stay healthy, and
the chain-stalled alert for it reaches the webhook within the rule's window. A second host
alerts to Telegram (Alertmanager's telegram_configs, its api_url pointed at the same machine-side
server): the bot token comes from the environment, sits only in the host's 0600 alertmanager.yml
and reaches the "Telegram API" in the request path, as Telegram's bot API wants it. `status` for
1 and for 20 inventory entries is measured (figures printed, not asserted: every sandbox host
shares this machine's two cores). No output carries a secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REPO
from tests.leaks import leaks

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
JOIN = "/mnt/ssd/gonka/deploy/join"
# short windows: a stalled chain is said within WINDOW seconds
HEALTH = {"min_free_gb": 0, "max_block_age_s": 20, "alert_for": "0s", "target_down_for": "20s"}
INTERVAL_S, GROUP_WAIT_S = 5, 2
WINDOW = HEALTH["max_block_age_s"] + 2 * INTERVAL_S + GROUP_WAIT_S + 15   # + scheduling slack


TOKEN = f"7000000001:AAE-sandbox-{secrets.token_hex(12)}"


class Receiver(BaseHTTPRequestHandler):
    got: list = []        # (time, webhook document)
    telegram: list = []   # (time, path, body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/tg/"):
            self.telegram.append((time.monotonic(), self.path, body.decode("utf-8", "replace")))
            reply = {"ok": True, "result": {"message_id": len(self.telegram), "date": 0,
                                            "chat": {"id": -1001, "type": "group"}}}
        else:
            self.got.append((time.monotonic(), json.loads(body or b"{}")))
            reply = {}
        raw = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_):
        pass


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    hosts = fleet.add(3, prefix="st", docker=True)
    server = ThreadingHTTPServer((fleet.gateway, 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://{fleet.gateway}:{server.server_address[1]}"
    hook = f"{origin}/alerts"
    base = tmp_path_factory.mktemp("status")
    group = sandbox_network["group_data"]
    env = dict(os.environ, GONKA_STATE_DIR=str(base / "nodes"),
               GONKA_SECRETS_DIR=str(base / "no-secrets"))
    env.pop("GONKA_KEYRING_PASSWORD", None)
    entries, passwords = [], []
    for h in hosts:
        key = f"st-{h.name}"
        password = f"st-Keyring-{secrets.token_hex(8)}"
        passwords.append(password)
        env["GONKA_KEYRING_PASSWORD_" + key.upper().replace("-", "_")] = password
        entries.append((h.name, {
            **h.ssh_data("ubuntu"), **group, "key_name": key, "public_host": h.address,
            "account_pubkey": base64.b64encode(b"\x02" + secrets.token_bytes(32)).decode(),
            "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [sandbox_network["model"]]}],
            "health": HEALTH,
            # over the group's (the exporter's image re-pinned to its stand-in)
            "alerting": {**group.get("alerting", {}),
                         "webhook_urls": [hook], "group_wait": f"{GROUP_WAIT_S}s",
                         "group_interval": "5s", "evaluation_interval": f"{INTERVAL_S}s"}}))
    # the second host also alerts to "Telegram"; its token only in the environment
    entries[1][1]["alerting"]["telegram"] = {"chat_id": -1001, "api_url": f"{origin}/tg"}
    env["GONKA_TELEGRAM_BOT_TOKEN_" + entries[1][1]["key_name"].upper().replace("-", "_")] = \
        TOKEN
    inventory = base / "inv" / "st.py"
    inventory.parent.mkdir()
    inventory.write_text(f"st_hosts = {entries!r}\n")
    yield {"hosts": hosts, "entries": entries, "inventory": inventory, "env": env,
           "base": base, "passwords": passwords, "outputs": {}}
    server.shutdown()
    fleet.remove(hosts)


def status(scenario, *args, inventory=None, timeout=300) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "gonka_deploy.cli", "status",
                        str(inventory or scenario["inventory"]), *args], cwd=REPO,
                       env=scenario["env"], capture_output=True, text=True, timeout=timeout)
    scenario["outputs"][f"status {' '.join(args)} {time.monotonic()}"] = p.stdout + p.stderr
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def test_three_hosts_converge_with_alerting(scenario):
    p = subprocess.run([sys.executable, "-m", "pyinfra", str(scenario["inventory"]),
                        str(DEPLOY), "-y"], cwd=REPO, env=scenario["env"],
                       capture_output=True, text=True, timeout=1800)
    scenario["outputs"]["apply"] = p.stdout + p.stderr
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    host = scenario["hosts"][0]
    ps = host.run("cd /mnt/ssd/monitoring && docker compose ps --format '{{.Service}} {{.State}}'")
    for service in ("prometheus", "alertmanager", "gonka-exporter", "node-exporter"):
        assert f"{service} running" in ps, ps
    # the alert rules are loaded and the exporter is scraped
    rules = json.loads(host.run("curl -s 127.0.0.1:9090/api/v1/rules"))
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"GonkaChainStalled", "GonkaNotInEpoch", "GonkaMLNodeNotServing", "GonkaDataDiskLow",
            "GonkaGpuMissing", "GonkaCatchingUpTooLong", "ScrapeTargetDown"} <= names
    # the exporter runs unprivileged (issue 20), sees only its program and the statvfs
    # directory, and still reads what the rules need
    cid = host.run("cd /mnt/ssd/monitoring && docker compose ps -q gonka-exporter").strip()
    (info,) = json.loads(host.run(f"docker inspect {cid}"))
    hc = info["HostConfig"]
    assert info["Config"]["User"] == "65534:65534" and hc["ReadonlyRootfs"] is True
    assert hc["CapDrop"] == ["ALL"] and "no-new-privileges:true" in hc["SecurityOpt"]
    assert "@sha256:" in info["Config"]["Image"]
    assert sorted((m["Source"].rsplit("/", 1)[-1], m["Destination"], m["RW"])
                  for m in info["Mounts"]) == [("exporter-statvfs", "/mnt/ssd", False),
                                               ("status_probe.py", "/exporter/status_probe.py",
                                                False)]
    metrics = host.run("curl -s 127.0.0.1:9102/metrics")
    assert "gonka_gpus_seen 1" in metrics, metrics
    assert "gonka_chain_height " in metrics and "gonka_data_size_bytes " in metrics, metrics


def test_status_shows_every_field_of_three_healthy_hosts(scenario):
    rc, out, err, took = status(scenario, "--json")
    assert rc == 0, out[-4000:] + err[-3000:]
    fleet = json.loads(out)
    assert fleet["healthy"] and len(fleet["hosts"]) == 3
    for h in fleet["hosts"]:
        assert h["reachable"] and h["healthy"] and h["problems"] == [], h
        c = h["chain"]
        assert c["height"] > 0 and c["seed_height"] > 0 and c["lag"] is not None
        assert c["catching_up"] is False and c["node_running"] is True
        assert h["versions"]["node_binary"] and h["versions"]["api"] and h["versions"]["node"]
        p = h["participant"]
        assert p["registered"] is True and p["in_epoch"] is True
        assert p["weight"] is not None and p["epoch_id"] is not None
        assert p["missed_pct"] is not None and p["inference_count"] is not None
        (ml,) = h["mlnodes"]
        assert ml["id"] == "node1" and ml["serving"] and ml["state"] == "INFERENCE"
        assert ml["image"] and ml["version"] and ml["models"], ml
        assert h["gpus"] == {"seen": 1, "expected": 1, "names": h["gpus"]["names"]}
        assert h["disk"]["free_gb"] is not None and h["disk"]["total_gb"] > 0
        assert h["last_apply"] and h["last_apply"]["changes"] > 0
        assert isinstance(h["drift"], list)
    rc, out, err, _ = status(scenario)
    assert rc == 0 and "3 of 3 host(s) healthy" in out, out + err
    for name, _data in scenario["entries"]:
        assert name in out


def test_status_of_1_and_of_20(scenario):
    """Figures: one inventory entry, and 20 (the three hosts, each under several names: the
    host side does 7 times the work it does for one, the controller 20 SSH sessions)."""
    base = scenario["base"]
    entries = scenario["entries"]
    one = base / "inv" / "one.py"
    one.write_text(f"one_hosts = {entries[:1]!r}\n")
    many = []
    for i in range(20):
        name, data = entries[i % len(entries)]
        many.append((f"{name}-as-{i:02d}", {**data, "key_name": f"{data['key_name']}-{i:02d}",
                                          "public_host": f"alias-{i}.sandbox"}))
    twenty = base / "inv" / "twenty.py"
    twenty.write_text(f"twenty_hosts = {many!r}\n")
    rc1, _, err1, t1 = status(scenario, inventory=one)
    rc20, out20, err20, t20 = status(scenario, "--json", inventory=twenty)
    assert rc1 == 0 and rc20 == 0, err1 + out20 + err20
    probes = sorted(h["elapsed_s"] for h in json.loads(out20)["hosts"])
    rc, out, _, _ = status(scenario, "--json", inventory=one)
    print("\none host's readings:", {k: v.get("took_s") for k, v in
                                     json.loads(out)["hosts"][0].get("readings", {}).items()})
    print(f"\nstatus: 1 host {t1:.1f} s, 20 hosts {t20:.1f} s (ratio {t20 / t1:.2f}); per host "
          f"probe {probes[0]:.1f}-{probes[-1]:.1f} s")
    # Every entry answered, healthy. No timed assertion: all sandbox hosts share this machine's
    # cores, so 20 probes cost it 20 probes' CPU (on a fleet each host runs its own); the
    # figures are printed for the report.
    assert all(h["reachable"] and h["healthy"] for h in json.loads(out20)["hosts"])


def test_stopped_node_is_named_and_its_alert_reaches_the_webhook(scenario):
    victim = scenario["hosts"][0]
    Receiver.got.clear()
    victim.run(f"cd {JOIN} && docker compose stop node", timeout=180)
    stopped = time.monotonic()
    rc, out, err, _ = status(scenario)
    assert rc == 1, out + err
    assert f"{victim.name} unhealthy: " in err and "node container not running" in err, err
    assert "2 of 3 host(s) healthy" in out
    for other in scenario["hosts"][1:]:
        assert f"{other.name} unhealthy" not in err
    key = f"st-{victim.name}"
    deadline = stopped + WINDOW
    fired = None
    while time.monotonic() < deadline and fired is None:
        for at, doc in list(Receiver.got):
            for alert in doc.get("alerts", []):
                labels = alert.get("labels", {})
                if (labels.get("alertname") == "GonkaChainStalled"
                        and labels.get("key_name") == key and alert.get("status") == "firing"):
                    fired = at
        time.sleep(0.5)
    assert fired is not None, f"no GonkaChainStalled for {key} within {WINDOW} s: " \
        f"{[d for _, d in Receiver.got]}"
    print(f"\nchain-stalled alert reached the webhook {fired - stopped:.1f} s after the stop "
          f"(window {WINDOW} s)")
    others = {a["labels"].get("key_name") for _, d in Receiver.got for a in d.get("alerts", [])
              if a["labels"].get("alertname") == "GonkaChainStalled"}
    assert others == {key}, others


def test_telegram_token_stays_in_the_secret_file_and_reaches_telegram(scenario):
    host = scenario["hosts"][1]
    mon = "/mnt/ssd/monitoring"
    assert host.run(f"stat -c '%a %U' {mon}/alertmanager.yml").strip() == "600 nobody"
    assert scenario["hosts"][2].run(f"stat -c '%a' {mon}/alertmanager.yml").strip() == "644"
    # a dry run with diffs of that host: the file is compared by hash, nothing leaks
    p = subprocess.run([sys.executable, "-m", "pyinfra", str(scenario["inventory"]), str(DEPLOY),
                        "--dry", "-v", "--diff", "--limit", host.name], cwd=REPO,
                       env=scenario["env"], capture_output=True, text=True, timeout=900)
    scenario["outputs"]["dry run with diffs"] = p.stdout + p.stderr
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    Receiver.telegram.clear()
    host.run(f"cd {JOIN} && docker compose stop node", timeout=180)
    stopped = time.monotonic()
    sent = None
    while time.monotonic() < stopped + WINDOW and sent is None:
        sent = next((t for t in list(Receiver.telegram) if "GonkaChainStalled" in t[2]), None)
        time.sleep(0.5)
    assert sent is not None, f"nothing sent to Telegram within {WINDOW} s: {Receiver.telegram}"
    at, path, body = sent
    assert path == f"/tg/bot{TOKEN}/sendMessage", path
    assert f"st-{host.name}" in body and "-1001" in body
    print(f"\nTelegram message {at - stopped:.1f} s after the stop")


def test_no_secret_in_any_output(scenario):
    found = leaks(scenario["outputs"], {**{f"keyring password {i}": p
                                           for i, p in enumerate(scenario["passwords"])},
                                        "telegram bot token": TOKEN})
    assert found == [], found
