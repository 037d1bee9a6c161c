"""The warm key and the participant registration: each happens once per node, ever.

Both run inside the api image (``docker compose run --rm --no-deps -T api``) as the release's
quickstart does. The keyring password travels on stdin; the mnemonic is never printed nor kept on
the server, and is kept locally only when the operator opts in.
"""

from __future__ import annotations

import json

from pydantic import SecretStr
from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.gonka import HTTP_SCRIPT, HttpGet, WarmKeyExists, parse_http
from ..hostside import is_transient, source
from ..state import Grant, NodeState, Registration, now
from .compose import compose_command
from .util import host_step, need, operation, refuse, run_on_host

API_RUN = ("run", "--rm", "--no-deps", "-T", "api")
# The seed api decides whether a registration is sent: transient answers are tried again, and a
# registration is never sent while the seed cannot say whether the participant exists.
SEED_ATTEMPTS = 4


# `sh -c SCRIPT _ DIRECTORY SERVICE NFILES FILE… ARGS…`: docker compose with SERVICE's logging
# driver set to `none` for that one run (gonka_deploy/hostside/compose_unlogged.sh).
COMPOSE_UNLOGGED_SCRIPT = source("compose_unlogged.sh")


def _in_api(directory: str, files: list[str], *args) -> StringCommand:
    return StringCommand("cd", QuoteString(directory), "&&",
                         compose_command(files, *API_RUN, "inferenced", *args))


def _in_api_unlogged(directory: str, files: list[str], *args) -> StringCommand:
    """``inferenced ARGS`` in a one-off api container whose output no log driver keeps.

    ``docker compose run`` sends the container's stdout through the engine's log driver
    (json-file, journald, syslog, fluentd: kept on disk or shipped elsewhere) as well as to the
    attached client, and it has no ``--log-driver`` flag. So this run gets one more compose file,
    ``services: {api: {logging: {driver: none}}}`` (the compose spec's ``logging`` attribute;
    ``none``: no log at all), written to a temporary file on the host and removed after: the
    output reaches only this command's stdout (the attach stream is not the log). The api
    service itself keeps its logging."""
    return StringCommand("sh", "-c", QuoteString(COMPOSE_UNLOGGED_SCRIPT), "_",
                         QuoteString(directory), API_RUN[-1], str(len(files)),
                         *(QuoteString(name) for name in files), *API_RUN, "inferenced", *args)


def _key_record(lines: list[str]) -> dict | None:
    """The JSON record ``keys add --output json`` prints (one line on stdout, after any
    prompt): name, address, pubkey, mnemonic. None when no line is such a record."""
    for line in reversed(lines or []):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (isinstance(record, dict) and isinstance(record.get("address"), str)
                and isinstance(record.get("mnemonic"), str)):
            return record
    return None


def _create_key(directory, files, key_name, password: SecretStr, save_mnemonic) -> bool:
    """``keys add`` once, in an api container that logs nothing (the mnemonic is on its
    stdout). The password goes on stdin (twice: a new file keyring asks to re-enter it); the
    mnemonic is never logged, and is kept locally only with ``save_mnemonic``. A run cut after
    the key was made finds it next time (``WarmKeyExists``) and only reads its address:
    ``keys add`` never runs for a key that exists (and would refuse to override it)."""
    secret = password.get_secret_value()  # the one place it is needed: stdin of `keys add`
    ok, output = run_on_host(_in_api_unlogged(directory, files, "keys", "add",
                                              QuoteString(key_name), "--keyring-backend",
                                              "file", "--output", "json"),
                             stdin=f"{secret}\n{secret}\n")
    if not ok:
        # stderr holds the prompts and the error; the record (with the mnemonic) is on stdout
        logger.error(f"{host.print_prefix}keys add failed: {output.stderr[-500:].strip()}; if "
                     "the key was made before the failure, the next run finds it and reads its "
                     "address (no second key is made)")
        return False
    record = _key_record(output.stdout_lines)
    if record is None:
        # never show that output: it may hold the mnemonic
        logger.error(f"{host.print_prefix}keys add printed no key record (its output is not "
                     "shown: it may hold the mnemonic); the next run finds the key if it was "
                     "made and reads its address")
        return False
    node = NodeState(key_name)
    node.set_warm_address(record["address"])
    if save_mnemonic:
        node.save_mnemonic(record["mnemonic"])
    logger.info(f"{host.print_prefix}created warm key {key_name}: {record['address']}"
                + (" (mnemonic saved locally, 0600)" if save_mnemonic else ""))
    return True


