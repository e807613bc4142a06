#!/usr/bin/env bash
# Build the SD card of the emulated Raspberry Pi 3B (QEMU raspi3b): Debian
# bookworm arm64 with Debian's own kernel and systemd, the package's Depends
# preinstalled (the guest has no network), rpi-lgpio + lgpio from their arm64
# wheels, and the test harness's serial shell. Cached under
# ~/.cache/blinkt-agent/pi-<key>/ (key: everything that goes in) so that later
# runs skip the build; a fresh machine builds it (about 4 minutes).
#
#   image.sh DEB      prints the cache directory: sd.img, vmlinuz, initrd.img, rpi3b.dtb
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/../system/lib.sh"
PI_DIR=$REPO_ROOT/tests/pi

deb=${1:?usage: image.sh DEB}
[[ -f $deb ]] || die "$deb is missing: run make deb"
[[ -x $REPO_ROOT/.venv/bin/pip ]] || die ".venv is missing: run make venv"

SUITE=bookworm
MIRROR=$(host_mirror)
# Bump when the recipe below changes in a way the other inputs do not show.
RECIPE=2
SIZE=2G  # QEMU's SD card must be a power of two
# The package's own Depends, so that `apt install ./blinkt-agent_*.deb` needs no
# network in the guest: first alternative, no versions or :any.
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' \
    | grep -v '^$' | sort -u | paste -sd, -)
# The kernel, udev to create /dev/gpiochip0, dbus for systemctl/systemd-analyze.
INCLUDE=systemd-sysv,udev,kmod,dbus,linux-image-arm64,initramfs-tools,$depends
KEY=$( {
    printf '%s\n' "$SUITE" "$MIRROR" "$RECIPE" "$SIZE" "$INCLUDE"
    cat "$PI_DIR/wheels.txt" "$PI_DIR/guest/serial-shell.py" "$PI_DIR/guest/serial-shell.service"
} | sha256sum | cut -c1-16)
OUT=$CACHE_DIR/pi-$SUITE-$KEY

cached() {
    [[ -s $OUT/sd.img ]] || return 1
    log "cached: $OUT"
    echo "$OUT"
}
cached && exit 0
# Runs from other checkouts may want the same image: one builds it, the others wait.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/pi-image.lock"
flock 9
cached && exit 0

ensure_pkgs qemu-user-static binfmt-support debootstrap device-tree-compiler e2fsprogs
# debootstrap runs the arm64 maintainer scripts through qemu-user (binfmt_misc).
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[[ $(head -n1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null) == enabled ]] \
    || die "binfmt_misc cannot run arm64 binaries (qemu-aarch64 not enabled)"

start=$EPOCHREALTIME
work=$(mktemp -d /var/tmp/blinkt-pi-image.XXXXXX)
trap 'rm -rf "$work" "$OUT.part"' EXIT  # under the lock: .part is ours
rootfs=$work/rootfs
mkdir -p "$rootfs/etc/initramfs-tools/conf.d"
# A tiny initramfs: only the SD card driver and ext4. With the default
# MODULES=most, update-initramfs under qemu-user takes ~20 minutes.
echo MODULES=list >"$rootfs/etc/initramfs-tools/conf.d/modules.conf"
printf '%s\n' bcm2835 sdhci-iproc ext4 >"$rootfs/etc/initramfs-tools/modules"

log "debootstrap --arch=arm64 $SUITE from $MIRROR (a few minutes): $INCLUDE"
debootstrap --arch=arm64 --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
log "debootstrap done after $(awk "BEGIN{printf \"%.0f\", $EPOCHREALTIME - $start}") s"

# The GPIO library: pip puts the arm64 wheels' files where Debian's python3 looks.
"$REPO_ROOT/.venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-compile \
    --only-binary=:all: --platform manylinux_2_34_aarch64 --python-version 3.11 \
    --implementation cp --require-hashes -r "$PI_DIR/wheels.txt" \
    --target "$rootfs/usr/local/lib/python3.11/dist-packages" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log" >&2; die "pip could not fetch the rpi-lgpio/lgpio wheels"; }

echo blinkt-pi >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tblinkt-pi\n' >"$rootfs/etc/hosts"
echo '/dev/mmcblk0 / ext4 rw,noatime 0 1' >"$rootfs/etc/fstab"
# A fixed machine-id: an empty one would make every boot of the pristine
# image a "first boot" (presets applied again, ConditionFirstBoot units run).
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$rootfs/etc/machine-id"
echo >>"$rootfs/etc/machine-id"
# The serial console is the harness's channel, not a login prompt; housekeeping
# that would compete for the emulated CPUs is not part of what is tested.
for unit in serial-getty@ttyAMA0.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
install -m 0755 "$PI_DIR/guest/serial-shell.py" "$rootfs/usr/local/sbin/serial-shell"
install -m 0644 "$PI_DIR/guest/serial-shell.service" "$rootfs/etc/systemd/system/"
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/serial-shell.service \
    "$rootfs/etc/systemd/system/multi-user.target.wants/serial-shell.service"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

# Kernel, initrd and device tree come out of the rootfs. The device tree is the
# Pi 3B's as Debian ships it, edited the way the Pi firmware would, for QEMU:
kernel=$(find "$rootfs/boot" -name 'vmlinuz-*' | sort | tail -n1)
version=${kernel##*/vmlinuz-}
cp "$kernel" "$work/vmlinuz"
cp "$rootfs/boot/initrd.img-$version" "$work/initrd.img"
dtb=$work/rpi3b.dtb
cp "$rootfs/usr/lib/linux-image-$version/broadcom/bcm2837-rpi-3-b.dtb" "$dtb"
# no Bluetooth on the first UART (it is the console, serial0); no USB (dwc2 costs
# CPU under emulation and nothing is attached); the board revision the firmware
# adds (a Pi 3B, 1 GB), which rpi-lgpio reads to know the board.
fdtput -r "$dtb" /soc/serial@7e201000/bluetooth
fdtput -t s "$dtb" /chosen stdout-path serial0:115200n8
fdtput -t s "$dtb" /soc/usb@7e980000 status disabled
fdtput -c "$dtb" /system
fdtput -t x "$dtb" /system linux,revision a02082

truncate -s "$SIZE" "$work/sd.img"
mkfs.ext4 -q -L root -d "$rootfs" "$work/sd.img" || die "mkfs.ext4 -d failed"
printf 'kernel %s\ndepends %s\n' "$version" "$depends" >"$work/manifest"
mkdir -p "$OUT.part"
mv "$work/sd.img" "$work/vmlinuz" "$work/initrd.img" "$dtb" "$work/manifest" "$OUT.part/"
rm -rf "$OUT" && mv "$OUT.part" "$OUT"
# Images of older recipes would only fill the disk.
find "$CACHE_DIR" -maxdepth 1 -name "pi-$SUITE-*" ! -name "${OUT##*/}" -exec rm -rf {} +
log "built $OUT in $(awk "BEGIN{printf \"%.0f\", $EPOCHREALTIME - $start}") s (cold build)"
echo "$OUT"
