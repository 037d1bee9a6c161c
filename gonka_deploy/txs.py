"""The exact `inferenced` transactions of a host's PoC participation, collateral and fees.

Each function returns an argv (a list: never a shell string), for the operator to run on the
machine that holds the cold key, or for the api container to run with the warm key. Sources:

- Subcommands and positional arguments: gonka-ai/gonka@ee730031 (= kaitakuai/gonka@ee730031)
  inference-chain/x/inference/module/autocli.go (`declare-poc-intent [model-id]`,
  `set-poc-delegation [model-id] [delegate-to]`, `refuse-poc-delegation [model-id]`) and
  inference-chain/x/collateral/module/autocli.go (`deposit-collateral [amount]`).
- Flag set of the PoC commands (`--gas auto --gas-adjustment 1.3 -y`, `--chain-id`, `--node
  <seed>/chain-rpc/`, `--keyring-backend file`): gonka-ai/gonka-docs@570482bc:
  docs/host/multi_model_poc.md and docs/host/deepseek-bootstrap.md; collateral:
  docs/host/collateral.md (signed by the "Account Key (cold key)").
- The warm-key intent (v0.2.16, gonka-ai/gonka#1760): `declare-poc-intent … --from
  <COLD_ADDRESS> --generate-only --offline --account-number 0 --sequence 0`, then `tx authz exec
  <file> --from <WARM_KEY> --keyring-backend file --gas 300000 --chain-id … --node …`
  (gonka-ai/gonka-docs:docs/zh/FAQ.md, "warm key" PoC intent section).
- Fees: since v0.2.16 "The `epoch` and `cosmos` groups are enabled by default at 1 ngonka per
  gas" (gonka-ai/gonka@136041c8:proposals/governance-artifacts/update-v0.2.16/README.md, "Fee");
  the intent, delegation, refusal and collateral messages are in `epoch`, authz and feegrant in
  `cosmos` (gonka-ai/gonka:inference-chain/x/inference/types/fee_groups.go). Hence
  ``--gas-prices 1ngonka`` on every one of them. The warm key holds no coins: its fee is paid by
  the cold account through the cold->warm fee grant (`--fee-granter`, the standard SDK flag; the
  api does the same, gonka-ai/gonka-docs:docs/dashboard-maintainer-memo-v0.2.16-fee.md).
"""

from __future__ import annotations

import shlex

from .units import coin

BINARY = "inferenced"
GAS_PRICE = "1ngonka"
FEES = ("--gas-prices", GAS_PRICE)
AUTO_GAS = ("--gas", "auto", "--gas-adjustment", "1.3")
# grant-ml-ops-permissions: ~20 authz grants and a fee allowance in one tx; 2000000 as the
# quickstart's (gonka-ai/gonka-docs@570482bc:docs/host/quickstart.md), now with its fee.
GRANT_GAS = "2000000"
EXEC_GAS = "300000"          # the FAQ's `tx authz exec … --gas 300000`
INTENT_MSG = "/inference.inference.MsgDeclarePoCIntent"


def chain_rpc(seed_api_url: str) -> str:
    return f"{seed_api_url.rstrip('/')}/chain-rpc/"


def grant_argv(warm_address: str, seed_api_url: str, cold_key_name: str = "gonka-account-key",
               binary: str = BINARY, keyring_backend: str = "file") -> list[str]:
    """The grant (authz for ML operations + the cold->warm fee grant), signed by the cold key
    (gonka-ai/gonka@ee730031:inference-chain/x/inference/module/commands.go,
    `grant-ml-ops-permissions <account-key-name> <ml-operational-address>`)."""
    return [binary, "tx", "inference", "grant-ml-ops-permissions", cold_key_name, warm_address,
            "--from", cold_key_name, "--keyring-backend", keyring_backend, "--gas", GRANT_GAS,
            *FEES, "--node", chain_rpc(seed_api_url)]


def intent_generate_argv(model: str, cold_address: str, binary: str = BINARY) -> list[str]:
    """The unsigned MsgDeclarePoCIntent of the cold account (no key needed: an address)."""
    return [binary, "tx", "inference", "declare-poc-intent", model, "--from", cold_address,
            "--generate-only", "--offline", "--account-number", "0", "--sequence", "0"]


def authz_exec_argv(tx_file: str, warm_key_name: str, cold_address: str, chain_id: str,
                    node: str, binary: str = BINARY) -> list[str]:
    """The warm key executes the cold account's message under its authz grant; the cold account
    pays the fee through its fee grant."""
    return [binary, "tx", "authz", "exec", tx_file, "--from", warm_key_name,
            "--keyring-backend", "file", "--gas", EXEC_GAS, *FEES, "--fee-granter", cold_address,
            "--chain-id", chain_id, "--node", node, "-y", "--output", "json"]


