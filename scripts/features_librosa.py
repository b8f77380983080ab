#!/usr/bin/env python3
"""librosa counterpart of `soundclass features`: the same 84 clip-level
features, to time librosa and to compare values column by column.

    pip install librosa soundfile joblib
    python3 scripts/features_librosa.py --manifest data/demo/manifest.csv \\
        [--limit N] [--out features_librosa.csv] [--jobs 1] [--sr 22050] \\
        [--seconds 10] [--shared-stft] [--json]

Input: a manifest CSV with at least `path,label,split` (relative paths
resolve against the manifest's folder). The group column is
`source_package` when present and non-empty, else the path's parent folder
as written (e.g. `clips/Animal`), as soundclass derives it. Splits are
normalised as soundclass reads them (valid/validation/dev -> val, ...).
--limit N keeps the first N rows of a seeded (0) numpy permutation; the kept
rows are written in manifest order.

Clip preparation: librosa.load at --sr, mono. Longer than --seconds: the
centred window (offset (len - target) // 2 of the resampled signal); files
over seconds + 2 s are decoded only around that window (with 0.5 s margins,
so the resampler's edges fall outside it) after soundfile.info gives the
length. Shorter: looped (np.tile, truncated) to exactly the target length.

Features (librosa defaults: n_fft 2048, hop 512, centred frames): mfcc (20),
chroma_stft (12, estimated tuning), spectral centroid, bandwidth, rolloff
(0.85), flatness, spectral_contrast (fmin 200, 6 bands, quantile 0.02: 7
rows, mean only), zero crossing rate and RMS: mean and population std over
frames; tempo = librosa.feature.rhythm.tempo(y=y, sr=sr)[0]. By default every
feature is called with y=y, as the seed study's notebook did (each call
computes its own STFT); --shared-stft computes the STFT and the log-Mel
once and passes them on (same values up to rounding, less time).

Output: `path,label,split,group` then the feature columns in soundclass's
order, values as shortest round-trip decimals. Printed: clips processed,
audio seconds of the prepared clips, wall seconds of feature computation
alone and including decoding, and audio-seconds per wall-second for both
(clips are processed in chunks: decode a chunk, then compute its features,
timing the two stages apart). A warm-up clip of noise runs first, untimed.
--json prints those numbers as one JSON object.
"""
import argparse
import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val",
          "validation": "val", "dev": "val", "test": "test", "eval": "test", "evaluation": "test"}
CHUNK = 64


def feature_names():
    names = []
    for base, n in (("mfcc", 20), ("chroma", 12)):
        for k in range(1, n + 1):
            names += [f"{base}{k:02}_mean", f"{base}{k:02}_std"]
    for base in ("spectral_centroid", "spectral_bandwidth", "spectral_rolloff", "spectral_flatness"):
        names += [f"{base}_mean", f"{base}_std"]
    names += [f"spectral_contrast{k:02}_mean" for k in range(1, 8)]
    return names + ["zcr_mean", "zcr_std", "rms_mean", "rms_std", "tempo"]


def fail(message):
    sys.exit(f"error: {message}")


def read_manifest(path, limit):
    if not Path(path).is_file():
        fail(f"manifest {path} not found")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path", "label", "split") if c not in (reader.fieldnames or [])]
        if missing:
            fail(f"{path}: missing column(s) {missing} (found: {','.join(reader.fieldnames or [])})")
        rows = list(reader)
    clips = []
    for line, r in enumerate(rows, start=2):
        split = SPLITS.get(r["split"].strip().lower())
        if split is None:
            fail(f"{path}: line {line}: split `{r['split']}` is not one of train, val, test")
        group = (r.get("source_package") or "").strip() or os.path.dirname(r["path"])
        clips.append(dict(path=r["path"], label=r["label"], split=split, group=group))
    if limit is not None:
        keep = np.sort(np.random.default_rng(0).permutation(len(clips))[:limit])
        clips = [clips[i] for i in keep]
    return clips


