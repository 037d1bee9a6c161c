"""Published ports: `python3 -m gonkasim.docker.forward SPEC.json`, one process per container.

Runs in the host's network namespace, listens on each published ip:port and relays every
connection to the container's address:port (what docker-proxy does). Writes `ready` or
`error: ...` to the status file named in the spec once all listeners are bound.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relay(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    t.start()
    _pipe(client, upstream)
    t.join()
    client.close()
    upstream.close()


def _serve(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, target), daemon=True).start()


def _status(spec: dict, text: str) -> None:
    path = spec["status"]
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        spec = json.load(f)
    listeners = []
    for p in spec["ports"]:
        host_ip = p["host_ip"] or "0.0.0.0"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip, int(p["published"])))
        except OSError:
            _status(spec, f"error: Bind for {host_ip}:{p['published']} failed: "
                          "port is already allocated")
            return 1
        s.listen(128)
        listeners.append((s, (spec["addr"], int(p["target"]))))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for s, target in listeners:
        threading.Thread(target=_serve, args=(s, target), daemon=True).start()
    _status(spec, "ready")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
