"""The stand-in gonka repo's files, written as Python data for the tests.

Two releases, one commit each (build.py): `v0.2.13` on `main`, with the layout, service names,
container names, variables, ports and volumes of the main-2026-06-19 `deploy/join` release
(see ../shared/reference/gonka), trimmed to the services our stack uses; and `v0.2.14` on
branch `release/v0.2.14-sandbox`, shaped like upstream's v0.2.14+ changes: bumped images, a new
template variable (BEACON_STATE_URL), a newly published port (the bridge's 30303/tcp) and a new
service (`versiond-router`, which runs the versiond image: every sandbox engine can run it).
:func:`all_images` lists every image the stand-in releases name. Rendered by a small YAML
emitter so the text is stable.
"""

from __future__ import annotations

import json

IMAGE_TAG = "0.2.13"
MLNODE_IMAGE = "ghcr.io/gonka-ai/mlnode:3.0.13"
NGINX_IMAGE = "nginx:1.28.0"
BRIDGE_IMAGE = ("ghcr.io/product-science/bridge:0.2.5-post5@sha256:"
                "8d2f217115c65b27fcb6fe1497471c30891534f18685bd3007d168aa7f1a9371")
# What each stand-in release changes, as upstream's releases did (shared/notes/RELEASES.md §2-4).
RELEASES = {
    "v0.2.13": {"tag": "0.2.13", "mlnode": MLNODE_IMAGE, "bridge": BRIDGE_IMAGE,
                "new_variables": [], "bridge_ports": [], "new_service": False},
    "v0.2.14": {"tag": "0.2.14", "mlnode": "ghcr.io/gonka-ai/mlnode:3.0.14-post2",
                "bridge": "ghcr.io/product-science/bridge:0.2.14-post3",
                "new_variables": [("BEACON_STATE_URL", "https://mainnet.checkpoint.sigp.io/")],
                "bridge_ports": ["${GETH_P2P_PORT:-30303}:30303"], "new_service": True},
}
MLNODE_SERVICE = "mlnode-308"
MLNODE_UPSTREAM = "mlnode_v308"
MLNODE_SEGMENT = "v3.0.8"


def _img(name: str, tag: str = IMAGE_TAG) -> str:
    return f"ghcr.io/product-science/{name}:{tag}"


CONFIG_ENV: list[tuple[str, str]] = [
    ("KEY_NAME", "<FILLIN>"),
    ("KEYRING_PASSWORD", "<FILLIN>"),
    ("API_PORT", "8000"),
    ("API_SSL_PORT", "8443"),
    ("PUBLIC_URL", "http://<HOST>:<PORT>"),
    ("P2P_EXTERNAL_ADDRESS", "tcp://<HOST>:<PORT>"),
    ("ACCOUNT_PUBKEY", "<ACCOUNT_PUBKEY_FROM_STEP_ABOVE>"),
    ("NODE_CONFIG", "./node-config.json"),
    ("HF_HOME", "/mnt/shared"),
    ("SEED_API_URL", "http://node2.gonka.ai:8000"),
    ("SEED_NODE_RPC_URL", "http://node2.gonka.ai:8000/chain-rpc/"),
    ("SEED_NODE_P2P_URL", "tcp://node2.gonka.ai:5000"),
    ("DAPI_API__POC_CALLBACK_URL", "http://api:9100"),
    ("DAPI_CHAIN_NODE__URL", "http://node:26657"),
    ("DAPI_CHAIN_NODE__P2P_URL", "http://node:26656"),
    ("RPC_SERVER_URL_1", "http://node1.gonka.ai:8000/chain-rpc/"),
    ("RPC_SERVER_URL_2", "http://node2.gonka.ai:8000/chain-rpc/"),
    ("PORT", "8080"),
    ("INFERENCE_PORT", "5050"),
    ("KEYRING_BACKEND", "file"),
    ("DAPI_CHAIN_NODE__MIN_GAS_PRICE_NGONKA", "0"),
    ("QUERY_GAS_LIMIT", "10000000"),
]


