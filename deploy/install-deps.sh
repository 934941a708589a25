#!/bin/sh
# Installs the Debian packages transformerd needs to build (and, with --test, to test), if
# any is missing. As root it runs apt-get; otherwise it prints the exact command and fails.
#   deploy/install-deps.sh          build and run (`make run`)
#   deploy/install-deps.sh --test   also what only the tests use (`make test`)
set -eu
PKGS="gcc make pkg-config libmicrohttpd-dev libjansson-dev libopenblas-dev libuv1-dev check curl python3"
# Test-only tools, kept off the build list so `make run` on a server stays light: chromium
# alone is some 300 MB with its libraries, and a daemon never needs a browser.
#   prometheus  brings promtool (run on /metrics)
#   systemd     brings systemd-analyze (run on the unit file)
#   chromium    loads /ui/attention headless and screenshots the heatmaps (tests/e2e/ui_tests.py)
TEST_PKGS="prometheus systemd chromium"
if [ "${1:-}" = "--test" ]; then
    PKGS="$PKGS $TEST_PKGS"
fi
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
