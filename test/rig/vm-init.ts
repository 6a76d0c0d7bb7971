/**
 * `/init` of the test VM's initramfs (busybox sh, PID 1). It is part of the initramfs cache
 * key, so any change here rebuilds the image.
 *
 * Contract with KernelVm (src/rig/kernel-vm.ts), all through the writable 9p share `xfer`:
 * - in:  `job.env` (GUEST_TIMEOUT seconds, SHARE_DIR), `cmd.sh` (run by the host's bash)
 * - out: `started` (guest uptime when the command starts: the boot succeeded),
 *        `stdout`, `stderr`, `exit` ("<status> <uptime>", renamed into place when complete),
 *        `boot-failed` (why the boot failed, when xfer was mounted), `guest-timeout`.
 * Steps: load every module in /etc/bgpvs/modules (dependencies first; autoloading is also
 * wired to busybox modprobe for the included modules), mount the host root read-only over
 * 9p under a tmpfs overlay at /newroot, give it fresh /proc /sys /dev /run, mount the share,
 * chroot into it to run the command, then power off.
 */
export const VM_INIT_SCRIPT = String.raw`#!/bin/sh
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
up() { read -r u _ < /proc/uptime; echo "$u"; }
log() { echo "[bgpvs-vm $(up)] $*" > /dev/console; }
halt_vm() { sync; poweroff -f; reboot -f; }
fail() {
  log "BOOT FAILED: $*"
  [ -f /xfer/job.env ] && echo "$*" > /xfer/boot-failed
  halt_vm
}
KVER=$(uname -r)
log "init: kernel $KVER"
while read -r m; do
  insmod "/lib/modules/$KVER/$m" || fail "insmod $m"
done < /etc/bgpvs/modules
log "modules loaded"
O=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$O" xfer /xfer || fail "mount 9p share xfer"
[ -f /xfer/job.env ] || fail "no job.env in xfer"
. /xfer/job.env
( sleep "$GUEST_TIMEOUT"; log "guest timeout after $GUEST_TIMEOUT s"; echo "$(up)" > /xfer/guest-timeout; halt_vm ) &
mount -t 9p -o "$O,ro,cache=loose" hostroot /lower || fail "mount 9p share hostroot"
mount -t tmpfs -o mode=0755 tmpfs /upper || fail "mount tmpfs upper"
mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot || fail "mount overlay root"
R=/newroot
mount -t proc proc $R/proc || fail "mount proc"
mount -t sysfs sysfs $R/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $R/dev || fail "mount devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $R/dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm || fail "mount /dev/shm"
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs -o mode=0755 tmpfs $R/run || fail "mount /run"
mkdir -p $R/run/netns $R/run/bgpvs-vm $R/tmp
chmod 1777 $R/tmp
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
if [ -n "$SHARE_DIR" ]; then
  mkdir -p "$R$SHARE_DIR" || fail "mkdir $SHARE_DIR"
  mount -t 9p -o "$O" share "$R$SHARE_DIR" || fail "mount 9p share at $SHARE_DIR"
fi
cp /xfer/cmd.sh $R/run/bgpvs-vm/cmd.sh || fail "copy cmd.sh"
hostname bgpvs-vm
ip link set lo up
up > /xfer/started
log "rootfs ready, running the command"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM=dumb LANG=C.UTF-8 BGPVS_VM=1 /bin/bash /run/bgpvs-vm/cmd.sh \
  < /dev/null > /xfer/stdout 2> /xfer/stderr
rc=$?
echo "$rc $(up)" > /xfer/exit.tmp && mv /xfer/exit.tmp /xfer/exit
log "command exited $rc"
halt_vm
`;

/** busybox applets the init script (and module autoloading) use. */
export const VM_INIT_APPLETS = [
  'sh', 'mount', 'umount', 'insmod', 'modprobe', 'mkdir', 'cat', 'echo', 'sleep', 'poweroff', 'reboot',
  'chroot', 'ls', 'cp', 'mv', 'ln', 'chmod', 'sync', 'hostname', 'ip', 'uname', 'env',
] as const;
