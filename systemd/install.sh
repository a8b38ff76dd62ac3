#!/bin/sh
# Installs the homeward agent on this box, from the folder this script is in (made by
# `homeward provision`): the binary, agent.json, the device key and the systemd unit, then enables
# and starts the service. Running it again changes nothing unless a file in the folder changed.
#
#   sudo ./install.sh [--remove-key] [path/to/homeward-linux-arm64]
#
# The binary is, in order: the path given, $HOMEWARD_BINARY, or homeward-linux-<arch> (then
# homeward) beside this script, <arch> being this machine's (arm64 under a DESTDIR, or
# $HOMEWARD_ARCH). --remove-key deletes this folder's copy of the device key once it is
# installed (the boot partition is FAT: every user of the box can read it).
# DESTDIR=/some/root ./install.sh installs under /some/root and leaves systemd alone (for packaging
# and tests).
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
DESTDIR=${DESTDIR:-}
remove_key=no
binary=${HOMEWARD_BINARY:-}
for arg in "$@"; do
  case "$arg" in
    --remove-key) remove_key=yes ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    *) binary=$arg ;;
  esac
done

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run it as root: sudo $0" >&2
  exit 1
fi

if [ -z "$binary" ]; then
  # The binary for this machine; under a DESTDIR the files are for a Pi, whatever this machine is.
  arch=${HOMEWARD_ARCH:-}
  if [ -z "$arch" ] && [ -n "$DESTDIR" ]; then arch=arm64; fi
  if [ -z "$arch" ]; then
    case "$(uname -m)" in
      aarch64|arm64) arch=arm64 ;;
      x86_64|amd64) arch=x64 ;;
      armv6l|armv7l|armhf)
        echo "install.sh: this is a 32-bit OS; the single binary needs the 64-bit Raspberry Pi OS." >&2
        echo "On a 32-bit OS, install Node.js and run the npm package instead." >&2
        exit 1 ;;
      *) echo "install.sh: no homeward binary for $(uname -m)" >&2; exit 1 ;;
    esac
  fi
  for candidate in "$here/homeward-linux-$arch" "$here/homeward"; do
    if [ -f "$candidate" ]; then binary=$candidate; break; fi
  done
fi
if [ -z "$binary" ] || [ ! -f "$binary" ]; then
  echo "install.sh: no binary: put homeward-linux-arm64 beside this script, or give its path" >&2
  exit 1
fi
for file in agent.json homeward-agent.service; do
  if [ ! -f "$here/$file" ]; then echo "install.sh: $here/$file is missing" >&2; exit 1; fi
done

changed=no
as_root=no
if [ "$(id -u)" -eq 0 ]; then as_root=yes; fi

# put SOURCE DEST MODE: copies only when the content differs (atomically: a running binary keeps
# its old inode), then sets owner root:root and MODE only when they differ.
put() {
  source=$1 dest=$DESTDIR$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
    :
  else
    tmp="$dest.install.$$"
    rm -f "$tmp"
    (umask 077 && cp "$source" "$tmp")
    chmod "$mode" "$tmp"
    if [ "$as_root" = yes ]; then chown 0:0 "$tmp"; fi
    mv -f "$tmp" "$dest"
    echo "install.sh: installed $2"
    changed=yes
  fi
  fix_mode "$dest" "$mode"
}

# fix_mode PATH MODE: root:root and MODE, touching PATH only if they are not so already.
fix_mode() {
  want=$2
  if [ "$as_root" = yes ]; then want="$2 0:0"; fi
  have=$(stat -c '%a' "$1")
  if [ "$as_root" = yes ]; then have="$have $(stat -c '%u:%g' "$1")"; fi
  if [ "$have" != "$want" ]; then
    chmod "$2" "$1"
    if [ "$as_root" = yes ]; then chown 0:0 "$1"; fi
    echo "install.sh: fixed the owner and mode of ${1#"$DESTDIR"}"
    changed=yes
  fi
}

ensure_dir() {
  if [ ! -d "$DESTDIR$1" ]; then
    mkdir -p "$DESTDIR$1"
    changed=yes
  fi
  fix_mode "$DESTDIR$1" "$2"
}

ensure_dir /usr/local/bin 755
ensure_dir /etc/homeward 755
ensure_dir /etc/systemd/system 755

put "$binary" /usr/local/bin/homeward 755
put "$here/agent.json" /etc/homeward/agent.json 644
if [ -f "$here/device.key" ]; then
  put "$here/device.key" /etc/homeward/device.key 600
elif [ -f "$DESTDIR/etc/homeward/device.key" ]; then
  fix_mode "$DESTDIR/etc/homeward/device.key" 600
else
  echo "install.sh: no device.key here and none installed: run homeward provision again" >&2
  exit 1
fi
put "$here/homeward-agent.service" /etc/systemd/system/homeward-agent.service 644

if [ "$remove_key" = yes ] && [ -f "$here/device.key" ]; then
  rm -f "$here/device.key"
  echo "install.sh: removed $here/device.key (installed as /etc/homeward/device.key)"
fi

if [ -n "$DESTDIR" ]; then
  echo "install.sh: installed under $DESTDIR (systemd left alone)"
  exit 0
fi

systemctl daemon-reload
if ! systemctl is-enabled --quiet homeward-agent.service; then
  systemctl enable homeward-agent.service
fi
if ! systemctl is-active --quiet homeward-agent.service; then
  systemctl start homeward-agent.service
  echo "install.sh: started homeward-agent"
elif [ "$changed" = yes ]; then
  systemctl restart homeward-agent.service
  echo "install.sh: restarted homeward-agent"
fi
echo "install.sh: done. Check it with: systemctl status homeward-agent; homeward status"
