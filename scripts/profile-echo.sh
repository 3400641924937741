#!/usr/bin/env bash
# Where one echo server of `cport bench` spends its time, per message:
#   1. the top functions (perf record -e cpu-clock -g on the server process,
#      self time, kernel and user space), and the same with callers folded in;
#   2. each system call per echoed message (perf stat on the syscalls:sys_enter_*
#      tracepoints), and the server's context switches per message.
# The server runs pinned to CPU 0, `cport load` (closed loop, depth 1, epoll
# client) pinned to CPU 1.
# Usage: scripts/profile-echo.sh KIND [CONNS] [SIZE]   (KIND as in bench --servers;
#        defaults 64 connections, 64 B). Output under target/profile/KIND-CONNSxSIZE.*
# Needs perf (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:?usage: scripts/profile-echo.sh KIND [CONNS] [SIZE]}
CONNS=${2:-64}
SIZE=${3:-64}
WINDOW=${WINDOW:-4}
cargo build --release -q -p cport-cli
BIN=target/release/cport
OUT=target/profile/$KIND-${CONNS}x$SIZE
mkdir -p target/profile
ulimit -n "$(ulimit -Hn)"
ctxsw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '$1 ~ /ctxt_switches:/ {s+=$2} END {print s+0}'; }

run_load() {
  port=$((20000 + RANDOM % 20000))
  taskset -c 0 "$BIN" serve-peer --kind "$KIND" --addr 127.0.0.1:$port >/dev/null 2>&1 &
  server=$!
  sleep 0.5
  taskset -c 1 "$BIN" load --addr 127.0.0.1:$port --conns "$CONNS" --size "$SIZE" --depth 1 \
    --backend epoll --warmup 1s --duration $((WINDOW + 4))s --json >"$OUT.load.json" 2>/dev/null &
  load=$!
  sleep 3
}
stop_all() {
  wait "$load" || true
  kill -TERM "$server" 2>/dev/null; sleep 0.3; kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
rate() { python3 -c "import json,sys; print(json.load(open('$OUT.load.json'))['requests_per_sec'])"; }

# 1. Profile.
run_load
perf record -q -e cpu-clock -g -p "$server" -o "$OUT.perf.data" -- sleep "$WINDOW" 2>/dev/null
stop_all
perf report -i "$OUT.perf.data" --no-children --sort sym --percent-limit 0.7 --stdio -g none 2>/dev/null \
  | grep -v '^$' > "$OUT.self.txt"
perf report -i "$OUT.perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
  | grep -v '^$' > "$OUT.dso.txt"
perf report -i "$OUT.perf.data" --children --sort sym --percent-limit 3 --stdio -g none 2>/dev/null \
  | grep -v '^$' > "$OUT.children.txt"

# 2. System calls and context switches per message.
run_load
c0=$(ctxsw "$server")
perf stat -x, -e 'syscalls:sys_enter_*' -p "$server" -o "$OUT.syscalls.csv" -- sleep "$WINDOW" 2>/dev/null
c1=$(ctxsw "$server")
stop_all
msgs=$(python3 -c "print($(rate) * $WINDOW)")
echo "$KIND, $CONNS connections x $SIZE B: $(rate) req/s (closed loop, depth 1)"
echo "per message: context switches $(python3 -c "print(round(($c1 - $c0) / $msgs, 3))")"
awk -F, -v m="$msgs" '$1+0 > 0 { sub("syscalls:sys_enter_", "", $3); t += $1; printf "  %-22s %.3f\n", $3, $1 / m } END { printf "  %-22s %.3f\n", "all syscalls", t / m }' "$OUT.syscalls.csv"
echo "samples by object: $OUT.dso.txt"
grep -v '^#' "$OUT.dso.txt" | head -6
echo "top functions (self): $OUT.self.txt"
sed -n '1,40p' "$OUT.self.txt" | grep -v '^#'
