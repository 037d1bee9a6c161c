"""Keyring password sources, in INVENTORY.md's order, and secret types that never print."""

from __future__ import annotations

import pytest

from gonka_deploy.secrets import SecretError, resolve_keyring_password
from gonka_deploy.validate import validate_host

from .helpers import merged


@pytest.fixture()
def secrets_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_per_key_env_wins_over_global_env_and_file(secrets_dir):
    (secrets_dir / "fra-01.env").write_text("KEYRING_PASSWORD=from-file-0123456789\n")
    (secrets_dir / "fra-01.env").chmod(0o600)
    env = {"GONKA_KEYRING_PASSWORD_FRA_01": "per-key", "GONKA_KEYRING_PASSWORD": "global"}
    assert resolve_keyring_password("fra-01", env).value.get_secret_value() == "per-key"
    env.pop("GONKA_KEYRING_PASSWORD_FRA_01")
    assert resolve_keyring_password("fra-01", env).value.get_secret_value() == "global"
    found = resolve_keyring_password("fra-01", {})
    assert found.value.get_secret_value() == "from-file-0123456789"
    assert found.source.endswith("fra-01.env")


def test_secret_file_readable_by_others_is_refused(secrets_dir):
    path = secrets_dir / "fra-01.env"
    path.write_text("KEYRING_PASSWORD='quoted pass $ 0123456'\n")
    path.chmod(0o644)
    with pytest.raises(SecretError, match="mode 0644, must be 0600"):
        resolve_keyring_password("fra-01", {})
    path.chmod(0o600)
    found = resolve_keyring_password("fra-01", {})
    assert found.value.get_secret_value() == "quoted pass $ 0123456"


def test_validated_config_never_prints_the_password(secrets_dir):
    env = {"GONKA_KEYRING_PASSWORD": "sup3r-secret-value-42"}
    config, problems = validate_host("h", merged(), env)
    assert not problems
    for text in (repr(config), str(config), config.model_dump_json()):
        assert "sup3r-secret-value-42" not in text


def test_a_weak_backup_passphrase_is_refused_naming_its_source_never_its_value():
    from pydantic import SecretStr

    from gonka_deploy.secrets import check_backup_passphrase

    for weak, why in [("Tr0ub4dor&3", r"too short \(11 characters"),
                      ("abababababababababababab", "only 2 distinct characters"),
                      ("changeme-please-0123456789", "placeholder"),
                      ("a-long-passphrase-with\ta-tab", "control character")]:
        with pytest.raises(SecretError, match=why) as exc:
            check_backup_passphrase(SecretStr(weak), "GONKA_BACKUP_PASSPHRASE")
        assert "GONKA_BACKUP_PASSPHRASE" in str(exc.value) and weak not in str(exc.value)
    check_backup_passphrase(SecretStr("correct horse battery staple 42"))
