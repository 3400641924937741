#!/usr/bin/env bash
# Runs every test of the project: unit, integration and doc tests of the whole
# workspace, then the loom models of the port core.
# Usage: scripts/test.sh        (from anywhere; needs only a Rust toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace)"
cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc

echo "== loom models of the port core"
# Release mode and a bounded preemption count keep the models to a few minutes.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
  cargo test --release --lib --target-dir target/loom loom_models
