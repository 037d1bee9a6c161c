"""The warm key and the participant registration: each happens once per node, ever.

Both run inside the api image (``docker compose run --rm --no-deps -T api``) as the release's
quickstart does. The keyring password travels on stdin; the mnemonic is never printed nor kept on
the server, and is kept locally only when the operator opts in.
"""

from __future__ import annotations

import datetime as dt
import json

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from .. import state as local
from ..facts.gonka import HttpGet, WarmKeyExists
from .compose import compose_command
from .util import run_on_host

API_RUN = ("run", "--rm", "--no-deps", "-T", "api")


def _in_api(directory: str, files: list[str], *args) -> StringCommand:
    return StringCommand("cd", QuoteString(directory), "&&",
                         compose_command(files, *API_RUN, "inferenced", *args))


def _create_key(directory, files, key_name, password, save_mnemonic) -> bool:
    ok, output = run_on_host(_in_api(directory, files, "keys", "add", QuoteString(key_name),
                                     "--keyring-backend", "file", "--output", "json"),
                             stdin=f"{password}\n{password}\n")
    if not ok:
        logger.error(f"{host.print_prefix}keys add failed: {output.stderr[-500:]}")
        return False
    record = json.loads(output.stdout_lines[-1])
    folder = local.node_dir(key_name)
    local.atomic_write(folder / "warm_address.txt", record["address"] + "\n")
    if save_mnemonic:
        local.atomic_write(folder / "warm_mnemonic.txt", record["mnemonic"] + "\n", 0o600)
    logger.info(f"{host.print_prefix}created warm key {key_name}: {record['address']}"
                + (" (mnemonic saved locally, 0600)" if save_mnemonic else ""))
    return True


def _read_address(directory, files, key_name, password) -> bool:
    ok, output = run_on_host(_in_api(directory, files, "keys", "show", QuoteString(key_name),
                                     "-a", "--keyring-backend", "file"),
                             stdin=f"{password}\n")
    if not ok or not output.stdout_lines:
        logger.error(f"{host.print_prefix}keys show failed: {output.stderr[-500:]}")
        return False
    address = output.stdout_lines[-1].strip()
    local.atomic_write(local.node_dir(key_name) / "warm_address.txt", address + "\n")
    logger.info(f"{host.print_prefix}warm key {key_name} exists: {address}")
    return True


@operation()
def warm_key(directory: str, files: list[str], home: str, key_name: str, password,
             save_mnemonic: bool = False):
    """
    Create the warm (ML operational) key once; afterwards only read its address.

    + directory: deploy/join of the clone (compose project directory)
    + files: compose files
    + home: the host path of the api's ``/root/.inference`` (holds ``keyring-file/``)
    + key_name: the key's name
    + password: the keyring password (a ``SecretStr``; sent on stdin only)
    + save_mnemonic: keep the mnemonic in ``nodes/<key_name>/warm_mnemonic.txt`` (0600)

    The address goes to ``nodes/<key_name>/warm_address.txt``.

    **Example:**

    .. code:: python

        keys.warm_key(directory=join, files=files, home=f"{join}/.inference",
                      key_name="fra-01", password=config.keyring_password)
    """
    known = (local.state_root() / key_name / "warm_address.txt").exists()
    exists = host.get_fact(WarmKeyExists, home=home, key_name=key_name)
    if exists and known:
        host.noop(f"warm key {key_name} exists")
        return
    secret = password.get_secret_value()
    if exists:
        yield FunctionCommand(_read_address, (directory, files, key_name, secret), {})
        return
    verb = "creating" if state.is_executing else "would create"
    logger.info(f"{host.print_prefix}{verb} warm key {key_name} in the file keyring")
    yield FunctionCommand(_create_key, (directory, files, key_name, secret, save_mnemonic), {})


def _register(directory, files, key_name, public_url, account_pubkey, seed_api_url) -> bool:
    ok, output = run_on_host(_in_api(directory, files, "register-new-participant",
                                     QuoteString(public_url), QuoteString(account_pubkey),
                                     "--node-address", QuoteString(seed_api_url)))
    if not ok:
        logger.error(f"{host.print_prefix}register-new-participant failed: "
                     f"{(output.stderr or output.stdout)[-800:]}")
        return False
    _save_registration(key_name, {"registered_by": "gonka-deploy", "output": output.stdout})
    logger.info(f"{host.print_prefix}registered {public_url} with {seed_api_url}")
    return True


