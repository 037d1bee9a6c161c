#!/usr/bin/env bash
# The Debian packages `make test`, `make demo` and CI need, installed when missing (as root),
# saying what is installed. The one list: .ci/run and the Makefile both call this script.
#   nginx              `nginx -t` of rendered configs; the sandbox's ML proxy
#   mmdebstrap         the sandbox hosts' root filesystem
#   apt-cacher-ng      the sandbox hosts' apt proxy
#   systemd-container  nspawn sandbox hosts
#   iproute2 openssh-client git e2fsprogs util-linux curl make python3-venv
#                      namespaces and veths, SSH to the hosts, the stand-in repo, loop disks
#   docker-registry openssl
#                      the local registry (with its own CA) serving the stand-in images
#   (lint)  shellcheck: the host-side shell programs (gonka_deploy/hostside)
# Unpacked only (apt-get download + dpkg-deb -x into the cache; never installed, so no service
# starts): prometheus (promtool) and prometheus-alertmanager (amtool), which check the rendered
# alert rules and alertmanager.yml in tests/unit/test_alerts.py.
set -euo pipefail

TOOLS_DIR="${GONKA_CACHE_DIR:-$HOME/.cache/gonka-deploy}/debian-tools"
unpack_tools() {
  local pkg program
  for pair in prometheus:promtool prometheus-alertmanager:amtool; do
    pkg=${pair%%:*} program=${pair#*:}
    [ -x "$TOOLS_DIR/$pkg/usr/bin/$program" ] && continue
    command -v apt-get >/dev/null || { echo "no apt-get: $program unavailable" >&2; continue; }
    echo "unpacking Debian's $pkg ($program) into $TOOLS_DIR/$pkg"
    mkdir -p "$TOOLS_DIR/$pkg"
    # apt's lists may be missing on a machine that had every package: update once, then retry
    (cd "$TOOLS_DIR/$pkg" && { apt-get -o Acquire::Retries=5 download -q "$pkg" \
      || { apt-get -o Acquire::Retries=5 update -q && apt-get download -q "$pkg"; }; })
    local debs=("$TOOLS_DIR/$pkg/${pkg}"_*.deb)
    dpkg-deb -x "${debs[-1]}" "$TOOLS_DIR/$pkg"
  done
}

PACKAGES=(
  nginx mmdebstrap apt-cacher-ng systemd-container iproute2 openssh-client git e2fsprogs
  util-linux make python3-venv curl shellcheck docker-registry openssl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then unpack_tools; exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  # In CI (CI=true) a test whose tool is missing fails (tests/conftest.py): say so here first.
  case "${CI:-}" in 1|true|yes)
    echo "CI: cannot install them without root" >&2; exit 1 ;;
  esac
  echo "install them as root (sudo $0); tests that need them skip until then" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's own retries ride out a flaky mirror (the same setting the toolkit gives its hosts)
apt-get -o Acquire::Retries=5 update -q
apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends "${missing[@]}"
unpack_tools
