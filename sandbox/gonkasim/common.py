"""Shared plumbing of the simulators: listeners, a small JSON HTTP handler, logging, files."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_print_lock = threading.Lock()


def log(role: str, **fields) -> None:
    """One JSON line on stdout (the container log)."""
    rec = {"t": round(time.time(), 3), "role": role, **fields}
    with _print_lock:
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()


def add_listen_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--bind", default="0.0.0.0", help="host for every listener")
    ap.add_argument("--listen", action="append", default=[], metavar="[NAME=]HOST:PORT")


def listen_addrs(args, defaults: dict[str, int], main: str) -> dict[str, tuple[str, int]]:
    """Resolve the role's listeners: defaults at --bind, overridden by --listen entries."""
    out = {name: (args.bind, port) for name, port in defaults.items()}
    for item in args.listen:
        name, _, addr = item.rpartition("=")
        name = name or main
        if name not in out:
            raise SystemExit(f"unknown listener {name!r}; known: {', '.join(out)}")
        host, _, port = addr.rpartition(":")
        out[name] = (host or args.bind, int(port))
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default accept queue is 5: a fleet of 20 hosts starting downloads at once
    # overflows it (dropped or reset connections); the kernel caps this at somaxconn
    request_queue_size = 1024


def serve(role: str, name: str, addr: tuple[str, int], handler: type) -> Server:
    """Bind, announce the bound address, and serve in a daemon thread."""
    srv = Server(addr, handler)
    host, port = srv.server_address[:2]
    log(role, event="listening", name=name, addr=f"{host}:{port}")
    threading.Thread(target=srv.serve_forever, name=f"{role}-{name}", daemon=True).start()
    return srv


def run_forever(stop: threading.Event | None = None) -> int:
    """Block until SIGTERM/SIGINT (or `stop` is set); daemon threads die with the process."""
    stop = stop or threading.Event()

    def _stop(*_):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.wait(0.5):
        pass
    return 0


class Handler(BaseHTTPRequestHandler):
    """JSON-first request handler: subclasses implement route(method, path, query)."""

    protocol_version = "HTTP/1.1"
    role = "sim"
    extra_headers: dict[str, str] = {}
    quiet_paths: frozenset[str] = frozenset()   # not logged (a node's votes, every second)

    def log_message(self, *args):  # we log JSON lines in reply() instead
        pass

    def _dispatch(self):
        url = urlsplit(self.path)
        self._body_cache: bytes | None = None
        self._status = 0
        try:
            self.route(self.command, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in a sim must show up as a 500, not a hung client
            log(self.role, event="error", path=self.path, error=repr(exc))
            if not self._status:
                self.reply(500, {"error": repr(exc)})

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def route(self, method: str, path: str, query: dict) -> None:
        self.reply(404, {"error": "not found"})

    def body(self) -> bytes:
        if self._body_cache is None:
            n = int(self.headers.get("Content-Length") or 0)
            self._body_cache = self.rfile.read(n) if n else b""
        return self._body_cache

    def json_body(self):
        raw = self.body()
        return json.loads(raw) if raw.strip() else None

    def reply(self, status: int, payload=None, ctype: str | None = None, headers=None) -> None:
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            ctype = ctype or "text/plain; charset=utf-8"
        else:
            data = json.dumps(payload).encode() if payload is not None else b""
            ctype = ctype or "application/json"
        self.body()  # drain the request body so keep-alive stays in sync
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in {**self.extra_headers, **(headers or {})}.items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if urlsplit(self.path).path in self.quiet_paths:
            return
        log(self.role, method=self.command, path=self.path, status=status,
            port=self.server.server_address[1])


def http(method: str, url: str, body=None, timeout: float = 5.0, headers=None):
    """Small urllib client: returns (status, parsed JSON or text); (0, error) when unreachable."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _decode(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read())
    except (OSError, ValueError) as exc:
        return 0, str(exc)


def _decode(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def atomic_write(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write via a temp file + rename so readers never see half a file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_json(path: str, obj, mode: int = 0o644) -> None:
    atomic_write(path, json.dumps(obj, indent=2) + "\n", mode)


def read_json(path: str, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def image_tag(default: str = "dev") -> str:
    """Tag of the image this container runs (env GONKASIM_IMAGE, set by the docker shim)."""
    image = os.environ.get("GONKASIM_IMAGE", "")
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        return name.rsplit(":", 1)[1]
    return default


def serve_tcp_sink(role: str, name: str, addr: tuple[str, int]):
    """A listener that accepts and closes connections (a stand-in for a p2p port)."""
    import socket

    sock = socket.create_server(addr, reuse_port=False)
    host, port = sock.getsockname()[:2]
    log(role, event="listening", name=name, addr=f"{host}:{port}")

    def loop():
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            log(role, event="p2p-connect", peer=f"{peer[0]}:{peer[1]}")
            conn.close()

    threading.Thread(target=loop, name=f"{role}-{name}", daemon=True).start()
    return sock


def wait_until(check, timeout: float, interval: float = 0.2):
    """Poll `check()` until it returns a truthy value or the deadline passes (then None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
