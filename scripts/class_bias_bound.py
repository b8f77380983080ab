#!/usr/bin/env python3
"""Upper bound of what per-class logit biases (any calibration that shifts
class scores: prior correction, temperature-free bias fitting, thresholds
per class) could gain on a labelled split.

Reads a `soundclass predict --out X.csv` file (columns p_<class>) and the
manifest that labels its files, then searches a grid of bias vectors (one
class fixed at 0) for the most files right. The search looks at the labels
it scores, so its best is an optimistic bound, never a tuned setting: if
even the bound gains little, calibration is not where the errors are.

    python3 scripts/class_bias_bound.py PRED.csv data/devcorpus/manifest.csv
"""
import argparse
import csv
import itertools
import math
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictions")
    ap.add_argument("manifest")
    ap.add_argument("--span", type=float, default=3.0, help="bias range +-SPAN (log units)")
    ap.add_argument("--step", type=float, default=0.25)
    args = ap.parse_args()

    root = os.path.dirname(os.path.abspath(args.manifest))
    truth = {}
    with open(args.manifest, newline="") as f:
        for row in csv.DictReader(f):
            truth[os.path.normpath(os.path.join(root, row["path"]))] = row["label"]

    with open(args.predictions, newline="") as f:
        reader = csv.DictReader(f)
        classes = [c[2:] for c in reader.fieldnames or [] if c.startswith("p_")]
        rows = list(reader)
    if not classes or not rows:
        raise SystemExit(f"{args.predictions}: no p_<class> columns or no rows (a `predict --out` CSV?)")
    scores, labels = [], []
    for row in rows:
        if row.get("error"):
            continue
        label = truth.get(os.path.normpath(os.path.abspath(row["path"])))
        if label is None:
            raise SystemExit(f"{args.predictions}: {row['path']} is not in {args.manifest}")
        scores.append([math.log(max(float(row["p_" + c]), 1e-12)) for c in classes])
        labels.append(classes.index(label))

    def right(bias):
        return sum(
            max(range(len(classes)), key=lambda k: s[k] + bias[k]) == y
            for s, y in zip(scores, labels)
        )

    n = round(args.span / args.step)
    grid = [i * args.step for i in range(-n, n + 1)]
    base = right([0.0] * len(classes))
    best, best_bias = base, [0.0] * len(classes)
    for free in itertools.product(grid, repeat=len(classes) - 1):
        bias = [0.0, *free]
        r = right(bias)
        if r > best or (r == best and sum(map(abs, bias)) < sum(map(abs, best_bias))):
            best, best_bias = r, bias
    print(f"{len(labels)} files; as predicted: {base} right ({100 * base / len(labels):.1f}%)")
    print(
        f"best bias on the same labels: {best} right ({100 * best / len(labels):.1f}%), "
        + ", ".join(f"{c} {b:+.2f}" for c, b in zip(classes, best_bias))
    )


if __name__ == "__main__":
    main()
