#!/bin/bash
# The shared base layer of every stand-in image: Debian 12 with python3 (the simulators), and
# Debian's real nginx, Prometheus, node-exporter and Alertmanager.
# usage: rootfs.sh DEST_DIR. Needs root and mmdebstrap; the caller caches the result under a
# name derived from this file's hash.
set -euo pipefail
DEST=${1:?dest dir}
PACKAGES=(
  python3 python3-yaml nginx prometheus prometheus-node-exporter prometheus-alertmanager
  iproute2 curl procps
  ca-certificates
)
MIRROR=http://deb.debian.org/debian
IFS=, PKGS="${PACKAGES[*]}"; unset IFS
rm -rf "$DEST"
mmdebstrap --variant=minbase --include="$PKGS" --quiet \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  bookworm "$DEST" "deb $MIRROR bookworm main" "deb $MIRROR-security bookworm-security main"
# what an image does not carry: device nodes (the engine makes /dev), apt's caches, and the
# files the engine bind-mounts over
find "$DEST/dev" -mindepth 1 -delete
# what no stand-in runs (a quarter of a GB per host otherwise): Prometheus's classic-UI time zone
# data, promtool and amtool
rm -rf "$DEST/usr/share/javascript/moment-timezone" "$DEST/usr/bin/promtool" "$DEST/usr/bin/amtool"
rm -rf "$DEST"/var/lib/apt/lists/* "$DEST"/var/cache/apt/*.bin "$DEST"/var/log/*.log
: > "$DEST/etc/hostname"; : > "$DEST/etc/resolv.conf"
# nginx logs to the container log, as the official image does
ln -sf /dev/stdout "$DEST/var/log/nginx/access.log"
ln -sf /dev/stderr "$DEST/var/log/nginx/error.log"
echo "image base ready: $DEST ($(du -sh "$DEST" | cut -f1))"
