#!/bin/bash
# PID 1 of a fresh mount+pid+uts namespace (started by unshare, inside `ip netns exec` except in
# mode lo). Builds the host's root: overlay (per-host upper over the shared base), a private /dev
# with the data disk as a real block node, fresh /proc /sys /run /tmp; then pivots into it and
# execs tini -> sshd.
# Env: SB_NAME SB_LOWER SB_DIR SB_GW [SB_ADDR=0.0.0.0] [SB_PORT=22] [SB_DISK=/dev/loopN]
#      [SB_DISK_NAME=vdb] [SB_REGISTRY_NAMES="ghcr.io ..." (resolve them to the gateway)]
set -euo pipefail
: "${SB_NAME:?}" "${SB_LOWER:?}" "${SB_DIR:?}" "${SB_GW:?}"
SB_ADDR=${SB_ADDR:-0.0.0.0} SB_PORT=${SB_PORT:-22}
R=$SB_DIR/merged
mkdir -p "$SB_DIR"/{upper,work,merged}
# the builtin read gives this shell's own PID as the machine sees it (readlink /proc/self would
# give readlink's); after exec it is tini's PID: killing it ends the whole PID namespace
read -r HOSTPID _ < /proc/self/stat
echo "$HOSTPID" > "$SB_DIR/init.pid.tmp" && mv "$SB_DIR/init.pid.tmp" "$SB_DIR/init.pid"
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$SB_LOWER,upperdir=$SB_DIR/upper,workdir=$SB_DIR/work" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys" 2>/dev/null || mount --rbind -o ro /sys "$R/sys"
# private /dev: nothing created in a host leaks into the machine's /dev
mount -t tmpfs -o mode=755,size=1m tmpfs "$R/dev"
for n in null zero full random urandom tty; do
  read -r maj min < <(stat -c '%t %T' "/dev/$n")
  mknod -m 666 "$R/dev/$n" c $((16#$maj)) $((16#$min))
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"; ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
if [ -n "${SB_DISK:-}" ]; then
  # a real node (not a bind mount), so libblkid finds it for LABEL=/UUID= lookups
  read -r maj min < <(stat -c '%t %T' "$SB_DISK")
  mknod -m 660 "$R/dev/${SB_DISK_NAME:-vdb}" b $((16#$maj)) $((16#$min))
fi
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
# Docker's data on the machine's own filesystem: overlay2 cannot use an overlay as its upper
# layer ("failed to mount overlay: invalid argument"); removed with the host's dir
mkdir -p "$SB_DIR/docker" "$R/var/lib/docker"
mount --bind "$SB_DIR/docker" "$R/var/lib/docker"
hostname "$SB_NAME"
echo "$SB_NAME" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\tsandbox-gw\n' \
  "$SB_NAME" "$SB_GW" > "$R/etc/hosts"
if [ -n "${SB_REGISTRY_NAMES:-}" ]; then
  printf '%s\t%s\n' "$SB_GW" "$SB_REGISTRY_NAMES" >> "$R/etc/hosts"
fi
ip link set lo up 2>/dev/null || true
# pivot_root, not chroot: the host's root must be its mount namespace's root, or a process
# that joins the namespace (`docker exec`: runc setns) lands in the machine's root filesystem
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /usr/bin/tini -s -g -- /usr/sbin/sshd -D -e -o "ListenAddress=$SB_ADDR" -o "Port=$SB_PORT"
