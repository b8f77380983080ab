#!/usr/bin/env python3
"""Does a model read the recording's level? Copies of clips at other gains.

    python3 scripts/level_probe.py make MANIFEST OUTDIR [--split val] [--classes Animal,Vehicle] [--gains=-12,-6,0]
    soundclass predict --model RUN --middle 30 --out OUTDIR.csv OUTDIR
    python3 scripts/level_probe.py score OUTDIR.csv [--json]

`make` writes each clip of the manifest's split (only `--classes`, when
given) once per gain in dB, as `OUTDIR/<gain>/<label>/<name>.wav` (16-bit
PCM, the clip's rate and channels). Gains above 0 dB clip loud recordings,
so the default only attenuates. `score` reads `predict`'s CSV and prints,
per gain and true class, how the copies were labelled, and how far each
clip's probabilities moved between gains (the largest change of any class
probability). A model that does not read the level labels every gain alike.
Standard library only; reads 16-bit PCM WAV (the dev corpus).
"""
import argparse
import array
import csv
import json
import sys
import wave
from collections import Counter, defaultdict
from pathlib import Path


def make(args):
    manifest = Path(args.manifest)
    classes = set(args.classes.split(",")) if args.classes else None
    gains = [float(g) for g in args.gains.split(",")]
    written = 0
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] != args.split or (classes and row["label"] not in classes):
                continue
            source = manifest.parent / row["path"]
            with wave.open(str(source), "rb") as w:
                if w.getsampwidth() != 2:
                    raise SystemExit(f"{source}: only 16-bit PCM is supported")
                params = w.getparams()
                samples = array.array("h", w.readframes(w.getnframes()))
            for gain in gains:
                scale = 10 ** (gain / 20)
                scaled = array.array(
                    "h", (max(-32768, min(32767, round(v * scale))) for v in samples)
                )
                folder = Path(args.outdir) / f"{gain:+g}" / row["label"]
                folder.mkdir(parents=True, exist_ok=True)
                with wave.open(str(folder / source.name), "wb") as out:
                    out.setparams(params)
                    out.writeframes(scaled.tobytes())
            written += 1
    print(f"{written} clips x {len(gains)} gains under {args.outdir}", file=sys.stderr)


def score(args):
    labels = Counter()
    probabilities = defaultdict(dict)
    with open(args.predictions, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("error"):
                continue
            parts = Path(row["path"]).parts
            gain, truth, name = parts[-3], parts[-2], parts[-1]
            labels[(gain, truth, row["label"])] += 1
            probs = [float(v) for k, v in row.items() if k.startswith("p_")]
            probabilities[(truth, name)][gain] = probs
    moves = [
        max(max(p[i] for p in by_gain.values()) - min(p[i] for p in by_gain.values())
            for i in range(len(next(iter(by_gain.values())))))
        for by_gain in probabilities.values()
        if len(by_gain) > 1
    ]
    result = {
        "labels": [
            {"gain_db": g, "true": t, "predicted": p, "clips": n}
            for (g, t, p), n in sorted(labels.items(), key=lambda kv: (float(kv[0][0]), kv[0][1:]))
        ],
        "largest_probability_change": max(moves, default=0.0),
        "mean_largest_probability_change": sum(moves) / len(moves) if moves else 0.0,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    by_gain_truth = defaultdict(dict)
    for row in result["labels"]:
        by_gain_truth[(row["gain_db"], row["true"])][row["predicted"]] = row["clips"]
    for (gain, truth), counts in by_gain_truth.items():
        total = sum(counts.values())
        shown = ", ".join(f"{p} {n}" for p, n in sorted(counts.items()))
        print(f"{gain:>5} dB  {truth:<10} {total:>4} clips: {shown}")
    print(
        f"per clip, the largest change of a class probability across gains: "
        f"max {result['largest_probability_change']:.3f}, "
        f"mean {result['mean_largest_probability_change']:.3f}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("manifest")
    m.add_argument("outdir")
    m.add_argument("--split", default="val")
    m.add_argument("--classes", default="")
    m.add_argument("--gains", default="-12,-6,0")
    s = sub.add_parser("score")
    s.add_argument("predictions")
    s.add_argument("--json", action="store_true")
    args = ap.parse_args()
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    main()
