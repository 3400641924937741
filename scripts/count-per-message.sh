#!/usr/bin/env bash
# Counts, per echoed message, the system calls and the thread wakes of each
# echo server `cport bench` runs (64 connections x 64 B, depth 1, server on
# CPU 0, load on CPU 1):
#   syscalls/msg  perf stat -e raw_syscalls:sys_enter on the server process
#   wakes/msg     voluntary context switches of the server's threads (each is
#                 one sleep, so one wake-up), from /proc/PID/task/*/status
#   IPIs/msg      rescheduling interrupts taken by the server's CPU
#                 (/proc/interrupts RES; includes other work on that CPU)
# Usage: scripts/count-per-message.sh [SERVER...]   (default: all six)
# Needs perf (Debian: linux-perf); builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p cport-cli
BIN=target/release/cport
SERVERS=("$@")
[ ${#SERVERS[@]} -eq 0 ] && SERVERS=(cport-uring cport-uring-irq cport-epoll tokio epoll uring)
WINDOW=3

ctxsw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '$1=="voluntary_ctxt_switches:" {s+=$2} END {print s+0}'; }
res_ipis() { awk '$1=="RES:" {print $2}' /proc/interrupts; }

printf "%-16s %10s %13s %10s %9s\n" server "req/s" "syscalls/msg" "wakes/msg" "IPIs/msg"
for kind in "${SERVERS[@]}"; do
  port=$((20000 + RANDOM % 20000))
  taskset -c 0 "$BIN" serve-peer --kind "$kind" --addr 127.0.0.1:$port >/dev/null 2>&1 &
  server=$!
  sleep 0.5
  taskset -c 1 "$BIN" load --addr 127.0.0.1:$port --conns 64 --size 64 --depth 1 \
    --duration $((WINDOW + 3))s >/tmp/cport-count-load.$$ 2>&1 &
  load=$!
  sleep 1.5
  w0=$(ctxsw $server); i0=$(res_ipis)
  syscalls=$(perf stat -x, -e raw_syscalls:sys_enter -p $server -- sleep $WINDOW 2>&1 | awk -F, '/raw_syscalls/ {print $1}')
  w1=$(ctxsw $server); i1=$(res_ipis)
  wait $load || true
  kill -TERM $server 2>/dev/null; sleep 0.2; kill -KILL $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  rate=$(grep -oE '[0-9,]+ req/s' /tmp/cport-count-load.$$ | tr -d ', req/s')
  rm -f /tmp/cport-count-load.$$
  msgs=$((rate * WINDOW))
  awk -v k="$kind" -v r="$rate" -v m="$msgs" -v s="$syscalls" -v w=$((w1 - w0)) -v i=$((i1 - i0)) \
    'BEGIN { printf "%-16s %10d %13.3f %10.3f %9.3f\n", k, r, s / m, w / m, i / m }'
done
