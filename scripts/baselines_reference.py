#!/usr/bin/env python3
"""scikit-learn / XGBoost counterpart of `soundclass baseline`: the same
models, grids and procedure on the same features CSV, to check our numbers
and fit times against the reference libraries.

    pip install scikit-learn xgboost
    python3 scripts/baselines_reference.py --config configs/baselines.toml \\
        --features runs/<run>/features.csv [--out DIR] [--threads 2] [--json]
    python3 scripts/baselines_reference.py --config configs/baselines.toml \\
        --features features.csv --timing 300 6      # XGBoost fit time only

Input: `features.csv` as `soundclass features` (or scripts/features_librosa.py)
writes it: `path,label,split,group,<numeric feature columns...>`. The config's
`[baselines]` table gives cv_folds, seed, models and one grid per model
(missing tables or keys take soundclass's defaults); `[data].classes`, when
present, fixes the class order.

Per model: every point of the grid's cartesian product (first key varying
slowest, as soundclass orders it) is scored by mean accuracy over
StratifiedGroupKFold(cv_folds, shuffle=True, random_state=seed) on the train
split, grouped by `group`, with a Pipeline(StandardScaler, model) per fold.
The best mean wins (ties: first in grid order); it is refit on the whole
train split (scaler fit on train) and scored on train, val and test (test
left empty without test rows). Gradient boosting alone uses early stopping
against the standardised val split in that refit, never in CV. fit_seconds
is the wall time of the final refit's model fit.

Output: library versions and a table
`model,best_params,cv_accuracy,train_accuracy,val_accuracy,test_accuracy,fit_seconds`;
with --out DIR also DIR/results.csv (formatted as soundclass writes it) and
DIR/cv_results.csv. --json prints one JSON object instead.

--timing TREES DEPTH skips the grids: XGBClassifier(TREES, DEPTH, learning
rate 0.1, no subsampling, max_bin 256, hist, --threads threads, no early
stopping) is fit 5 times (after one untimed warm-up fit) on the standardised
train split; median and min fit seconds are printed, for comparison with our GBDT's fit time.
"""
import argparse
import csv
import inspect
import itertools
import json
import statistics
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np

KEYS = ["path", "label", "split", "group"]
# soundclass's defaults (src/config.rs); the key order is the grid order.
DEFAULTS = {
    "gbdt": {"n_estimators": [300], "max_depth": [3, 6], "learning_rate": [0.05, 0.1],
             "subsample": [0.8], "colsample": [0.8], "l2": [1.0], "min_child_weight": [1.0],
             "max_bins": 256, "early_stopping_rounds": 30},
    "random_forest": {"n_estimators": [300], "max_depth": [0], "max_features": ["sqrt", "log2"],
                      "min_samples_leaf": [1, 3]},
    "logistic_regression": {"c": [0.01, 0.1, 1.0, 10.0], "max_iter": 1000},
    "adaboost_tree": {"n_estimators": [100, 300], "learning_rate": [0.5, 1.0], "max_depth": [1, 3]},
    "adaboost_forest": {"n_estimators": [10, 30], "learning_rate": [1.0], "forest_trees": [20],
                        "forest_max_depth": [6], "max_features": ["sqrt"]},
}
# Models that parallelise themselves; the others run CV folds in parallel.
THREADED = {"gbdt", "random_forest"}


def fail(message):
    sys.exit(f"error: {message}")


def fmt(value):
    """A parameter value as Rust's `to_string` writes it (1.0 -> 1)."""
    if isinstance(value, float):
        return np.format_float_positional(value, trim="-")
    return str(value)


def load_config(path):
    if not Path(path).is_file():
        fail(f"config {path} not found")
    with open(path, "rb") as f:
        table = tomllib.load(f)
    b = table.get("baselines", {})
    unknown = set(b.get("models", [])) - set(DEFAULTS)
    if unknown:
        fail(f"{path}: unknown model(s) {sorted(unknown)}; known: {list(DEFAULTS)}")
    for m in DEFAULTS:
        extra = set(b.get(m, {})) - set(DEFAULTS[m])
        if extra:
            fail(f"{path}: [baselines.{m}]: unknown key(s) {sorted(extra)}")
    grids = {m: {**DEFAULTS[m], **b.get(m, {})} for m in DEFAULTS}
    return dict(cv_folds=int(b.get("cv_folds", 5)), seed=int(b.get("seed", 42)),
                models=list(b.get("models", DEFAULTS)), grids=grids,
                classes=list(table.get("data", {}).get("classes", [])))


