# Release profile v0.2.16-post1: what mainnet runs after the v0.2.16 upgrade (height 6,449,400,
# 2026-10-08). The newest release documented from public sources, and the default.
#
# Plain data, loaded by path (gonka_deploy.release.profiles); every value names its source.
# Comments that start with UNVERIFIED: mark values no public source confirmed (listed by
# `gonka-deploy releases`).
#
# UNVERIFIED: gonka-ai/gonka@136041c8:deploy/join/* could not be read here (no public mirror or
# fork in reach carries that commit), so this profile stores no upstream files: render, --dry and
# the deploys fetch deploy/join at gonka_ref from gonka_repo_url into the local read-only cache
# (~/.cache/gonka-deploy/repo/<commit>/), and the drift report compares them with this profile.
# Mainnet's join files at this tag still run 0.2.15 container images; the chain and api run the
# v0.2.16-post1 binaries through cosmovisor (chain_upgrades below).

name = "v0.2.16-post1"
date = "2026-10-06"

gonka_repo_url = "https://github.com/gonka-ai/gonka.git"
# Tag release/v0.2.16-post1 = 136041c8 (commit time 2026-10-06T01:41:24Z): the metadata link of
# proposal #112 (gonka-ai/gonka@136041c8:proposals/governance-artifacts/update-v0.2.16/README.md)
# and paranjko/external-test-lab@c64d0e49:net-deployment-runbook/profiles/releases/
# v2026.10.06.lock (GONKA_COMMIT).
gonka_ref = "136041c81ea8ff38e7620d76af66a7c7fe7eec50"

# No verbatim copies: see the note at the top.
upstream_files = {}
compose_files = ["deploy/join/docker-compose.yml", "deploy/join/docker-compose.mlnode.yml"]

chain_id = "gonka-mainnet"
# UNVERIFIED: the entry points of gonka-ai/gonka@ee730031:deploy/join/config.env.template; the
# template at 136041c8 was not read (the drift report shows any template default that differs).
seed_api_url = "http://node2.gonka.ai:8000"
seed_node_rpc_url = "http://node2.gonka.ai:8000/chain-rpc/"
seed_node_p2p_url = "tcp://node2.gonka.ai:5000"
rpc_servers = [
    "http://node1.gonka.ai:8000/chain-rpc/",
    "http://node2.gonka.ai:8000/chain-rpc/",
]

# UNVERIFIED: the roles of ee730031's compose; under devshard v5 `proxy` is the HAProxy router
# (shared/notes/RELEASES.md §4.3), which is expected to keep publishing 80/443.
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
    # UNVERIFIED: the list of v0.2.14; the template at 136041c8 was not read.
    "BEACON_STATE_URL",
]

