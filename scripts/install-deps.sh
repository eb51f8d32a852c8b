#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing; safe to run again and again.
#
#   scripts/install-deps.sh test    what `make test` needs
#   scripts/install-deps.sh demo    what `make demo` needs
#   scripts/install-deps.sh fuzz    what `make fuzz` needs
set -euo pipefail

# The libraries the programs link: SQLite (the store), libsystemd (logind), X11 and libjpeg-turbo (the
# screen thumbnail).
build=(pkg-config libsqlite3-dev libsystemd-dev libx11-dev libxext-dev libxrandr-dev libxss-dev libjpeg62-turbo-dev)

case "${1:-test}" in
    test) packages=("${build[@]}" protobuf-compiler openssl sqlite3 curl dbus-daemon dbus-bin python3-dbusmock python3-psutil
                    xvfb xauth x11-xserver-utils x11-utils xscreensaver iproute2 tcpdump wakeonlan etherwake tshark oathtool tzdata asciinema) ;;
    demo) packages=("${build[@]}") ;;
    fuzz) packages=() ;;
    *) echo "usage: $0 test|demo|fuzz" >&2; exit 64 ;;
esac

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
