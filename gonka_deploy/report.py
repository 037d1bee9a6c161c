"""The final report of a host: identity, addresses, what changed, the grant command, URLs.

Printed at the end of a run. Built only from public values: the keyring password and the
mnemonic never reach it.
"""

from __future__ import annotations

import shlex

from .address import account_address
from .schema import HostConfig
from .txs import grant_argv

MARKS = {True: "ok", None: "WARN", False: "FAIL"}
__all__ = ["grant_argv", "grant_command", "render_report"]


def grant_command(warm_address: str, seed_api_url: str, cold_key_name: str = "gonka-account-key",
                  keyring_backend: str = "file") -> str:
    """What the operator runs on the machine that holds the cold key (with its fee: since
    v0.2.16 the `cosmos` fee group charges 1 ngonka per gas)."""
    return shlex.join(grant_argv(warm_address, seed_api_url, cold_key_name,
                                 keyring_backend=keyring_backend))


def _verification_lines(verification: dict | None) -> list[str]:
    if not verification or not verification.get("checks"):
        return ["  not run"]
    checks = verification["checks"]
    failed = [c for c in checks if c.get("ok") is False]
    warned = [c for c in checks if c.get("ok") is None]
    head = (f"  {len(checks) - len(failed) - len(warned)} of {len(checks)} checks passed, "
            f"{len(warned)} warning(s), {len(failed)} failed")
    if verification.get("at"):
        head += f" (at {verification['at']})"
    return [head] + [f"  {MARKS[c.get('ok')]}  {c['name']}: {c.get('detail', '')}"
                     for c in failed + warned]


# The verification checks the report shows whatever their result: what runs, and what comes.
CHAIN_CHECKS = {"binaries": "running", "upgrade_plan": "next upgrade"}


def _chain_lines(verification: dict | None) -> list[str]:
    checks = {c["name"]: c for c in (verification or {}).get("checks") or []}
    lines = [f"  {label:<13}{MARKS[checks[name].get('ok')]}  {checks[name].get('detail', '')}"
             for name, label in CHAIN_CHECKS.items() if name in checks]
    return lines or ["  not verified yet"]


def _participation_lines(record: dict | None) -> list[str]:
    """The chain's view of the host's participation: each item, a warning with its fix; then
    the transactions this toolkit sent."""
    if not record or not record.get("checks"):
        return ["  not checked"]
    checks = record["checks"]
    warned = [c for c in checks if c.get("ok") is not True]
    lines = [f"  {len(checks) - len(warned)} of {len(checks)} ok, {len(warned)} warning(s)"
             + (f" (at {record['checked_at']})" if record.get("checked_at") else "")]
    for check in checks:
        lines.append(f"  {MARKS[check.get('ok')]:<4}  {check['name']}: {check.get('detail', '')}")
        lines += [f"        {fix}" for fix in check.get("fix") or []]
    for sent in record.get("sent") or []:
        what = sent.get("model") or sent.get("amount") or ""
        lines.append(f"  sent: {sent['kind']} {what} ({sent['signer']} key) tx "
                     f"{sent.get('txhash') or '-'} {sent['status']} at {sent['at']}"
                     + (f": {sent['detail'][:160]}" if sent.get("detail") else ""))
    return lines


def render_report(config: HostConfig, node_id: str, changes: list[str],
                  verification: dict | None, warm_address: str | None,
                  participation: dict | None = None) -> str:
    cold = account_address(config.account_pubkey)
    seed = config.seed_api_url.rstrip("/")
    public = config.public_url  # http://<public_host>:<api_port>
    lines = [
        f"== {config.key_name} ==",
        "identity",
        f"  key_name   {config.key_name}",
        f"  node_id    {node_id}",
        f"  location   {config.location or '-'}",
        f"  tags       {', '.join(config.tags) or '-'}",
        "addresses",
        f"  public url {config.public_url}",
        f"  p2p        {config.p2p_external_address}",
        f"  cold       {cold}",
        f"  warm       {warm_address or 'not created yet'}",
        "changed this run",
        *([f"  - {change}" for change in changes] or ["  nothing"]),
        "grant (on the machine with the cold key)",
        "  " + (grant_command(warm_address, seed, config.cold_key_name,
                              config.cold_keyring_backend) if warm_address
                else "after the warm key exists (its address is in the next report)"),
        "verification",
        *_verification_lines(verification),
        "chain binaries (cosmovisor)",
        *_chain_lines(verification),
        "participation (PoC models, collateral, fees: as the chain sees them)",
        *_participation_lines(participation),
        "urls",
        f"  health       {public}/health",
        f"  dashboard    {public}/",
        f"  participant  {seed}/v2/participants/{cold}",
        "  on the host  http://127.0.0.1:9200/admin/v1/nodes",
        "               http://127.0.0.1:26657/status",
    ]
    return "\n".join(lines) + "\n"
