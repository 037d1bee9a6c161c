# Release profile v0.2.14: upstream main's "Upgrade v0.2.14 (#1267)" of 2026-07-23.
#
# Plain data, loaded by path (gonka_deploy.release.profiles); every value names its source.
# Comments that start with UNVERIFIED: mark values no public source confirmed (listed by
# `gonka-deploy releases`).
# The upstream files this profile depends on are stored verbatim beside it, in v0.2.14/.

name = "v0.2.14"
date = "2026-07-23"

gonka_repo_url = "https://github.com/gonka-ai/gonka.git"
# gonka-ai/gonka main @ ee730031 "Upgrade v0.2.14 (#1267)", parent 8a35022b (shared/reference/
# gonka/SOURCES.md: read from the public fork kaitakuai/gonka, which carries this commit).
gonka_ref = "ee730031decedd2428aa56c65084ae5ab33d9192"

# Verbatim copies of gonka-ai/gonka@ee730031:deploy/join/<file>, with their sha256.
upstream_files = {
    "deploy/join/config.env.template":
        "d2878c763abbfe39f19bc47441d00581fe82ed20d6442bd62ebd21e259945d2b",
    "deploy/join/docker-compose.yml":
        "e287105abba546c55c20086bcc0091c2b6b929ce83c34ab36a1faed38c20566e",
    "deploy/join/docker-compose.mlnode.yml":
        "b22689d8410d5180bc1804df1c6179a861a60c328b6d3314ae293da7227ebd36",
    "deploy/join/nginx.conf":
        "ff32edb168e2619f4a75a08775d57cc41381259f577c645af0c68d8c9a74df8e",
}
# The compose files a host runs, in -f order (gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md).
compose_files = ["deploy/join/docker-compose.yml", "deploy/join/docker-compose.mlnode.yml"]

chain_id = "gonka-mainnet"
# Network entry points: gonka-ai/gonka@ee730031:deploy/join/config.env.template.
seed_api_url = "http://node2.gonka.ai:8000"
seed_node_rpc_url = "http://node2.gonka.ai:8000/chain-rpc/"
seed_node_p2p_url = "tcp://node2.gonka.ai:5000"
rpc_servers = [
    "http://node1.gonka.ai:8000/chain-rpc/",
    "http://node2.gonka.ai:8000/chain-rpc/",
]

# The published ports that may be public, by role: gonka-ai/gonka@ee730031:deploy/join/
# docker-compose.yml (node "5000:26656" #p2p, proxy "${API_PORT}:80" and "${API_SSL_PORT}:443").
# Not the bridge's new "${GETH_P2P_PORT:-30303}:30303/tcp+udp": `public_ports` opens it.
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
    # New in v0.2.14: the bridge's beacon checkpoint (shared/notes/RELEASES.md §3).
    "BEACON_STATE_URL",
]

