# Defaults for every host: the release profile, the network, the model catalog, chain tuning.
#
# Release: gonka-ai/gonka main @ 8a35022bea25ebee4b7356314a0a262edbaa82db (2026-06-19,
# "devshard v2 (v0.2.13-devshard-v2) #1289"), the newest complete deploy/join we hold
# (../shared/reference/gonka/main-2026-06-19-*). Images are that commit's docker-compose*.yml.
# Network entry points are that release's config.env.template. Model pins come from the chain
# upgrades named next to each model. To move to a new release, edit this file only.

release = "main-2026-06-19 (v0.2.13)"

gonka_repo_url = "https://github.com/gonka-ai/gonka.git"
gonka_ref = "8a35022bea25ebee4b7356314a0a262edbaa82db"
chain_id = "gonka-mainnet"

seed_api_url = "http://node2.gonka.ai:8000"
# Since v0.2.9-post2 the RPC servers are reached through the proxy's /chain-rpc/ path.
seed_node_rpc_url = "http://node2.gonka.ai:8000/chain-rpc/"
seed_node_p2p_url = "tcp://node2.gonka.ai:5000"
rpc_servers = [
    "http://node1.gonka.ai:8000/chain-rpc/",
    "http://node2.gonka.ai:8000/chain-rpc/",
]

images = {
    "tmkms": "ghcr.io/product-science/tmkms-softsign-with-keygen:0.2.13",
    "node": "ghcr.io/product-science/inferenced:0.2.13",
    "api": "ghcr.io/product-science/api:0.2.13",
    "proxy": "ghcr.io/product-science/proxy:0.2.13",
    "proxy_ssl": "ghcr.io/product-science/proxy-ssl:0.2.13",
    "versiond": "ghcr.io/product-science/versiond:0.2.13",
    "bridge": "ghcr.io/product-science/bridge:0.2.5-post5"
    "@sha256:8d2f217115c65b27fcb6fe1497471c30891534f18685bd3007d168aa7f1a9371",
    "explorer": "ghcr.io/product-science/explorer:latest",
    "inference": "nginx:1.28.0",
}

# The URL segment is chain state (MLNodeVersion.current_version, "v3.0.8" since upgrade v0.2.2);
# it is independent of the image tag. A partial upgrade adds a second entry (side-by-side).
mlnode_versions = [
    {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True},
]
mlnode_base_service = "mlnode-308"

# Governance models (GET /v1/governance/models). args are the governance model_args; the api
# merges them with each ML node's own args, and so does our node-config.json (host wins).
model_catalog = {
    "moonshotai/Kimi-K2.6": {  # upgrade v0.2.12
        "hf_repo": "moonshotai/Kimi-K2.6",
        "hf_commit": "5a49d036ab7472b7d5912ded487150ec1358c11d",
        "args": ["--max-model-len", "240000", "--tool-call-parser", "kimi_k2",
                 "--reasoning-parser", "kimi_k2"],
        "min_vram_gb": 720,
    },
    "MiniMaxAI/MiniMax-M2.7": {  # upgrade v0.2.13; the base model since epoch 308
        "hf_repo": "MiniMaxAI/MiniMax-M2.7",
        "hf_commit": "d494266a4affc0d2995ba1fa35c8481cbd84294b",
        "args": ["--enable-auto-tool-choice", "--max-model-len", "180000", "--kv-cache-dtype",
                 "fp8", "--tool-call-parser", "minimax_m2", "--reasoning-parser",
                 "minimax_m2_append_think"],
        "min_vram_gb": 320,
    },
    # Active from epoch 360 (2026-08); needs MLNode 3.0.16 (branch vllm-0.25.1-upgrade). Its
    # governance model_args were not retrieved: these are the docs' node-config flags that every
    # GPU layout shares.
    "deepseek-ai/DeepSeek-V4-Flash-0731": {
        "hf_repo": "deepseek-ai/DeepSeek-V4-Flash-0731",
        "hf_commit": "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
        "args": ["--max-model-len", "400000", "--max-num-batched-tokens", "32768",
                 "--kv-cache-dtype", "fp8", "--tokenizer-mode", "deepseek_v4",
                 "--enable-auto-tool-choice", "--tool-call-parser", "deepseek_v4",
                 "--reasoning-parser", "deepseek_v4", "--trust-remote-code"],
        "min_vram_gb": 280,
    },
}

# Per-GPU vLLM args, by model and "<gpu model>x<count>" (docs/host 2026-08 and the repo's
# node-config-*.json). An ML node uses the preset it names, else the one matching its host's gpu.
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
    "deepseek-ai/DeepSeek-V4-Flash-0731": {
        "H100x4": ["--revision", "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
                   "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.85"],
        "H200x2": ["--revision", "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
                   "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.85"],
        "B200x2": ["--revision", "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
                   "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.85"],
        "B300x1": ["--revision", "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
                   "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.90"],
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

# Known-good mainnet peers: the release's GENESIS_SEEDS (docker-compose.yml, node service).
persistent_peers = [
    "645fbce2dedcc7166f4df7931d2c87ca5188b569@node2.gonka.ai:5000",
    "0772f16cc65cb4d19341b192bd7eba964f11d124@node1.gonka.ai:5000",
    "6140f7090137d93c272ff5ccd863484d1592949d@node3.gonka.ai:5000",
]
seeds = []

# FAQ values with the 0.2.10-post6 fix keep application.db near 100 GB.
pruning = {"mode": "custom", "keep_recent": 20000, "interval": 512}

admin_ssh_keys = []
admin_ssh_keys_exclusive = False

monitoring = {"enabled": True, "retention": "15d"}
