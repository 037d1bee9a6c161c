"""explorer role: a small HTML dashboard on 5173 (the real one is a JS app)."""

from __future__ import annotations

import argparse
import html
import sys

from gonkasim import common

ROLE = "explorer"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gonka Dashboard</title></head>
<body><h1>Gonka Dashboard</h1>
<p>gonkasim explorer {tag}. Chain data: <code>/chain-rpc/status</code>,
participants: <code>/v1/epochs/current/participants</code>.</p>
</body></html>
"""


class ExplorerHandler(common.Handler):
    role = ROLE

    def route(self, method, path, query):
        if method not in ("GET", "HEAD"):
            return self.reply(405, "method not allowed\n")
        self.reply(200, PAGE.format(tag=html.escape(common.image_tag("latest"))),
                   "text/html; charset=utf-8")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim explorer")
    common.add_listen_args(ap)
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"http": 5173}, "http")
    common.serve(ROLE, "http", addrs["http"], ExplorerHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
