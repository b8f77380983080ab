#!/usr/bin/env bash
# Mutation fuzzing of the decode path for longer than `cargo test` does:
# tests/fuzz_decode.rs with a random first seed, run for --minutes N
# (default 10). Failing inputs (escaped panic, hang, allocation far above
# the file size) are written to --out DIR (default target/fuzz-failures);
# move each into tests/data/fuzz/ once fixed, so it stays a regression test.
#
#   scripts/fuzz_decode.sh [--minutes N] [--seed S] [--out DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=10
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
out=target/fuzz-failures
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
echo "fuzzing the decode path for $minutes min from seed $seed; failures -> $out"
SOUNDCLASS_FUZZ_SEED=$seed \
SOUNDCLASS_FUZZ_SECONDS=$((minutes * 60)) \
SOUNDCLASS_FUZZ_FAILURES=$(realpath "$out") \
  cargo test --locked --test fuzz_decode -- --exact \
    mutants_of_every_format_neither_panic_hang_nor_overallocate --nocapture
status=$?
if [ -d "$out/in-progress" ]; then
  echo "the process died while decoding the file(s) in $out/in-progress" >&2
  exit 1
fi
exit $status
