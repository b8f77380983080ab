#!/usr/bin/env bash
# Times soundclass's main commands with one binary, for comparing cargo
# profiles (README, "One build for every command"):
#   scripts/profile_commands.sh target/debug/soundclass
#   scripts/profile_commands.sh target/release/soundclass
# Needs the dev corpus in data/devcorpus (../shared/corpus/build_dev_corpus.sh
# data/devcorpus). Every command starts cold: no feature cache, no decoded-audio
# cache, a fresh output folder. Prints one Markdown table row per command.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/profile_commands.sh PATH/TO/soundclass}
label=${2:-$bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -f data/devcorpus/manifest.csv ] || { echo "no data/devcorpus/manifest.csv" >&2; exit 1; }

time_it() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  if ! "$@" >"$work/out.log" 2>&1; then
    echo "$name failed:" >&2; tail -20 "$work/out.log" >&2; exit 1
  fi
  end=$(date +%s.%N)
  printf '| %s | %s | %.1f |\n' "$label" "$name" "$(echo "$end - $start" | bc)"
}

echo "| build | command | seconds |"
echo "|---|---|---:|"
# Hand-made features of all 1722 dev-corpus clips (decode, resample, STFT,
# MFCC, chroma, tempo), computed, not read from a cache.
time_it "features (dev corpus, 1722 clips)" \
  "$bin" features --config configs/baselines.toml --no-cache --out "$work/features.csv"
# Baselines on those features: boosting, a forest and LR, one grid point
# each, 3-fold CV, then the final fits.
time_it "baseline (dev corpus: gbdt, random_forest, logistic_regression)" \
  "$bin" baseline --config configs/baselines.toml --features "$work/features.csv" \
  --set 'baselines.models=["gbdt","random_forest","logistic_regression"]' \
  --set baselines.cv_folds=3 --set 'baselines.gbdt.max_depth=[6]' \
  --set 'baselines.gbdt.learning_rate=[0.1]' --set 'baselines.random_forest.max_features=["sqrt"]' \
  --run-dir "$work/baseline"
# CPU log-Mel of every demo clip, written as .npy.
time_it "spectrogram (demo, 80 clips, CPU)" \
  "$bin" spectrogram --config configs/quickstart.toml --manifest data/demo/manifest.csv \
  --out "$work/mel" --device cpu
time_it "train quickstart (demo, 60 epochs)" \
  "$bin" train --config configs/quickstart.toml --device cpu --run-dir "$work/quickstart"
time_it "train configs/cnn.toml, 1 epoch (dev corpus)" \
  "$bin" train --config configs/cnn.toml --device cpu --set training.epochs=1 --run-dir "$work/cnn"