def load_clip(file, sr, seconds):
    """Decoded, resampled, centre-cropped or loop-padded mono clip."""
    import librosa
    import soundfile as sf
    target = int(round(seconds * sr))
    margin = 0.5
    try:
        info = sf.info(file)
        native, frames = info.samplerate, info.frames
    except Exception:
        native, frames = None, 0
    if native and frames / native > seconds + 4 * margin:
        full = int(np.ceil(frames * sr / native))  # librosa.resample's output length
        offset = (full - target) // 2
        start_s = max(offset / sr - margin, 0.0)
        y, _ = librosa.load(file, sr=sr, mono=True, offset=start_s, duration=seconds + 2 * margin)
        local = offset - int(round(int(start_s * native) * sr / native))
        y = y[local:local + target]
    else:
        y, _ = librosa.load(file, sr=sr, mono=True)
        if len(y) > target:
            off = (len(y) - target) // 2
            y = y[off:off + target]
    if len(y) < target:
        y = np.tile(y, -(-target // len(y)))[:target] if len(y) else np.zeros(target, np.float32)
    return y


def mean_std(rows):
    rows = np.atleast_2d(rows)
    return [v for m, s in zip(rows.mean(axis=1), rows.std(axis=1)) for v in (m, s)]


def features(y, sr, shared_stft=False):
    import librosa
    import librosa.feature.rhythm
    f = librosa.feature
    if shared_stft:
        mag = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
        power = mag ** 2
        log_mel = librosa.power_to_db(f.melspectrogram(S=power, sr=sr))
        mfcc = f.mfcc(S=log_mel, n_mfcc=20)
        chroma = f.chroma_stft(S=power, sr=sr)
        spec = dict(S=mag, sr=sr)
        flat = dict(S=mag)
        tempo = f.rhythm.tempo(onset_envelope=librosa.onset.onset_strength(S=log_mel, sr=sr), sr=sr)
    else:
        mfcc = f.mfcc(y=y, sr=sr, n_mfcc=20)
        chroma = f.chroma_stft(y=y, sr=sr)
        spec = dict(y=y, sr=sr)
        flat = dict(y=y)
        tempo = f.rhythm.tempo(y=y, sr=sr)
    out = mean_std(mfcc) + mean_std(chroma)
    out += mean_std(f.spectral_centroid(**spec)) + mean_std(f.spectral_bandwidth(**spec))
    out += mean_std(f.spectral_rolloff(**spec, roll_percent=0.85)) + mean_std(f.spectral_flatness(**flat))
    out += list(f.spectral_contrast(**spec, fmin=200.0, n_bands=6, quantile=0.02).mean(axis=1))
    out += mean_std(f.zero_crossing_rate(y)) + mean_std(f.rms(y=y))
    return [float(v) for v in out] + [float(tempo[0])]


def decode_task(file, sr, seconds):
    warnings.filterwarnings("ignore")
    try:
        return load_clip(file, sr, seconds), None
    except Exception as e:  # unreadable clip: reported, left out
        return None, f"{type(e).__name__}: {e}"


def feature_task(y, sr, shared_stft):
    warnings.filterwarnings("ignore")
    return features(y, sr, shared_stft)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", default="features_librosa.csv")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--sr", type=int, default=22050)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--shared-stft", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    clips = read_manifest(args.manifest, args.limit)
    root = Path(args.manifest).parent
    files = [str(root / c["path"]) for c in clips]

    import joblib
    import librosa
    from joblib import Parallel, delayed
    warnings.filterwarnings("ignore")
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, args.sr).astype(np.float32)
    decode_s = feature_s = 0.0
    done, failed = [], []
    with Parallel(n_jobs=args.jobs) as parallel:
        # Warm-up (imports, numba compilation, worker start), untimed.
        parallel(delayed(feature_task)(noise, args.sr, args.shared_stft) for _ in range(args.jobs))
        if files:
            parallel(delayed(decode_task)(files[0], args.sr, args.seconds) for _ in range(args.jobs))
        for at in range(0, len(clips), CHUNK):
            part = range(at, min(at + CHUNK, len(clips)))
            started = time.perf_counter()
            decoded = parallel(delayed(decode_task)(files[i], args.sr, args.seconds) for i in part)
            decode_s += time.perf_counter() - started
            ok = []
            for i, (y, err) in zip(part, decoded):
                if y is None:
                    failed.append(dict(path=clips[i]["path"], error=err))
                    print(f"warning: {clips[i]['path']}: {err}", file=sys.stderr)
                else:
                    ok.append((i, y))
            started = time.perf_counter()
            values = parallel(delayed(feature_task)(y, args.sr, args.shared_stft) for _, y in ok)
            feature_s += time.perf_counter() - started
            done += [(i, v) for (i, _), v in zip(ok, values)]

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "split", "group"] + feature_names())
        for i, v in done:
            c = clips[i]
            writer.writerow([c["path"], c["label"], c["split"], c["group"]] + [repr(x) for x in v])

    audio_s = len(done) * int(round(args.seconds * args.sr)) / args.sr
    total_s = decode_s + feature_s
    report = dict(clips=len(done), failed=len(failed), audio_seconds=audio_s,
                  feature_seconds=feature_s, total_seconds=total_s,
                  features_audio_s_per_s=audio_s / feature_s if feature_s else None,
                  total_audio_s_per_s=audio_s / total_s if total_s else None,
                  jobs=args.jobs, sr=args.sr, clip_seconds=args.seconds,
                  shared_stft=args.shared_stft, out=args.out,
                  librosa=librosa.__version__, numpy=np.__version__, joblib=joblib.__version__)
    if args.json:
        print(json.dumps(report))
        if clips and not done:
            fail("no clip could be read")
        return
    print(f"librosa {librosa.__version__}, numpy {np.__version__}, {args.jobs} job(s), "
          f"{'shared STFT' if args.shared_stft else 'one STFT per feature call'}")
    print(f"clips processed: {len(done)} ({len(failed)} failed), audio {audio_s:.1f} s "
          f"({args.seconds:g} s at {args.sr} Hz each)")
    print(f"features only:      {feature_s:8.2f} s wall, {report['features_audio_s_per_s'] or 0:8.1f} audio-s/s")
    print(f"decoding+features:  {total_s:8.2f} s wall, {report['total_audio_s_per_s'] or 0:8.1f} audio-s/s")
    print(f"wrote {args.out} ({len(feature_names())} feature columns)")
    if clips and not done:
        fail("no clip could be read")


if __name__ == "__main__":
    main()
