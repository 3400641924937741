#!/usr/bin/env bash
# Runs every test of the project:
#   1. unit, integration, doc and bench-smoke tests of the whole workspace —
#      the conformance suite runs every behaviour test on io_uring and on epoll
#      (io_uring tests are skipped, with a note, where a probe shows io_uring
#      cannot be set up), the C ABI tests compile and run C programs;
#   2. the loom models of the port core;
#   3. the I/O paths under AddressSanitizer, when a nightly toolchain is
#      installed (rustup toolchain install nightly); skipped otherwise.
# Usage: scripts/test.sh        (from anywhere; needs a Rust toolchain and cc)
set -euo pipefail
cd "$(dirname "$0")/.."

# The C ABI tests also build the C examples for Windows with mingw-w64 (to
# show they build unchanged); fetch it from Debian's packages where missing
# and possible, else that one check is skipped with a note.
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
  && [ "$(id -u)" = 0 ]; then
  echo "== installing mingw-w64 (Debian: gcc-mingw-w64-x86-64)"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q gcc-mingw-w64-x86-64 >/dev/null 2>&1 \
    || echo "could not install mingw-w64: the Windows build of the examples is skipped"
fi

echo "== cargo test (workspace: both backends, C ABI, CLI)"
cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc

echo "== loom models of the port core"
# Release mode and a bounded preemption count keep the models to a few minutes.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
  cargo test --release --lib --target-dir target/loom loom_models

echo "== AddressSanitizer: conformance, shutdown and leak tests"
if cargo +nightly --version >/dev/null 2>&1; then
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -p cport --target x86_64-unknown-linux-gnu --target-dir target/asan \
      --test conformance --test shutdown --test leaks
else
  echo "skipped: no nightly toolchain (rustup toolchain install nightly)"
fi
