#!/usr/bin/env bash
# Build localhost/blinkt-bookworm-systemd:latest: a debootstrapped Debian bookworm
# with systemd as PID 1, for the package proofs (run.sh) and the Ansible role's
# molecule scenario. The root filesystem tarball is cached under
# ~/.cache/blinkt-agent so later runs skip debootstrap; a fresh machine builds it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

SUITE=bookworm
# What TEST-INFRA.md measured to boot under podman; python3-apt and sudo are
# for Ansible (molecule uses the same image).
INCLUDE=systemd,systemd-sysv,dbus,python3,python3-apt,sudo
MIRROR=$(host_mirror)
# Bump when the rootfs recipe below changes in a way the other inputs do not show.
RECIPE=1
# The cache key changes whenever what goes into the rootfs changes.
KEY=$(printf '%s\n' "$SUITE" "$INCLUDE" "$MIRROR" "$RECIPE" | sha256sum | cut -c1-16)
TARBALL=$CACHE_DIR/rootfs-$SUITE-$KEY.tar

ensure_pkgs podman runc uidmap slirp4netns fuse-overlayfs debootstrap

if [[ $(podman image inspect --format '{{index .Config.Labels "blinkt.rootfs"}}' "$IMAGE" \
    2>/dev/null) == "$KEY" ]]; then
    log "$IMAGE is up to date (rootfs $KEY)"
    exit 0
fi

if [[ ! -s $TARBALL ]]; then
    mkdir -p "$CACHE_DIR"
    rootfs=$(mktemp -d /var/tmp/blinkt-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs" "$TARBALL.part"' EXIT
    log "debootstrap $SUITE from $MIRROR (about a minute)"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" \
        >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; die "debootstrap failed"; }
    rm -f "$rootfs.log"
    # An empty machine-id makes systemd generate one per boot (each container its own).
    : >"$rootfs/etc/machine-id"
    # Package lists go stale; the tests run apt-get update in the container.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" --numeric-owner -cf "$TARBALL.part" .
    mv "$TARBALL.part" "$TARBALL"
    # Old rootfs tarballs (another key) would only fill the disk.
    find "$CACHE_DIR" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "${TARBALL##*/}" -delete
fi

log "importing $TARBALL as $IMAGE"
podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL blinkt.rootfs=$KEY" \
    "$TARBALL" "$IMAGE" >/dev/null
log "$IMAGE ready (rootfs $KEY)"
