"""proxy role: the nginx front door of a host (port 80; 443 answers plain HTTP as a placeholder).

    python3 -m gonkasim proxy [--api-url http://api:9000] [--rpc-url http://node:26657]
                              [--rest-url http://node:1317] [--explorer-url http://explorer:5173]

/health -> "ok"; /v1/* and /api/v1/* -> api (path unchanged); /chain-rpc/* -> node RPC and
/chain-api/* -> node REST (prefix stripped) only when DISABLE_CHAIN_RPC / DISABLE_CHAIN_API are
"false" (default true: 404, as since v0.2.8); everything else -> explorer dashboard.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

from gonkasim import common

ROLE = "proxy"
HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class ProxyHandler(common.Handler):
    role = ROLE
    upstreams: dict[str, str] = {}
    env: dict = {}

    def route(self, method, path, query):
        full = self.path
        if path == "/health":
            return self.reply(200, "ok\n")
        if path.startswith(("/v1/", "/api/v1/", "/v2/")):
            return self.forward(self.upstreams["api"] + full)
        for prefix, name, var in (("/chain-rpc/", "rpc", "DISABLE_CHAIN_RPC"),
                                  ("/chain-api/", "rest", "DISABLE_CHAIN_API")):
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                if self.env.get(var, "true") != "false":
                    return self.reply(404, "404 Not Found\n")
                return self.forward(self.upstreams[name] + "/" + full[len(prefix):])
        return self.forward(self.upstreams["explorer"] + full)

    def forward(self, url: str):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        data = self.body() if self.command in ("POST", "PUT", "PATCH", "DELETE") else None
        req = urllib.request.Request(url, data=data, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, body, rh = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, body, rh = exc.code, exc.read(), exc.headers
        except OSError as exc:
            common.log(ROLE, event="upstream-error", url=url, error=str(exc))
            return self.reply(502, "502 Bad Gateway\n")
        extra = {k: v for k, v in rh.items() if k.lower() not in HOP | {"content-type",
                                                                          "server", "date"}}
        self.reply(status, body, rh.get("Content-Type", "application/octet-stream"), extra)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim proxy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    port = os.environ.get("GONKA_API_PORT") or os.environ.get("API_PORT_INTERNAL") or "9000"
    ap.add_argument("--api-url", default=f"http://api:{port}")
    ap.add_argument("--rpc-url", default="http://node:26657")
    ap.add_argument("--rest-url", default="http://node:1317")
    ap.add_argument("--explorer-url", default="http://explorer:5173")
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"http": 80, "https": 443}, "http")
    ProxyHandler.upstreams = {"api": args.api_url.rstrip("/"), "rpc": args.rpc_url.rstrip("/"),
                              "rest": args.rest_url.rstrip("/"),
                              "explorer": args.explorer_url.rstrip("/")}
    ProxyHandler.env = dict(os.environ)
    common.serve(ROLE, "http", addrs["http"], ProxyHandler)
    common.serve(ROLE, "https", addrs["https"], ProxyHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
