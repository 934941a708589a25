# Sourced by the load scripts: start_daemon BIN ARGS... starts `BIN serve` on a free
# loopback port and sets $pid and $port (the daemon logs its port at start-up).
start_daemon() {
    bin=$1
    shift
    log=$(mktemp)
    "$bin" serve --listen 127.0.0.1:0 --access-log false "$@" 2>"$log" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
    port=""
    i=0
    while [ -z "$port" ] && [ $i -lt 600 ]; do
        port=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$log" | head -n1)
        kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ] || { echo "bench: daemon did not start" >&2; cat "$log" >&2; exit 1; }
}
