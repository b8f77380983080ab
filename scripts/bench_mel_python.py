#!/usr/bin/env python3
"""Times librosa and torchaudio (CPU) log-Mel on the same input as
`soundclass bench mel`, for README's side-by-side table.

    pip install librosa torch torchaudio --index-url ... (CPU wheels)
    python3 scripts/bench_mel_python.py [--preset librosa|panns] [--clips 256] [--seconds 10]
                                        [--manifest data/demo/manifest.csv] [--json]

Input: `clips` waveforms of `seconds` at the preset's rate: the manifest's
clips cyclically (first `seconds`, loop-padded), or uniform noise in
[-0.5, 0.5) without a manifest. Paths timed: librosa (melspectrogram +
power_to_db, one clip at a time, as a notebook would), torchaudio
MelSpectrogram + AmplitudeToDB on batches of 64 with 1 thread and with all
threads. One warm-up batch precedes each timing.
"""
import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

PRESETS = {
    "librosa": dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=None, pad_mode="constant"),
    "panns": dict(sr=32000, n_fft=1024, hop_length=320, n_mels=64, fmin=50.0, fmax=14000.0, pad_mode="reflect"),
}


def load_clips(args, p):
    length = int(round(args.seconds * p["sr"]))
    if not args.manifest:
        rng = np.random.default_rng(0)
        return [rng.uniform(-0.5, 0.5, length).astype(np.float32) for _ in range(args.clips)]
    import librosa
    root = Path(args.manifest).parent
    rows = list(csv.DictReader(open(args.manifest)))[: args.clips]
    distinct = [librosa.load(root / r["path"], sr=p["sr"], mono=True)[0] for r in rows]
    out = []
    for i in range(args.clips):
        y = distinct[i % len(distinct)]
        out.append(np.resize(y, length).astype(np.float32))  # np.resize repeats: loop padding
    return out


def row(name, n, seconds, wall):
    return {"path": name, "clips": n, "wall_seconds": wall, "realtime_factor": n * seconds / wall,
            "clips_per_second": n / wall}


def bench_librosa(clips, p, seconds):
    import librosa

    def one(y):
        m = librosa.feature.melspectrogram(y=y, sr=p["sr"], n_fft=p["n_fft"], hop_length=p["hop_length"],
                                           n_mels=p["n_mels"], fmin=p["fmin"], fmax=p["fmax"],
                                           pad_mode=p["pad_mode"], power=2.0)
        return librosa.power_to_db(m, ref=1.0, amin=1e-10, top_db=80.0)

    for y in clips[:4]:
        one(y)
    start = time.perf_counter()
    for y in clips:
        one(y)
    return row(f"librosa {librosa.__version__}", len(clips), seconds, time.perf_counter() - start)


def bench_torchaudio(clips, p, seconds, threads, device="cpu"):
    import torch
    import torchaudio
    torch.set_num_threads(threads)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=p["sr"], n_fft=p["n_fft"], hop_length=p["hop_length"], n_mels=p["n_mels"], f_min=p["fmin"],
        f_max=p["fmax"], pad_mode=p["pad_mode"], center=True, power=2.0, norm="slaney", mel_scale="slaney").to(device)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0).to(device)
    batch = 64
    data = torch.from_numpy(np.stack(clips))
    on_device = device != "cpu"

    def run(chunk):
        x = chunk.to(device) if on_device else chunk
        out = to_db(mel(x))
        if on_device:
            torch.cuda.synchronize()
        return out

    with torch.inference_mode():
        run(data[:batch])
        start = time.perf_counter()
        for i in range(0, len(clips), batch):
            run(data[i:i + batch])
        wall = time.perf_counter() - start
    label = f"torchaudio {torchaudio.__version__} {device}" + (f", {threads} thr" if device == "cpu" else "")
    return row(label, len(clips), seconds, wall)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, default="librosa")
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--manifest")
    ap.add_argument("--cuda", action="store_true", help="also time torchaudio on CUDA")
    ap.add_argument("--skip-librosa", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    p = PRESETS[args.preset]
    clips = load_clips(args, p)
    rows = []
    if not args.skip_librosa:
        rows.append(bench_librosa(clips, p, args.seconds))
    try:
        rows.append(bench_torchaudio(clips, p, args.seconds, 1))
        rows.append(bench_torchaudio(clips, p, args.seconds, os.cpu_count()))
        if args.cuda:
            rows.append(bench_torchaudio(clips, p, args.seconds, os.cpu_count(), "cuda"))
    except ImportError as e:
        print(f"torchaudio not timed: {e}")
    if args.json:
        print(json.dumps({"preset": args.preset, **p, "rows": rows}, indent=2))
        return
    print(f"{'path':<44} {'clips':>7} {'wall_s':>10} {'audio_s/s':>12} {'clips/s':>10}")
    for r in rows:
        print(f"{r['path']:<44} {r['clips']:>7} {r['wall_seconds']:>10.3f} {r['realtime_factor']:>12.1f} "
              f"{r['clips_per_second']:>10.1f}")


if __name__ == "__main__":
    main()
