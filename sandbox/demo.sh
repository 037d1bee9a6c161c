#!/usr/bin/env bash
# make demo: the whole flow on N sandbox hosts (real SSH, simulated Gonka stack), as an operator
# runs it. Needs root (namespaces, loop disks) and the Debian packages .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
N=${N:-2}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "make demo needs root: the sandbox hosts use namespaces, overlayfs and loop devices" >&2
  exit 1
fi

step "1. $N fresh sandbox hosts (sshd in namespaces, blank /dev/vdb each)"
"$BIN/python" -m sandbox down >/dev/null 2>&1 || true
"$BIN/python" -m sandbox up "$N"

step "2. validate the inventory (no SSH)"
"$BIN/gonka-deploy" validate inventories/sandbox.py

step "3. dry run: every change, as a diff, nothing touched"
"$BIN/pyinfra" inventories/sandbox.py deploys/node.py --dry

step "4. apply: phases 1-7 (disk, monitoring, repo, model, config, keys, registration, stack)"
"$BIN/pyinfra" inventories/sandbox.py deploys/node.py -y

step "5. apply again: nothing changes"
"$BIN/pyinfra" inventories/sandbox.py deploys/node.py -y 2>&1 | sed -n '/--> Results/,/Grand total/p'

step "6. verify only (read-only)"
"$BIN/pyinfra" inventories/sandbox.py deploys/verify.py -y 2>&1 | grep -E 'verification|Grand total'

step "done: the hosts keep running; look around with"
echo "  $BIN/python -m sandbox ssh gpu-01 'cd /mnt/ssd/gonka/deploy/join && docker compose ps'"
echo "  ls nodes/sandbox-gpu-01/   # what the runs learned: identity, warm address, report, audit"
echo "  make sandbox-down   # removes everything"
