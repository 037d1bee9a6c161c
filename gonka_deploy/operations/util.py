"""Helpers shared by operations: the operation decorator that keeps a host's fault on that host,
refusals, retries of transient network faults, sizes, diffs printed before the first command,
uploads."""

from __future__ import annotations

import difflib
import functools
import traceback

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation as pyinfra_operation

from ..render import redact

# Runs as `sh -c REFUSE_SCRIPT _ MESSAGE`: fails this host only, with the message on stderr.
REFUSE_SCRIPT = 'echo "$1" >&2; exit 1'


def refuse(message: str):
    """Fail the current host with ``message``, leaving the other hosts to carry on.

    Raising during pyinfra's preview would end the run for every host, so a refusal is a
    command that fails on this host; the preview (--dry) prints it.
    """
    logger.warning(f"{host.print_prefix}refused: {message}")
    yield StringCommand("sh", "-c", QuoteString(REFUSE_SCRIPT), "_", QuoteString(message))


def operation(**options):
    """pyinfra's ``@operation()``, plus: an exception in the operation's body (a fact that could
    not be loaded because the host's SSH connection died, say) fails that host alone, with a
    message, instead of ending the run for every host. pyinfra evaluates an operation's body
    while it runs (and in the preview): an exception there is not caught by pyinfra itself."""

    def decorator(func):
        @functools.wraps(func)
        def guarded(*args, **kwargs):
            try:
                yield from func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any fault here is this host's alone
                logger.debug(traceback.format_exc())
                yield from refuse(f"{func.__name__}: {describe_fault(exc)}")

        return pyinfra_operation(**options)(guarded)

    return decorator


def host_step(function, *args, what: str):
    """Yield ``function(*args)`` as a FunctionCommand whose ``False`` fails the host.

    pyinfra 3.10's ``FunctionCommand.execute`` discards the function's return value (only an
    exception fails the operation, and with a traceback): a bounded wait that gave up would
    read as a success. So a ``False`` is turned into a failing command right after it, naming
    ``what``; the function has already logged why.
    """
    result = {}

    @functools.wraps(function)
    def step(*call_args):
        result["value"] = function(*call_args)

    yield FunctionCommand(step, args, {})
    if result.get("value") is False:
        yield StringCommand("sh", "-c", QuoteString(REFUSE_SCRIPT), "_",
                            QuoteString(f"{what} failed (see above)"))


def describe_fault(exc: Exception) -> str:
    """What went wrong, for a host's failure message."""
    if host in getattr(state, "failed_hosts", ()) or isinstance(exc, FactUnavailable):
        return f"could not read the host's state ({exc}); the connection may have been lost"
    return f"{type(exc).__name__}: {exc}"


class FactUnavailable(RuntimeError):
    """A fact came back empty where the host must answer (its command failed)."""


def need(fact, what: str):
    """A fact's value, or FactUnavailable naming ``what`` when pyinfra could not load it."""
    if fact is None:
        raise FactUnavailable(f"{what} could not be read")
    return fact


@operation()
def refuse_deploy(message: str):
    """
    Fail the current host with ``message`` (deploy-level preconditions, such as a missing stage).

    + message: what is wrong and what to do

    **Example:**

    .. code:: python

        refuse_deploy("set the stage: --data stage=prepare")
    """
    yield from refuse(message)


def run_on_host(command: StringCommand, stdin: str | None = None):
    """Run a command from inside a FunctionCommand, output never printed.

    A FunctionCommand gets no connector arguments, so sudo comes from the host's data (or the
    run's config), as for the operation's own commands.
    """
    extra = {"_stdin": stdin} if stdin is not None else {}
    return host.run_shell_command(command, print_output=False, print_input=False,
                                  _sudo=bool(host.data.get("_sudo") or state.config.SUDO),
                                  **extra)


def describe_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{size} B"


def log_diff(path: str, old: str | None, new: str, secrets: list[str] = ()) -> None:
    """Print a unified diff of a file change, secret values redacted.

    Called before an operation's first yield: pyinfra's preview (--dry) stops there.
    """
    old_lines = redact(old, list(secrets)).splitlines() if old is not None else []
    new_lines = redact(new, list(secrets)).splitlines()
    verb = "create" if old is None else "modify"
    logger.info(f"{host.print_prefix}will {verb} {path}")
    if old is not None and old_lines == new_lines:
        logger.info(f"{host.print_prefix}  (only secret values change)")
        return
    for line in difflib.unified_diff(old_lines, new_lines, "current", "wanted", lineterm="", n=2):
        logger.info(f"{host.print_prefix}  {line}")


# Runs as `sh -c WRITE_SCRIPT _ PATH MODE BACKUP OWNER` with the content on stdin (BACKUP and OWNER
# may be empty). The temp file is
# created under umask 077 in the same directory, chmod'ed, then renamed: readers see the old or the
# new file, never a partial one, and a secret is never readable by others, not even briefly.
# (SFTP uploads with sudo go through a world-readable temp file in /tmp: not for secrets.)
WRITE_SCRIPT = r"""
set -e
path="$1"
tmp="$(dirname "$path")/.$(basename "$path").gonka-deploy.tmp"
if [ -n "$3" ] && [ -e "$path" ] && [ ! -e "$3" ]; then cp -p "$path" "$3"; fi
umask 077
cat > "$tmp"
chmod "$2" "$tmp"
if [ -n "$4" ]; then chown "$4" "$tmp"; fi
mv -f "$tmp" "$path"
"""


def write_command(path: str, content: str, mode: int = 0o644, backup: str | None = None,
                  owner: str | None = None) -> StringCommand:
    """The command that replaces ``path`` atomically with ``content`` (sent on stdin, never in
    argv)."""
    return StringCommand("sh", "-c", QuoteString(WRITE_SCRIPT), "_", QuoteString(path),
                         f"{mode:04o}", QuoteString(backup or ""), QuoteString(owner or ""),
                         _stdin=content)


def upload_text(path: str, content: str, mode: int = 0o644, old: str | None = None,
                secrets: list[str] = (), backup: str | None = None, owner: str | None = None):
    """Replace ``path`` atomically with ``content``, printing the redacted diff first."""
    log_diff(path, old, content, secrets)
    yield write_command(path, content, mode=mode, backup=backup, owner=owner)
