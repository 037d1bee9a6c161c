"""Fewer round trips per host: facts read ahead in one batched remote command, and reused.

pyinfra 3.10 runs every fact read as its own remote command (``pyinfra/api/facts.py::_get_fact``:
no cache), so a no-op converge costs one round trip per fact, tens per host. Here, per host and
per run:

- **Reuse.** A fact's output (keyed by its exact command and connector arguments) is kept until
  anything else runs on the host: any command that is not a fact read, an operation that
  executed a command (a FunctionCommand included), or the start of execution (facts read in
  the preview, before the operator's confirmation, are not trusted at execute time).
- **Read ahead.** When an operation starts on a host whose cache was dropped, the operations
  that follow it are evaluated ahead, speculatively: each one's generator runs (quiet, nothing
  printed) until it needs a fact that is not cached, yields a command (it would change: the
  look-ahead stops there, since what follows may depend on that change), or ends (no change).
  The facts they needed are read in ONE remote command (each fact's own command in a subshell,
  in a few lanes at once, outputs and exit codes split by markers with a random nonce), and
  the look-ahead runs again with them, until nothing more is needed (a few rounds: the depth
  of facts that depend on other facts). A generator that would run anything on the host during the
  look-ahead is stopped before the command leaves (``_WouldRun``): the look-ahead never
  changes a host.
  The window is the rest of the deploy while nothing has changed on the host, and the rest of
  the current phase (``@deploy``) after a change (a first apply then reads ahead a phase at a
  time, not the whole deploy before each of its operations).

Operations then run as before and read their facts through pyinfra's own ``get_fact`` (the same
commands, processing, defaults and error handling); a cached read returns the stored output
instead of a round trip. The ``--dry`` preview is unchanged (facts read one by one, then
reused), and so are diffs and the "No change" accounting: the same generators run on the same
values. Secrets: each fact's command is the same as alone (files facts hash on the host), and
the batched command is a StringCommand of those commands, masked the same way when printed.
"""

from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager

from pyinfra import logger
from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.state import BaseStateCallback
from pyinfra.connectors.util import CommandOutput, OutputLine

MAX_ROUNDS = 6          # facts that depend on facts that depend on facts...: a few levels
UNBATCHED = ("_stdin", "_timeout", "_get_pty")   # read alone: they change how a command runs
IN_SUBSHELL = ("_env", "_chdir", "_success_exit_codes")   # per fact, inside the batch


def enabled() -> bool:
    """On unless ``GONKA_DEPLOY_FACT_CACHE=0`` (to compare, or to rule it out)."""
    return os.environ.get("GONKA_DEPLOY_FACT_CACHE", "1") != "0"


class _WouldRun(BaseException):
    """The look-ahead reached a command that is not a fact read: stop before it leaves."""


class WritesAhead(BaseException):
    """The look-ahead reached a write of local state (``state.py``: operations record what
    they found at execute time, e.g. verification): refused there, the operation is passed
    over and decides when it really runs."""


def reading_ahead() -> bool:
    """Whether the current host's operations are being evaluated ahead (nothing may be
    written or run)."""
    from pyinfra.context import ctx_host

    facts = getattr(ctx_host.get(), "_gonka_facts", None) if ctx_host.isset() else None
    return bool(facts is not None and facts.ahead)


class HostFacts:
    """One host's cache and look-ahead state."""

    def __init__(self, host):
        self.host = host
        self.entries: dict[tuple, tuple[bool, CommandOutput]] = {}
        self.executing = False           # the stage the entries were read in
        self.reading = 0                 # inside host.get_fact
        self.ahead = False               # a look-ahead is running
        self.missing: dict[tuple, tuple] = {}
        self.missed = False              # the operation evaluated ahead needed a fact
        self.fresh = False               # read ahead since the last change
        self.last_op: str | None = None
        self.stats = {"hits": 0, "batched": 0, "batches": 0, "alone": 0}

    def drop(self) -> None:
        self.entries.clear()
        self.fresh = False

    def stage(self, state) -> None:
        """Facts read in the preview are not trusted once execution starts when the operator
        was shown a plan (time passed, the host may have moved); with ``-y`` (no change
        detection, no prompt: only deploy code read facts) they stay."""
        if bool(state.is_executing) != self.executing:
            self.executing = bool(state.is_executing)
            if state.should_check_for_changes():
                self.drop()


PRINTING = ("print_output", "print_input")


def _arguments(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k not in PRINTING}


def _key(command: StringCommand | str, kwargs: dict) -> tuple:
    raw = command if isinstance(command, str) else command.get_raw_value()
    return raw, repr(sorted(_arguments(kwargs).items()))


def _output(lines: list[str], buffer: str) -> list[OutputLine]:
    return [OutputLine(buffer, line) for line in lines]