# Image per compose service. Source of the tags and digests: paranjko/external-test-lab@c64d0e49:
# net-deployment-runbook/profiles/releases/v2026.10.06.lock ("Host software target based on
# official release/v0.2.16-post1 deploy/join") and .../candidates/official-v0.2.16-post1-
# inventory.md ("Their tags match the pinned JOIN source").
images = {
    "tmkms": "ghcr.io/product-science/tmkms-softsign-with-keygen:0.2.15"
    "@sha256:c3b6c4aaa73e93944dda4f08db8edd1a48544ad35d740cfca2dd8f3d9835aa21",
    "node": "ghcr.io/product-science/inferenced:0.2.15"
    "@sha256:b9ef3af7b89cae7c5c5dd28dc207e5cdff9db6cfeb2cb33cd7bd2d73893bb112",
    "api": "ghcr.io/product-science/api:0.2.15-post3"
    "@sha256:3f81b7a9dfac66690e4a934a916662b248f20838dd8f7b47f1863fd3c5c5cd9c",
    # Service name: the lock's EDGE_API_SERVICE_NAME=edge-api.
    "edge-api": "ghcr.io/product-science/edge-api:0.2.15"
    "@sha256:4f98b337ea837d711bdd7e0d0e3172a0034f37a5f7fb9764251b7155bb727025",
    # UNVERIFIED: the inventory found no ghcr.io/product-science/versiond|proxy|proxy-router
    # :0.2.15-devshard-v5 in the registry; these are the lock's ghcr.io/gonka-ai mirrors.
    "versiond": "ghcr.io/gonka-ai/versiond:0.2.15-devshard-v5"
    "@sha256:d772b89046d794eed8f00e6630777911779b0650e436fae190171eef273b050c",
    # UNVERIFIED: service name from docker-compose.versiond.yml of devshard v4 (RELEASES.md §4.2).
    "versiond-router": "ghcr.io/gonka-ai/versiond-router:0.2.15-devshard-v5"
    "@sha256:b90ccca4c4c4c9979a282755e69a2f4ebac93e312b0bc4ea7f86d11f08021092",
    # The lock's PROXY_IMAGE: the HAProxy router runs as service `proxy` (RELEASES.md §4.3).
    # Its nginx policy workers (PROXY_POLICY_IMAGE, ghcr.io/gonka-ai/proxy:0.2.15-devshard-v5
    # @sha256:59e374ae…) run under a service name not recorded: the drift report names it.
    "proxy": "ghcr.io/gonka-ai/proxy-router:0.2.15-devshard-v5"
    "@sha256:2f04e9f4bfc662c16df72adbd60d660e61db6e8e200c7f250c8a00cea92a1f22",
    "bridge": "ghcr.io/product-science/bridge:0.2.15"
    "@sha256:ac01165eb8eb60dbafe5d1e060a11b474efb44146b12f308bef6153b55a2c22d",
    # UNVERIFIED: digest from registry metadata only (official-v0.2.16-post1-inventory.md).
    "proxy-ssl": "ghcr.io/product-science/proxy-ssl:0.2.15"
    "@sha256:2e2a296481bd957a74193f12a2867bf969efd8a6bd7cdde51ba561a4e86d838c",
    # UNVERIFIED: not in the network lock ("operator-services profile"); the tag of every
    # earlier release.
    "explorer": "ghcr.io/product-science/explorer:latest",
    # The lock's MLNODE_PROXY_IMAGE.
    "inference": "nginx:1.28.0"
    "@sha256:552e7481ca93ffccd046aa658dbbed22caefbc09c66fa7cd247cbb90b8a5c609",
}
# The lock's MLNODE_GENERIC_IMAGE ("Official deploy/join/docker-compose.mlnode.yml at
# GONKA_COMMIT"); the digest is also in the MLNode 3.0.16 release notes (RELEASES.md §2). The URL
# segment stays v3.0.8 (RELEASES.md §8: every 2026 MLNode move kept mlnode-308 and /v3.0.8/).
mlnode_base_service = "mlnode-308"
mlnode_versions = [
    {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.16"
     "@sha256:1b9b7ce55feecab837f1d7ce974fc5f377ae0a04a4fb403eeeb50130e7728ee1", "current": True},
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
    # v0.2.15: proposal #92 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@99c39465:docs/proposals/proposals/2026-q3/92/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-07-29).
    {"name": "v0.2.15", "height": 5316315, "binaries": _zips(
        "v0.2.15",
        "91af67df9ef5c576a1695e5e85c8ee344f9f1a69d941bfc28fb339d9fd33617e",
        "c9cf1bfa2c994beca8a528d0ee3ad7197a582144769711600ec9df41faf4c9f7",
        "2da687d5a2511c00891ea29b16face87ef7998f49d5b626d09f810db38deb046",
        "aeddf6391f24f99963c3e9ed854779087700161f520e73fd9e9b52f394f7ba6d")},
    # v0.2.16: proposal #112. Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@7252de39:docs/proposals/proposals/2026-q4/112/messages.json.
    # Executed at 6,449,400: gonka-ai/gonka#1949 (cosmovisor switched to the upgrade
    # zip's binary, which prints v0.2.16-post1).
    # UNVERIFIED: the extracted binaries' sha256 (no public source gives them).
    # The zips come from tag release/v0.2.16-post1, so the binaries print v0.2.16-post1:
    # gonka-ai/gonka@ee730031:.github/workflows/publish_upgrade_binaries.yml (VERSION
    # is the tag).
    {"name": "v0.2.16", "height": 6449400, "version": "v0.2.16-post1", "binaries": _zips(
        "v0.2.16-post1",
        "d2ef13374fb15518a02ae5fac83d139d66fb79a8c93d97f4e78b43ce30e14f98",
        "f64b9433cd27d9ee433f1aede89d6be910f6deb8df644d55e2dfe30b8f873802")},
]

