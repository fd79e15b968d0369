#!/usr/bin/env bash
# make bench: install nginx and wrk when missing (Debian packages), then run the side-by-side
# benchmark (python -m bench): upstream alone, nginx, two aiohttp reference proxies (ClientSession;
# the gateway's own lean client) and the gateway, CPU per request split into user and sys.
# Loopback only; every child is stopped at exit; bounded in time.
# Tunables (environment): BENCH_DURATION (s per wrk run, default 10), BENCH_ROUNDS (default 3),
# BENCH_GROWTH_ROUNDS, BENCH_CONNECTIONS (32), BENCH_NEW_TOKENS (200000), BENCH_RSS_TOKENS
# (100000), BENCH_ONLY (main,paced,concurrency,bodies,workers,memory,profile,instructions),
# BENCH_PROXY_CPU (1), BENCH_LOAD_CPU (0), BENCH_GATEWAY_CONFIG (gateway.yaml),
# BENCH_GATEWAY_WORKERS, BENCH_TIMEOUT.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} (Debian packages) ..."
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

if [ "$(nproc)" -lt 2 ]; then
    echo "warning: fewer than 2 CPUs; wrk and the process under test will share one" >&2
    export BENCH_PROXY_CPU=${BENCH_PROXY_CPU:-0}
fi

# The driver runs in its own process group (led by `timeout`, which bounds the whole run); the
# trap stops that group, children included, however this script ends.
timeout_s=${BENCH_TIMEOUT:-3600}
setsid timeout --signal=TERM --kill-after=30 "$timeout_s" "$PY" -m bench &
driver=$!
stop() {
    kill -TERM -- "-$driver" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$driver" 2>/dev/null || true
}
trap stop EXIT INT TERM
status=0
wait "$driver" || status=$?
trap - EXIT INT TERM
exit "$status"
