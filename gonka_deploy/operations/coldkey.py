"""The cold key on the operator's machine: one host at a time, and only the host's own key.

Cold-key commands (the grant, delegations, refusals, collateral deposits) run here, from this
machine's keyring, with the terminal inherited so a file keyring can ask for its passphrase.
Two hosts at once would interleave their prompts on one terminal (pyinfra runs hosts in
greenlets, and with ``-y`` ``gonka_deploy/flow.py`` drops the barrier between operations), so
every cold-key step holds :data:`COLD_KEY_LOCK` from its first prompt to its last confirmation.

Before the first transaction of a step, the local key's address must be the host's cold
account (the address of its ``account_pubkey``): a key of another account would sign (and pay
for) the host's transactions from the wrong account.
"""

from __future__ import annotations

import shutil
import subprocess

from gevent.lock import RLock
from pyinfra import host, logger

from .. import txs

# Process-wide: the terminal is one. An RLock: a step that calls another keeps it.
COLD_KEY_LOCK = RLock()
TIMEOUT = 300


def run_local(argv: list[str]) -> subprocess.CompletedProcess:
    """Run a cold-key command here: stdout captured (a TxResponse, an address), the terminal's
    stdin and stderr inherited (the passphrase prompt)."""
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=TIMEOUT, check=False)


def local_key_is(cold_address: str | None, key_name: str, keyring_backend: str,
                 binary: str = txs.BINARY, what: str = "cold_txs_from_local_keyring") -> bool:
    """Whether this machine's key ``key_name`` is the account ``cold_address`` (logged, naming
    both addresses, when it is not or cannot be read)."""
    if not shutil.which(binary):
        logger.error(f"{host.print_prefix}{what}: `{binary}` is not on PATH here; install the "
                     "inferenced CLI or run the commands by hand")
        return False
    if not cold_address:
        logger.error(f"{host.print_prefix}{what}: the host's cold account is not known: not "
                     f"signing with the local key {key_name!r} on a guess")
        return False
    proc = run_local(txs.key_address_argv(key_name, keyring_backend, binary))
    lines = [line.strip() for line in (proc.stdout or "").splitlines() if line.strip()]
    local = lines[-1] if lines else ""
    if proc.returncode or not local.startswith("gonka1"):
        logger.error(f"{host.print_prefix}{what}: could not read the address of the local key "
                     f"{key_name!r} (rc {proc.returncode}): nothing sent")
        return False
    if local != cold_address:
        logger.error(f"{host.print_prefix}{what}: the local key {key_name!r} is {local}, but "
                     f"the host's cold account (its account_pubkey) is {cold_address}: nothing "
                     "sent; set cold_key_name to the key of this host's account")
        return False
    return True
