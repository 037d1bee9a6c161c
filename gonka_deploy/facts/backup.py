"""Facts for key backups: the node's key material on the host (paths, sizes, modes, sha256:
never the content), and whether an old host still runs a node (before a consensus key is
restored elsewhere)."""

from __future__ import annotations

from typing import Any, TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import source
from .runlock import PYTHON_SCRIPT, parse_json_line

KEYFILES_SCRIPT = source("keyfiles.py")


def keyfiles_command(*args: str) -> StringCommand:
    return StringCommand("sh", "-c", QuoteString(PYTHON_SCRIPT), "_",
                         QuoteString(KEYFILES_SCRIPT), *(QuoteString(a) for a in args))


class KeyFilesDict(TypedDict, total=False):
    files: list[dict[str, Any]]   # [{"path", "size", "mode", "sha256"}], relative to deploy/join
    dirs: list[dict[str, Any]]    # [{"path", "mode"}]
    missing: list[str]            # what a node with keys always has, not there
    error: str


class KeyFiles(FactBase[KeyFilesDict | None]):
    """
    Returns the node's key material under deploy/join (``gonka_deploy/hostside/keyfiles.py``):
    each file's path, size, mode and sha256 (``.dapi/gonka.db``: of a consistent copy), and
    which of the files every keyed node has are missing. Contents never leave the host.

    .. code:: python

        {"files": [{"path": ".tmkms/secrets/priv_validator_key.softsign", "size": 45,
                    "mode": 0o600, "sha256": "9f86d0…"}],
         "dirs": [{"path": ".tmkms", "mode": 0o755}], "missing": []}
    """

    @override
    def command(self, join_dir: str, key_name: str) -> StringCommand:
        return keyfiles_command("list", join_dir, key_name)

    @override
    def process(self, output: list[str]) -> KeyFilesDict | None:
        return parse_json_line(output[:1])


class SignerProbeDict(TypedDict, total=False):
    p2p: str                   # "open", "refused", "closed", "unreachable (…)" or "self"
    rpc_status: int            # the api's /chain-rpc/status answer (0: none)
    rpc_pub_key: str | None    # the consensus key it names
    self: bool                 # the address is this host's own (its DNS name points here)


class SignerProbe(FactBase[SignerProbeDict | None]):
    """
    Returns, seen from this host, whether a node listens on ``address:port`` (the old host's
    public P2P port: 3 tries of 3 s) and the consensus key its RPC names through the api's
    ``/chain-rpc/status`` (open only where the operator enabled it). An address that is this
    host's own (``self``: a DNS name that already points here) is not probed.

    .. code:: python

        {"p2p": "refused", "rpc_status": 0, "rpc_pub_key": None, "self": False}
    """

    @override
    def command(self, address: str, port: int, api_url: str | None = None) -> StringCommand:
        return keyfiles_command("probe", address, str(port), *([api_url] if api_url else []))

    @override
    def process(self, output: list[str]) -> SignerProbeDict | None:
        return parse_json_line(output)


class ChainSignaturesDict(TypedDict, total=False):
    rpc: str                   # the chain RPC read
    latest: int | None         # its latest height
    # the first height checked ("from" in the JSON line; a keyword in Python)
    checked: int               # how many commits were read
    signed: list[int]          # the heights whose commit the validator signed
    error: str | None          # why the chain could not be read: doubt, never "not signed"


class ChainSignatures(FactBase[ChainSignaturesDict | None]):
    """
    Returns, read from this host through the chain RPC ``rpc_url`` (CometBFT v0.38 ``/status``
    and ``/commit?height=``), the chain's latest height and which of its last ``blocks``
    commits the validator ``validator_address`` signed (``gonka_deploy/hostside/keyfiles.py``
    ``signed``). An empty ``validator_address`` reads the height alone. An answer that does not
    parse is ``error``, never "not signed".

    .. code:: python

        {"rpc": "http://node2.gonka.ai:8000/chain-rpc", "latest": 1200, "from": 901,
         "checked": 300, "signed": [], "error": None}
    """

    @override
    def command(self, rpc_url: str, validator_address: str, blocks: int) -> StringCommand:
        return keyfiles_command("signed", rpc_url, validator_address, str(blocks))

    @override
    def process(self, output: list[str]) -> ChainSignaturesDict | None:
        return parse_json_line(output)
