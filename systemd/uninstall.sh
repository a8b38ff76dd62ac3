#!/bin/sh
# Removes what install.sh installed: stops and disables homeward-agent, deletes the unit, the
# binary, agent.json and the device key. The agent's buffer and overrides in /var/lib/homeward stay
# unless --purge is given.
#
#   sudo ./uninstall.sh [--purge]
#
# DESTDIR=/some/root ./uninstall.sh removes from under /some/root and leaves systemd alone.
set -eu

DESTDIR=${DESTDIR:-}
purge=no
for arg in "$@"; do
  case "$arg" in
    --purge) purge=yes ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "uninstall.sh: run it as root: sudo $0" >&2
  exit 1
fi

if [ -z "$DESTDIR" ] && [ -f /etc/systemd/system/homeward-agent.service ]; then
  systemctl disable --now homeward-agent.service || true
fi

remove() {
  if [ -e "$DESTDIR$1" ] || [ -L "$DESTDIR$1" ]; then
    rm -f "$DESTDIR$1"
    echo "uninstall.sh: removed $1"
  fi
}

remove /etc/systemd/system/homeward-agent.service
remove /etc/homeward/agent.json
remove /etc/homeward/device.key
# The server's unit uses the same binary: keep it if the server is installed here.
if [ -f "$DESTDIR/etc/systemd/system/homeward-server.service" ]; then
  echo "uninstall.sh: kept /usr/local/bin/homeward (homeward-server is installed)"
else
  remove /usr/local/bin/homeward
fi
rmdir "$DESTDIR/etc/homeward" 2>/dev/null || true

if [ "$purge" = yes ]; then
  # With DynamicUser=yes the state lives in /var/lib/private/homeward; /var/lib/homeward links to it.
  for dir in /var/lib/homeward /var/lib/private/homeward; do
    if [ -e "$DESTDIR$dir" ] || [ -L "$DESTDIR$dir" ]; then
      rm -rf "$DESTDIR$dir"
      echo "uninstall.sh: removed $dir"
    fi
  done
else
  echo "uninstall.sh: kept /var/lib/homeward (the buffer); --purge removes it"
fi

if [ -z "$DESTDIR" ]; then
  systemctl daemon-reload
fi
echo "uninstall.sh: done"