# Governance models (GET /v1/governance/models). `args` are the chain's ModelArgs; `poc` says
# whether the model is a PoC model (proposal #101: PoC = MiniMax-M2.7, DeepSeek-V4-Flash-0731,
# GLM-5.3-Flash; Kimi-K2.6 and GLM-5.2-FP8 stay on the governance list, inference only:
# gonka-ai/gonka-docs@31782460:docs/host/glm-bootstrap.md); `min_mlnode_image` is the oldest
# MLNode image that serves the model. zai-org/GLM-5.2-FP8's pinned commit was not found: add it
# with model_catalog_extra.
model_catalog = {
    "moonshotai/Kimi-K2.6": {
        # Pin: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_12/upgrades.go.
        "hf_repo": "moonshotai/Kimi-K2.6",
        "hf_commit": "5a49d036ab7472b7d5912ded487150ec1358c11d",
        "args": ["--max-model-len", "240000", "--tool-call-parser", "kimi_k2",
                 "--reasoning-parser", "kimi_k2"],
        "min_vram_gb": 720,  # gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md
        "poc": False,
    },
    "MiniMaxAI/MiniMax-M2.7": {
        # Pin: gonka-ai/gonka@8a35022b:inference-chain/app/upgrades/v0_2_13/upgrades.go.
        "hf_repo": "MiniMaxAI/MiniMax-M2.7",
        "hf_commit": "d494266a4affc0d2995ba1fa35c8481cbd84294b",
        "args": ["--enable-auto-tool-choice", "--max-model-len", "180000", "--kv-cache-dtype",
                 "fp8", "--tool-call-parser", "minimax_m2", "--reasoning-parser",
                 "minimax_m2_append_think"],
        "min_vram_gb": 320,  # gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md
        "poc": True,
        # "requires MLNode 3.0.14 or newer": gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md
        "min_mlnode_image": "ghcr.io/gonka-ai/mlnode:3.0.14-post2",
    },
    "deepseek-ai/DeepSeek-V4-Flash-0731": {
        # Proposal #94: pin, v_ram 280 and ModelArgs, and "Requires an MLNode on vLLM 0.25.1
        # (MLNode 3.0.16)": gonka-ai/gonka-docs@570482bc:docs/host/deepseek-bootstrap.md.
        "hf_repo": "deepseek-ai/DeepSeek-V4-Flash-0731",
        "hf_commit": "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
        "args": ["--max-model-len", "400000", "--kv-cache-dtype", "fp8", "--tokenizer-mode",
                 "deepseek_v4", "--enable-auto-tool-choice", "--tool-call-parser", "deepseek_v4",
                 "--reasoning-parser", "deepseek_v4", "--trust-remote-code"],
        "min_vram_gb": 280,
        "poc": True,
        # The digest: the MLNode 3.0.16 release-profile note (RELEASES.md §2).
        "min_mlnode_image": "ghcr.io/gonka-ai/mlnode:3.0.16"
        "@sha256:1b9b7ce55feecab837f1d7ce974fc5f377ae0a04a4fb403eeeb50130e7728ee1",
    },
    "zai-org/GLM-5.3-Flash": {
        # Proposal #101: pin, ModelArgs, v_ram 560, throughput_per_nonce 1500, PoC from epoch 395,
        # image "ghcr.io/gonka-ai/mlnode:3.1.0-vllm-0.28.0 (sha256:25cccf7d…)", "Do not use
        # 3.0.17": gonka-ai/gonka-docs@31782460:docs/host/glm-bootstrap.md.
        "hf_repo": "zai-org/GLM-5.3-Flash",
        "hf_commit": "04c4e9e95c5da8862dced7e5056455116f83a7e0",
        "args": ["--max-model-len", "400000", "--kv-cache-dtype", "fp8",
                 "--enable-auto-tool-choice", "--tool-call-parser", "glm47", "--reasoning-parser",
                 "glm45", "--trust-remote-code"],
        "min_vram_gb": 560,
        "throughput_per_nonce": 1500,
        "poc": True,
        "min_mlnode_image": "ghcr.io/gonka-ai/mlnode:3.1.0-vllm-0.28.0"
        "@sha256:25cccf7d9954678550e47a1f09f12d3db140803e9cd6c289f3af25d34ceabda0",
    },
}

