#!/bin/sh
# Installs the Debian packages transformerd needs to build and test, if any is missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
# prometheus brings promtool (run on /metrics) and systemd brings systemd-analyze (run on
# the unit file) for the end-to-end tests.
PKGS="gcc make pkg-config libmicrohttpd-dev libjansson-dev libopenblas-dev libuv1-dev check curl python3 prometheus systemd"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "transformerd: missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
