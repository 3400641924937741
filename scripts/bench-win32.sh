#!/usr/bin/env bash
# Compares, in one run, echo servers loaded by the same client
# (cport load --conns 64 --size 64 --depth 1 --duration 5s):
#   c-native   ffi/examples/c/iocp_echo_server.c built against cport (release libcport), 1 worker
#   c-skip     the same with -s (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)
#   c-tp       ffi/examples/c/tp_echo_server.c (the same server on the thread
#              pool: CreateThreadpoolIo), a pool of at most 1 thread
#   c-wine     the same source built with x86_64-w64-mingw32-gcc, run under Wine
#   rust-echo  cport echo --workers 1 --backend uring (the Rust API)
#   plain-uring  a plain io_uring echo loop (cport serve-peer --kind uring)
#   c-epoll, rust-epoll, plain-epoll  the same three on epoll
# and prints a table: requests/s, p50 latency, and the server's CPU time per message —
# utime+stime from /proc/PID/stat over the load run (for Wine, the program's
# process alone and with the wineserver, which serves its every wait).
#
# Usage: scripts/bench-win32.sh [--duration 5s] [--conns 64] [--size 64] [--runs N]
#                               [--cases "c-native c-tp"]   (a subset, in this order)
# The last lines compare CPU per message: the C server with the Rust echo
# and the plain loop of the same backend, and c-tp with c-native.
# Every measurement runs under `flock -o /tmp/cport-bench.lock` (the machine
# is shared; -o keeps the servers from inheriting the lock). Wine runs headless in its own prefix ($WINEPREFIX, default
# /tmp/cport-bench-wine, created on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
ROOT=$PWD
LOCK=/tmp/cport-bench.lock
OUT=$ROOT/target/bench-win32
DURATION=${DURATION:-5s} CONNS=${CONNS:-64} SIZE=${SIZE:-64} RUNS=${RUNS:-1}

