#!/bin/sh
# End-to-end tests: start the real daemon on loopback ports and talk HTTP to it.
#   tests/e2e/run.sh build/transformerd [unittest args, e.g. Routes.test_logprobs]
# Needs only the `python3` on PATH (standard library).
set -eu
bin=${1:?usage: tests/e2e/run.sh BINARY [test names]}
shift
here=$(dirname "$0")
if ! "$bin" serve --help 2>/dev/null | grep -q -- "--listen"; then
    echo "e2e: $bin has no working 'serve' subcommand yet; skipping the end-to-end tests" >&2
    exit 0
fi
if [ ! -f "$here/../fixtures/e2e-gpt2/model.safetensors" ]; then
    python3 "$here/make_e2e_model.py"
fi
timeout 300 python3 "$here/test_serve.py" "$bin" "$@"
exec timeout 300 python3 "$here/test_t5.py" "$bin"
