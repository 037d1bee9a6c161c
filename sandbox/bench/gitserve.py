"""The sandbox's git daemon behind a listening socket with a deep accept queue.

`git daemon --listen` listens with a backlog of 5 (`ss -ltn` shows Send-Q 5): when 20 hosts
clone at once on a busy machine, connections beyond the queue are dropped or reset. Here the
socket listens with BACKLOG and each connection is handed to the real `git daemon --inetd`
(stdin/stdout the connection), as inetd would.

    python3 -m sandbox.bench.gitserve --listen 169.254.200.1:9418 --base-path DIR
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

BACKLOG = 1024       # the kernel caps it at net.core.somaxconn (4096 here)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="IP:PORT")
    ap.add_argument("--base-path", required=True)
    args = ap.parse_args(argv)
    ip, _, port = args.listen.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((ip, int(port)))
        srv.listen(BACKLOG)
        print(f"git daemon (inetd mode) on {args.listen}, backlog {BACKLOG}", file=sys.stderr,
              flush=True)
        children: list[subprocess.Popen] = []
        while True:
            conn, _ = srv.accept()
            children = [c for c in children if c.poll() is None]    # finished ones reaped
            with conn:
                children.append(subprocess.Popen(["git", "daemon", "--inetd", "--export-all",
                                  f"--base-path={args.base_path}", "--log-destination=stderr"],
                                 stdin=conn.fileno(), stdout=conn.fileno(), close_fds=True,
                                 cwd=args.base_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