def _save_registration(key_name: str, record: dict) -> None:
    record = {**record, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    local.write_json(local.node_dir(key_name) / "registration.json", record)


@operation()
def registration(directory: str, files: list[str], key_name: str, public_url: str,
                 account_pubkey: str, account_address: str, seed_api_url: str):
    """
    Register the host as a participant once: only when the seed api does not know it yet.

    + directory: deploy/join of the clone
    + files: compose files
    + key_name: the node's key name (for the local state folder)
    + public_url: the host's ``PUBLIC_URL``
    + account_pubkey: the cold account's public key (base64)
    + account_address: the cold account's address (looked up on the seed api)
    + seed_api_url: the seed api

    The result is kept in ``nodes/<key_name>/registration.json``.

    **Example:**

    .. code:: python

        keys.registration(directory=join, files=files, key_name="fra-01", public_url=url,
                          account_pubkey=pubkey, account_address=addr, seed_api_url=seed)
    """
    found = host.get_fact(HttpGet, url=f"{seed_api_url.rstrip('/')}/v2/participants/"
                                       f"{account_address}")
    participant = (found.get("json") or {}).get("participant") if found["status"] == 200 else None
    if participant:
        if state.is_executing and not (local.state_root() / key_name /
                                       "registration.json").exists():
            _save_registration(key_name, {"registered_by": "found on the seed api",
                                          "participant": participant})
        url = participant.get("inferenceUrl")
        if url and url != public_url:
            logger.warning(f"{host.print_prefix}participant {account_address} is registered "
                           f"with {url}, not {public_url}")
        host.noop(f"participant {account_address} is registered")
        return
    verb = "registering" if state.is_executing else "would register"
    logger.info(f"{host.print_prefix}{verb} participant {account_address} at {public_url}")
    yield FunctionCommand(_register, (directory, files, key_name, public_url, account_pubkey,
                                      seed_api_url), {})


def _grant(key_name: str, command: list[str], warm: str) -> bool:
    """Run the grant on the operator's machine: the cold key never leaves it. The terminal is
    inherited, so a file keyring can ask for its passphrase."""
    import shutil
    import subprocess

    if not shutil.which(command[0]):
        logger.error(f"{host.print_prefix}grant_from_local_keyring: `{command[0]}` is not on "
                     "PATH here; install the inferenced CLI or run the grant command by hand")
        return False
    logger.info(f"{host.print_prefix}granting ML operations to {warm} from this machine")
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=300)
    if proc.returncode:
        logger.error(f"{host.print_prefix}grant failed (rc {proc.returncode}): "
                     f"{proc.stdout[-500:]}")
        return False
    local.write_json(local.node_dir(key_name) / "grant.json",
                     {"warm_address": warm, "command": command, "output": proc.stdout,
                      "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    return True


@operation()
def granted(key_name: str, seed_api_url: str, cold_key_name: str = "gonka-account-key",
            binary: str = "inferenced"):
    """
    Grant the warm key its ML operations permissions from the operator's machine, once per warm
    address (``grant_from_local_keyring: true``; the cold key never touches a server).

    + key_name: the node (its warm address is read from ``nodes/<key_name>/warm_address.txt``)
    + seed_api_url: the network's api; the chain RPC is its ``/chain-rpc/``
    + cold_key_name: the cold key's name in the local keyring
    + binary: the ``inferenced`` CLI on this machine

    **Example:**

    .. code:: python

        keys.granted(key_name="fra-01", seed_api_url="http://node2.gonka.ai:8000")
    """
    folder = local.state_root() / key_name
    warm_file = folder / "warm_address.txt"
    warm = warm_file.read_text().strip() if warm_file.exists() else None
    done = folder / "grant.json"
    if warm and done.exists() and json.loads(done.read_text()).get("warm_address") == warm:
        host.noop(f"{warm} was granted from this machine")
        return
    if not warm and not state.is_executing:
        logger.info(f"{host.print_prefix}will grant ML operations to the new warm key from "
                    "this machine")
    from ..report import grant_argv

    yield FunctionCommand(_grant, (key_name, grant_argv(warm or "", seed_api_url,
                                                        cold_key_name, binary), warm), {})