def _cold(args: list[str], cold_key_name: str, keyring_backend: str, chain_id: str, node: str,
          binary: str) -> list[str]:
    return [binary, "tx", *args, "--from", cold_key_name, "--keyring-backend", keyring_backend,
            *AUTO_GAS, *FEES, "--chain-id", chain_id, "--node", node, "-y", "--output", "json"]


def intent_argv(model: str, cold_key_name: str, keyring_backend: str, chain_id: str, node: str,
                binary: str = BINARY) -> list[str]:
    """declare-poc-intent signed by the cold key itself (always allowed to the participant)."""
    return _cold(["inference", "declare-poc-intent", model], cold_key_name, keyring_backend,
                 chain_id, node, binary)


def delegation_argv(model: str, delegate_to: str, cold_key_name: str, keyring_backend: str,
                    chain_id: str, node: str, binary: str = BINARY) -> list[str]:
    return _cold(["inference", "set-poc-delegation", model, delegate_to], cold_key_name,
                 keyring_backend, chain_id, node, binary)


def refusal_argv(model: str, cold_key_name: str, keyring_backend: str, chain_id: str, node: str,
                 binary: str = BINARY) -> list[str]:
    return _cold(["inference", "refuse-poc-delegation", model], cold_key_name, keyring_backend,
                 chain_id, node, binary)


def delegation_target(argv: list[str]) -> str | None:
    """The ``delegate-to`` of a ``delegation_argv`` (None for any other command)."""
    if argv[1:4] == ["tx", "inference", "set-poc-delegation"] and len(argv) > 5:
        return argv[5]
    return None


def collateral_argv(ngonka: int, cold_key_name: str, keyring_backend: str, chain_id: str,
                    node: str, binary: str = BINARY) -> list[str]:
    """Deposits add up on chain: ``ngonka`` is what to add, not the total."""
    return _cold(["collateral", "deposit-collateral", coin(ngonka)], cold_key_name,
                 keyring_backend, chain_id, node, binary)


def intent_grant_argv(warm_address: str, cold_key_name: str, keyring_backend: str,
                      chain_id: str, node: str, binary: str = BINARY) -> list[str]:
    """The one authz grant the warm key needs to declare intents, for a cold->warm pair that
    predates v0.2.16's backfill (gonka-ai/gonka-docs:docs/zh/FAQ.md: `tx authz grant
    <WARM_ADDRESS> generic --msg-type=/inference.inference.MsgDeclarePoCIntent --from <COLD_KEY>
    --gas 200000`)."""
    return [binary, "tx", "authz", "grant", warm_address, "generic", f"--msg-type={INTENT_MSG}",
            "--from", cold_key_name, "--keyring-backend", keyring_backend, "--gas", "200000",
            *FEES, "--chain-id", chain_id, "--node", node, "-y"]


def revoke_allowance_argv(cold_address: str, warm_address: str, cold_key_name: str,
                          keyring_backend: str, chain_id: str, node: str,
                          binary: str = BINARY) -> list[str]:
    """Remove the cold->warm fee grant so that the next grant-ml-ops-permissions creates a fresh
    one (it skips an existing allowance: gonka-ai/gonka@ee730031:inference-chain/x/inference/
    permissions.go). The SDK's `tx feegrant revoke [granter] [grantee]` (cosmos-sdk x/feegrant
    client)."""
    return _cold(["feegrant", "revoke", cold_address, warm_address], cold_key_name,
                 keyring_backend, chain_id, node, binary)


def fund_argv(cold_address: str, ngonka: int, chain_id: str, node: str,
              binary: str = BINARY) -> list[str]:
    """Fund the cold account from any key that holds coins (`tx bank send [from_key_or_address]
    [to_address] [amount]`, the SDK's bank module); ``<FUNDING_KEY>`` is the operator's."""
    return [binary, "tx", "bank", "send", "<FUNDING_KEY>", cold_address, coin(ngonka), *FEES,
            "--chain-id", chain_id, "--node", node, "-y"]


def key_address_argv(key_name: str, keyring_backend: str, binary: str = BINARY) -> list[str]:
    """The address of a key of this machine's keyring: ``keys show <name> -a`` prints the bech32
    address and a newline on stdout (cosmos/cosmos-sdk v0.50 client/keys/show.go
    ``ShowKeysCmd``, ``-a/--address``). A file keyring asks its passphrase once, on the
    inherited terminal."""
    return [binary, "keys", "show", key_name, "-a", "--keyring-backend", keyring_backend]


def text(argv: list[str]) -> str:
    return shlex.join(argv)