def _read_address(directory, files, key_name, password: SecretStr) -> bool:
    ok, output = run_on_host(_in_api(directory, files, "keys", "show", QuoteString(key_name),
                                     "-a", "--keyring-backend", "file"),
                             stdin=f"{password.get_secret_value()}\n")
    if not ok or not output.stdout_lines:
        logger.error(f"{host.print_prefix}keys show failed: {output.stderr[-500:]}")
        return False
    address = output.stdout_lines[-1].strip()
    NodeState(key_name).set_warm_address(address)
    logger.info(f"{host.print_prefix}warm key {key_name} exists: {address}")
    return True


@operation()
def warm_key(directory: str, files: list[str], home: str, key_name: str, password: SecretStr,
             save_mnemonic: bool = False):
    """
    Create the warm (ML operational) key once; afterwards only read its address.

    + directory: deploy/join of the clone (compose project directory)
    + files: compose files
    + home: the host path of the api's ``/root/.inference`` (holds ``keyring-file/``)
    + key_name: the key's name
    + password: the keyring password (a ``SecretStr``, unwrapped only for stdin)
    + save_mnemonic: keep the mnemonic locally (0600, see ``gonka_deploy.state``)

    The address is kept in the node's local state.

    **Example:**

    .. code:: python

        keys.warm_key(directory=join, files=files, home=f"{join}/.inference",
                      key_name="fra-01", password=config.keyring_password)
    """
    known = NodeState(key_name).warm_address() is not None
    exists = need(host.get_fact(WarmKeyExists, home=home, key_name=key_name), "the keyring")
    if exists and known:
        host.noop(f"warm key {key_name} exists")
        return
    if exists:
        yield from host_step(_read_address, directory, files, key_name, password,
                             what="reading the warm key's address")
        return
    verb = "creating" if state.is_executing else "would create"
    logger.info(f"{host.print_prefix}{verb} warm key {key_name} in the file keyring")
    yield from host_step(_create_key, directory, files, key_name, password, save_mnemonic,
                         what="creating the warm key")


def participant_url(seed_api_url: str, account_address: str) -> str:
    return f"{seed_api_url.rstrip('/')}/v2/participants/{account_address}"


def _lookup(seed_api_url: str, account_address: str) -> dict:
    """The seed's answer about the participant, from inside a FunctionCommand."""
    ok, output = run_on_host(StringCommand(
        "sh", "-c", QuoteString(HTTP_SCRIPT), "_",
        QuoteString(participant_url(seed_api_url, account_address)), str(SEED_ATTEMPTS)))
    return parse_http(output.stdout_lines if ok else [])


def _register(directory, files, key_name, public_url, account_pubkey, account_address,
              seed_api_url) -> bool:
    """Send the registration; when it fails on the way (a reset connection), ask the seed
    whether it arrived before sending it again: it is never sent twice."""
    for attempt in range(1, 4):
        ok, output = run_on_host(_in_api(directory, files, "register-new-participant",
                                         QuoteString(public_url), QuoteString(account_pubkey),
                                         "--node-address", QuoteString(seed_api_url)))
        if ok:
            NodeState(key_name).set_registration(Registration(
                registered_by="gonka-deploy", at=now(), output=output.stdout))
            logger.info(f"{host.print_prefix}registered {public_url} with {seed_api_url}")
            return True
        text = (output.stderr or output.stdout)[-800:]
        if not is_transient(text):
            logger.error(f"{host.print_prefix}register-new-participant failed: {text}")
            return False
        found = _lookup(seed_api_url, account_address)
        participant = (found["json"] or {}).get("participant") if found["status"] == 200 \
            else None
        if participant:
            NodeState(key_name).set_registration(Registration(
                registered_by="gonka-deploy", at=now(), participant=participant))
            logger.info(f"{host.print_prefix}the registration arrived despite a transient "
                        f"error ({text.strip().splitlines()[-1] if text.strip() else '?'})")
            return True
        if found["status"] != 404:
            logger.error(f"{host.print_prefix}register-new-participant failed ({text}); the "
                         f"seed api cannot say whether it arrived (status "
                         f"{found['status'] or 'none'}): not sending it again on a guess")
            return False
        logger.warning(f"{host.print_prefix}register-new-participant: transient failure; the "
                       f"seed api does not know the participant: attempt {attempt + 1} of 3")
    return False


