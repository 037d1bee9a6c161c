# Example production inventory: two hosts. Each module-level list is a pyinfra group; this
# file's name makes every host a member of group `prod` too (group_data/prod.py, if present).
# Secrets never live here: export GONKA_KEYRING_PASSWORD (or one per key, see README).
#
# Every PoC model of the release needs a choice per host: `run` (the default for the models the
# host serves), `refuse`, or delegate it to a participant that runs it. Here each host delegates
# the PoC models it does not serve to the host of this fleet that serves them (their cold
# account addresses, `gonka-deploy`'s report prints each host's).
FRA_01 = "gonka1jnxacu3ln49wzvx5vk5w5tz6l0y4sakv7k8e86"
AMS_02 = "gonka14rp74jncvltq6cv4pzepd6s6ns432yvl430s5n"
WAW_03 = "gonka1xd2vsycfllna0gcy8ryfaxm24v6krt8tuaervh"
MINIMAX, DEEPSEEK, GLM = ("MiniMaxAI/MiniMax-M2.7", "deepseek-ai/DeepSeek-V4-Flash-0731",
                          "zai-org/GLM-5.3-Flash")
#
#   gonka-deploy validate inventories/prod.py
#   pyinfra inventories/prod.py deploys/node.py --dry

gpu_hosts = [
    (
        "gpu-fra-01",
        {
            "ssh_hostname": "203.0.113.10",
            "ssh_user": "ubuntu",
            "_sudo": True,
            "key_name": "fra-01",
            "public_host": "203.0.113.10",
            "account_pubkey": "A4pYsK3pPq3mBo3dhk3bjR3fZ+5zV7IwW8W6q7QF9b1X",
            "data_disk": "/dev/nvme1n1",
            "gpu": {"model": "H100", "count": 4, "vram_gb": 80},
            "mlnodes": [
                {"id": "node1", "models": [MINIMAX], "max_concurrent": 500},
            ],
            # Kimi-K2.6 is inference only since v0.2.16: its choice counts under older releases.
            "poc_participation": {DEEPSEEK: {"delegate": AMS_02}, GLM: {"delegate": WAW_03},
                                  "moonshotai/Kimi-K2.6": "refuse"},
            # 1000 weight x 0.8 x 4.2 ngonka/weight is the minimum; twice that is recommended
            # (gonka-ai/gonka-docs@570482bc:docs/host/collateral.md).
            "collateral": "6720ngonka",
            "location": "eu-fra",
            "tags": ["h100", "tier-1"],
        },
    ),
    (
        "gpu-ams-02",
        {
            "ssh_hostname": "203.0.113.20",
            "ssh_user": "ubuntu",
            "_sudo": True,
            "key_name": "ams-02",
            "public_host": "203.0.113.20",
            "account_pubkey": "AswRL1HQd7N+XvJc6Sx2mQfHhZ3pZ4yUyqvC2Q0tJ9s1",
            "data_disk": "/dev/nvme1n1",
            "gpu": {"model": "H200", "count": 2, "vram_gb": 141},
            "mlnodes": [
                {
                    "id": "node1",
                    "models": [DEEPSEEK],
                    "max_concurrent": 800,
                    "args": ["--max-num-seqs", "640"],
                },
            ],
            "poc_participation": {MINIMAX: {"delegate": FRA_01}, GLM: {"delegate": WAW_03}},
            "location": "eu-ams",
            "tags": ["h200"],
        },
    ),
    (
        # GLM-5.3-Flash needs MLNode 3.1.0-vllm-0.28.0 (the release's default is 3.0.16): the
        # profile's catalog says so, and this host's MLNode runs it.
        "gpu-waw-03",
        {
            "ssh_hostname": "203.0.113.30",
            "ssh_user": "ubuntu",
            "_sudo": True,
            "key_name": "waw-03",
            "public_host": "203.0.113.30",
            "account_pubkey": "A0SOqNXJ5q4I9T0gSg6hq4UCqKzmmbWU8Rz5Zq4sZ7Jb",
            "data_disk": "/dev/nvme1n1",
            "gpu": {"model": "B200", "count": 4, "vram_gb": 192},
            "mlnodes": [
                {"id": "node1", "models": [GLM], "max_concurrent": 500},
            ],
            "poc_participation": {MINIMAX: {"delegate": FRA_01}, DEEPSEEK: "refuse"},
            "location": "eu-waw",
            "tags": ["b200"],
        },
    ),
]