def load_features(path, classes):
    if not Path(path).is_file():
        fail(f"features file {path} not found")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        missing = [k for k in KEYS if k not in header]
        if missing:
            fail(f"{path}: missing column(s) {missing} (found: {','.join(header)})")
        if header[:4] != KEYS or len(header) <= 4:
            fail(f"{path}: expected `{','.join(KEYS)}` first and feature columns after them")
        names, rows = header[4:], list(reader)
    x = np.empty((len(rows), len(names)))
    for i, row in enumerate(rows):
        if len(row) != len(header):
            fail(f"{path}: line {i + 2} has {len(row)} fields, expected {len(header)}")
        for j, v in enumerate(row[4:]):
            try:
                x[i, j] = float(v)
            except ValueError:
                fail(f"{path}: line {i + 2}, column `{names[j]}`: `{v}` is not a number")
    labels = [r[1] for r in rows]
    classes = classes or sorted(set(labels))
    index = {c: k for k, c in enumerate(classes)}
    for i, r in enumerate(rows):
        if r[1] not in index:
            fail(f"{path}: line {i + 2}: label `{r[1]}` is not one of {classes}")
        if r[2] not in ("train", "val", "test"):
            fail(f"{path}: line {i + 2}: unknown split `{r[2]}`")
    y = np.array([index[l] for l in labels], dtype=np.int64)
    split = np.array([r[2] for r in rows])
    groups = np.array([r[3] for r in rows])
    parts = {s: (x[split == s], y[split == s], groups[split == s]) for s in ("train", "val", "test")}
    if len(parts["train"][1]) == 0:
        fail(f"{path}: no rows in the train split")
    return names, classes, parts


def max_features(text):
    if text in ("sqrt", "log2"):
        return text
    if text == "all":
        return None
    try:
        f = float(text)
    except ValueError:
        f = -1.0
    if not 0.0 < f <= 1.0:
        fail(f"max_features `{text}`: expected sqrt, log2, all or a fraction in (0, 1]")
    return f


def grid(model, g):
    """[(params dict in config names, in grid order)]."""
    keys = [k for k in DEFAULTS[model] if isinstance(DEFAULTS[model][k], list)]
    lists = [g[k] if isinstance(g[k], list) else [g[k]] for k in keys]
    fixed = {k: g[k] for k in DEFAULTS[model] if k not in keys}
    # soundclass names max_iter among logistic regression's parameters.
    extra = {"max_iter": fixed["max_iter"]} if model == "logistic_regression" else {}
    return [{**dict(zip(keys, p)), **extra} for p in itertools.product(*lists)], fixed


def make_model(model, p, fixed, seed, threads, early_stopping=0):
    if model == "gbdt":
        from xgboost import XGBClassifier
        return XGBClassifier(
            n_estimators=int(p["n_estimators"]), max_depth=int(p["max_depth"]),
            learning_rate=float(p["learning_rate"]), subsample=float(p["subsample"]),
            colsample_bytree=float(p["colsample"]), reg_lambda=float(p["l2"]),
            min_child_weight=float(p["min_child_weight"]), max_bin=int(fixed["max_bins"]),
            tree_method="hist", objective="multi:softprob", random_state=seed, n_jobs=threads,
            early_stopping_rounds=early_stopping or None)
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    ada = {"algorithm": "SAMME"} if "algorithm" in inspect.signature(AdaBoostClassifier).parameters else {}
    if model == "random_forest":
        return RandomForestClassifier(
            n_estimators=int(p["n_estimators"]), max_depth=int(p["max_depth"]) or None,
            max_features=max_features(p["max_features"]),
            min_samples_leaf=int(p["min_samples_leaf"]), criterion="gini", bootstrap=True,
            random_state=seed, n_jobs=threads)
    if model == "logistic_regression":
        return LogisticRegression(C=float(p["c"]), max_iter=int(fixed["max_iter"]), solver="lbfgs")
    if model == "adaboost_tree":
        return AdaBoostClassifier(
            estimator=DecisionTreeClassifier(max_depth=int(p["max_depth"])),
            n_estimators=int(p["n_estimators"]), learning_rate=float(p["learning_rate"]),
            random_state=seed, **ada)
    if model == "adaboost_forest":
        base = RandomForestClassifier(
            n_estimators=int(p["forest_trees"]), max_depth=int(p["forest_max_depth"]) or None,
            max_features=max_features(p["max_features"]), random_state=seed)
        return AdaBoostClassifier(estimator=base, n_estimators=int(p["n_estimators"]),
                                  learning_rate=float(p["learning_rate"]), random_state=seed, **ada)
    raise ValueError(model)


