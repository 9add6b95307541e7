#!/usr/bin/env bash
# Build the cloud-VM provider's guest images into a cache outside the repository,
# once per kernel and recipe: a Debian kernel extracted from its package and a
# busybox initramfs whose /init (deploy/vm/init) runs the job's command from the
# user data the provider appends to the initrd, marking boot and exit code on the
# serial console, then powers off; with the kernel modules of its NIC appended.
# For the disk image, a base ext4 disk (qcow2) and the kernel modules that let
# the guest mount it too. Installs qemu-system-x86, qemu-utils and busybox-static when missing
# (Debian packages only; nothing else is downloaded).
#
#   bash deploy/vm/build-images.sh          # prints the image directory
#
# Settings (environment):
#   SWITCHYARD_VM_CACHE     cache root (default /var/cache/switchyard/vm-images)
#   SWITCHYARD_VM_DISK_MIB  size of the base disk's filesystem (default 256)
#
# The image directory holds vmlinuz, initrd.cpio.gz (the plain image),
# initrd-disk.cpio.gz (the same with the disk modules), disk.qcow2 (the base disk)
# and images.env (IMAGE_DIR=..., KERNEL_VERSION=...); it is rebuilt only when absent.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SWITCHYARD_VM_CACHE:-/var/cache/switchyard/vm-images}
DISK_MIB=${SWITCHYARD_VM_DISK_MIB:-256}
# The recipe's digest (this script and init): a changed recipe builds again.
RECIPE=$( (cat "$HERE/build-images.sh" "$HERE/init"; echo "$DISK_MIB") | sha256sum | cut -c1-12)

log() { echo "vm-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v mke2fs >/dev/null 2>&1 || need+=(e2fsprogs)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root to install them (apt-get install ${need[*]})"
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# busybox must be static: the initramfs has no libraries.
file_out=$(LC_ALL=C readelf -l /bin/busybox 2>/dev/null | grep -c 'Requesting program interpreter' || true)
[ "$file_out" = 0 ] || die "/bin/busybox is not static; install busybox-static"

# The kernel package linux-image-amd64 points at now (its ABI changes with Debian point releases).
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kernel_pkg" ]; then
  apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kernel_pkg" ] || die "apt-cache knows no linux-image-amd64 kernel package"
kernel_version=${kernel_pkg#linux-image-}
busybox_version=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null | tr -c 'A-Za-z0-9.' '_' || echo unknown)
DIR="$CACHE/$kernel_version-busybox-$busybox_version-r$RECIPE"

if [ -f "$DIR/images.env" ]; then
  echo "$DIR"
  exit 0
fi

log "building $DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE"

# Kernel: from the package, without installing it.
download() { (cd "$WORK" && apt-get download "$kernel_pkg" >/dev/null 2>&1); }
# Stale package lists name a kernel the mirror no longer has: update them once and ask again.
download || { apt-get update -qq && download; } || die "apt-get download $kernel_pkg failed (run apt-get update?)"
mkdir "$WORK/deb"
dpkg-deb --fsys-tarfile "$WORK"/"$kernel_pkg"_*.deb | tar -x -C "$WORK/deb" ./boot ./lib/modules
cp "$WORK/deb/boot/vmlinuz-$kernel_version" "$WORK/vmlinuz"

# Initramfs: busybox, its applets as symlinks, and /init.
root="$WORK/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,switchyard,etc}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$HERE/init" "$root/init"
echo 'export PS1="vm# "' >"$root/etc/profile"
cpio_gz() { (cd "$1" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -9); }
cpio_gz "$root" >"$WORK/initrd.cpio.gz"

# Kernel modules (Debian builds these as modules) appended to the initramfs as a second archive,
# with their dependencies and a modules.dep for busybox modprobe; the kernel unpacks both. Every
# image gets the NIC's (virtio_net: WEB sessions reach the guest's ports over it); the disk image
# also those of a virtio disk with ext4. /init loads them only for a device that is there.
modules="$WORK/deb/lib/modules/$kernel_version"
/bin/busybox depmod -b "$WORK/deb" "$kernel_version"
modules_archive() { # NAME... : a gzipped cpio of the modules and their dependencies
  local closure extra line ko name
  closure=$(for name in "$@"; do
    line=$(grep -E "(^|/)$name\.ko:" "$modules/modules.dep") || die "the kernel package has no module $name"
    echo "$line" | tr -d ':' | tr ' ' '\n'
  done | LC_ALL=C sort -u)
  extra=$(mktemp -d "$WORK/modules.XXXX")
  mkdir -p "$extra/lib/modules/$kernel_version"
  for ko in $closure; do
    install -D -m 0644 "$modules/$ko" "$extra/lib/modules/$kernel_version/$ko"
    grep -E "^$ko:" "$modules/modules.dep" >>"$extra/lib/modules/$kernel_version/modules.dep"
  done
  cp "$modules/modules.builtin" "$extra/lib/modules/$kernel_version/"
  cpio_gz "$extra"
}
mv "$WORK/initrd.cpio.gz" "$WORK/initrd-base.cpio.gz"
cat "$WORK/initrd-base.cpio.gz" <(modules_archive virtio_pci virtio_net) >"$WORK/initrd.cpio.gz"
cat "$WORK/initrd-base.cpio.gz" <(modules_archive virtio_pci virtio_net virtio_blk crc32c_generic ext4) >"$WORK/initrd-disk.cpio.gz"

# The base disk: an ext4 filesystem made from a directory, converted to qcow2. Each VM gets a
# copy-on-write overlay of it (the provider's qemu-img create -b), so the base is never written.
disk="$WORK/disk"
mkdir -p "$disk/data"
cat >"$disk/README" <<README
Switchyard base disk image (recipe $RECIPE).
This VM has its own copy-on-write overlay of it: what it writes here stays with this VM
(across a suspend) and is deleted when its job ends; no other VM sees it.
README
mke2fs -q -F -t ext4 -L switchyard -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 -d "$disk" "$WORK/disk.raw" "${DISK_MIB}M" >&2
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"

staged="$DIR.$$"
mkdir -p "$staged"
cp "$WORK/vmlinuz" "$WORK/initrd.cpio.gz" "$WORK/initrd-disk.cpio.gz" "$WORK/disk.qcow2" "$staged/"
# The base disk is never written: every VM writes to its own overlay.
chmod a-w "$staged/disk.qcow2"
printf 'IMAGE_DIR=%s\nKERNEL_VERSION=%s\nRECIPE=%s\n' "$DIR" "$kernel_version" "$RECIPE" >"$staged/images.env"
rm -rf "$DIR"
mv "$staged" "$DIR"
log "built $DIR ($(du -sh "$DIR" | cut -f1))"
echo "$DIR"
