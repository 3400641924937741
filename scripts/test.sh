#!/usr/bin/env bash
# Runs every test of the project, stage by stage:
#   1. unit, integration and bench-smoke tests of the whole workspace — the
#      conformance suite runs every behaviour test on io_uring and on epoll,
#      the C ABI tests compile and run C programs (also against a
#      `make install`ed prefix through pkg-config), the CLI tests run `cport`,
#      cli/tests/msrv.rs checks the stated minimum Rust versions;
#   2. the doc tests;
#   3. `cargo package` of the library crate (packs and builds on its own);
#   4. the loom models of the port core;
#   5. the port core's queue and the packet entries it carries under Miri,
#      when a nightly toolchain with miri is installed; skipped otherwise;
#   6. the I/O paths under AddressSanitizer, when a nightly toolchain is
#      installed (rustup toolchain install nightly); skipped otherwise.
# Every stage runs even when an earlier one failed; the summary at the end
# lists each stage's result and every part that was skipped, with the
# reason: whole stages, and single tests that could not run here (they print
# `cport-test-skip: <what>: <why>` and append it to $CPORT_SKIP_LOG). The exit
# status is 1 if any stage failed.
# Usage: scripts/test.sh        (from anywhere; needs a Rust toolchain and cc;
#                                as root on Debian it installs make,
#                                pkg-config and mingw-w64 where missing)
set -uo pipefail
cd "$(dirname "$0")/.."

results=()   # "stage: result" lines for the summary
skipped=()   # skipped parts (whole stages or setup steps), with the reason
failed=0

logs=$(mktemp -d "${TMPDIR:-/tmp}/cport-test.XXXXXX")
export CPORT_SKIP_LOG="$logs/skips"
: >"$CPORT_SKIP_LOG"

# stage NAME COMMAND...: runs COMMAND, its output shown and kept in a log.
stage() {
  local name=$1
  shift
  echo "== $name"
  local start=$SECONDS
  "$@" 2>&1 | tee "$logs/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_').log"
  local rc=${PIPESTATUS[0]}
  local took=$((SECONDS - start))
  if [ "$rc" = 0 ]; then
    results+=("$name: passed (${took} s)")
  else
    results+=("$name: FAILED, exit status $rc (${took} s)")
    failed=1
  fi
}

# apt_install PACKAGE: installs a Debian package; a fresh container has no
# package lists, so a failed install is retried after apt-get update.
apt_install() {
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 1
  local install=(timeout 600 apt-get install -y -q "$1")
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1 && return 0
  echo "   apt-get install $1 failed: running apt-get update, then trying again"
  timeout 600 apt-get update -q >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1
}

# make and pkg-config: the C ABI tests `make install` the library into a
# temporary prefix and build programs against it with nothing but
# `pkg-config --cflags --libs cport`.
for tool in make pkg-config; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "== installing $tool"
    apt_install "$tool" \
      || echo "   could not install $tool: the tests that build against the installed library fail"
  fi
done

# The C ABI tests also build the C examples for Windows with mingw-w64 (to
# show they build unchanged); fetched from Debian's packages where missing and
# possible, else that one check is skipped with a note.
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "== installing mingw-w64 (Debian: gcc-mingw-w64-x86-64)"
  apt_install gcc-mingw-w64-x86-64 \
    || echo "   could not install mingw-w64 (not root, no apt-get, or no network)"
fi

# The Asio tests (ffi/tests/asio.rs) build Asio's Windows backend with g++
# against Debian's Asio headers; with CPORT_REQUIRE_ASIO=1 (CI) they fail
# where the headers are missing.
if ! command -v g++ >/dev/null 2>&1; then
  echo "== installing g++"
  apt_install g++ || echo "   could not install g++ (not root, no apt-get, or no network)"
fi
if [ ! -f /usr/include/asio.hpp ]; then
  echo "== installing Asio's headers (Debian: libasio-dev)"
  apt_install libasio-dev \
    || echo "   could not install libasio-dev (not root, no apt-get, or no network)"
fi

stage "cargo test (workspace: both backends, C ABI, CLI)" \
  cargo test --workspace --all-targets --all-features --no-fail-fast

stage "doc tests" cargo test --workspace --doc

# The library crate packs and builds from its package alone (publish stays
# off; --offline: every dependency was fetched by the stages above).
stage "cargo package -p cport (the library crate)" \
  cargo package -p cport --allow-dirty --offline --quiet

# Release mode and a bounded preemption count keep the models to a few minutes.
stage "loom models of the port core" \
  env RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
  cargo test --release --lib --target-dir target/loom loom_models

# The port core's vendored queue (it recycles its blocks) and the packet
# entries it carries (a tagged word, boxes reused) under Miri, which checks
# every access of their unsafe code against Rust's aliasing and
# initialisation rules; the loom models swap the queue for a plain one.
if cargo +nightly miri --version >/dev/null 2>&1; then
  stage "Miri: the port core's queue, packet entries" \
    env MIRIFLAGS="${MIRIFLAGS:-}" cargo +nightly miri test -p cport --lib --target-dir target/miri port_core::queue -- packet::tests
else
  results+=("Miri: skipped")
  skipped+=("Miri stage: no nightly toolchain with miri (rustup component add --toolchain nightly miri rust-src)")
fi

if cargo +nightly --version >/dev/null 2>&1; then
  stage "AddressSanitizer: conformance, shutdown and leak tests" \
    env RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -p cport --target x86_64-unknown-linux-gnu --target-dir target/asan \
    --test conformance --test shutdown --test leaks
else
  results+=("AddressSanitizer: skipped")
  skipped+=("AddressSanitizer stage: no nightly toolchain (rustup toolchain install nightly)")
fi

# Skip notes: those the tests appended to the skip log, and any a test
# printed without it (seen in the logs of failed tests) — each line once.
skip_notes=$(
  {
    sed -n 's/^.*\(cport-test-skip: \)/\1/p' "$logs"/*.log
    cat "$CPORT_SKIP_LOG"
  } | sort -u
)

echo
echo "== summary"
for r in "${results[@]}"; do
  echo "  $r"
done
if [ -n "$skip_notes" ]; then
  echo "  tests that skipped a part ($(echo "$skip_notes" | wc -l) cport-test-skip notes):"
  echo "$skip_notes" | sed 's/^cport-test-skip: /    /'
  echo "  by reason:"
  echo "$skip_notes" | sed 's/^cport-test-skip: //' \
    | awk '{ print substr($0, index($0, ": ") + 2) }' | sort | uniq -c | sed 's/^/   /'
else
  echo "  tests that skipped a part: none"
fi
for s in "${skipped[@]+"${skipped[@]}"}"; do
  echo "  skipped: $s"
done
echo "  logs: $logs"
stages_passed=$(printf '%s\n' "${results[@]}" | grep -c ': passed')
stages_failed=$(printf '%s\n' "${results[@]}" | grep -c ': FAILED')
echo "stages: $stages_passed passed, $stages_failed failed"
if [ "$failed" = 0 ]; then
  echo "  result: every stage passed"
else
  echo "  result: FAILED (see the stages above)"
fi
exit "$failed"