def fold_score(model, p, fixed, seed, threads, x, y, fit_rows, held_rows):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    warnings.filterwarnings("ignore", category=FutureWarning)
    pipe = make_pipeline(StandardScaler(), make_model(model, p, fixed, seed, threads))
    pipe.fit(x[fit_rows], y[fit_rows])
    return float(np.mean(pipe.predict(x[held_rows]) == y[held_rows]))


def run_model(model, cfg, parts, threads):
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.preprocessing import StandardScaler
    seed = cfg["seed"]
    points, fixed = grid(model, cfg["grids"][model])
    x, y, groups = parts["train"]
    cv = StratifiedGroupKFold(n_splits=cfg["cv_folds"], shuffle=True, random_state=seed)
    folds = [(a, b) for a, b in cv.split(x, y, groups) if len(a) and len(b)]
    inner, outer = (threads, 1) if model in THREADED else (1, threads)
    scores = Parallel(n_jobs=outer)(
        delayed(fold_score)(model, p, fixed, seed, inner, x, y, a, b)
        for p in points for a, b in folds)
    cv_rows, best = [], None
    for c, p in enumerate(points):
        acc = scores[c * len(folds):(c + 1) * len(folds)]
        mean = float(np.mean(acc)) if acc else 0.0
        text = ";".join(f"{k}={fmt(v)}" for k, v in p.items())
        cv_rows.append(dict(model=model, params=text, mean_accuracy=mean, fold_accuracy=acc))
        if best is None or mean > best[0]:
            best = (mean, p, text)
    mean, p, text = best
    scaler = StandardScaler().fit(x)
    z = {s: scaler.transform(parts[s][0]) if len(parts[s][1]) else None for s in parts}
    has_val = z["val"] is not None
    stop = int(fixed.get("early_stopping_rounds", 0)) if model == "gbdt" and has_val else 0
    est = make_model(model, p, fixed, seed, threads, early_stopping=stop)
    fit_kw = {"eval_set": [(z["val"], parts["val"][1])], "verbose": False} if stop else {}
    started = time.perf_counter()
    est.fit(z["train"], y, **fit_kw)
    fit_seconds = time.perf_counter() - started
    acc = {s: float(np.mean(est.predict(z[s]) == parts[s][1])) if z[s] is not None else None
           for s in parts}
    result = dict(model=model, best_params=text, cv_accuracy=mean, train_accuracy=acc["train"],
                  val_accuracy=acc["val"], test_accuracy=acc["test"], fit_seconds=fit_seconds,
                  folds=len(folds))
    if stop:
        result["rounds"] = int(est.best_iteration) + 1
    return result, cv_rows


def timing(parts, trees, depth, threads, seed, runs=5):
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier
    x, y, _ = parts["train"]
    z = StandardScaler().fit_transform(x)
    times = []
    for run in range(runs + 1):  # run 0: untimed warm-up (thread pool, first-call costs)
        est = XGBClassifier(n_estimators=trees, max_depth=depth, learning_rate=0.1, subsample=1.0,
                            colsample_bytree=1.0, max_bin=256, tree_method="hist",
                            objective="multi:softprob", random_state=seed, n_jobs=threads)
        started = time.perf_counter()
        est.fit(z, y)
        if run:
            times.append(time.perf_counter() - started)
    return dict(trees=trees, depth=depth, threads=threads, rows=int(z.shape[0]),
                features=int(z.shape[1]), runs=times, median_seconds=statistics.median(times),
                min_seconds=min(times))


