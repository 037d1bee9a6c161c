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

from gonka_deploy.release.mainnet import through as _through

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
# The seed over HTTPS (issue 20: the seed's answers decide where state sync lands and which
# chain upgrade is due; plain HTTP lets anyone on the path rewrite them). Upstream serves it:
# gonka-ai/gonka-docs@570482bc:docs/FAQ.md ("If your node cannot connect to the default seed
# node": SEED_API_URL from the genesis API URLs, SEED_NODE_RPC_URL "the same scheme (http or
# https), host, and port ... append /chain-rpc", example https://node3.gonka.ai/chain-rpc/status
# and SEED_NODE_P2P_URL=tcp://node3.gonka.ai:5000); docs/network-updates.md ("Any active node
# can be used: ... https://node3.gonka.ai", --node $NODE_URL/chain-rpc/); https://node3.gonka.ai
# /chain-api/ in docs/host/minimax-bootstrap.md. The template's own entry points (gonka-ai/
# gonka@ee730031:deploy/join/config.env.template) are the plain-HTTP node2.gonka.ai:8000 ones.
seed_api_url = "https://node3.gonka.ai"
seed_node_rpc_url = "https://node3.gonka.ai/chain-rpc/"
seed_node_p2p_url = "tcp://node3.gonka.ai:5000"
# UNVERIFIED: the state-sync witnesses of gonka-ai/gonka@ee730031:deploy/join/config.env.template
# (plain HTTP, as upstream); the template at 136041c8 was not read.
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

# Chain software upgrades mainnet executed up to this release, oldest first: one list
# with its sources for every profile (gonka_deploy/release/mainnet.py).
# UNVERIFIED: v0.2.10's extracted binaries' sha256 (the docs give no pre-download block;
# gonka_deploy/release/mainnet.py).
# UNVERIFIED: v0.2.16's extracted binaries' sha256 (no public source gives them;
# gonka_deploy/release/mainnet.py).
chain_upgrades = _through("v0.2.16")

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
