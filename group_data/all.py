# Defaults for every host: the release, chain tuning, admin access, monitoring.
#
# The release profile (releases/<name>.py, `gonka-deploy releases`) gives the gonka ref, the
# images of every service, the network entry points, the governance model catalog with the MLNode
# image each model needs, and the GPU presets. Moving to a new release is this one line; review it
# first with `gonka-deploy render inventories/prod.py --release NAME --out DIR` (README, "Moving
# to a new release"). Any single value can still be set here, per group or per host: `images`,
# `model_catalog` and `gpu_presets` merge per key over the profile's, other keys replace.

release = "v0.2.16-post1"

# Known-good mainnet peers: the GENESIS_SEEDS of gonka-ai/gonka@8a35022b:deploy/join/
# docker-compose.yml (node service).
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