@operation()
def registration(directory: str, files: list[str], key_name: str, public_url: str,
                 account_pubkey: str, account_address: str, seed_api_url: str):
    """
    Register the host as a participant once: only when the seed api says it does not know it.

    + directory: deploy/join of the clone
    + files: compose files
    + key_name: the node's key name (for the local state)
    + public_url: the host's ``PUBLIC_URL``
    + account_pubkey: the cold account's public key (base64)
    + account_address: the cold account's address (looked up on the seed api)
    + seed_api_url: the seed api

    The seed api's answer decides: 200 with the participant: nothing to do; 404: register;
    anything else (after retries with backoff): the host fails, nothing is sent on a guess.

    **Example:**

    .. code:: python

        keys.registration(directory=join, files=files, key_name="fra-01", public_url=url,
                          account_pubkey=pubkey, account_address=addr, seed_api_url=seed)
    """
    url = participant_url(seed_api_url, account_address)
    found = need(host.get_fact(HttpGet, url=url, attempts=SEED_ATTEMPTS), f"the seed api ({url})")
    if found.get("attempts", 1) > 1:
        logger.warning(f"{host.print_prefix}the seed api answered after {found['attempts']} "
                       "attempts")
    participant = (found.get("json") or {}).get("participant") if found["status"] == 200 \
        else None
    if participant:
        node = NodeState(key_name)
        if state.is_executing and node.registration() is None:
            node.set_registration(Registration(registered_by="found on the seed api", at=now(),
                                               participant=participant))
        registered_url = participant.get("inferenceUrl")
        if registered_url and registered_url != public_url:
            logger.warning(f"{host.print_prefix}participant {account_address} is registered "
                           f"with {registered_url}, not {public_url}")
        host.noop(f"participant {account_address} is registered")
        return
    if found["status"] != 404:
        yield from refuse(f"the seed api {url} answered {found['status'] or 'nothing'} after "
                          f"{found.get('attempts', 1)} attempt(s): not registering on a guess; "
                          "re-run when it answers")
        return
    verb = "registering" if state.is_executing else "would register"
    logger.info(f"{host.print_prefix}{verb} participant {account_address} at {public_url}")
    yield from host_step(_register, directory, files, key_name, public_url, account_pubkey,
                         account_address, seed_api_url, what="the registration")


def _grant(key_name: str, command: list[str], warm: str, cold_address: str | None = None,
           cold_key_name: str = "gonka-account-key", keyring_backend: str = "file",
           chain_api: str | None = None) -> bool:
    """Run the grant on the operator's machine: the cold key never leaves it. The terminal is
    inherited, so a file keyring can ask for its passphrase; one host at a time
    (``coldkey.COLD_KEY_LOCK``), and only when the local key is the host's cold account. After
    it, the chain must show the grants (with ``chain_api``): otherwise stop and report."""
    from .coldkey import COLD_KEY_LOCK, local_key_is, run_local

    if not warm:
        logger.error(f"{host.print_prefix}the warm key's address is not known: nothing to grant")
        return False
    with COLD_KEY_LOCK:
        if not local_key_is(cold_address, cold_key_name, keyring_backend, command[0],
                            what="grant_from_local_keyring"):
            return False
        logger.info(f"{host.print_prefix}granting ML operations to {warm} from this machine")
        proc = run_local(command)
        if proc.returncode:
            logger.error(f"{host.print_prefix}grant failed (rc {proc.returncode}): "
                         f"{(proc.stdout or '')[-500:]}")
            return False
        NodeState(key_name).set_grant(Grant(warm_address=warm, command=command,
                                            output=proc.stdout or "", at=now()))
        if chain_api and cold_address:
            missing = _grants_missing(chain_api, cold_address, warm)
            if missing:
                logger.error(f"{host.print_prefix}the grant ran, but the chain does not show "
                             f"it: {missing}; not granting again: check the cold account's "
                             "transactions")
                return False
    return True


