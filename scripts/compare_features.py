#!/usr/bin/env python3
"""Column-by-column comparison of two feature tables with the layout
`soundclass features` writes (`path,label,split,group,<features>`), e.g. ours
against scripts/features_librosa.py's on the same manifest:

    python3 scripts/compare_features.py features.csv features_librosa.csv [--worst 10]

Rows are joined on `path`. For each feature column it prints the largest and
the median absolute difference, both divided by the column's spread (its
standard deviation over the librosa rows): how far apart the two tools are
in units the models see after standardisation. Tempo is also reported as the
fraction of clips whose estimates agree within 1 BPM.
"""
import argparse
import csv
import sys

import numpy as np

KEYS = ["path", "label", "split", "group"]


def load(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[:4] != KEYS:
            sys.exit(f"error: {path}: expected columns {','.join(KEYS)} first")
        rows = {r[0]: np.array([float(v) for v in r[4:]]) for r in reader}
    return header[4:], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--worst", type=int, default=10, help="columns to list, worst first")
    args = ap.parse_args()
    names_a, a = load(args.ours)
    names_b, b = load(args.reference)
    if names_a != names_b:
        sys.exit("error: the two tables have different feature columns")
    common = sorted(set(a) & set(b))
    if not common:
        sys.exit("error: no path in common")
    A = np.stack([a[p] for p in common])
    B = np.stack([b[p] for p in common])
    spread = B.std(axis=0)
    spread[spread == 0] = 1.0
    diff = np.abs(A - B) / spread
    order = np.argsort(-diff.max(axis=0))
    print(f"{len(common)} clips in common, {len(names_a)} features")
    print(f"{'feature':28s} {'max diff/std':>13s} {'median diff/std':>16s}")
    for j in order[: args.worst]:
        print(f"{names_a[j]:28s} {diff[:, j].max():13.2e} {np.median(diff[:, j]):16.2e}")
    median_all = np.median(diff)
    print(f"all columns: median {median_all:.2e}, 99th percentile {np.percentile(diff, 99):.2e} (in column stds)")
    if "tempo" in names_a:
        j = names_a.index("tempo")
        agree = np.mean(np.abs(A[:, j] - B[:, j]) <= 1.0)
        print(f"tempo within 1 BPM: {100 * agree:.1f}% of clips")


if __name__ == "__main__":
    main()
