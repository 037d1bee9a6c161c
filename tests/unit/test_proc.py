"""The benches' process-tree walk: one pass over /proc finds a process and what it started."""

from __future__ import annotations

import os
import subprocess
import sys

from sandbox.bench.proc import descendants, process_table


def test_a_child_and_its_own_child_are_under_their_parent_and_nothing_else_is():
    # a shell that starts a second process and waits: two levels under this test
    # (`; true`: the shell cannot exec the last command in its own place)
    child = subprocess.Popen(["sh", "-c", f"{sys.executable} -c 'import sys; sys.stdin.read()'; "
                              "true"], stdin=subprocess.PIPE)
    try:
        table = {}
        for _ in range(200):   # bounded: until the grandchild shows in /proc
            table = process_table()
            if any(int(f[1]) == child.pid for f in table.values()):
                break
        tree = descendants(os.getpid(), table)
        grandchildren = [pid for pid, f in table.items() if int(f[1]) == child.pid]
        assert tree[0] == os.getpid() and child.pid in tree
        assert grandchildren and set(grandchildren) <= set(tree)
        assert os.getppid() not in tree and 1 not in tree
        assert table[os.getpid()][0] in "RS"   # the state field comes first
    finally:
        child.stdin.close()
        child.wait(timeout=10)
