#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes (docs/security.md), out
# of CI: each target of bridge-ros2/fuzz in turn for SECONDS (default 600), seeded
# from fuzz/seeds and fuzz/corpus, then each corpus minimised back into fuzz/corpus.
# A crash stops the script with the input under bridge-ros2/fuzz/artifacts/<target>/;
# copy it into fuzz/regressions/<target>/ once fixed. Needs the nightly toolchain and
# cargo-fuzz (installed here if missing). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../bridge-ros2"
seconds="${1:-600}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
# ONNX graphs and recordings are larger than libFuzzer's default 4 KiB inputs.
max_len() { case "$1" in onnx|mcap_replay) echo 262144 ;; *) echo 65536 ;; esac; }
# FUZZ_TARGET_DIR: where the sanitizer build goes (default bridge-ros2/fuzz/target).
fz() { local sub="$1"; shift; cargo +nightly fuzz "$sub" --release --target-dir "${FUZZ_TARGET_DIR:-fuzz/target}" "$@"; }
unset CARGO_TARGET_DIR
fz build
log="fuzz/runs.log"
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  work="$(mktemp -d)"
  echo "== $target: ${seconds} s"
  fz run "$target" "$work" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=4096 -malloc_limit_mb=2048 \
    -print_final_stats=1 2>"fuzz/$target.log" || { tail -40 "fuzz/$target.log"; exit 1; }
  stats="$(grep -a -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)' "fuzz/$target.log" | tr '\n' ' ')"
  echo "$(date -u +%F) $target ${seconds}s $stats" | tee -a "$log"
  # Minimise: the corpus that keeps the coverage of everything found.
  min="$(mktemp -d)"
  fz run "$target" "$min" "$work" "fuzz/corpus/$target" -- \
    -merge=1 -max_len="$(max_len "$target")" >/dev/null 2>&1
  rm -rf "fuzz/corpus/$target" && mv "$min" "fuzz/corpus/$target"
  rm -rf "$work"
done
