#!/bin/sh
# Installs the Debian 12 packages Bursar needs to build, run and test.
# Safe to run again: apt-get skips what is there.
set -eu

PACKAGES="
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev python3 gettext
  libglib2.0-dev libglib2.0-bin libsoup-3.0-dev libjson-glib-dev libsecret-1-dev
  dbus dbus-daemon gnome-keyring libsecret-tools
  desktop-file-utils systemd valgrind bubblewrap faketime libfaketime python3-seccomp
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  echo "Installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
