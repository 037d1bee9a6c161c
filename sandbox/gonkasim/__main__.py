"""Entry point: `python3 -m gonkasim <role> [options]`.

Roles: node, tmkms, api, proxy, explorer, mlnode, idle (container roles, run by the docker
shim) and seed, hf, binaries (machine-side). `python3 -m gonkasim <role> --help` lists a
role's options.

Addresses. Container roles listen on 0.0.0.0 at their container ports by default. For tests on
the machine every role accepts:
  --bind HOST              host for all of the role's listeners (default 0.0.0.0)
  --listen [NAME=]HOST:PORT  one listener; without NAME it is the role's main one. PORT 0 picks
                           a free port.
Each listener prints one JSON line `{"event": "listening", "role", "name", "addr": "H:P"}` on
stdout once it is bound; every request then logs one JSON line on stdout.
Listener names: node rpc/p2p/rest/metrics, api public/ml/admin, proxy http/https, explorer http,
mlnode management/inference, seed http, hf http, binaries https.
"""

from __future__ import annotations

import importlib
import sys

ROLES = {
    "node": "gonkasim.node",
    "tmkms": "gonkasim.tmkms",
    "api": "gonkasim.api",
    "proxy": "gonkasim.proxy",
    "explorer": "gonkasim.explorer",
    "mlnode": "gonkasim.mlnode",
    "idle": "gonkasim.idle",
    "seed": "gonkasim.seed",
    "hf": "gonkasim.hf",
    "binaries": "gonkasim.binaries",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ROLES:
        print(f"usage: python3 -m gonkasim {{{','.join(ROLES)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(ROLES[argv[0]])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
