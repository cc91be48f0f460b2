#!/usr/bin/env bash
# Makes the root filesystem shared by the Spark images: Debian bookworm (debootstrap --variant=minbase) plus
# a Java 17 runtime, Python 3, bash, tini, procps and nss_wrapper, a `spark` user (uid/gid 185), trimmed.
#
#   unshare --mount --propagation private -- bash debian-base.sh ROOTFS [MIRROR]
#
# Run by testbed/images/build, as root, inside a private mount namespace: every mount made here (debootstrap's
# own and the /proc used by apt inside the chroot) disappears with the namespace, so nothing stays mounted on
# the host. ROOTFS must not exist yet. The package list below is part of this file, so editing it changes the
# build's cache key.
set -euo pipefail

rootfs=$1
mirror=${2:-http://deb.debian.org/debian}
suite=bookworm
packages=(openjdk-17-jre-headless python3 bash tini procps libnss-wrapper)

step() { printf '== %s: %s\n' "$(date +%T)" "$*"; }

[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
# Refuse to run in the host's mount namespace: the mounts below must not leak.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
  echo "run me inside 'unshare --mount' (a private mount namespace)" >&2
  exit 1
fi
[ ! -e "$rootfs" ] || { echo "$rootfs already exists" >&2; exit 1; }

in_root() {
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

step "debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase --merged-usr "$suite" "$rootfs" "$mirror"

mount -t proc proc "$rootfs/proc"
# A private devpts instance (newinstance): apt wants a pty for its log; the host's ptys stay untouched.
mkdir -p "$rootfs/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$rootfs/dev/pts"
# Nothing in a chroot may start a service.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
# No documentation, manuals or translations from now on (the files already unpacked are removed below).
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90-sparkplane-slim" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
CFG
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$rootfs/etc/apt/apt.conf.d/90-sparkplane-no-recommends"

step "apt-get install ${packages[*]}"
in_root apt-get update -q
in_root apt-get install -y -q --no-install-recommends "${packages[@]}"

step "user and group spark (185)"
in_root groupadd --system --gid 185 spark
in_root useradd --system --uid 185 --gid 185 --home-dir /home/spark --create-home --shell /bin/bash spark

step "checks"
java_home=/usr/lib/jvm/java-17-openjdk-amd64
[ -x "$rootfs$java_home/bin/java" ] || { echo "no java at $java_home" >&2; exit 1; }
[ -x "$rootfs/usr/bin/tini" ] || { echo "no /usr/bin/tini" >&2; exit 1; }
in_root "$java_home/bin/java" -version
in_root python3 --version

step "precompiling Python bytecode (unchecked-hash: valid whatever the files' mtimes in the layer)"
in_root python3 -m compileall -q -f -j 1 --invalidation-mode unchecked-hash \
  /usr/lib/python3 "$(in_root python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" >/dev/null || true

step "trimming"
in_root apt-get clean
umount "$rootfs/dev/pts" "$rootfs/proc"
rm -f "$rootfs/usr/sbin/policy-rc.d"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/cache/ldconfig/aux-cache \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian/* \
  "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/root/.cache
find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$rootfs/var/log" -type f -delete
# The host's network identity, copied in by debootstrap, must not ship; the runtime provides these files.
rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
if [ -s "$rootfs/etc/machine-id" ]; then : >"$rootfs/etc/machine-id"; fi
# Left empty: device nodes and kernel filesystems come from the container runtime (oci.py leaves out the
# contents of these three directories anyway).
find "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" -mindepth 1 -delete
step "done: $(du -sh "$rootfs" | cut -f1)"
