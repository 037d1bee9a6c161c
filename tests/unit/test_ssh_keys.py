"""The key a run logs in with, read from its SSH session, is never removed from
authorized_keys (issue 20 item 10)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from unittest.mock import MagicMock

import paramiko
import pytest
from paramiko.auth_handler import AuthHandler
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.operations import ssh

from .fixtures import FakeHost, command_text


@pytest.fixture(scope="module")
def login_key():
    return paramiko.RSAKey.generate(1024)


def session(user: str, method: str, key=None, authenticated: bool = True):
    """A paramiko client whose transport authenticated ``user`` by ``method``, as
    ``AuthHandler.auth_publickey``/``auth_password`` leave it."""
    handler = AuthHandler(MagicMock())
    handler.auth_method, handler.username, handler.private_key = method, user, key
    handler.authenticated = authenticated
    transport = SimpleNamespace(auth_handler=handler, is_authenticated=lambda: authenticated,
                                get_username=lambda: user if authenticated else None)
    return SimpleNamespace(client=SimpleNamespace(get_transport=lambda: transport))


def test_the_key_of_the_publickey_session_is_the_login_key(login_key):
    connector = session("ubuntu", "publickey", login_key)
    assert ssh.login_blobs("ubuntu", connector) == {login_key.get_base64()}


def test_another_users_session_or_a_password_protects_no_key(login_key):
    assert ssh.login_blobs("admin", session("ubuntu", "publickey", login_key)) == set()
    assert ssh.login_blobs("ubuntu", session("ubuntu", "password")) == set()


def test_no_authenticated_session_cannot_tell(login_key):
    assert ssh.login_blobs("ubuntu", SimpleNamespace()) is None
    assert ssh.login_blobs("ubuntu", SimpleNamespace(client=None)) is None
    assert ssh.login_blobs("ubuntu", session("ubuntu", "publickey", login_key,
                                             authenticated=False)) is None
    assert ssh.login_blobs("ubuntu", session("ubuntu", "gssapi-with-mic")) is None


def test_exclusive_keeps_the_key_the_session_logged_in_with(login_key, caplog):
    mine = f"ssh-rsa {login_key.get_base64()} me@controller"
    listed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKey1 ops@laptop"
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldKey2 old@laptop"
    host = FakeHost({"ssh.AuthorizedKeys": {"user=ubuntu": {
        "home": "/home/ubuntu", "group": "ubuntu", "lines": [mine, other], "managed": []}}})
    host.connector = session("ubuntu", "publickey", login_key)
    caplog.set_level(logging.INFO)
    with ctx_state.use(MagicMock(is_executing=False)), ctx_host.use(host):
        commands = [command_text(c) for c in
                    ssh.authorized_keys._inner(user="ubuntu", keys=[listed], exclusive=True)]
    written = commands[1]["stdin"]
    assert written == f"{mine}\n{listed}\n"  # the login key kept, the other one removed
    assert any("this run logs in with it" in r.getMessage() for r in caplog.records)
