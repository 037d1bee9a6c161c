"""Bad-input cases: each host of the generated inventory carries exactly one defect.

Each case is ``(host name, changes to a valid host, field named, fragment of the message)``.
A change value of ``DELETE`` removes the key. The same cases drive ``gonka-deploy validate`` and
``pyinfra … deploys/node.py --dry`` (see test_bad_input.py).
"""

from __future__ import annotations

import base64

DELETE = object()
DS, GLM = "deepseek-ai/DeepSeek-V4-Flash-0731", "zai-org/GLM-5.3-Flash"
# The base host serves MiniMax-M2.7 and refuses the release's two other PoC models.
REFUSED = {DS: "refuse", GLM: "refuse"}
OWN_COLD = "gonka1uqdsdwwuujcrk95ur6wf6kwhjpajkmjmg8r070"  # of the base host's account_pubkey
V = [{"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True}]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


CASES = [
    ("no-key-name", {"key_name": DELETE}, "key_name", "missing (required)"),
    ("bad-key-name", {"key_name": "Bad_Name"}, "key_name", "must match"),
    ("dup-key-a", {"key_name": "dup-key"}, "key_name", "duplicate key_name 'dup-key'"),
    ("dup-key-b", {"key_name": "dup-key", "public_host": "203.0.113.99"}, "key_name",
     "duplicate key_name 'dup-key'"),
    ("no-public-host", {"public_host": DELETE}, "public_host", "missing (required)"),
    ("bad-public-host", {"public_host": "not a host!"}, "public_host", "not an IP address or DNS"),
    ("bad-public-ip", {"public_host": "999.1.1.1"}, "public_host", "not an IP address or DNS"),
    ("dup-url-a", {"public_host": "203.0.113.50"}, "public_host", "duplicate public_host:api_port"),
    ("dup-url-b", {"public_host": "203.0.113.50"}, "public_host", "duplicate public_host:api_port"),
    ("port-zero", {"api_port": 0}, "api_port", "greater than or equal to 1"),
    ("port-high", {"api_port": 70000}, "api_port", "less than or equal to 65535"),
    ("port-text", {"api_port": "http"}, "api_port", "valid integer"),
    ("port-clash", {"p2p_port": 8000}, "api_port", "must differ"),
    ("no-pubkey", {"account_pubkey": DELETE}, "account_pubkey", "missing (required)"),
    ("pubkey-not-b64", {"account_pubkey": "%%%not-base64%%%"}, "account_pubkey", "not base64"),
    ("pubkey-short", {"account_pubkey": b64(b"\x02" + bytes(31))}, "account_pubkey",
     "decodes to 32 bytes"),
    ("pubkey-prefix", {"account_pubkey": b64(b"\x04" + bytes(32))}, "account_pubkey",
     "does not start with 0x02 or 0x03"),
    ("pw-missing", {}, "keyring_password", "missing: set GONKA_KEYRING_PASSWORD_PW_MISSING"),
    ("pw-short", {}, "keyring_password", "too short (9 characters"),
    ("pw-placeholder", {}, "keyring_password", "placeholder"),
    ("pw-in-data", {"keyring_password": "a-literal-password-in-inventory"}, "keyring_password",
     "must not be set in inventory"),
    ("model-unknown", {"mlnodes": [{"id": "node1", "models": ["acme/unknown-7b"]}]},
     "mlnodes[0].models", "'acme/unknown-7b' is not in model_catalog"),
    ("vram-too-small", {"gpu": {"model": "H100", "count": 1, "vram_gb": 80}},
     "mlnodes[0].models", "needs 320 GB VRAM, gpu has 1 x 80 = 80 GB"),
    ("dup-node-id", {"mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]},
                                 {"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]}]},
     "mlnodes", "duplicate ML node id 'node1'"),
    ("no-mlnodes", {"mlnodes": []}, "mlnodes", "at least 1 item"),
    ("zero-concurrent", {"mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"],
                                      "max_concurrent": 0}]},
     "mlnodes[0].max_concurrent", "greater than 0"),
    ("bad-preset", {"mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"],
                                 "preset": "X99x3"}]},
     "mlnodes[0].preset", "no preset 'X99x3'"),
    ("disk-relative", {"data_disk": "vdb"}, "data_disk", "not an absolute /dev/"),
    ("disk-traversal", {"data_disk": "/dev/../etc/passwd"}, "data_disk", "not an absolute /dev/"),
    ("mount-relative", {"data_mount": "mnt/ssd"}, "data_mount", "not an absolute path"),
    ("fstype-unknown", {"data_fstype": "btrfs"}, "data_fstype", "'ext4' or 'xfs'"),
    ("gpu-zero", {"gpu": {"model": "H100", "count": 0, "vram_gb": 80}}, "gpu.count",
     "greater than or equal to 1"),
    ("two-current", {"mlnode_versions": [*V, {**V[0], "version": "v3.0.9"}]},
     "mlnode_versions", "exactly one current version (got 2"),
    ("no-current", {"mlnode_versions": [{**V[0], "current": False}]},
     "mlnode_versions", "exactly one current version (got 0"),
    ("bad-version", {"mlnode_versions": [{**V[0], "version": "3.0.8"}]},
     "mlnode_versions[0].version", "not a version segment"),
    ("bad-image", {"images": {"tmkms": "t:1", "node": "UPPER/Case:1", "api": "a:1",
                              "proxy": "p:1"}}, "images.node", "not an image reference"),
    ("bad-seed-url", {"seed_api_url": "ftp://node2.gonka.ai"}, "seed_api_url",
     "not an http(s) URL"),
    ("bad-p2p-url", {"seed_node_p2p_url": "node2.gonka.ai:5000"}, "seed_node_p2p_url",
     "not a tcp://host:port"),
    ("one-rpc-server", {"rpc_servers": ["http://node1.gonka.ai:8000/chain-rpc/"]},
     "rpc_servers", "at least 2 items"),
    ("bad-repo-url", {"gonka_repo_url": "not a url"}, "gonka_repo_url", "not a git URL"),
    ("unknown-release", {"release": "v9.9.9"}, "release",
     "unknown release 'v9.9.9' (known: v0.2.13, v0.2.14, v0.2.16-post1)"),
    ("bad-public-port", {"public_ports": ["30303/sctp"]}, "public_ports",
     "is not a port like 30303"),
    ("old-mlnode-image", {"mlnodes": [{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"],
                                       "image": "ghcr.io/gonka-ai/mlnode:3.0.13"}]},
     "mlnodes[0].image", "is older than ghcr.io/gonka-ai/mlnode:3.0.14-post2, the oldest"),
    ("bad-pruning", {"pruning": {"mode": "custom", "keep_recent": 100, "interval": 0}},
     "pruning", "interval >= 10"),
    ("bad-peer", {"persistent_peers": ["node2.gonka.ai:5000"]}, "persistent_peers",
     "is not node_id@host:port"),
    ("bad-ssh-key", {"admin_ssh_keys": ["AAAAC3NzaC1lZDI1NTE5 laptop"]}, "admin_ssh_keys",
     "not an OpenSSH public key"),
    ("typo-key", {"locaton": "eu-fra"}, "locaton", "unknown key (did you mean 'location'?)"),
    ("bad-commit", {"model_catalog_extra": {"org/m": {"hf_repo": "org/m", "hf_commit": "main",
                                                      "min_vram_gb": 1}}},
     "model_catalog_extra.org/m.hf_commit", "not a 40-hex commit sha"),
    ("poc-no-choice", {"poc_participation": {GLM: "refuse"}}, "poc_participation",
     f"no choice for PoC model {DS} of release v0.2.16-post1, which no ML node"),
    ("poc-unknown-model", {"poc_participation": {**REFUSED, "acme/poc-9b": "refuse"}},
     "poc_participation.acme/poc-9b", "not a model of release v0.2.16-post1 nor of any known"),
    ("poc-run-unserved", {"poc_participation": {**REFUSED, GLM: "run"}},
     f"poc_participation.{GLM}", "'run' needs an ML node of this host that serves"),
    ("poc-bad-choice", {"poc_participation": {**REFUSED, GLM: "skip"}},
     f"poc_participation.{GLM}", "'skip' is not 'run', 'refuse' or {'delegate'"),
    ("poc-bad-delegate", {"poc_participation": {**REFUSED, GLM: {"delegate": "gonka1typo"}}},
     f"poc_participation.{GLM}", "'gonka1typo': not bech32"),
    ("poc-self-delegate", {"poc_participation": {**REFUSED, GLM: {"delegate": OWN_COLD}}},
     f"poc_participation.{GLM}", "delegates to this host's own cold account"),
    ("collateral-no-unit", {"collateral": 3360}, "collateral",
     "3360 has no unit: write '3360ngonka' or '3360 GNK'"),
    ("collateral-bad-unit", {"collateral": "5 atom"}, "collateral",
     "unit 'atom' is neither 'ngonka' nor 'GNK'"),
    ("cold-min-fraction", {"cold_balance_min": "0.0000000001 GNK"}, "cold_balance_min",
     "is not a whole number of ngonka"),
    # issue 20 item 8: the inventory name becomes a path (render --out DIR/<name>)
    ("../../escape", {"key_name": "escape-name"}, "(inventory host name)",
     "not a safe host name"),
    ("-dash-first", {"key_name": "dash-first"}, "(inventory host name)", "not a safe host name"),
    ("dots..inside", {"key_name": "dots-inside"}, "(inventory host name)", "`..` is not allowed"),
    # issue 20 item 11: paths go raw into fstab and compose files
    ("mount-space", {"data_mount": "/mnt/my ssd"}, "data_mount", "not a plain absolute path"),
    ("mount-newline", {"data_mount": "/mnt/ssd\n/etc"}, "data_mount", "not a plain absolute"),
    ("mount-hash", {"data_mount": "/mnt/ssd#x"}, "data_mount", "not a plain absolute path"),
    ("mount-dotdot", {"data_mount": "/mnt/../etc"}, "data_mount", "not a normalised path"),
    ("mount-double-slash", {"data_mount": "/mnt//ssd"}, "data_mount", "not a plain absolute"),
    ("hf-colon", {"hf_home": "/mnt/hf:/root"}, "hf_home", "not a plain absolute path"),
    ("gonka-dir-quote", {"gonka_dir": "/opt/g'x"}, "gonka_dir", "not a plain absolute path"),
    ("disk-deep-traversal", {"data_disk": "/dev/disk/../../etc/passwd"}, "data_disk",
     "not an absolute /dev/"),
    ("gonka-ref-newline", {"gonka_ref": "main\nservices:"}, "gonka_ref",
     "not a git branch, tag or commit"),
    # issue 20 item 10: exclusive with no key listed would lock every admin out
    ("ssh-exclusive-empty", {"admin_ssh_keys_exclusive": True}, "admin_ssh_keys_exclusive",
     "would remove every key of the login user"),
    ("ssh-key-control-char", {"admin_ssh_keys": ["ssh-ed25519 AAAAC3Nz ops\x1b[2J"]},
     "admin_ssh_keys", "not an OpenSSH public key"),
]

