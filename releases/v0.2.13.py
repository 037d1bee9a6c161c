# Release profile v0.2.13: what gonka-deploy deployed until issue 11 (upstream main of 2026-06-19).
#
# Plain data, loaded by path (gonka_deploy.release.profiles); every value names its source.
# Comments that start with UNVERIFIED: mark values no public source confirmed (listed by
# `gonka-deploy releases`).
# The upstream files this profile depends on are stored verbatim beside it, in v0.2.13/.

from gonka_deploy.release.mainnet import through as _through

name = "v0.2.13"
date = "2026-06-19"

gonka_repo_url = "https://github.com/gonka-ai/gonka.git"
# gonka-ai/gonka main @ 8a35022b "devshard v2 (v0.2.13-devshard-v2) (#1289)" (shared/reference/
# gonka/SOURCES.md: read from the forks redstartechno/gonka and kaitakuai/gonka).
gonka_ref = "8a35022bea25ebee4b7356314a0a262edbaa82db"

# Verbatim copies of gonka-ai/gonka@8a35022b:deploy/join/<file>, with their sha256.
upstream_files = {
    "deploy/join/config.env.template":
        "7b567e6929a5b6a260ba21d8e31a81947e6614bcc4fc18e0ab4e76aa0a0de78f",
    "deploy/join/docker-compose.yml":
        "3e4a20dbb192a4933aa3f1c13b852b50775f2189f566ae3ce34654865476d320",
    "deploy/join/docker-compose.mlnode.yml":
        "4b48a0c0275aa02e7f6c3e43352dd840fdb012631400bf30a68da34975682c09",
    "deploy/join/nginx.conf":
        "ff32edb168e2619f4a75a08775d57cc41381259f577c645af0c68d8c9a74df8e",
}
# The compose files a host runs, in -f order (gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md).
compose_files = ["deploy/join/docker-compose.yml", "deploy/join/docker-compose.mlnode.yml"]

chain_id = "gonka-mainnet"
# Network entry points: gonka-ai/gonka@8a35022b:deploy/join/config.env.template.
seed_api_url = "http://node2.gonka.ai:8000"
seed_node_rpc_url = "http://node2.gonka.ai:8000/chain-rpc/"
seed_node_p2p_url = "tcp://node2.gonka.ai:5000"
rpc_servers = [
    "http://node1.gonka.ai:8000/chain-rpc/",
    "http://node2.gonka.ai:8000/chain-rpc/",
]

# The published ports that may be public, by role: gonka-ai/gonka@8a35022b:deploy/join/
# docker-compose.yml (node "5000:26656" #p2p, proxy "${API_PORT}:80" and "${API_SSL_PORT}:443").
public_endpoints = {"p2p": "node:26656/tcp", "api": "proxy:80/tcp", "api-ssl": "proxy:443/tcp"}

# config.env.template variables reviewed and left at the template's value (drift names others):
# the internal URLs and ports, the keyring backend, observability (off; its two <FILLIN>
# passwords are written empty), gas settings.
template_defaults = [
    "DAPI_API__POC_CALLBACK_URL", "DAPI_CHAIN_NODE__URL", "DAPI_CHAIN_NODE__P2P_URL", "PORT",
    "INFERENCE_PORT", "KEYRING_BACKEND", "JAEGER_ENABLED", "GRAFANA_ENABLED",
    "JAEGER_BASIC_AUTH_USER", "JAEGER_BASIC_AUTH_PASSWORD", "GRAFANA_ADMIN_USER",
    "GRAFANA_ADMIN_PASSWORD", "DAPI_OTEL_ENABLED", "DEVSHARD_OTEL_ENABLED", "OTEL_ENDPOINT",
    "NODE_INSTRUMENTATION_PROMETHEUS", "DAPI_CHAIN_NODE__MIN_GAS_PRICE_NGONKA", "QUERY_GAS_LIMIT",
]

# Image per compose service: gonka-ai/gonka@8a35022b:deploy/join/docker-compose.yml.
images = {
    "tmkms": "ghcr.io/product-science/tmkms-softsign-with-keygen:0.2.13",
    "node": "ghcr.io/product-science/inferenced:0.2.13",
    "api": "ghcr.io/product-science/api:0.2.13",
    "versiond": "ghcr.io/product-science/versiond:0.2.13",
    "bridge": "ghcr.io/product-science/bridge:0.2.5-post5"
    "@sha256:8d2f217115c65b27fcb6fe1497471c30891534f18685bd3007d168aa7f1a9371",
    "proxy": "ghcr.io/product-science/proxy:0.2.13",
    "proxy-ssl": "ghcr.io/product-science/proxy-ssl:0.2.13",
    "explorer": "ghcr.io/product-science/explorer:latest",
    # gonka-ai/gonka@8a35022b:deploy/join/docker-compose.mlnode.yml
    "inference": "nginx:1.28.0",
}
# The MLNode service and its URL segment: the segment is chain state (MLNodeVersion, "v3.0.8"
# since upgrade v0.2.2: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_2/upgrades.go);
# the image is gonka-ai/gonka@8a35022b:deploy/join/docker-compose.mlnode.yml.
mlnode_base_service = "mlnode-308"
mlnode_versions = [
    {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True},
]