# ---- one measurement (run under the lock by the main part below) ----
if [[ "${1:-}" == "--measure" ]]; then
  name=$2 log=$3 prog=$4
  shift 4
  "$@" >"$log" 2>&1 &
  launcher=$!
  # Whatever happens, the server does not outlive its measurement.
  trap 'kill "$launcher" 2>/dev/null || true' EXIT
  port=""
  for _ in $(seq 1 300); do
    port=$(grep -oE 'listening on (port |127\.0\.0\.1:)[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$name: the server did not start:" >&2; cat "$log" >&2
    kill "$launcher" 2>/dev/null || true; exit 1
  fi
  # The process running the program: the launcher itself, or (Wine) the
  # process whose command line is the program.
  pid=$launcher
  wineserver_pid=""
  if [[ "$prog" == *.exe ]]; then
    for p in /proc/[0-9]*; do
      cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
      [[ "$cmd" == "$prog "* ]] && pid=${p#/proc/}
      if [[ "$(readlink "$p/exe" 2>/dev/null)" == *wineserver* ]] &&
         (tr '\0' '\n' 2>/dev/null <"$p/environ" || true) | grep -qx "WINEPREFIX=$WINEPREFIX"; then
        wineserver_pid=${p#/proc/}
      fi
    done
  fi
  cpu() { [[ -n "$1" ]] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
  c0=$(cpu "$pid"); w0=$(cpu "$wineserver_pid")
  # (cport load exits non-zero when a request failed; the count is in the JSON.)
  result=$("$ROOT/target/release/cport" load --addr "127.0.0.1:$port" --conns "$CONNS" \
             --size "$SIZE" --depth 1 --duration "$DURATION" --json 2>/dev/null || true)
  c1=$(cpu "$pid"); w1=$(cpu "$wineserver_pid")
  # The plain loops (cport serve-peer) end on SIGTERM; the others on Ctrl+C.
  if [[ "$name" == plain-* ]]; then kill -TERM "$pid"; else kill -INT "$pid"; fi
  for _ in $(seq 1 200); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$launcher" 2>/dev/null; then echo "$name: did not exit on its signal" >&2; kill "$launcher"; fi
  wait "$launcher" 2>/dev/null || true
  trap - EXIT
  hz=$(getconf CLK_TCK)
  req=$(grep -oE '"requests": *[0-9]+' <<<"$result" | grep -oE '[0-9]+$')
  rps=$(grep -oE '"requests_per_sec": *[0-9.]+' <<<"$result" | grep -oE '[0-9.]+$')
  errors=$(grep -oE '"errors": *[0-9]+' <<<"$result" | grep -oE '[0-9]+$')
  p50=$(grep -oE '"p50_us": *[0-9.]+' <<<"$result" | grep -oE '[0-9.]+$')
  awk -v n="$name" -v rps="$rps" -v req="$req" -v c="$((c1 - c0))" -v w="$((w1 - w0))" \
      -v hz="$hz" -v e="$errors" -v ws="$wineserver_pid" -v p50="${p50:-0}" 'BEGIN {
    us = c * 1e6 / hz / (req > 0 ? req : 1); uw = (c + w) * 1e6 / hz / (req > 0 ? req : 1)
    printf "%s %.0f %.1f %s %d %.1f\n", n, rps, us, (ws != "" ? sprintf("%.1f", uw) : "-"), e, p50 }'
  exit 0
fi

parse_bench_options --with-cases "$@"

# ---- build ----
mkdir -p "$OUT"
cargo build --release -q -p cport-ffi -p cport-cli
cc -O2 -I include/win32 ffi/examples/c/iocp_echo_server.c -o "$OUT/iocp_echo_server" \
   -L target/release -lcport -lpthread
cc -O2 -I include/win32 ffi/examples/c/tp_echo_server.c -o "$OUT/tp_echo_server" \
   -L target/release -lcport -lpthread
cases=(c-native c-skip c-tp rust-echo plain-uring c-epoll rust-epoll plain-epoll)
WINE=""
if command -v x86_64-w64-mingw32-gcc >/dev/null; then
  x86_64-w64-mingw32-gcc -O2 ffi/examples/c/iocp_echo_server.c -o "$OUT/iocp_echo_server.exe" \
    -lws2_32 -lmswsock
  for w in "$(command -v wine64 || true)" /usr/lib/wine/wine64 "$(command -v wine-stable || true)" \
           "$(command -v wine || true)"; do
    [[ -n "$w" && -x "$w" ]] && { WINE=$w; break; }
  done
fi
if [[ -n "$WINE" ]]; then
  export WINEPREFIX=${WINEPREFIX:-/tmp/cport-bench-wine} WINEDEBUG=-all WINEARCH=win64
  unset DISPLAY # headless: the echo server is a console program
  if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
    echo "creating the Wine prefix $WINEPREFIX ..." >&2
    flock -o "$LOCK" timeout 300 "$WINE" wineboot --init >/dev/null 2>&1 || true
  fi
  cases=(c-native c-skip c-tp c-wine rust-echo plain-uring c-epoll rust-epoll plain-epoll)
else
  echo "no mingw-w64 or Wine: the Wine run is skipped" >&2
fi

if [[ -n "${ONLY:-}" ]]; then
  read -r -a cases <<<"$ONLY"
fi

lib=$ROOT/target/release
declare -A rps us usw p50s
for run in $(seq 1 "$RUNS"); do
  for c in "${cases[@]}"; do
    log=$OUT/$c.log
    case $c in
      c-native) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=uring "$OUT/iocp_echo_server" -e:0 -t:1); prog=$OUT/iocp_echo_server ;;
      c-skip) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=uring "$OUT/iocp_echo_server" -e:0 -t:1 -s); prog=$OUT/iocp_echo_server ;;
      c-tp) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=uring "$OUT/tp_echo_server" -e:0 -t:1); prog=$OUT/tp_echo_server ;;
      c-wine) cmd=("$WINE" "$OUT/iocp_echo_server.exe" -e:0 -t:1); prog=$OUT/iocp_echo_server.exe ;;
      rust-echo) cmd=("$ROOT/target/release/cport" echo --addr 127.0.0.1:0 --workers 1 --backend uring); prog=$ROOT/target/release/cport ;;
      plain-uring) cmd=("$ROOT/target/release/cport" serve-peer --kind uring); prog=$ROOT/target/release/cport ;;
      c-epoll) cmd=(env LD_LIBRARY_PATH="$lib" CPORT_BACKEND=epoll "$OUT/iocp_echo_server" -e:0 -t:1); prog=$OUT/iocp_echo_server ;;
      rust-epoll) cmd=("$ROOT/target/release/cport" echo --addr 127.0.0.1:0 --workers 1 --backend epoll); prog=$ROOT/target/release/cport ;;
      plain-epoll) cmd=("$ROOT/target/release/cport" serve-peer --kind epoll); prog=$ROOT/target/release/cport ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    # -o: the server started inside does not inherit (and keep) the lock.
    line=$(flock -o "$LOCK" "$0" --measure "$c" "$log" "$prog" "${cmd[@]}")
    read -r _ r u uw e p <<<"$line"
    [[ "$e" == 0 ]] || echo "$c: $e errors (see $log)" >&2
    rps[$c]="${rps[$c]:-} $r"; us[$c]="${us[$c]:-} $u"; usw[$c]="${usw[$c]:-} $uw"
    p50s[$c]="${p50s[$c]:-} $p"
  done