def _lines(text: str) -> list[str]:
    """Lines as the SSH connector returns them (newline stripped, a last line without one
    kept)."""
    if not text:
        return []
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def in_subshell(command: StringCommand | str, arguments: dict) -> StringCommand | str:
    """The fact's command with its own environment and directory, as pyinfra's
    ``make_unix_command`` sets them (``export 'K=V' && …``, ``cd DIR && …``)."""
    env, chdir = arguments.get("_env"), arguments.get("_chdir")
    if env:
        command = StringCommand("export", *(QuoteString(StringCommand(key, value, _separator="="))
                                            for key, value in env.items()), "&&", command)
    if chdir:
        command = StringCommand("cd", QuoteString(chdir), "&&", command)
    return command


# Reads of a batch that run at once on the host. All at once made a batch as long as its
# slowest read, but 20 sandbox hosts sharing 2 CPUs then ran 800 processes together: measured
# (bench/noop.py) 46 s and 92 s of CPU for the 20 batches against 38 s and 75 s in lanes, and
# in one run eight hosts' `docker compose exec` of the verification passed its 30 s bound.
# On a real host (tens of cores) 4 lanes cost a few tenths of a second at most.
LANES = 4


def batch_command(commands: list[StringCommand | str], nonce: str,
                  lanes: int = LANES) -> StringCommand:
    """One command running ``commands``, each in its own subshell, in ``lanes`` lanes at once
    (command i in lane i mod lanes, one after the other there; reads only), then printing, in
    order, for command i: its stdout between ``@N i o`` and ``@N i e RC``, its stderr between
    that and ``@N i x``."""
    mark = f"@{nonce}"
    bits: list = ['d=$(mktemp -d) || exit 97;']
    for lane in range(min(lanes, len(commands))):
        bits.append("(")
        for i in range(lane, len(commands), lanes):
            bits += ["(", "(", commands[i], ")", "</dev/null", f'>"$d/{i}.o"', f'2>"$d/{i}.e";',
                     "echo", f'$? >"$d/{i}.c"', ");"]
        bits += [")", "&"]
    bits.append("wait;")
    for i in range(len(commands)):
        bits += ["printf", "'%s\\n'", f"'{mark} {i} o';", "cat", f'"$d/{i}.o";',
                 "printf", "'\\n%s\\n'", f'"{mark} {i} e $(cat "$d/{i}.c")";',
                 "cat", f'"$d/{i}.e";', "printf", "'\\n%s\\n'", f"'{mark} {i} x';"]
    bits.append('rm -rf "$d"')
    return StringCommand(*bits)


def split_batch(lines: list[str], count: int, nonce: str) -> list[tuple[int, list, list]] | None:
    """(exit code, stdout lines, stderr lines) of each command of a batch; None if the output
    is not whole (the batch was cut short)."""
    text = "\n".join(lines) + "\n"
    mark = re.escape(f"@{nonce}")
    found = []
    pos = 0
    for i in range(count):
        start = re.compile(rf"{mark} {i} o\n").match(text, pos)
        end = re.compile(rf"\n{mark} {i} e (\d+)\n").search(text, start.end() if start else 0)
        tail = re.compile(rf"\n{mark} {i} x\n").search(text, end.end() if end else 0)
        if not (start and end and tail):
            return None
        found.append((int(end.group(1)), _lines(text[start.end():end.start()]),
                      _lines(text[end.end():tail.start()])))
        pos = tail.end()
    return found


@contextmanager
def _quiet():
    """Nothing printed while operations are evaluated ahead (their diffs and noop lines are
    printed when they really run). No I/O happens inside, so no other greenlet runs meanwhile."""
    was = logger.disabled      # pyinfra's logger, "pyinfra" (operations log through it)
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def _deploy_of(state, op_hash: str) -> str:
    names = state.get_op_meta(op_hash).names
    name = sorted(names)[0] if names else ""
    return name.rpartition(" | ")[0]


