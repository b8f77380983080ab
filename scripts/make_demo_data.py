#!/usr/bin/env python3
"""Builds data/demo/ from the development corpus (train and val only).

    python3 scripts/make_demo_data.py CORPUS_DIR [OUT_DIR]

CORPUS_DIR is the output of ../shared/corpus/build_dev_corpus.sh. For each
class, 15 clips from the corpus's train split and 5 from its val split are
taken round-robin over source packages (seeded), cut to at most 5 s from 30 %
into the clip, and written as 16-bit FLAC, 22050 Hz mono (ffmpeg). Licences
come from each package's Debian copyright file (apt-get download +
dpkg-deb), saved under licenses/ and summarised in SOURCES.csv.
Standard library only, plus ffmpeg, apt-get and dpkg-deb.
"""
import csv
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PER_SPLIT = {"train": 15, "val": 5}
MAX_SECONDS = 5.0
RATE = 22050
SEED = 0


def pick(rows, count, rng):
    by_package = defaultdict(list)
    for row in rows:
        if float(row["duration_s"]) >= 0.3:
            by_package[row["source_package"]].append(row)
    for clips in by_package.values():
        rng.shuffle(clips)
    packages = sorted(by_package)
    rng.shuffle(packages)
    chosen = []
    while len(chosen) < count and any(by_package[p] for p in packages):
        for p in packages:
            if by_package[p] and len(chosen) < count:
                chosen.append(by_package[p].pop())
    return chosen


def licences(package, workdir):
    """Licence names declared in the package's copyright file, and its text."""
    subprocess.run(["apt-get", "download", "-q", package], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    deb = next(Path(workdir).glob(f"{package}_*.deb"))
    text = subprocess.run(
        f"dpkg-deb --fsys-tarfile '{deb}' | tar -xO './usr/share/doc/{package}/copyright'",
        shell=True, cwd=workdir, capture_output=True, text=True).stdout
    deb.unlink()
    names = []
    for match in re.finditer(r"^License:\s*(\S.*)$", text, re.MULTILINE):
        name = match.group(1).strip()
        if name not in names:
            names.append(name)
    return (" / ".join(names) if names else "see licenses/" + package + ".copyright"), text


def main():
    corpus = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "data/demo"
    rows = list(csv.DictReader(open(corpus / "manifest.csv")))
    rng = random.Random(SEED)
    if out.exists():
        shutil.rmtree(out)
    (out / "licenses").mkdir(parents=True)
    manifest, sources, packages = [], [], set()
    for label in sorted({r["label"] for r in rows}):
        for split, count in PER_SPLIT.items():
            chosen = pick([r for r in rows if r["label"] == label and r["split"] == split], count, rng)
            for row in chosen:
                duration = float(row["duration_s"])
                start = 0.0 if duration <= MAX_SECONDS else round(min(0.3 * duration, duration - MAX_SECONDS), 3)
                length = min(duration, MAX_SECONDS)
                name = f"{row['source_package']}__{Path(row['path']).stem}.flac"
                rel = Path("clips") / label / name
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", str(start),
                                "-t", str(length), "-i", str(corpus / row["path"]), "-ac", "1", "-ar",
                                str(RATE), "-sample_fmt", "s16", "-c:a", "flac", str(out / rel)], check=True)
                manifest.append({"path": rel.as_posix(), "label": label, "split": split,
                                 "source_package": row["source_package"],
                                 "original_file": row["original_file"], "start_s": start,
                                 "duration_s": round(length, 3)})
                packages.add(row["source_package"])
    licence_of = {}
    with tempfile.TemporaryDirectory() as work:
        for package in sorted(packages):
            licence_of[package], text = licences(package, work)
            (out / "licenses" / f"{package}.copyright").write_text(text)
            print(f"{package}: {licence_of[package]}", flush=True)
    for row in manifest:
        sources.append({"path": row["path"], "source_package": row["source_package"],
                        "original_file": row["original_file"], "licence": licence_of[row["source_package"]],
                        "copyright_file": f"licenses/{row['source_package']}.copyright"})
    for name, table in (("manifest.csv", manifest), ("SOURCES.csv", sources)):
        with open(out / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len(manifest)} clips, {size / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