# Image per compose service: gonka-ai/gonka@ee730031:deploy/join/docker-compose.yml.
images = {
    "tmkms": "ghcr.io/product-science/tmkms-softsign-with-keygen:0.2.14",
    "node": "ghcr.io/product-science/inferenced:0.2.14",
    "api": "ghcr.io/product-science/api:0.2.14",
    "versiond": "ghcr.io/product-science/versiond:0.2.14",
    "bridge": "ghcr.io/product-science/bridge:0.2.14-post3"
    "@sha256:06f1c8750941cd31c6f46ff037e0b43f71a9ba5a5e4c6b81da8c4d6748af67b5",
    "proxy": "ghcr.io/product-science/proxy:0.2.14",
    "proxy-ssl": "ghcr.io/product-science/proxy-ssl:0.2.14",
    "explorer": "ghcr.io/product-science/explorer:latest",
    # gonka-ai/gonka@ee730031:deploy/join/docker-compose.mlnode.yml
    "inference": "nginx:1.28.0",
}
# The MLNode service and its URL segment: the segment is chain state (MLNodeVersion, "v3.0.8"
# since upgrade v0.2.2: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_2/upgrades.go);
# the image is gonka-ai/gonka@ee730031:deploy/join/docker-compose.mlnode.yml.
mlnode_base_service = "mlnode-308"
mlnode_versions = [
    {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.14-post2", "current": True},
]

_G = "https://github.com/gonka-ai/gonka/releases/download/release%2F"


def _zips(tag, inferenced_zip, api_zip, inferenced_bin=None, api_bin=None):
    """Both programs of an upgrade: the zips of release tag `tag` (FACTS: flat zips
    inferenced-amd64.zip and decentralized-api-amd64.zip, gonka-ai/gonka@ee730031:
    inference-chain/Makefile build-for-upgrade) with the plan's checksums, and the extracted
    binaries' sha256 where the docs give them."""
    def one(asset, digest, binary):
        entry = {"url": f"{_G}{tag}/{asset}", "sha256": digest}
        return {**entry, "binary_sha256": binary} if binary else entry
    return {"inferenced": one("inferenced-amd64.zip", inferenced_zip, inferenced_bin),
            "decentralized-api": one("decentralized-api-amd64.zip", api_zip, api_bin)}



# Chain software upgrades mainnet executed up to this release, oldest first. A binary carries
# the handlers of every earlier upgrade (gonka-ai/gonka@ee730031:inference-chain/app/upgrades.go
# registers v0_2_2 ... v0_2_14 in one binary), so a node that state-syncs needs the newest one
# at or below its landing height (phase 4 installs it under cosmovisor before the first start).
# Earlier plans (v0.2.2 ... v0.2.6) are not listed: no node joining today lands below them.
chain_upgrades = [
    # v0.2.7: proposal #19 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/19/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-01-07).
    {"name": "v0.2.7", "height": 2054000, "binaries": _zips(
        "v0.2.7",
        "b7c9034a2a4e1b2fdd525bd45aa32540129c55176fd7a223a1e13a7e177b3246",
        "03555ba60431e72bd01fe1fb1812a211828331f5767ad78316fdd1bcca0e2d52",
        "09c0e06f7971be87ab00fb08fc10e21ff86f9dff6fc80d82529991aa631cd0a9",
        "d07e97c946ba00194dfabeaf0098219031664dace999416658c57b760b470a74")},
    # v0.2.8: proposal #25 (passed; #24 was rejected). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/25/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-01-28).
    # The zips come from tag release/v0.2.8-post1, so the binaries print v0.2.8-post1:
    # gonka-ai/gonka@ee730031:.github/workflows/publish_upgrade_binaries.yml (VERSION
    # is the tag).
    {"name": "v0.2.8", "height": 2387000, "version": "v0.2.8-post1", "binaries": _zips(
        "v0.2.8-post1",
        "f0f2e3ee8760e40a78087c98c639a7518bf062138141ed4aec2120f5bc622a67",
        "45f28afba4758e54988f61cc358f0ad683e7832ab121ccd54b684fe4c9381a75",
        "308c63c7bda4fb668632ac3e13f3f6cccacf54c563c8e9fd473bcb48c7389fe0",
        "421a761f3a7037d72ee0bd8b3f50a744349f717439c7e0fee28c55948dae9a7c")},
    # v0.2.9: proposal #26 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@c6d21e5a:docs/proposals/proposals/2026-q3/26/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-02-01).
    {"name": "v0.2.9", "height": 2451000, "binaries": _zips(
        "v0.2.9",
        "fc628d77aa516896924fbd8f60b8aa6a14161de4582aaef634de62382ea482eb",
        "ac1ad369052a8c3d01af4d463c49cdd16fcbecc365d201232e7a2d08af8501c0",
        "ae20517e4bb38293202f7f5d52439d5315cb32c8f3c34a02fa65feaefadd6193",
        "52c79f06a8fc175ca6b3819523bb36afbf601d8a8320b1bb5a3cc089ceef62c4")},
    # v0.2.10: proposal #27 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@c6d21e5a:docs/proposals/proposals/2026-q3/27/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-02-17).
    # UNVERIFIED: the extracted binaries' sha256 (the docs give no pre-download block).
    {"name": "v0.2.10", "height": 2712600, "binaries": _zips(
        "v0.2.10",
        "b118610cfa1f45f9dfb4eb112a01a91ad886333b73aac49fee20abc0c3f1998a",
        "47d6b64424f34242ba12d04aa367f3a7d3933961b55f9d2434b36399d0faf18f")},
    # v0.2.11: proposal #31 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/31/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-03-19).
    {"name": "v0.2.11", "height": 3186100, "binaries": _zips(
        "v0.2.11",
        "c77528bd2e31e86355a6eefddb50e0db7f9600ebf2940ca440a61ea36e7ef7ca",
        "e574c3d86189daf325cc7008603ee8e952efb028afda5bcd4a154dcd334192d4",
        "6cf186a75782da07156d4d03b4266cefcb36656de89e4a378ae96d8df89ad003",
        "8b99e550ddd117a0cb4293b4ae74e0e5dff961a1986f23b58ec7ae6c3f0478f1")},
    # v0.2.12: proposal #44 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q2/44/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-04-29).
    {"name": "v0.2.12", "height": 3834200, "binaries": _zips(
        "v0.2.12",
        "df7656503d39f6703767d32d5578d1291e32cb114844d8c1cd0f134d1bf4babd",
        "d0143a95e12e1ada06cfea5e4d3deab13534c3523c967e9a6b87ac9f9bf3247d",
        "642eb9858cd77d182f3e1c4d44553f5379d615983430e1fd8e85f09632af4271",
        "94ce943338d12844028e84fe770106c9d28d866cf0af99f27da30f56d69efa34")},
    # v0.2.13: proposal #54 (passed; #52 was rejected). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q2/54/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-05-25).
    {"name": "v0.2.13", "height": 4267300, "binaries": _zips(
        "v0.2.13",
        "ea7dea6c4e8d96ed61005bed196768cc9f44e5fb17f0714cb64d1d00a485be0c",
        "cf31fa4d715e721d1e17b7e2b46d628a0b66b6ef603d352d587abe1d57c40925",
        "e52b86c4f64a47f0ea9bdb3327feb321b8a4208a76b35d52a7e9ddd1b9d6eed5",
        "f93d579ef9c46ade9f28c73c339df2f7ae73607115b7efeb849316984924f68d")},
    # v0.2.14: proposal #89 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@7a2fbbce:docs/proposals/proposals/2026-q3/89/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-07-22).
    {"name": "v0.2.14", "height": 5195700, "binaries": _zips(
        "v0.2.14",
        "ce857ef90deb899c03d78dee01493e544bf8b7ddf8b452e75b3b010b80a8b046",
        "4326a27913a05435e37cd5fa9e3d0cf5271351799f8b01b842e049a733976c87",
        "526755f37a0660e9ad9a38f01f99ac87920c7cee12554dc613b274e5e9e3d784",
        "9f41f08d865041c9d1b43e28334528d8d542751af40841f9ddc34d64787e5286")},
]

# Governance models (GET /v1/governance/models) as of this release. `args` are the chain's
# ModelArgs; `poc` says whether the model is a PoC model; `min_mlnode_image` is the oldest MLNode
# image that serves it. zai-org/GLM-5.2-FP8 was on the list too (proposal #86), but its pinned
# commit was not found: add it with model_catalog_extra.
model_catalog = {
    "moonshotai/Kimi-K2.6": {
        # Pin: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_12/upgrades.go.
        "hf_repo": "moonshotai/Kimi-K2.6",
        "hf_commit": "5a49d036ab7472b7d5912ded487150ec1358c11d",
        "args": ["--max-model-len", "240000", "--tool-call-parser", "kimi_k2",
                 "--reasoning-parser", "kimi_k2"],
        # gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md (layout table: 720 GB)
        "min_vram_gb": 720,
        # UNVERIFIED: proposal #87 took Kimi out of the PoC params (2026-07-16/17) and #88 put it
        # back on the governance list; its PoC status until proposal #101 is not known.
        "poc": None,
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