done

base=$( [[ -n "${rps[rust-echo]:-}" ]] && median "${rps[rust-echo]}" || echo "")
wine=$( [[ -n "${rps[c-wine]:-}" ]] && median "${rps[c-wine]}" || echo "")
echo
echo "cport load --conns $CONNS --size $SIZE --depth 1 --duration $DURATION, $(nproc) CPUs, $(uname -r), median of $RUNS run(s)"
printf '%-12s %12s %10s %16s %22s %10s %10s\n' server "requests/s" "p50 µs" "CPU µs/msg" "CPU µs/msg +wineserver" "vs rust" "vs wine"
for c in "${cases[@]}"; do
  r=$(median "${rps[$c]}"); u=$(median "${us[$c]}"); w=$(median "${usw[$c]}"); l=$(median "${p50s[$c]}")
  vw=$( [[ -n "$wine" ]] && awk -v a="$r" -v b="$wine" 'BEGIN {printf "%.1fx", a / b}' || echo -)
  printf '%-12s %12s %10s %16s %22s %10s %10s\n' "$c" "$r" "$l" "$u" "$w" \
    "$( [[ -n "$base" ]] && awk -v a="$r" -v b="$base" 'BEGIN {printf "%.2fx", a / b}' || echo -)" "$vw"
done
# CPU per message of case $1 over case $2, if both ran.
cpu_ratio() {
  [[ -n "${us[$1]:-}" && -n "${us[$2]:-}" ]] || return 0
  awk -v a="$(median "${us[$1]}")" -v b="$(median "${us[$2]}")" -v x="$1" -v y="$2" \
    'BEGIN {printf "CPU per message %s / %s: %.2fx\n", x, y, a / b}'
}
# Median p50 latency of case $1 over case $2, if both ran.
p50_ratio() {
  [[ -n "${p50s[$1]:-}" && -n "${p50s[$2]:-}" ]] || return 0
  awk -v a="$(median "${p50s[$1]}")" -v b="$(median "${p50s[$2]}")" -v x="$1" -v y="$2" \
    'BEGIN {printf "p50 latency %s / %s: %.2fx\n", x, y, a / b}'
}
cpu_ratio c-native rust-echo
cpu_ratio c-native plain-uring
cpu_ratio c-epoll rust-epoll
cpu_ratio c-epoll plain-epoll
p50_ratio c-native rust-echo
p50_ratio c-epoll rust-epoll
if [[ -n "${us[c-tp]:-}" && -n "${us[c-native]:-}" ]]; then
  awk -v a="$(median "${us[c-tp]}")" -v b="$(median "${us[c-native]}")" \
    'BEGIN {printf "thread pool (c-tp) CPU per message / GetQueuedCompletionStatus (c-native): %.2fx\n", a / b}'
fi