# Chain software upgrades mainnet executed up to this release, oldest first: one list
# with its sources for every profile (gonka_deploy/release/mainnet.py).
# UNVERIFIED: v0.2.10's extracted binaries' sha256 (the docs give no pre-download block;
# gonka_deploy/release/mainnet.py).
chain_upgrades = _through("v0.2.13")

# Governance models (GET /v1/governance/models) as of this release. `args` are the chain's
# ModelArgs; `poc` says whether the model is a PoC model; `min_mlnode_image` is the oldest MLNode
# image that serves it.
model_catalog = {
    "moonshotai/Kimi-K2.6": {
        # Pin: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_12/upgrades.go.
        "hf_repo": "moonshotai/Kimi-K2.6",
        "hf_commit": "5a49d036ab7472b7d5912ded487150ec1358c11d",
        "args": ["--max-model-len", "240000", "--tool-call-parser", "kimi_k2",
                 "--reasoning-parser", "kimi_k2"],
        # gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md (layout table: 720 GB)
        "min_vram_gb": 720,
        # "active in Proof of Compute": gonka-ai/gonka-docs@570482bc:docs/host/kimi-bootstrap.md
        "poc": True,
    },
    "MiniMaxAI/MiniMax-M2.7": {
        # Pin: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_13/upgrades.go; the base
        # model since epoch 308 (gonka-ai/gonka-docs@570482bc:docs/host/minimax-bootstrap.md).
        "hf_repo": "MiniMaxAI/MiniMax-M2.7",
        "hf_commit": "d494266a4affc0d2995ba1fa35c8481cbd84294b",
        "args": ["--enable-auto-tool-choice", "--max-model-len", "180000", "--kv-cache-dtype",
                 "fp8", "--tool-call-parser", "minimax_m2", "--reasoning-parser",
                 "minimax_m2_append_think"],
        "min_vram_gb": 320,  # ~320 GB: gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md
        "poc": True,
        # "MiniMax M2.7 requires MLNode 3.0.14 or newer": gonka-ai/gonka-docs@570482bc:
        # docs/host/quickstart.md; 3.0.14-post2 is the tag main pinned next (gonka-ai/gonka@
        # ee730031:deploy/join/docker-compose.mlnode.yml).
        "min_mlnode_image": "ghcr.io/gonka-ai/mlnode:3.0.14-post2",
    },
}

# Per-GPU vLLM args by model and "<gpu model>x<count>": the repo's node-config-*.json files
# (shared/reference/gonka/main-2026-06-19-node-config-kimik26-*.json) and the 2026-08 docs
# (gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md, MiniMax tabs).
gpu_presets = {
    "MiniMaxAI/MiniMax-M2.7": {
        "A100x4": ["--moe-backend", "marlin", "--tensor-parallel-size", "4",
                   "--gpu-memory-utilization", "0.95", "--max-num-seqs", "128"],
        "H100x4": ["--tensor-parallel-size", "4", "--attention-backend", "FLASHINFER",
                   "--gpu-memory-utilization", "0.92", "--max-num-seqs", "128"],
        "H200x2": ["--tensor-parallel-size", "2", "--attention-backend", "FLASHINFER",
                   "--gpu-memory-utilization", "0.92", "--max-num-seqs", "128"],
        "B200x2": ["--tensor-parallel-size", "2", "--moe-backend", "FLASHINFER_TRTLLM",
                   "--gpu-memory-utilization", "0.92", "--max-num-seqs", "128"],
    },
    "moonshotai/Kimi-K2.6": {
        "H200x8": ["--tensor-parallel-size", "8", "--enable-expert-parallel",
                   "--trust-remote-code", "--mm-encoder-tp-mode", "data",
                   "--attention-backend", "FLASHMLA", "--gpu-memory-utilization", "0.90"],
        "B200x8": ["--tensor-parallel-size", "4", "--enable-expert-parallel",
                   "--trust-remote-code", "--mm-encoder-tp-mode", "data",
                   "--attention-backend", "FLASHINFER_MLA", "--disable-custom-all-reduce",
                   "--gpu-memory-utilization", "0.95", "--max-num-seqs", "128"],
    },
}