def config_env_template(release: str = "v0.2.13") -> str:
    variables = list(CONFIG_ENV)
    at = [k for k, _ in variables].index("SEED_NODE_P2P_URL") + 1  # where upstream added it
    variables[at:at] = RELEASES[release]["new_variables"]
    return "".join(f"export {k}={v}\n" for k, v in variables)


NODE_ENV = [
    "SEED_NODE_RPC_URL=${SEED_NODE_RPC_URL}",
    "SEED_NODE_P2P_URL=${SEED_NODE_P2P_URL}",
    "SNAPSHOT_INTERVAL=1000",
    "SNAPSHOT_KEEP_RECENT=5",
    "TRUSTED_BLOCK_PERIOD=${TRUSTED_BLOCK_PERIOD:-2000}",
    "KEY_NAME=${KEY_NAME}",
    "P2P_EXTERNAL_ADDRESS=${P2P_EXTERNAL_ADDRESS}",
    "CONFIG_p2p__allow_duplicate_ip=true",
    "TMKMS_PORT=${TMKMS_PORT:-26658}",
    "SYNC_WITH_SNAPSHOTS=${SYNC_WITH_SNAPSHOTS:-true}",
    "RPC_SERVER_URL_1=${RPC_SERVER_URL_1}",
    "RPC_SERVER_URL_2=${RPC_SERVER_URL_2}",
    "REST_API_ACTIVE=true",
    "QUERY_GAS_LIMIT=${QUERY_GAS_LIMIT:-10000000}",
    "INIT_ONLY=false",
    "IS_GENESIS=false",
    "CONFIG_instrumentation__prometheus=${NODE_INSTRUMENTATION_PROMETHEUS:-true}",
]

API_ENV = [
    "KEY_NAME=${KEY_NAME}",
    "ACCOUNT_PUBKEY=${ACCOUNT_PUBKEY}",
    "KEYRING_BACKEND=file",
    "KEYRING_PASSWORD=${KEYRING_PASSWORD}",
    "DAPI_API__POC_CALLBACK_URL=${DAPI_API__POC_CALLBACK_URL}",
    "DAPI_API__PUBLIC_URL=${PUBLIC_URL}",
    "DAPI_CHAIN_NODE__SEED_API_URL=${SEED_API_URL}",
    "DAPI_CHAIN_NODE__URL=${DAPI_CHAIN_NODE__URL}",
    "DAPI_CHAIN_NODE__P2P_URL=${DAPI_CHAIN_NODE__P2P_URL}",
    "NODE_CONFIG_PATH=/root/node_config.json",
    "DAPI_API__PUBLIC_SERVER_PORT=9000",
    "DAPI_API__ML_SERVER_PORT=9100",
    "DAPI_API__ADMIN_SERVER_PORT=9200",
    "DAPI_API__NODE_MANAGER_GRPC_PORT=${NODE_MANAGER_GRPC_PORT:-9400}",
]

PROXY_ENV = [
    "NGINX_MODE=${NGINX_MODE:-http}",
    "SERVER_NAME=${SERVER_NAME:-}",
    "GONKA_API_PORT=9000",
    "CHAIN_RPC_PORT=26657",
    "CHAIN_API_PORT=1317",
    "CHAIN_GRPC_PORT=9090",
    "DASHBOARD_PORT=5173",
    "CERT_ISSUER_DOMAIN=${CERT_ISSUER_DOMAIN:-}",
    "DISABLE_CHAIN_API=${DISABLE_CHAIN_API:-true}",
    "DISABLE_CHAIN_RPC=${DISABLE_CHAIN_RPC:-true}",
    "DISABLE_CHAIN_GRPC=${DISABLE_CHAIN_GRPC:-true}",
]


