#!/usr/bin/env python3
"""Seed spreads of a sweep's points, as a Markdown table for README.

For every point of SWEEP_DIR (its trials grouped by their swept values):
mean ± sample std over seeds of the best epoch's val accuracy and macro-F1,
and of the run's model (the weight average when the trials averaged), the
lowest class F1 of each seed's model, and the per-class F1 means.

    python3 scripts/seed_table.py runs/sweeps/recipe/<time> [--json]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path


def mean_std(values):
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values)


def pm(values, scale=100.0):
    mean, std = mean_std(values)
    return f"{scale * mean:.1f} ± {scale * std:.1f}"


def point_rows(sweep_dir):
    trials = json.loads((sweep_dir / "trials.json").read_text())
    records = trials["trials"] if isinstance(trials, dict) else trials
    points = {}
    for record in records:
        trial = record.get("trial", record)
        summary_path = sweep_dir / "trials" / trial["id"] / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        values = tuple((k, json.dumps(v)) for k, v in trial["values"])
        points.setdefault(values, []).append((trial["seed"], summary))
    return points


def describe(values):
    return ", ".join(f"{k}={v}" for k, v in values) or "(base)"


def summarise(points):
    rows = []
    for values, runs in points.items():
        best = [s["best_val"] for _, s in runs if s.get("best_val")]
        model = [
            (s.get("average") or {}).get("val") or s["best_val"]
            for _, s in runs
            if s.get("best_val")
        ]
        classes = [c["class"] for c in model[0]["per_class"]] if model else []
        rows.append(
            {
                "point": describe(values),
                "seeds": sorted(seed for seed, _ in runs),
                "best_epoch_accuracy": [b["accuracy"] for b in best],
                "best_epoch_macro_f1": [b["macro_f1"] for b in best],
                "model_accuracy": [m["accuracy"] for m in model],
                "model_macro_f1": [m["macro_f1"] for m in model],
                "model_lowest_class_f1": [
                    min(c["f1"] for c in m["per_class"]) for m in model
                ],
                "class_f1": {
                    name: [m["per_class"][i]["f1"] for m in model]
                    for i, name in enumerate(classes)
                },
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.sweep_dir / "trials.json").exists():
        sys.exit(f"{args.sweep_dir}: no trials.json (not a sweep folder)")
    rows = summarise(point_rows(args.sweep_dir))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| point | seeds | best-epoch val acc. | best-epoch macro-F1 "
        "| model val acc. | model macro-F1 | lowest class F1 | class F1 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        class_f1 = ", ".join(
            f"{name} {100 * statistics.mean(v):.0f}" for name, v in r["class_f1"].items()
        )
        print(
            f"| {r['point']} | {len(r['seeds'])} | {pm(r['best_epoch_accuracy'])} "
            f"| {pm(r['best_epoch_macro_f1'])} | {pm(r['model_accuracy'])} "
            f"| {pm(r['model_macro_f1'])} | {pm(r['model_lowest_class_f1'])} | {class_f1} |"
        )


if __name__ == "__main__":
    main()
