"""Where a host's secrets come from: the keyring password (INVENTORY.md, "keyring_password") and
the passphrase of its key backups (``deploys/backup.py``), the Telegram bot token of its
Alertmanager (``alerting.telegram``).

Order: ``GONKA_KEYRING_PASSWORD_<KEY_NAME>`` (upper-case, ``-`` -> ``_``), then
``GONKA_KEYRING_PASSWORD``, then the file ``secrets/<key_name>.env`` (``KEYRING_PASSWORD=...``,
mode 0600). The backup passphrase the same way: ``GONKA_BACKUP_PASSPHRASE_<KEY_NAME>``,
``GONKA_BACKUP_PASSPHRASE``, ``BACKUP_PASSPHRASE=`` in ``secrets/<key_name>.env``. A value is
wrapped in :class:`pydantic.SecretStr` at once, so it never prints.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

SECRETS_DIR_ENV = "GONKA_SECRETS_DIR"


class SecretError(ValueError):
    """A secret that exists but cannot be used (the message never holds the value)."""


@dataclass(frozen=True)
class ResolvedSecret:
    value: SecretStr
    source: str  # where it came from, for messages: an env var name or a file path


def secrets_dir() -> Path:
    return Path(os.environ.get(SECRETS_DIR_ENV, "secrets"))


def env_var_for(key_name: str) -> str:
    return "GONKA_KEYRING_PASSWORD_" + key_name.upper().replace("-", "_")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (optional ``export``, optional single or double quotes)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _resolve(key_name: str, base_var: str, file_key: str, environ: Mapping[str, str] | None,
             optional_in_file: bool = False) -> ResolvedSecret | None:
    environ = os.environ if environ is None else environ
    for var in (base_var + "_" + key_name.upper().replace("-", "_"), base_var):
        if environ.get(var):
            return ResolvedSecret(SecretStr(environ[var]), var)
    path = secrets_dir() / f"{key_name}.env"
    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(f"{path} has mode {mode:04o}, must be 0600 (chmod 600 {path})")
    value = read_env_file(path).get(file_key)
    if not value:
        if optional_in_file:
            return None
        raise SecretError(f"{path} has no {file_key}= line")
    return ResolvedSecret(SecretStr(value), str(path))


def resolve_keyring_password(key_name: str, environ: Mapping[str, str] | None = None
                             ) -> ResolvedSecret | None:
    """Return the password for ``key_name``, or None when no source defines it."""
    return _resolve(key_name, "GONKA_KEYRING_PASSWORD", "KEYRING_PASSWORD", environ)


def backup_env_var_for(key_name: str) -> str:
    return "GONKA_BACKUP_PASSPHRASE_" + key_name.upper().replace("-", "_")


def resolve_backup_passphrase(key_name: str, environ: Mapping[str, str] | None = None
                              ) -> ResolvedSecret | None:
    """The passphrase of ``key_name``'s key backups, or None when no source defines it."""
    return _resolve(key_name, "GONKA_BACKUP_PASSPHRASE", "BACKUP_PASSPHRASE", environ,
                    optional_in_file=True)


# A backup passphrase guards archives that may be copied anywhere and attacked offline for as
# long as the attacker likes: stricter than the keyring password's 16 characters (schema.py).
BACKUP_PASSPHRASE_MIN = 20
BACKUP_PASSPHRASE_DISTINCT = 8
BACKUP_PLACEHOLDERS = ("<", "fillin", "changeme", "change-me", "placeholder", "password",
                       "passphrase", "secret")


def check_backup_passphrase(secret: SecretStr, source: str = "the backup passphrase") -> None:
    """Refuse a weak passphrase for a new archive (SecretError naming ``source`` and the rule,
    never the value): a placeholder, a control character, under 20 characters, or fewer than 8
    distinct characters. Existing archives are opened whatever their passphrase."""
    value = secret.get_secret_value()
    lowered = value.lower()
    if any(lowered.startswith(p) for p in BACKUP_PLACEHOLDERS):
        raise SecretError(f"{source} is a placeholder: set a real passphrase")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SecretError(f"{source} contains a newline or control character")
    if len(value) < BACKUP_PASSPHRASE_MIN:
        raise SecretError(f"{source} is too short ({len(value)} characters, a backup "
                          f"passphrase needs at least {BACKUP_PASSPHRASE_MIN})")
    if len(set(value)) < BACKUP_PASSPHRASE_DISTINCT:
        raise SecretError(f"{source} has only {len(set(value))} distinct characters (a backup "
                          f"passphrase needs at least {BACKUP_PASSPHRASE_DISTINCT})")


def backup_sources_hint(key_name: str) -> str:
    return (f"set {backup_env_var_for(key_name)} or GONKA_BACKUP_PASSPHRASE, or add "
            f"BACKUP_PASSPHRASE= to {secrets_dir() / (key_name + '.env')} (mode 0600)")


def sources_hint(key_name: str) -> str:
    return (f"set {env_var_for(key_name)} or GONKA_KEYRING_PASSWORD, or write "
            f"{secrets_dir() / (key_name + '.env')} (mode 0600)")


def missing_message(key_name: str) -> str:
    return "missing: " + sources_hint(key_name)


def resolve_telegram_token(key_name: str, environ: Mapping[str, str] | None = None
                           ) -> ResolvedSecret | None:
    """The Telegram bot token of ``key_name``'s Alertmanager (``alerting.telegram``):
    ``GONKA_TELEGRAM_BOT_TOKEN_<KEY_NAME>``, ``GONKA_TELEGRAM_BOT_TOKEN``, then
    ``TELEGRAM_BOT_TOKEN=`` in ``secrets/<key_name>.env``; None when no source defines it."""
    return _resolve(key_name, "GONKA_TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", environ,
                    optional_in_file=True)


def telegram_sources_hint(key_name: str) -> str:
    return (f"set GONKA_TELEGRAM_BOT_TOKEN_{key_name.upper().replace('-', '_')} or "
            f"GONKA_TELEGRAM_BOT_TOKEN, or add TELEGRAM_BOT_TOKEN= to "
            f"{secrets_dir() / (key_name + '.env')} (mode 0600)")