# Per-GPU vLLM args by model and "<gpu model>x<count>": the operator flags of the repo's
# node-config-*.json (the chain's ModelArgs come from the catalog and merge in front of them).
DEEPSEEK = "7872f01b1d1fe23eabc4c98b48bffcef5a386062"
GLM = "04c4e9e95c5da8862dced7e5056455116f83a7e0"
gpu_presets = {
    # As in v0.2.13 (gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md, MiniMax tabs).
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
    # gonka-ai/gonka@{0b0d2ece,d58732b3,1c726a32}:deploy/join/node-config-deepseekv4flash0731-
    # {H100,H200 B200,B300}.json (shared/reference/gonka/index-node-config-deepseek*). H100: the
    # MLNode 3.0.16 release-profile note, "The encoded 0.85/16384 profile is the only tested H100
    # configuration" (RELEASES.md §5); set POC_BATCH_SIZE_DEFAULT=16 there.
    "deepseek-ai/DeepSeek-V4-Flash-0731": {
        "H100x4": ["--scheduling-policy", "priority", "--max-num-seqs", "640",
                   "--compilation-config", '{"max_cudagraph_capture_size": 640}',
                   "--revision", DEEPSEEK, "--tensor-parallel-size", "4",
                   "--gpu-memory-utilization", "0.85", "--max-num-batched-tokens", "16384"],
        "H200x2": ["--scheduling-policy", "priority", "--max-num-seqs", "1024",
                   "--compilation-config", '{"max_cudagraph_capture_size": 1024}',
                   "--revision", DEEPSEEK, "--tensor-parallel-size", "2",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "32768"],
        "B200x2": ["--scheduling-policy", "priority", "--max-num-seqs", "2048",
                   "--compilation-config", '{"max_cudagraph_capture_size": 2048}',
                   "--revision", DEEPSEEK, "--tensor-parallel-size", "2",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "32768"],
        "B300x1": ["--scheduling-policy", "priority", "--max-num-seqs", "2048",
                   "--compilation-config", '{"max_cudagraph_capture_size": 2048}',
                   "--revision", DEEPSEEK, "--tensor-parallel-size", "1",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "32768"],
    },
    # gonka-ai/gonka@03259bbc:deploy/join/node-config-glm53flash-{B200,B300}.json,
    # @03c3989c:...-H200.json, @14c6d750:...-H100.json (the chain args left out).
    "zai-org/GLM-5.3-Flash": {
        "B200x4": ["--revision", GLM, "--tensor-parallel-size", "4",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "65536",
                   "--block-size", "2304", "--max-num-seqs", "256",
                   "--no-enable-flashinfer-autotune"],
        "B300x2": ["--revision", GLM, "--tensor-parallel-size", "2",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "65536",
                   "--block-size", "2304", "--max-num-seqs", "256",
                   "--no-enable-flashinfer-autotune"],
        "H200x4": ["--revision", GLM, "--tensor-parallel-size", "4",
                   "--gpu-memory-utilization", "0.90", "--max-num-batched-tokens", "16384",
                   "--block-size", "2304", "--max-num-seqs", "256",
                   "--no-enable-flashinfer-autotune"],
        "H100x8": ["--revision", GLM, "--tensor-parallel-size", "8",
                   "--gpu-memory-utilization", "0.95", "--max-num-batched-tokens", "65536",
                   "--disable-custom-all-reduce", "--block-size", "2304", "--max-num-seqs", "256",
                   "--no-enable-flashinfer-autotune", "--logprobs-mode", "processed_logprobs"],
    },
    # As in v0.2.13. UNVERIFIED: v0.2.16 avoids a Kimi prefill crash on B200 by selecting
    # TRTLLM_RAGGED (gonka-ai/gonka#1707); the exact flag was not read.
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
