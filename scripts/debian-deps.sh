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
set -euo pipefail

PACKAGES=(
  nginx mmdebstrap apt-cacher-ng systemd-container iproute2 openssh-client git e2fsprogs
  util-linux make python3-venv curl shellcheck docker-registry openssl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them as root (sudo $0); tests that need them skip until then" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's own retries ride out a flaky mirror (the same setting the toolkit gives its hosts)
apt-get -o Acquire::Retries=5 update -q
apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends "${missing[@]}"
