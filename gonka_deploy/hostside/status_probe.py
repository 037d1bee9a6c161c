"""Everything ``gonka-deploy status`` shows of one host, gathered on the host in one run.

    python3 - ARGS_JSON            (the program on stdin; as root: the docker socket, nvidia-smi)
    python3 status_probe.py --serve HOST:PORT ARGS_JSON
                                   (the alert exporter: the same readings as Prometheus metrics)

Stdlib only. Every reading runs in its own thread with a short timeout; a reading that fails
sets its ``error`` and never stops the others. It prints one JSON document (the fields of
``gonka_deploy.status.Probe``); it reads, it never writes.

ARGS_JSON keys: join_dir, data_mount, api_port (the proxy: ``/v1/versions``), seed_api_url,
account_address (the cold account: the participant), rpc_url, admin_url, timeout (s),
clone_path and clone_files (repo paths to hash for release drift), seed_ttl (s, the exporter
caches the seed's answers that long).

Sources: the chain RPC ``/status`` (CometBFT), the seed's ``/chain-rpc/status`` (the network's
height), the api's ``GET /v1/versions`` (decentralized-api internal/server/public/
app_info_handlers.go), the node's application version (CometBFT RPC ``/abci_info``
``response.version``, what cosmovisor's ``current`` binary runs), the seed api's
``/v2/participants/<address>`` (``current_epoch_stats{inference_count, missed_requests}``)
and ``/v1/epochs/current/participants`` (``active_participants.participants[]{index, weight}``),
the admin api's ``GET /admin/v1/nodes`` (``[{node, state}]``, broker.go), the compose
project's containers (Docker Engine API on its socket: images, running, started),
``nvidia-smi --query-gpu`` and ``statvfs`` of the data mount.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DOCKER_SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
# admin api current_status values that mean the ML node does its work (hardware_node.proto)
SERVING = ("INFERENCE", "POC", "TRAINING")


def get_json(url: str, timeout: float):
    """(document, None) or (None, the reason)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read(4 << 20)
    except urllib.error.HTTPError as exc:
        return None, f"{url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, "{}: {}".format(url, getattr(exc, "reason", exc))
    try:
        return json.loads(raw), None
    except ValueError:
        return None, f"{url}: not JSON"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def docker_get(path: str, timeout: float):
    """(document, None) or (None, the reason): GET on the Docker Engine API socket."""
    conn = _UnixConnection(DOCKER_SOCKET, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        raw = resp.read(16 << 20)
    except OSError as exc:
        return None, f"{DOCKER_SOCKET}: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        text = short(raw.decode(errors="replace"))
        return None, f"{path.split('?')[0]}: HTTP {resp.status} {text}"
    try:
        return json.loads(raw), None
    except ValueError:
        return None, f"{path}: not JSON"


def run(argv: list[str], timeout: float, cwd: str | None = None):
    """(rc, stdout, stderr); rc 124 on a timeout, 127 when the program is missing."""
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return 127, "", str(exc)
    return p.returncode, p.stdout, p.stderr


def short(text: str, n: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + "..."


def block_time(stamp: str) -> float:
    """CometBFT's RFC 3339 time with nanoseconds -> epoch seconds."""
    stamp = stamp.replace("Z", "+00:00")
    if "." in stamp:
        head, tail = stamp.split(".", 1)
        digits = tail[:len(tail) - len(tail.lstrip("0123456789"))]
        stamp = head + "." + digits[:6].ljust(6, "0") + tail[len(digits):]
    return datetime.datetime.fromisoformat(stamp).timestamp()


def status_height(doc) -> int:
    return int(doc.get("result", doc)["sync_info"]["latest_block_height"])


class Probe:
    def __init__(self, args: dict):
        self.a = args
        self.t = float(args.get("timeout", 5))

    # --- chain ---
    def chain(self) -> dict:
        out = {"height": None, "catching_up": None, "block_age_s": None, "error": None}
        doc, err = get_json(self.a.get("rpc_url", "http://127.0.0.1:26657") + "/status", self.t)
        if err:
            out["error"] = err
            return out
        info = doc.get("result", doc).get("sync_info", {})
        out["height"] = int(info.get("latest_block_height") or 0)
        out["catching_up"] = bool(info.get("catching_up"))
        try:
            out["block_age_s"] = round(time.time() - block_time(info["latest_block_time"]), 1)
        except (KeyError, ValueError, TypeError):
            out["error"] = "no readable latest_block_time"
        return out

    def seed_height(self) -> dict:
        url = self.a["seed_api_url"].rstrip("/") + "/chain-rpc/status"
        doc, err = get_json(url, self.t)
        try:
            return {"height": status_height(doc) if doc else None, "error": err}
        except (KeyError, TypeError, ValueError):
            return {"height": None, "error": f"{url}: no latest_block_height"}

    def containers(self) -> dict:
        """Every container of the compose project in join_dir (running or not): service ->
        {id, image, running, started_at}. Docker Engine API on its socket (GET /containers/json
        with compose's label com.docker.compose.project.working_dir, then /containers/<id>/json):
        no docker CLI process, a fraction of the CPU of `docker ps` + `docker inspect`."""
        label = "com.docker.compose.project.working_dir=" + self.a["join_dir"]
        query = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": [label]})})
        listed, err = docker_get("/containers/json?" + query, self.t * 2)
        if err:
            return {"services": {}, "error": f"docker: {err}"}
        services = {}
        for item in listed:
            c, err = docker_get(f"/containers/{item['Id']}/json", self.t * 2)
            if err:
                return {"services": {}, "error": f"docker: {err}"}
            labels = (c.get("Config") or {}).get("Labels") or {}
            state = c.get("State") or {}
            services[labels.get("com.docker.compose.service", c.get("Name", "?"))] = {
                "id": c.get("Id"), "image": (c.get("Config") or {}).get("Image"),
                "running": bool(state.get("Running")), "started_at": state.get("StartedAt")}
        return {"services": services, "error": None}

    # --- binaries ---
    def versions(self) -> dict:
        """The running node's application version (CometBFT RPC /abci_info response.version:
        what cosmovisor's current binary reports), and the api's /v1/versions."""
        out = {"node_binary": None, "api": None, "node": None, "error": None}
        errors = []
        doc, err = get_json(self.a.get("rpc_url", "http://127.0.0.1:26657") + "/abci_info",
                            self.t)
        if doc:
            out["node_binary"] = ((doc.get("result") or doc).get("response") or {}).get("version")
        if err:
            errors.append(err)
        url = "http://127.0.0.1:{}/v1/versions".format(self.a.get("api_port", 8000))
        doc, err = get_json(url, self.t)
        if doc:
            out["api"] = (doc.get("api_version") or {}).get("version")
            out["node"] = (doc.get("node_version") or {}).get("version")
        if err:
            errors.append(err)
        out["error"] = "; ".join(errors) or None
        return out

    # --- participation (the seed api) ---
    def participant(self) -> dict:
        url = "{}/v2/participants/{}".format(self.a["seed_api_url"].rstrip("/"),
                                         self.a["account_address"])
        out = {"registered": None, "status": None, "inference_count": None,
               "missed_requests": None, "error": None}
        try:
            with urllib.request.urlopen(url, timeout=self.t) as resp:
                doc = json.loads(resp.read(1 << 20))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                out["registered"] = False
            else:
                out["error"] = f"{url}: HTTP {exc.code}"
            return out
        except (OSError, ValueError) as exc:
            out["error"] = "{}: {}".format(url, getattr(exc, "reason", exc))
            return out
        p = doc.get("participant") or {}
        stats = p.get("current_epoch_stats") or {}
        out.update(registered=True, status=p.get("status"),
                   inference_count=int(stats.get("inference_count") or 0),
                   missed_requests=int(stats.get("missed_requests") or 0))
        return out

    def epoch(self) -> dict:
        url = self.a["seed_api_url"].rstrip("/") + "/v1/epochs/current/participants"
        doc, err = get_json(url, self.t)
        if err:
            return {"epoch_id": None, "in_epoch": None, "weight": None, "error": err}
        active = doc.get("active_participants") or {}
        mine = [p for p in active.get("participants") or []
                if p.get("index") == self.a["account_address"]]
        # an int in the document whether the api sends 7 or "7" (proto JSON's 64-bit ints)
        epoch_id = active.get("epoch_id")
        return {"epoch_id": None if epoch_id is None else int(epoch_id), "in_epoch": bool(mine),
                "weight": int(mine[0].get("weight") or 0) if mine else None, "error": None}

    # --- ML nodes ---
    def mlnodes(self) -> dict:
        url = self.a.get("admin_url", "http://127.0.0.1:9200") + "/admin/v1/nodes"
        doc, err = get_json(url, self.t)
        if err:
            return {"nodes": [], "error": err}
        nodes = []
        for entry in doc if isinstance(doc, list) else []:
            node, st = entry.get("node") or {}, entry.get("state") or {}
            status = st.get("current_status") or "UNKNOWN"
            enabled = (st.get("admin_state") or {}).get("enabled", True)
            nodes.append({"id": node.get("id"), "state": status, "enabled": enabled,
                          "serving": status in SERVING and enabled is not False,
                          "version": st.get("ml_node_version") or None,
                          "models": sorted(node.get("models") or {}),
                          "failure_reason": short(st.get("failure_reason") or "") or None})
        return {"nodes": nodes, "error": None}

    # --- the machine ---
    def gpus(self) -> dict:
        rc, out, err = run(["nvidia-smi", "--query-gpu=name,memory.total",
                            "--format=csv,noheader,nounits"], self.t * 2)
        if rc:
            return {"count": None, "names": [], "error": f"nvidia-smi: rc {rc} {short(err or out)}"}
        names = [line.split(",")[0].strip() for line in out.splitlines() if line.strip()]
        return {"count": len(names), "names": sorted(set(names)), "error": None}

    def disk(self) -> dict:
        path = self.a.get("data_mount", "/")
        try:
            fs = os.statvfs(path)
        except OSError as exc:
            return {"path": path, "free_bytes": None, "total_bytes": None, "error": str(exc)}
        return {"path": path, "free_bytes": fs.f_bavail * fs.f_frsize,
                "total_bytes": fs.f_blocks * fs.f_frsize, "error": None}

    def clone(self) -> dict:
        """HEAD of the clone and the sha256 of the release files (drift, as roles/release)."""
        path = self.a.get("clone_path")
        if not path or not os.path.isdir(path):
            return {"head": None, "sha256": {}, "error": None}
        rc, out, _ = run(["git", "-C", path, "rev-parse", "HEAD"], self.t)
        sums = {}
        for rel in self.a.get("clone_files") or []:
            try:
                with open(os.path.join(path, rel), "rb") as f:
                    sums[rel] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                pass
        return {"head": out.strip() if rc == 0 else None, "sha256": sums, "error": None}

    READINGS = ("chain", "seed_height", "containers", "versions", "participant", "epoch",
                "mlnodes", "gpus", "disk", "clone")

    def all(self, names=READINGS) -> dict:
        def one(name):
            start = time.monotonic()
            try:
                out = getattr(self, name)()
            except Exception as exc:  # a reading that breaks is an error, never a traceback
                out = {"error": f"{name}: {type(exc).__name__}: {exc}"}
            out["took_s"] = round(time.monotonic() - start, 2)
            return out

        with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
            futures = {name: pool.submit(one, name) for name in names}
            return {name: f.result() for name, f in futures.items()}


# --- the alert exporter ----------------------------------------------------------------------

# What the exporter reads on a scrape: no docker, no clone (the container has neither).
EXPORTED = ("chain", "participant", "epoch", "mlnodes", "gpus", "disk")
SEED_READINGS = ("participant", "epoch")


def metrics(doc: dict) -> str:
    """Prometheus text exposition (0.0.4) of the readings the alert rules use."""
    rows = []

    def add(name, help_, value, labels=""):
        if value is None:
            return
        first = not any(r[1] == name for r in rows)
        header = f"# HELP {name} {help_}\n# TYPE {name} gauge\n" if first else ""
        rows.append((header, name, labels, value))

    chain, part, epoch = doc.get("chain", {}), doc.get("participant", {}), doc.get("epoch", {})
    add("gonka_chain_rpc_up", "1 when the node's chain RPC answered.",
        int(chain.get("height") is not None))
    add("gonka_chain_height", "Latest block height of the node.", chain.get("height"))
    add("gonka_chain_block_age_seconds", "Age of the node's latest block.",
        chain.get("block_age_s"))
    if chain.get("catching_up") is not None:
        add("gonka_chain_catching_up", "1 while the node catches up.", int(chain["catching_up"]))
    add("gonka_seed_up", "1 when the seed api answered.",
        int(not (part.get("error") or epoch.get("error"))))
    if part.get("registered") is not None:
        add("gonka_participant_registered", "1 when the seed api knows the participant.",
            int(part["registered"]))
    if epoch.get("in_epoch") is not None:
        add("gonka_participant_in_epoch", "1 when the participant is in the current epoch.",
            int(epoch["in_epoch"]))
    add("gonka_participant_epoch_weight", "Weight in the current epoch.", epoch.get("weight"))
    add("gonka_participant_missed_requests", "Missed requests in the current epoch.",
        part.get("missed_requests"))
    add("gonka_participant_inference_count", "Inferences in the current epoch.",
        part.get("inference_count"))
    ml = doc.get("mlnodes", {})
    add("gonka_admin_api_up", "1 when the admin api answered.", int(not ml.get("error")))
    for node in ml.get("nodes") or []:
        add("gonka_mlnode_serving", "1 when the api reports the ML node serving.",
            int(node["serving"]), '{mlnode="' + str(node["id"]) + '"}')
    gpus = doc.get("gpus", {})
    add("gonka_gpus_seen", "GPUs nvidia-smi lists (0 when it fails).", gpus.get("count") or 0)
    disk = doc.get("disk", {})
    add("gonka_data_free_bytes", "Free bytes on the data mount.", disk.get("free_bytes"))
    add("gonka_data_size_bytes", "Size of the data mount.", disk.get("total_bytes"))
    return "".join("{}{}{} {}\n".format(*row) for row in rows)


class Exporter:
    """Serves /metrics; the seed's answers are cached seed_ttl seconds (a fleet of hosts
    scraped every 15 s would otherwise ask the seed several times a second)."""

    def __init__(self, args: dict):
        self.probe = Probe(args)
        self.ttl = float(args.get("seed_ttl", 60))
        self.cache: dict = {}
        self.lock = threading.Lock()

    def read(self) -> dict:
        now = time.monotonic()
        with self.lock:
            fresh = {k: v for k, (at, v) in self.cache.items() if now - at < self.ttl}
        names = tuple(n for n in EXPORTED if n not in fresh)
        doc = {**fresh, **self.probe.all(names)}
        with self.lock:
            for name in SEED_READINGS:
                if name in names and not doc[name].get("error"):
                    self.cache[name] = (now, doc[name])
        return doc


def serve(listen: str, args: dict) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    exporter = Exporter(args)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics(exporter.read()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):  # scrapes every 15 s: no access log
            pass

    host, _, port = listen.rpartition(":")
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        serve(argv[1], json.loads(argv[2]))
        return 0
    print(json.dumps(Probe(json.loads(argv[0])).all(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