# Passwords per host, given through the per-key environment variable.
PASSWORDS = {"pw-short": "short-pw9", "pw-placeholder": "<FILLIN>-and-then-some"}
DEFAULT_PASSWORD = "case-keyring-Password-42"


def inventory_hosts(base: dict) -> list[tuple[str, dict]]:
    """One host per case (plus a valid control host), each derived from ``base``."""
    hosts = [("control-ok", {**base, "key_name": "control-ok", "public_host": "203.0.113.1"})]
    for index, (name, changes, _, _) in enumerate(CASES):
        data = {**base, "key_name": name, "public_host": f"198.51.100.{index + 1}"}
        for key, value in changes.items():
            if value is DELETE:
                data.pop(key, None)
            else:
                data[key] = value
        hosts.append((name, data))
    return hosts


def environment(hosts: list[tuple[str, dict]]) -> dict[str, str]:
    """Per-key password variables for every host except the one testing a missing password."""
    env = {}
    for name, data in hosts:
        key = data.get("key_name")
        if not isinstance(key, str) or name == "pw-missing":
            continue
        var = "GONKA_KEYRING_PASSWORD_" + key.upper().replace("-", "_").replace("_", "_")
        env[var] = PASSWORDS.get(name, DEFAULT_PASSWORD)
    return env