class FactCache(BaseStateCallback):
    """Installs the cache on each host when it connects (``pyinfra_hooks.install``)."""

    def host_connect(self, state, host):
        if getattr(host, "_gonka_facts", None) is not None:
            return
        facts = host._gonka_facts = HostFacts(host)
        connector = host.connector
        run, get_fact = connector.run_shell_command, host.get_fact

        def cached_get_fact(*args, **kwargs):
            facts.reading += 1
            try:
                return get_fact(*args, **kwargs)
            finally:
                facts.reading -= 1

        def run_shell_command(command, *args, **kwargs):
            facts.stage(state)
            # a fact's command is a StringCommand, or a str (pyinfra's own Kernel: "uname -s")
            if facts.reading and isinstance(command, (StringCommand, str)) \
                    and not kwargs.get("_stdin"):
                key = _key(command, kwargs)
                if key in facts.entries:
                    facts.stats["hits"] += 1
                    return facts.entries[key]
                if facts.ahead:
                    # noted, and an empty read returned (the fact's default; a failed one would
                    # fail the host): the operation goes on to its other reads, all read in
                    # one batch, and is evaluated again with them
                    facts.missing[key] = (command, _arguments(kwargs))
                    facts.missed = True
                    return True, CommandOutput([])
                result = run(command, *args, **kwargs)
                facts.stats["alone"] += 1
                facts.entries[key] = result
                return result
            if facts.ahead:
                raise _WouldRun()
            facts.drop()
            return run(command, *args, **kwargs)

        def put_file(*args, **kwargs):
            if facts.ahead:
                raise _WouldRun()
            facts.drop()
            return put(*args, **kwargs)

        put = connector.put_file
        connector.run_shell_command = run_shell_command
        connector.put_file = put_file
        host.get_fact = cached_get_fact
        facts.run = run

    def operation_host_start(self, state, host, op_hash):
        facts = getattr(host, "_gonka_facts", None)
        if facts is None or not state.is_executing:
            return
        facts.stage(state)
        changed_before = False
        if facts.last_op is not None:
            meta = state.ops[host].get(facts.last_op)
            meta = meta.operation_meta if meta else None
            # an operation that executed anything (a FunctionCommand too) changed the host
            if meta is not None and meta.is_complete() and meta.did_change():
                facts.drop()
                changed_before = True
        facts.last_op = op_hash
        if facts.fresh or op_hash not in state.ops[host]:
            return
        facts.fresh = True
        order = list(state.get_op_order())
        window = [h for h in order[order.index(op_hash):] if h in state.ops[host]]
        if changed_before:
            deploy = _deploy_of(state, op_hash)
            window = [h for h in window if _deploy_of(state, h) == deploy]
        self.read_ahead(state, host, facts, window)

    def read_ahead(self, state, host, facts: HostFacts, window: list[str]) -> None:
        pending = window
        for round_ in range(MAX_ROUNDS):
            facts.missing, outcomes = {}, []
            with _quiet():
                pending = self._evaluate(state, host, facts, pending, outcomes)
            logger.debug(f"{host.print_prefix}read ahead, round {round_ + 1}: "
                         + "; ".join(outcomes) + f"; {len(facts.missing)} fact(s) to read")
            if not facts.missing or not self._fetch(host, facts):
                return

    def _evaluate(self, state, host, facts: HostFacts, window: list[str],
                  outcomes: list[str]) -> list[str]:
        """Run each operation's generator ahead, in order, until one would change (what follows
        may depend on that change); return those that needed a fact (evaluated again once it is
        read). One that ended is settled: its facts are cached and stay until a change."""
        again: list[str] = []
        facts.ahead = True
        try:
            for op_hash in window:
                name = ", ".join(sorted(state.get_op_meta(op_hash).names))
                generator = state.ops[host][op_hash].command_generator()
                facts.missed, outcome = False, "no change"
                try:
                    for _command in generator:
                        outcome = "would change"
                        break
                except _WouldRun:
                    outcome = "runs a command"
                except WritesAhead:
                    outcome = "passed over"
                except Exception as exc:  # noqa: BLE001 - an `_if` on an earlier op's result
                    outcome = f"read when it runs ({exc})"
                finally:
                    generator.close()
                if facts.missed:
                    # what it did was decided on missing facts: evaluated again with them
                    outcomes.append(f"{name}: needs facts")
                    again.append(op_hash)
                    continue
                outcomes.append(f"{name}: {outcome}")
                if outcome in ("would change", "runs a command"):
                    return again   # what follows may depend on that change
            return again
        finally:
            facts.ahead = False
            facts.missed = False

    def _fetch(self, host, facts: HostFacts) -> bool:
        """Read the missing facts: one batched command per set of connector arguments."""
        groups: dict[str, list] = {}
        for key, (command, arguments) in facts.missing.items():
            if any(arguments.get(name) for name in UNBATCHED):
                continue
            shared = {k: v for k, v in arguments.items() if k not in IN_SUBSHELL}
            groups.setdefault(repr(sorted(shared.items())), []).append(
                (key, in_subshell(command, arguments), arguments, shared))
        got = False
        for group in groups.values():
            nonce = secrets.token_hex(8)
            batch = batch_command([command for _, command, _, _ in group], nonce)
            try:
                ok, output = facts.run(batch, print_output=False, print_input=False,
                                       **group[0][3])
            except Exception as exc:  # noqa: BLE001 - a dead connection (SSHException), say:
                # nothing is cached, each fact is read alone when its operation runs and
                # fails there as it would have without the batch
                logger.debug(f"{host.print_prefix}batched fact read failed: {exc!r}")
                return got
            parts = split_batch(output.stdout_lines, len(group), nonce)
            facts.stats["batches"] += 1
            if parts is None:   # cut short: the facts are read alone when needed
                logger.debug(f"{host.print_prefix}batched fact read incomplete")
                continue
            for (key, _, arguments, _), (code, out, err) in zip(group, parts, strict=True):
                codes = arguments.get("_success_exit_codes")
                status = code in codes if codes else code == 0
                facts.entries[key] = (status, CommandOutput(_output(out, "stdout")
                                                            + _output(err, "stderr")))
                facts.stats["batched"] += 1
                got = True
        return got
