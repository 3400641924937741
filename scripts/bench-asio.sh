#!/usr/bin/env bash
# Compares, in one run, the same Asio echo server (benches/asio/echo_server.cpp,
# one thread in io_context::run) built twice and loaded by the same client
# (cport load --conns 64 --size 64 --depth 1 --duration 5s):
#   asio-linux   Asio's native Linux backend (epoll reactor)
#   asio-uring   Asio's Windows backend (IOCP) on cport, io_uring
#   asio-epoll   Asio's Windows backend on cport, epoll
# Rounds are interleaved (linux, uring, epoll, linux, ...); the table shows
# each case's median requests/s and server CPU time per message
# (utime+stime from /proc/PID/stat over the load run), and the ratios to
# asio-linux. Needs libasio-dev (apt-get install -y libasio-dev g++).
#
# Usage: scripts/bench-asio.sh [--duration 5s] [--conns 64] [--size 64] [--runs 5]
# Measurements run under `flock -o /tmp/cport-bench.lock` (shared machine),
# through scripts/bench-win32.sh --measure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
ROOT=$PWD
LOCK=/tmp/cport-bench.lock
OUT=$ROOT/target/bench-asio
DURATION=${DURATION:-5s} CONNS=${CONNS:-64} SIZE=${SIZE:-64} RUNS=${RUNS:-5}
parse_bench_options "$@"

if ! echo '#include <asio/version.hpp>' | c++ -std=c++17 -E -x c++ - >/dev/null 2>&1; then
  echo "Asio's headers are missing: apt-get install -y libasio-dev g++" >&2
  exit 1
fi

# ---- build ----
mkdir -p "$OUT"
cargo build --release -q -p cport-ffi -p cport-cli
src=benches/asio/echo_server.cpp
c++ -O2 -std=c++17 "$src" -o "$OUT/echo_linux" -lpthread
c++ -O2 -std=c++17 -D_WIN32 -D_WIN32_WINNT=0x0A00 -I include/win32 "$src" -o "$OUT/echo_cport" \
  -L target/release -lcport -lpthread

lib=$ROOT/target/release
cases=(asio-linux asio-uring asio-epoll)
declare -A rps us
for run in $(seq 1 "$RUNS"); do
  for c in "${cases[@]}"; do
    log=$OUT/$c.log
    case $c in
      asio-linux) cmd=("$OUT/echo_linux"); prog=$OUT/echo_linux ;;
      asio-uring) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=uring "$OUT/echo_cport"); prog=$OUT/echo_cport ;;
      asio-epoll) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=epoll "$OUT/echo_cport"); prog=$OUT/echo_cport ;;
    esac
    line=$(flock -o "$LOCK" scripts/bench-win32.sh --measure "$c" "$log" "$prog" "${cmd[@]}")
    read -r _ r u _ e _ <<<"$line"
    [[ "$e" == 0 ]] || echo "$c: $e errors (see $log)" >&2
    echo "round $run: $c $r req/s, $u µs CPU/msg" >&2
    rps[$c]="${rps[$c]:-} $r"; us[$c]="${us[$c]:-} $u"
  done
done

base_r=$(median "${rps[asio-linux]}"); base_u=$(median "${us[asio-linux]}")
echo
echo "cport load --conns $CONNS --size $SIZE --depth 1 --duration $DURATION, $(nproc) CPUs, $(uname -r), median of $RUNS interleaved round(s)"
printf '%-11s %12s %12s %14s %16s\n' server "requests/s" "CPU µs/msg" "req/s vs linux" "CPU/msg vs linux"
for c in "${cases[@]}"; do
  r=$(median "${rps[$c]}"); u=$(median "${us[$c]}")
  printf '%-11s %12s %12s %14s %16s\n' "$c" "$r" "$u" \
    "$(awk -v a="$r" -v b="$base_r" 'BEGIN {printf "%.2fx", a / b}')" \
    "$(awk -v a="$u" -v b="$base_u" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}')"
done