def _grants_missing(chain_api: str, cold_address: str, warm: str) -> str | None:
    """What of the grant the chain does not show (None: the fee grant and the ML operations
    grant are there), read from the host inside a FunctionCommand."""
    from ..facts.participation import AuthzGrants, FeeAllowance
    from ..participation import CLAIM_MSG

    reads = {}
    for fact, url in ((FeeAllowance, f"{chain_api}/cosmos/feegrant/v1beta1/allowance/"
                       f"{cold_address}/{warm}"),
                      (AuthzGrants, f"{chain_api}/cosmos/authz/v1beta1/grants?granter="
                       f"{cold_address}&grantee={warm}")):
        ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                               QuoteString(url), str(SEED_ATTEMPTS)))
        value = fact().process(output.stdout_lines if ok else [])
        if value["error"]:
            return f"{url}: {value['error']}"
        reads[fact.__name__] = value
    if not reads["FeeAllowance"]["found"]:
        return f"no fee grant from {cold_address} to {warm}"
    if CLAIM_MSG not in reads["AuthzGrants"]["grants"]:
        return f"no authz grant for {CLAIM_MSG} to {warm}"
    return None


@operation()
def granted(key_name: str, seed_api_url: str, cold_key_name: str = "gonka-account-key",
            binary: str = "inferenced", chain_api: str | None = None,
            cold_address: str | None = None, keyring_backend: str = "file"):
    """
    Grant the warm key its ML operations permissions and the cold->warm fee grant from the
    operator's machine (``grant_from_local_keyring: true``; the cold key never touches a
    server), only when the chain lacks them.

    + key_name: the node (its warm address comes from the node's local state)
    + seed_api_url: the network's api; the chain RPC is its ``/chain-rpc/``
    + cold_key_name: the cold key's name in the local keyring
    + binary: the ``inferenced`` CLI on this machine
    + chain_api: the chain's REST: the fee grant and the authz grants are read there and decide
      (without it, a grant this machine made for the same warm address counts as done)
    + cold_address: the cold account (the granter)
    + keyring_backend: the local keyring's backend

    **Example:**

    .. code:: python

        keys.granted(key_name="fra-01", seed_api_url="http://node2.gonka.ai:8000",
                     chain_api="http://node2.gonka.ai:8000/chain-api", cold_address="gonka1…")
    """
    from ..facts.participation import AuthzGrants, FeeAllowance
    from ..participation import CLAIM_MSG
    from ..report import grant_argv

    node = NodeState(key_name)
    warm = node.warm_address()
    done = node.grant()
    if warm and chain_api and cold_address:
        allowance_url = f"{chain_api}/cosmos/feegrant/v1beta1/allowance/{cold_address}/{warm}"
        grants_url = f"{chain_api}/cosmos/authz/v1beta1/grants?granter={cold_address}" \
            f"&grantee={warm}"
        allowance = need(host.get_fact(FeeAllowance, url=allowance_url, attempts=SEED_ATTEMPTS),
                         "the fee grant")
        grants = need(host.get_fact(AuthzGrants, url=grants_url, attempts=SEED_ATTEMPTS),
                      "the authz grants")
        if allowance["error"] or grants["error"]:
            where = allowance_url if allowance["error"] else grants_url
            yield from refuse(f"could not read the grants on the chain ({where}: "
                              f"{allowance['error'] or grants['error']}): not granting on a "
                              "guess")
            return
        if allowance["found"] and CLAIM_MSG in grants["grants"]:
            host.noop(f"{warm} holds its ML operations grants and fee grant on chain")
            return
    elif warm and done is not None and done.warm_address == warm:
        host.noop(f"{warm} was granted from this machine")
        return
    if not warm and not state.is_executing:
        logger.info(f"{host.print_prefix}will grant ML operations to the new warm key from "
                    "this machine")

    if not cold_address:
        yield from refuse("grant_from_local_keyring: the host's cold account is not given: the "
                          f"local key {cold_key_name!r} cannot be checked; not granting on a "
                          "guess")
        return
    yield from host_step(_grant, key_name, grant_argv(warm or "", seed_api_url, cold_key_name,
                                                      binary, keyring_backend), warm,
                         cold_address, cold_key_name, keyring_backend, chain_api,
                         what="the grant")
