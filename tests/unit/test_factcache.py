"""The batched fact read: each fact's output and exit code come back as if it ran alone (the
batch runs in a real local shell here), and an output cut short is refused, not misread."""

from __future__ import annotations

import subprocess

from pyinfra.api import QuoteString, StringCommand

from gonka_deploy.factcache import batch_command, in_subshell, split_batch

COMMANDS = [
    StringCommand("printf", QuoteString("a\\nb\\n")),                # trailing newline
    StringCommand("printf", QuoteString("no newline")),              # none
    StringCommand("true"),                                           # nothing at all
    StringCommand("echo", "out;", "echo", "err", ">&2;", "exit", "3"),   # stderr, exit code
    StringCommand("printf", QuoteString("\\n")),                     # one empty line
    "uname -s",                                                      # a plain str fact
    StringCommand("cat"),                                            # reads no stdin
]


def run(command: StringCommand) -> list[str]:
    out = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True,
                         timeout=30, input="must not be read\n")
    return out.stdout.split("\n")[:-1] if out.stdout.endswith("\n") else out.stdout.split("\n")


def test_each_command_gets_its_own_output_and_exit_code():
    nonce = "0123456789abcdef"
    parts = split_batch(run(batch_command(COMMANDS, nonce)), len(COMMANDS), nonce)
    assert parts == [
        (0, ["a", "b"], []),
        (0, ["no newline"], []),
        (0, [], []),
        (3, ["out"], ["err"]),
        (0, [""], []),
        (0, [subprocess.run(["uname", "-s"], capture_output=True, text=True).stdout.strip()],
         []),
        (0, [], []),
    ]


def test_reads_in_one_lane_run_one_after_the_other_and_each_keeps_its_output(tmp_path):
    nonce = "0a1b2c3d4e5f6a7b"
    flag = QuoteString(str(tmp_path / "first-done"))
    commands = [StringCommand("touch", flag), "uname -s",
                StringCommand("test", "-e", flag, "&&", "echo", "after"),   # lane 0, after 0
                StringCommand("echo", "lane", "1")]
    parts = split_batch(run(batch_command(commands, nonce, lanes=2)), 4, nonce)
    assert [p[1] for p in parts] == [[], [subprocess.run(["uname", "-s"], capture_output=True,
                                                          text=True).stdout.strip()],
                                     ["after"], ["lane 1"]]
    many = split_batch(run(batch_command(COMMANDS, nonce, lanes=len(COMMANDS) + 3)),
                       len(COMMANDS), nonce)
    assert many == split_batch(run(batch_command(COMMANDS, nonce, lanes=1)), len(COMMANDS),
                               nonce)


def test_an_output_cut_short_is_refused():
    nonce = "fedcba9876543210"
    lines = run(batch_command(COMMANDS, nonce))
    assert split_batch(lines[: len(lines) // 2], len(COMMANDS), nonce) is None


def test_a_fact_output_that_prints_a_marker_of_another_run_does_not_split_it():
    nonce = "00112233aabbccdd"
    fake = StringCommand("echo", QuoteString("@ffffffffffffffff 1 o"))
    parts = split_batch(run(batch_command([fake, "true"], nonce)), 2, nonce)
    assert parts == [(0, ["@ffffffffffffffff 1 o"], []), (0, [], [])]


def test_environment_and_directory_apply_to_that_fact_only():
    nonce = "aaaabbbbccccdddd"
    with_env = in_subshell(StringCommand("sh", "-c", QuoteString('echo "$X:$(pwd)"')),
                           {"_env": {"X": "it's set"}, "_chdir": "/tmp"})
    parts = split_batch(run(batch_command([with_env, StringCommand("echo", '"[$X]"')], nonce)),
                        2, nonce)
    assert parts == [(0, ["it's set:/tmp"], []), (0, ["[]"], [])]


def test_local_state_is_never_written_while_operations_are_evaluated_ahead(tmp_path):
    from types import SimpleNamespace

    import pytest
    from pyinfra.context import ctx_host, ctx_state

    from gonka_deploy.factcache import HostFacts, WritesAhead
    from gonka_deploy.state import NodeState

    host = SimpleNamespace(name="h")
    host._gonka_facts = HostFacts(host)
    node = NodeState("ahead", root=tmp_path)
    with ctx_state.use(SimpleNamespace(is_executing=True)), ctx_host.use(host):
        host._gonka_facts.ahead = True
        with pytest.raises(WritesAhead):
            node.set_warm_address("gonka1ahead")
        assert node.warm_address() is None
        host._gonka_facts.ahead = False
        node.set_warm_address("gonka1ahead")      # when the operation really runs
    assert node.warm_address() == "gonka1ahead"
