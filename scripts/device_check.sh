#!/usr/bin/env bash
# The GPU checks of soundclass in one short run, on a machine with the NVIDIA
# driver, CUDA and PyTorch + torchaudio but no Rust toolchain and no network.
# Build the bundle here first (scripts/device_bundle.sh -> .device/), then run
# from the repo root on that machine:
#
#   bash scripts/device_check.sh --device vulkan --torch-device cuda
#
# and here, on Mesa's lavapipe and PyTorch on the CPU, to test the script:
#
#   bash scripts/device_check.sh --device wgpu --torch-device cpu \
#        --python /tmp/torchenv/bin/python --train-config configs/cnn.toml --steps 5
#
# Checks: the WGSL log-Mel parity tests on the GPU (tests/mel_parity.rs,
# gpu_*), `bench mel` against torchaudio, `bench train` against
# scripts/torch_reference.py, and a short `train` on the demo data. Prints one
# Markdown table and writes it, with every command's output, to --out.
set -uo pipefail
cd "$(dirname "$0")/.."
device=vulkan torch_device=cuda python=python3 bundle=.device
train_config=configs/cnn_gpu.toml steps=20 epochs=10 mel_clips=256
out=${OUT:-/tmp}/device_check
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --torch-device) torch_device=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --train-config) train_config=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --mel-clips) mel_clips=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
started=$(date +%s)

# The bundle: binaries (unpacked into a scratch folder) and, when the machine
# has no Vulkan loader, Debian's, unpacked into / as the device README says.
bin_dir=$(mktemp -d)
tar -C "$bin_dir" -xJf "$bundle/bin.tar.xz" || { echo "no $bundle/bin.tar.xz: run scripts/device_bundle.sh" >&2; exit 1; }
soundclass=$bin_dir/bin/soundclass
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for deb in "$bundle"/gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=$nvidia_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export PYTHONUNBUFFERED=1
failed=0

# step NAME CMD...: runs CMD, its output in $out/NAME.log; a failure is
# recorded and the next check still runs.
step() {
  local name=$1; shift
  local t0=$(date +%s)
  echo "== $name" >&2
  if "$@" >"$out/$name.log" 2>&1; then
    echo "   ok in $(( $(date +%s) - t0 )) s" >&2
  else
    echo "   FAILED (exit $?) in $(( $(date +%s) - t0 )) s; tail of $out/$name.log:" >&2
    tail -15 "$out/$name.log" >&2
    failed=1
  fi
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
  "$soundclass" --version; } >"$out/machine.log"

step parity env SOUNDCLASS_REPO_ROOT="$PWD" "$bin_dir/bin/mel_parity" gpu_ --test-threads 1
# Both sides time uniform noise of the same shape (log-Mel's cost does not
# depend on the values): the GPU machine has no librosa to decode with.
# The librosa preset at 22050 Hz with 128 bins, as bench_mel_python.py's.
step mel_soundclass "$soundclass" bench mel --config configs/quickstart.toml \
  --set spectrogram.n_mels=128 --device "$device" --clips "$mel_clips" --seconds 10 --json
cuda_flag=(); [ "$torch_device" = cuda ] && cuda_flag=(--cuda)
step mel_torchaudio "$python" scripts/bench_mel_python.py \
  --clips "$mel_clips" --seconds 10 --skip-librosa "${cuda_flag[@]}" --json
step train_soundclass "$soundclass" bench train --config "$train_config" --device "$device" --steps "$steps" --json
step train_torch "$python" scripts/torch_reference.py --config "$train_config" --device "$torch_device" \
  --steps "$steps" --json
rm -rf "$out/quickstart"
step quickstart "$soundclass" train --config configs/quickstart.toml --device "$device" \
  --set "training.epochs=$epochs" --run-dir "$out/quickstart" --json

"$python" - "$out" "$device" "$torch_device" "$train_config" "$(( $(date +%s) - started ))" <<'EOF' | tee "$out/table.md"
import json, pathlib, sys
out, device, torch_device, train_config, wall = sys.argv[1:]
out = pathlib.Path(out)

def load(name):
    """The last JSON value a step printed, or None when it failed."""
    text = (out / f"{name}.log").read_text(errors="replace")
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None

rows = []
parity = (out / "parity.log").read_text(errors="replace")
passed = [l for l in parity.splitlines() if l.startswith("test result:")]
rows.append(("WGSL log-Mel parity with librosa (gpu_* tests)", passed[-1] if passed else "did not run", "", ""))
mel, ta = load("mel_soundclass"), load("mel_torchaudio")
gpu_rows = [r for r in (mel or {}).get("rows", []) if not r["path"].startswith("cpu")]
ta_rows = (ta or {}).get("rows", [])
ta_best = max(ta_rows, key=lambda r: r["clips_per_second"]) if ta_rows else None
for r in gpu_rows:
    ratio = f"{r['clips_per_second'] / ta_best['clips_per_second']:.2f}x" if ta_best else ""
    rows.append((f"log-Mel, {r['path']}", f"{r['clips_per_second']:.0f} clips/s",
                 f"{ta_best['path']}: {ta_best['clips_per_second']:.0f} clips/s" if ta_best else "failed", ratio))
ours, ref = load("train_soundclass"), load("train_torch")
if ours or ref:
    rows.append((f"training step, {train_config}",
                 f"{ours['clips_per_second']:.1f} clips/s ({ours['device']})" if ours else "failed",
                 f"{ref['device']}: {ref['clips_per_second']:.1f} clips/s" if ref else "failed",
                 f"{ours['clips_per_second'] / ref['clips_per_second']:.2f}x" if ours and ref else ""))
quick = load("quickstart")
if quick and quick.get("best_val"):
    rows.append((f"train configs/quickstart.toml on {device}",
                 f"val accuracy {quick['best_val']['accuracy']:.3f} (best of {quick['epochs_run']} epochs); "
                 f"{quick['train_clips_per_second']:.0f} clips/s, {quick['train_seconds']:.0f} s",
                 "", ""))
else:
    rows.append((f"train configs/quickstart.toml on {device}", "failed", "", ""))
machine = (out / "machine.log").read_text().strip().replace("\n", "; ")
print(f"Machine: {machine}. soundclass --device {device}, PyTorch on {torch_device}; whole check {wall} s.\n")
print("| check | soundclass | reference | ratio |")
print("|---|---|---|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
rm -rf "$bin_dir"
exit $failed