def opt(v):
    return "" if v is None else f"{v:.4f}"


def write_results(out, results, cv_rows):
    out.mkdir(parents=True, exist_ok=True)
    lines = ["model,best_params,cv_accuracy,train_accuracy,val_accuracy,test_accuracy,fit_seconds"]
    lines += [f'{r["model"]},"{r["best_params"]}",{r["cv_accuracy"]:.4f},{r["train_accuracy"]:.4f},'
              f'{opt(r["val_accuracy"])},{opt(r["test_accuracy"])},{r["fit_seconds"]:.3f}'
              for r in results]
    (out / "results.csv").write_text("\n".join(lines) + "\n")
    lines = ["model,params,mean_accuracy,fold_accuracies"]
    lines += [f'{r["model"]},"{r["params"]}",{r["mean_accuracy"]:.4f},'
              f'"{";".join(f"{a:.4f}" for a in r["fold_accuracy"])}"' for r in cv_rows]
    (out / "cv_results.csv").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--timing", nargs=2, type=int, metavar=("TREES", "DEPTH"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    names, classes, parts = load_features(args.features, cfg["classes"])
    import sklearn
    import xgboost
    versions = dict(python=sys.version.split()[0], numpy=np.__version__,
                    sklearn=sklearn.__version__, xgboost=xgboost.__version__)
    rows = {s: int(len(parts[s][1])) for s in parts}
    from threadpoolctl import threadpool_limits
    warnings.filterwarnings("ignore", category=FutureWarning)
    with threadpool_limits(limits=args.threads):
        if args.timing:
            report = dict(versions=versions, **timing(parts, *args.timing, args.threads, cfg["seed"]))
            if args.json:
                print(json.dumps(report))
            else:
                print(" ".join(f"{k} {v}" for k, v in versions.items()))
                print(f"xgboost hist fit: {report['rows']} rows x {report['features']} features, "
                      f"{report['trees']} trees, depth {report['depth']}, {args.threads} threads")
                print(f"runs: {', '.join(f'{t:.3f}' for t in report['runs'])} s")
                print(f"median {report['median_seconds']:.3f} s, min {report['min_seconds']:.3f} s")
            return
        results, cv_all = [], []
        for model in cfg["models"]:
            if not args.json:
                print(f"{model}: {len(grid(model, cfg['grids'][model])[0])} grid points ...",
                      file=sys.stderr, flush=True)
            result, cv_rows = run_model(model, cfg, parts, args.threads)
            results.append(result)
            cv_all.extend(cv_rows)
    if args.out:
        write_results(args.out, results, cv_all)
    if args.json:
        print(json.dumps(dict(versions=versions, classes=classes, features=len(names), rows=rows,
                              cv_folds=cfg["cv_folds"], results=results, cv=cv_all)))
        return
    print(" ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"{len(names)} features, classes {classes}, rows {rows}, "
          f"{cfg['cv_folds']}-fold grouped CV ({results[0]['folds'] if results else 0} non-empty)")
    cols = ["model", "best_params", "cv_accuracy", "train_accuracy", "val_accuracy",
            "test_accuracy", "fit_seconds"]
    table = [[r["model"], r["best_params"], f"{r['cv_accuracy']:.4f}", f"{r['train_accuracy']:.4f}",
              opt(r["val_accuracy"]) or "-", opt(r["test_accuracy"]) or "-",
              f"{r['fit_seconds']:.3f}"] for r in results]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c) for i, c in enumerate(cols)]
    for line in [cols] + table:
        print("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
    for r in results:
        if "rounds" in r:
            print(f"{r['model']}: early stopping kept {r['rounds']} rounds")
    if args.out:
        print(f"wrote {args.out / 'results.csv'} and {args.out / 'cv_results.csv'}")


if __name__ == "__main__":
    main()
