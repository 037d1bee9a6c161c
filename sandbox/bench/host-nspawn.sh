#!/bin/bash
# Mode nspawn: runs inside `unshare --mount` (private), mounts the host's overlay root, then execs
# systemd-nspawn, which boots real systemd as the host's PID 1 (systemctl works) in our netns.
# Env: SB_NAME SB_LOWER SB_DIR SB_GW SB_NETNS SB_MACHINE [SB_DISK SB_DISK_NAME]
set -euo pipefail
: "${SB_NAME:?}" "${SB_LOWER:?}" "${SB_DIR:?}" "${SB_GW:?}" "${SB_NETNS:?}" "${SB_MACHINE:?}"
R=$SB_DIR/merged
mkdir -p "$SB_DIR"/{upper,work,merged}
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$SB_LOWER,upperdir=$SB_DIR/upper,workdir=$SB_DIR/work" "$R"
echo "$SB_NAME" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\tsandbox-gw\n' \
  "$SB_NAME" "$SB_GW" > "$R/etc/hosts"
ARGS=(-D "$R" --boot --register=no --keep-unit --machine="$SB_MACHINE" --hostname="$SB_NAME"
      --console=pipe --resolv-conf=off --timezone=off --link-journal=no
      --network-namespace-path="/run/netns/$SB_NETNS")
if [ -n "${SB_DISK:-}" ]; then
  # a real block node made at boot by systemd-tmpfiles: a --bind'ed node looks like a regular
  # file to readdir(), so libblkid could not resolve LABEL=/UUID= to it
  read -r maj min < <(stat -c '%t %T' "$SB_DISK")
  mkdir -p "$R/etc/tmpfiles.d"
  echo "b! /dev/${SB_DISK_NAME:-vdb} 0660 root disk - $((16#$maj)):$((16#$min))" \
    > "$R/etc/tmpfiles.d/sandbox-disk.conf"
fi
read -r HOSTPID _ < /proc/self/stat
echo "$HOSTPID" > "$SB_DIR/init.pid.tmp" && mv "$SB_DIR/init.pid.tmp" "$SB_DIR/init.pid"
exec systemd-nspawn "${ARGS[@]}"
