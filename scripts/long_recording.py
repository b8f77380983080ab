#!/usr/bin/env python3
"""A long recording with known class segments, to check `predict`'s timeline.

    python3 scripts/long_recording.py make MANIFEST OUT.wav [--minutes 60] [--block 300] [--split val] [--seed 0]
    python3 scripts/long_recording.py score SEGMENTS.csv OUT.truth.csv

`make` concatenates clips of the manifest's split into blocks of `--block`
seconds, one class per block, cycling through the classes, until the file
lasts `--minutes`; it writes OUT.wav (16-bit mono at the clips' rate) and
OUT.truth.csv (start,end,label per block). Clips are taken in a seeded
order and reused when a class runs out, so any block length works.
`score` reads `soundclass predict --segments` output and reports the share
of windows whose label is the class of the block the window lies in
(windows that straddle two blocks are counted apart), per class and
overall. Standard library only; reads 16-bit PCM WAV (the dev corpus).
"""
import argparse
import array
import csv
import random
import sys
import wave
from collections import defaultdict
from pathlib import Path


def read_pcm16(path):
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = array.array("h", w.readframes(w.getnframes()))
    if channels > 1:
        data = array.array("h", data[::channels])
    return rate, data


def make(args):
    manifest = Path(args.manifest)
    by_class = defaultdict(list)
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            if row["split"].strip() == args.split:
                by_class[row["label"]].append(manifest.parent / row["path"])
    classes = sorted(by_class)
    rng = random.Random(args.seed)
    for paths in by_class.values():
        rng.shuffle(paths)
    out = Path(args.out)
    truth_rows, cursor, rate = [], {c: 0 for c in classes}, None
    total_seconds = args.minutes * 60.0
    with wave.open(str(out), "wb") as w:
        written = 0
        block = 0
        while rate is None or written < total_seconds * rate:
            label = classes[block % len(classes)]
            block_samples = None
            start = written
            while block_samples is None or written - start < block_samples:
                paths = by_class[label]
                clip_rate, samples = read_pcm16(paths[cursor[label] % len(paths)])
                cursor[label] += 1
                if rate is None:
                    rate = clip_rate
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                if clip_rate != rate:
                    continue
                block_samples = int(args.block * rate)
                take = min(len(samples), block_samples - (written - start))
                w.writeframes(samples[:take].tobytes())
                written += take
            truth_rows.append((start / rate, written / rate, label))
            block += 1
    truth = out.with_suffix(".truth.csv")
    with open(truth, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start", "end", "label"])
        for start, end, label in truth_rows:
            writer.writerow([f"{start:.3f}", f"{end:.3f}", label])
    print(f"wrote {out} ({written / rate / 60:.1f} min, {len(truth_rows)} blocks) and {truth}")


def score(args):
    with open(args.truth, newline="") as f:
        blocks = [(float(r["start"]), float(r["end"]), r["label"]) for r in csv.DictReader(f)]
    hits, counts, straddling = defaultdict(int), defaultdict(int), 0
    with open(args.segments, newline="") as f:
        for row in csv.DictReader(f):
            start, end = float(row["start"]), float(row["end"])
            inside = [b for b in blocks if b[0] <= start and end <= b[1] + 1e-6]
            if not inside:
                straddling += 1
                continue
            label = inside[0][2]
            counts[label] += 1
            hits[label] += row["label"] == label
    total = sum(counts.values())
    for label in sorted(counts):
        print(f"{label:<10} {hits[label] / counts[label]:.3f} of {counts[label]} windows")
    print(f"overall    {sum(hits.values()) / max(total, 1):.3f} of {total} windows "
          f"({straddling} straddle two blocks)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("manifest")
    m.add_argument("out")
    m.add_argument("--minutes", type=float, default=60.0)
    m.add_argument("--block", type=float, default=300.0)
    m.add_argument("--split", default="val")
    m.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("segments")
    s.add_argument("truth")
    args = parser.parse_args()
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    sys.exit(main())
