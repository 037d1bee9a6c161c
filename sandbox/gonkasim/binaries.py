"""binaries role (machine-side): release files over HTTPS, as GitHub's release downloads serve
the chain upgrade zips.

    python3 -m gonkasim binaries --listen IP:18443 --root DIR [--cert FILE --key FILE]

GET/HEAD of ``/<path>`` serves ``DIR/<path>`` (percent-decoded: ``release%2Fv0.2.15/x.zip`` is
``DIR/release/v0.2.15/x.zip``), honouring ``Range: bytes=N-`` with 206 (and 416 past the end),
so an interrupted download resumes. Without --cert it speaks plain HTTP (tests on loopback).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from gonkasim import common

ROLE = "binaries"
CHUNK = 1 << 16


class FilesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."

    def log_message(self, fmt, *args):
        common.log(ROLE, event="request", line=fmt % args)

    def _file(self) -> str | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = os.path.realpath(os.path.join(self.root, rel))
        if not path.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(path):
            return None
        return path

    def _answer(self, body: bool) -> None:
        path = self._file()
        if path is None:
            data = b"Not Found"
            self.send_response(404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            return
        size = os.path.getsize(path)
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit():
            start = int(rng[6:].split("-")[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as f:
            f.seek(start)
            for block in iter(lambda: f.read(CHUNK), b""):
                self.wfile.write(block)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim binaries", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--root", required=True, help="directory of the release files")
    ap.add_argument("--cert", help="TLS certificate (PEM)")
    ap.add_argument("--key", help="its private key (PEM)")
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"https": 18443}, "https")
    FilesHandler.root = args.root
    srv = common.Server(addrs["https"], FilesHandler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    host, port = srv.server_address[:2]
    common.log(ROLE, event="listening", name="https", addr=f"{host}:{port}")
    threading.Thread(target=srv.serve_forever, name="binaries", daemon=True).start()
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
