# Sourced by scripts/bench-asio.sh and scripts/bench-win32.sh: the options
# both take and the median of a list of measurements.

# Sets DURATION, CONNS, SIZE, RUNS (and, after --with-cases, ONLY from
# --cases) from the command line; exit status 2 on an unknown option.
parse_bench_options() {
  local with_cases=""
  if [[ "${1:-}" == "--with-cases" ]]; then with_cases=1; shift; fi
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --duration) DURATION=$2; shift 2 ;;
      --conns) CONNS=$2; shift 2 ;;
      --size) SIZE=$2; shift 2 ;;
      --runs) RUNS=$2; shift 2 ;;
      --cases) [[ -n "$with_cases" ]] || { echo "unknown option $1" >&2; exit 2; }
               ONLY=$2; shift 2 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  export DURATION CONNS SIZE
}

# The median of space-separated numbers.
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