def compose_main(release: str = "v0.2.13") -> dict:
    spec = RELEASES[release]

    def _img(name: str) -> str:
        return f"ghcr.io/product-science/{name}:{spec['tag']}"

    services = {
        "tmkms": {
            "image": _img("tmkms-softsign-with-keygen"),
            "container_name": "tmkms",
            "restart": "unless-stopped",
            "environment": ["VALIDATOR_LISTEN_ADDRESS=tcp://node:${TMKMS_PORT:-26658}"],
            "volumes": [".tmkms:/root/.tmkms"],
        },
        "node": {
            "container_name": "node",
            "image": _img("inferenced"),
            "command": ["sh", "./init-docker.sh"],
            "volumes": [".inference:/root/.inference",
                        "../../genesis/genesis.json:/root/genesis.json"],
            "environment": NODE_ENV,
            "ports": ["5000:26656"],
            "expose": ["${TMKMS_PORT:-26658}"],
            "depends_on": ["tmkms"],
            "restart": "always",
        },
        "api": {
            "container_name": "api",
            "image": _img("api"),
            "volumes": [".inference:/root/.inference", ".dapi:/root/.dapi",
                        "${NODE_CONFIG:-./node-config.json}:/root/node_config.json"],
            "depends_on": ["node"],
            "environment": API_ENV,
            "ports": ["9100:9100", "127.0.0.1:9200:9200"],
            "restart": "always",
        },
        "versiond": {
            "container_name": "versiond",
            "image": _img("versiond"),
            "environment": ["VERSIOND_ORACLE_URL=http://api:9100/versions",
                            "NODE_MANAGER_ADDR=api:${NODE_MANAGER_GRPC_PORT:-9400}",
                            "KEY_NAME=${KEY_NAME}"],
            "volumes": [".inference:/root/.inference:ro", "./devshards/bin:/opt/versiond/bin",
                        "./devshards/data:/opt/versiond/data"],
            "depends_on": ["api"],
            "restart": "always",
        },
        "bridge": {
            "container_name": "bridge",
            "image": spec["bridge"],
            "restart": "unless-stopped",
            "environment": ["BRIDGE_POSTBLOCK=http://api:9200/admin/v1/bridge/block"],
            "volumes": [".inference-eth/geth:/data/geth"],
            **({"ports": spec["bridge_ports"]} if spec["bridge_ports"] else {}),
            "depends_on": ["api"],
        },
        "proxy": {
            "container_name": "proxy",
            "image": _img("proxy"),
            "ports": ["${API_PORT:-8000}:80", "${API_SSL_PORT:-8443}:443"],
            "environment": PROXY_ENV,
            "volumes": ["${SSL_CERT_SOURCE:-./secrets/nginx-ssl}:/etc/nginx/ssl"],
            "depends_on": {
                "node": {"condition": "service_started"},
                "api": {"condition": "service_started"},
                "versiond": {"condition": "service_started"},
                "explorer": {"condition": "service_started"},
                "proxy-ssl": {"condition": "service_healthy", "required": False},
            },
            "restart": "unless-stopped",
        },
        "proxy-ssl": {
            "container_name": "proxy-ssl",
            "image": _img("proxy-ssl"),
            "profiles": ["ssl"],
            "environment": ["CERT_ISSUER_DOMAIN=${CERT_ISSUER_DOMAIN:-}",
                            "ACME_DNS_PROVIDER=${ACME_DNS_PROVIDER:-}"],
            "volumes": ["./secrets/nginx-ssl:/app/certs", "./secrets/certbot:/app/data"],
            "restart": "unless-stopped",
        },
        "explorer": {
            "container_name": "explorer",
            "image": "ghcr.io/product-science/explorer:latest",
            "expose": ["5173"],
            "restart": "unless-stopped",
        },
    }
    if spec["new_service"]:
        services["versiond-router"] = {
            "container_name": "versiond-router",
            "image": _img("versiond"),
            "command": ["versiond-router"],
            "environment": ["VERSIOND_ROUTER_BACKENDS=versiond:8080"],
            "depends_on": ["versiond"],
            "restart": "always",
        }
    return {"services": services}


