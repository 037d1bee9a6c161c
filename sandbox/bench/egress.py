"""An allowlisting HTTP CONNECT proxy (stdlib only), run on the fleet's gateway address.

Sandbox hosts have no route out; with https_proxy=http://<gateway>:3128 they can reach exactly
the allowed host:port pairs (PyPI by default) and get 403 for anything else. Names that are not
allowed are never resolved or connected to.

    python3 egress.py --listen 169.254.200.1:3128 \
        --allow pypi.org:443 --allow files.pythonhosted.org:443
"""

from __future__ import annotations

import argparse
import select
import socket
import socketserver
import sys

IDLE_TIMEOUT = 300        # seconds a tunnel may sit idle before it is closed
CONNECT_TIMEOUT = 15


class Handler(socketserver.StreamRequestHandler):
    allow: frozenset[str] = frozenset()
    rbufsize = 0      # unbuffered: nothing the client sends after its headers is held back

    def reply(self, status: str) -> None:
        self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())

    def handle(self) -> None:
        self.request.settimeout(30)
        try:
            line = self.rfile.readline(8192).decode("latin-1").split()
            while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass                                    # skip the request headers
        except (OSError, UnicodeDecodeError):
            return
        if not line:
            return                                      # a bare TCP probe (readiness check)
        if len(line) != 3 or line[0].upper() != "CONNECT":
            self.reply("405 Method Not Allowed")
            self.log(f"refused {' '.join(line)[:200]!r}: only CONNECT")
            return
        target = line[1].lower()
        if target not in self.allow:
            self.reply("403 Forbidden")
            self.log(f"refused CONNECT {target}")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT)
        except OSError as e:
            self.reply("502 Bad Gateway")
            self.log(f"CONNECT {target} failed: {e}")
            return
        self.log(f"CONNECT {target}")
        with upstream:
            self.reply("200 Connection established")
            self.wfile.flush()
            self.pipe(self.request, upstream)

    def pipe(self, a: socket.socket, b: socket.socket) -> None:
        a.settimeout(None)
        b.settimeout(None)
        peers = {a: b, b: a}
        while True:
            ready, _, _ = select.select(list(peers), [], [], IDLE_TIMEOUT)
            if not ready:
                return
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                peers[s].sendall(data)

    def log(self, msg: str) -> None:
        print(f"{self.client_address[0]} {msg}", file=sys.stderr, flush=True)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024     # the default 5 overflows when a whole fleet starts at once


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="IP:PORT")
    ap.add_argument("--allow", action="append", default=[], help="host:port (repeatable)")
    a = ap.parse_args(argv)
    ip, _, port = a.listen.rpartition(":")
    Handler.allow = frozenset(x.lower() for x in a.allow)
    with Server((ip, int(port)), Handler) as srv:
        print(f"egress proxy on {a.listen}, allowing {sorted(Handler.allow)}",
              file=sys.stderr, flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    main()