def compose_mlnode(release: str = "v0.2.13") -> dict:
    return {"services": {
        MLNODE_SERVICE: {
            "image": RELEASES[release]["mlnode"],
            "hostname": MLNODE_SERVICE,
            "volumes": ["${HF_HOME:-${HOME}/.cache}:/root/.cache"],
            "environment": ["HF_HOME=/root/.cache", "VLLM_ATTENTION_BACKEND=FLASHINFER",
                            "POC_BATCH_SIZE_DEFAULT=32"],
            "deploy": {"resources": {"reservations": {"devices": [
                {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}}},
            "ipc": "host",
            "command": "uvicorn api.app:app --host=0.0.0.0 --port=8080",
            "restart": "always",
        },
        "inference": {
            "image": NGINX_IMAGE,
            "hostname": "inference",
            "ports": ["${PORT:-8080}:8080", "${INFERENCE_PORT:-5050}:5000"],
            "volumes": ["./nginx.conf:/etc/nginx/nginx.conf:ro"],
            "restart": "always",
        },
    }}


def _location(prefix: str, upstream: str) -> list[str]:
    return [
        f"        location {prefix} {{",
        f"            proxy_pass http://{upstream}/;",
        "            proxy_set_header Host $host;",
        "            proxy_set_header X-Real-IP $remote_addr;",
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        }",
    ]


def nginx_conf() -> str:
    lines = ["events {}", "", "http {", "    resolver 127.0.0.11 valid=10s;",
             "    resolver_timeout 5s;"]
    for listen, port, upstream in ((8080, 8080, MLNODE_UPSTREAM),
                                   (5000, 5000, f"{MLNODE_UPSTREAM}_port5000")):
        lines += ["", f"    upstream {upstream} {{", f"        zone {upstream} 64k;",
                  f"        server {MLNODE_SERVICE}:{port} resolve;", "    }", "",
                  "    server {", f"        listen {listen};",
                  "        client_max_body_size      0;",
                  "        proxy_connect_timeout     24h;",
                  "        proxy_send_timeout        24h;",
                  "        proxy_read_timeout        24h;", ""]
        lines += _location(f"/{MLNODE_SEGMENT}/", upstream) + [""] + _location("/", upstream)
        lines += ["    }"]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def node_config() -> list[dict]:
    return [{
        "id": "node1", "host": "inference", "inference_port": 5000, "poc_port": 8080,
        "max_concurrent": 500,
        "models": {"Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": {
            "args": ["--tensor-parallel-size", "4", "--max-model-len", "240000"]}},
    }]


def genesis() -> dict:
    return {
        "genesis_time": "2025-08-20T00:00:00Z",
        "chain_id": "gonka-mainnet",
        "initial_height": "1",
        "consensus": {"params": {"block": {"max_bytes": "22020096", "max_gas": "-1"}}},
        "app_state": {"inference": {"params": {}}},
    }


# ---------------------------------------------------------------- YAML emitter (stdlib only)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(node, indent: int = 0) -> str:
    pad = " " * indent
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list) and value:
                out.append(f"{pad}{key}:\n{to_yaml(value, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(value) if value != [] else '[]'}\n")
    else:
        for item in node:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 2)
                out.append(f"{pad}- {body[indent + 2:]}")
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
    return "".join(out)


def files(release: str = "v0.2.13") -> dict[str, str]:
    """Repository path -> text, for one stand-in release."""
    readme = ("# gonka (sandbox stand-in)\n\nGenerated by `python3 -m gonkarepo` for "
              "tests: deploy/join as in the main-2026-06-19 release.\n")
    if release != "v0.2.13":
        readme += f"\nRelease {release}: shaped like upstream's {release} changes.\n"
    return {
        "README.md": readme,
        "deploy/join/config.env.template": config_env_template(release),
        "deploy/join/docker-compose.yml": to_yaml(compose_main(release)),
        "deploy/join/docker-compose.mlnode.yml": to_yaml(compose_mlnode(release)),
        "deploy/join/nginx.conf": nginx_conf(),
        "deploy/join/node-config.json": json.dumps(node_config(), indent=2) + "\n",
        "genesis/genesis.json": json.dumps(genesis(), indent=2) + "\n",
    }


def images(release: str) -> dict[str, str]:
    """Compose service -> image, for one stand-in release (the sandbox profiles use it)."""
    out = {}
    for doc in (compose_main(release), compose_mlnode(release)):
        out.update({name: svc["image"] for name, svc in doc["services"].items()})
    return out


def all_images() -> list[str]:
    """Every image any stand-in release names: what a sandbox engine must be able to run."""
    return sorted({image for release in RELEASES for image in images(release).values()})
