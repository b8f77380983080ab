//! `soundclass baseline`: grid search with grouped, stratified k-fold
//! cross-validation on the train split, refit of each model's best
//! parameters on the whole train split, and a run folder with results,
//! confusion matrices, feature importances and the saved models.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::config::{BaselinesConfig, Config, MaxFeatures};
use crate::data::stratified_group_folds;
use crate::error::{Error, Result};
use crate::features::FeatureTable;
use crate::model::{
    argmax, AdaBoost, BaseParams, BinnedMatrix, Classifier, EvalSet, ForestParams, Gbdt,
    GbdtParams, LogisticRegression, RandomForest, SavedModel, Standardizer, TreeParams,
};
use crate::plot::confusion_matrix_png;
use crate::util::{atomic_write_str, progress_bar};

/// One point of a model's grid.
#[derive(Debug, Clone)]
pub enum Candidate {
    Gbdt(GbdtParams),
    RandomForest {
        n_trees: usize,
        max_depth: usize,
        max_features: String,
        min_samples_leaf: usize,
    },
    Logistic {
        c: f64,
        max_iter: usize,
    },
    AdaBoostTree {
        n_estimators: usize,
        learning_rate: f64,
        max_depth: usize,
    },
    AdaBoostForest {
        n_estimators: usize,
        learning_rate: f64,
        forest_trees: usize,
        forest_max_depth: usize,
        max_features: String,
    },
}

impl Candidate {
    /// `key=value` pairs in the config's names.
    pub fn params(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self {
            Candidate::Gbdt(p) => vec![
                ("n_estimators", p.n_rounds.to_string()),
                ("max_depth", p.max_depth.to_string()),
                ("learning_rate", p.learning_rate.to_string()),
                ("subsample", p.subsample.to_string()),
                ("colsample", p.colsample.to_string()),
                ("l2", p.l2.to_string()),
                ("min_child_weight", p.min_child_weight.to_string()),
            ],
            Candidate::RandomForest {
                n_trees,
                max_depth,
                max_features,
                min_samples_leaf,
            } => vec![
                ("n_estimators", n_trees.to_string()),
                ("max_depth", max_depth.to_string()),
                ("max_features", max_features.clone()),
                ("min_samples_leaf", min_samples_leaf.to_string()),
            ],
            Candidate::Logistic { c, max_iter } => {
                vec![("c", c.to_string()), ("max_iter", max_iter.to_string())]
            }
            Candidate::AdaBoostTree {
                n_estimators,
                learning_rate,
                max_depth,
            } => vec![
                ("n_estimators", n_estimators.to_string()),
                ("learning_rate", learning_rate.to_string()),
                ("max_depth", max_depth.to_string()),
            ],
            Candidate::AdaBoostForest {
                n_estimators,
                learning_rate,
                forest_trees,
                forest_max_depth,
                max_features,
            } => vec![
                ("n_estimators", n_estimators.to_string()),
                ("learning_rate", learning_rate.to_string()),
                ("forest_trees", forest_trees.to_string()),
                ("forest_max_depth", forest_max_depth.to_string()),
                ("max_features", max_features.clone()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    pub fn params_text(&self) -> String {
        self.params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Fit on standardised row-major `x`; `eval` is used for early stopping
    /// by the gradient booster only.
    pub fn fit(
        &self,
        x: &[f64],
        y: &[usize],
        d: usize,
        k: usize,
        eval: Option<EvalSet>,
        seed: u64,
    ) -> Classifier {
        let n = y.len();
        let binned = |max_bins: usize| BinnedMatrix::new(x, n, d, max_bins);
        // Gini trees split exactly (a bin per distinct value), as
        // scikit-learn's do; the booster uses its configured histogram.
        let exact = n.max(2);
        let forest_features = |text: &str| {
            MaxFeatures::parse(text)
                .unwrap_or(MaxFeatures::Sqrt)
                .count(d)
        };
        match self {
            Candidate::Gbdt(p) => {
                Classifier::Gbdt(Gbdt::fit(&binned(p.max_bins), x, y, k, *p, eval, seed))
            }
            Candidate::RandomForest {
                n_trees,
                max_depth,
                max_features,
                min_samples_leaf,
            } => Classifier::RandomForest(RandomForest::fit(
                &binned(exact),
                y,
                k,
                None,
                ForestParams {
                    n_trees: *n_trees,
                    tree: TreeParams {
                        max_depth: *max_depth,
                        min_samples_leaf: *min_samples_leaf,
                        max_features: forest_features(max_features),
                    },
                    bootstrap: true,
                },
                seed,
            )),
            Candidate::Logistic { c, max_iter } => Classifier::LogisticRegression(
                LogisticRegression::fit(x, y, n, d, k, *c, *max_iter),
            ),
            Candidate::AdaBoostTree {
                n_estimators,
                learning_rate,
                max_depth,
            } => Classifier::AdaBoost(AdaBoost::fit(
                &binned(exact),
                x,
                y,
                k,
                *n_estimators,
                *learning_rate,
                BaseParams::Tree(TreeParams {
                    max_depth: *max_depth,
                    min_samples_leaf: 1,
                    max_features: d,
                }),
                seed,
            )),
            Candidate::AdaBoostForest {
                n_estimators,
                learning_rate,
                forest_trees,
                forest_max_depth,
                max_features,
            } => Classifier::AdaBoost(AdaBoost::fit(
                &binned(exact),
                x,
                y,
                k,
                *n_estimators,
                *learning_rate,
                BaseParams::Forest(ForestParams {
                    n_trees: *forest_trees,
                    tree: TreeParams {
                        max_depth: *forest_max_depth,
                        min_samples_leaf: 1,
                        max_features: forest_features(max_features),
                    },
                    bootstrap: true,
                }),
                seed,
            )),
        }
    }
}

/// Cartesian product of `lists`, first list varying slowest.
fn product<T: Clone>(lists: &[Vec<T>]) -> Vec<Vec<T>> {
    lists.iter().fold(vec![Vec::new()], |acc, list| {
        acc.iter()
            .flat_map(|prefix| {
                list.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect()
    })
}

/// Every grid point of `model`, in grid order.
pub fn candidates(model: &str, config: &BaselinesConfig) -> Vec<Candidate> {
    let f = |v: &[f64]| v.to_vec();
    let u = |v: &[usize]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    match model {
        "gbdt" => {
            let g = &config.gbdt;
            product(&[
                u(&g.n_estimators),
                u(&g.max_depth),
                f(&g.learning_rate),
                f(&g.subsample),
                f(&g.colsample),
                f(&g.l2),
                f(&g.min_child_weight),
            ])
            .into_iter()
            .map(|p| {
                Candidate::Gbdt(GbdtParams {
                    n_rounds: p[0] as usize,
                    max_depth: p[1] as usize,
                    learning_rate: p[2],
                    subsample: p[3],
                    colsample: p[4],
                    l2: p[5],
                    min_child_weight: p[6],
                    max_bins: g.max_bins,
                    early_stopping_rounds: g.early_stopping_rounds,
                })
            })
            .collect()
        }
        "random_forest" => {
            let r = &config.random_forest;
            let mut out = Vec::new();
            for &n_trees in &r.n_estimators {
                for &max_depth in &r.max_depth {
                    for max_features in &r.max_features {
                        for &min_samples_leaf in &r.min_samples_leaf {
                            out.push(Candidate::RandomForest {
                                n_trees,
                                max_depth,
                                max_features: max_features.clone(),
                                min_samples_leaf,
                            });
                        }
                    }
                }
            }
            out
        }
        "logistic_regression" => config
            .logistic_regression
            .c
            .iter()
            .map(|&c| Candidate::Logistic {
                c,
                max_iter: config.logistic_regression.max_iter,
            })
            .collect(),
        "adaboost_tree" => {
            let a = &config.adaboost_tree;
            product(&[u(&a.n_estimators), f(&a.learning_rate), u(&a.max_depth)])
                .into_iter()
                .map(|p| Candidate::AdaBoostTree {
                    n_estimators: p[0] as usize,
                    learning_rate: p[1],
                    max_depth: p[2] as usize,
                })
                .collect()
        }
        "adaboost_forest" => {
            let a = &config.adaboost_forest;
            let mut out = Vec::new();
            for p in product(&[
                u(&a.n_estimators),
                f(&a.learning_rate),
                u(&a.forest_trees),
                u(&a.forest_max_depth),
            ]) {
                for max_features in &a.max_features {
                    out.push(Candidate::AdaBoostForest {
                        n_estimators: p[0] as usize,
                        learning_rate: p[1],
                        forest_trees: p[2] as usize,
                        forest_max_depth: p[3] as usize,
                        max_features: max_features.clone(),
                    });
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The rows of one split as a dense matrix with class indices.
#[derive(Debug, Clone, Default)]
pub struct SplitData {
    pub x: Vec<f64>,
    pub y: Vec<usize>,
    pub groups: Vec<String>,
}

impl SplitData {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn select(&self, rows: &[usize], d: usize) -> SplitData {
        SplitData {
            x: rows
                .iter()
                .flat_map(|&i| self.x[i * d..(i + 1) * d].iter().copied())
                .collect(),
            y: rows.iter().map(|&i| self.y[i]).collect(),
            groups: rows.iter().map(|&i| self.groups[i].clone()).collect(),
        }
    }
}

/// A feature table divided by split, with labels mapped to `classes`.
#[derive(Debug, Clone)]
pub struct Splits {
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    pub train: SplitData,
    pub val: SplitData,
    pub test: SplitData,
}

impl Splits {
    /// `classes` empty: the sorted labels of the table.
    pub fn new(table: &FeatureTable, classes: &[String], source: &Path) -> Result<Self> {
        let classes: Vec<String> = if classes.is_empty() {
            let mut labels: Vec<String> = table.rows.iter().map(|r| r.label.clone()).collect();
            labels.sort();
            labels.dedup();
            labels
        } else {
            classes.to_vec()
        };
        let mut splits = Splits {
            classes,
            feature_names: table.names.clone(),
            train: SplitData::default(),
            val: SplitData::default(),
            test: SplitData::default(),
        };
        for row in &table.rows {
            let class = splits
                .classes
                .iter()
                .position(|c| *c == row.label)
                .ok_or_else(|| {
                    Error::manifest(
                        source,
                        format!(
                            "{}: label `{}` is not one of data.classes ({})",
                            row.path,
                            row.label,
                            splits.classes.join(", ")
                        ),
                    )
                })?;
            let target = match row.split.as_str() {
                "train" => &mut splits.train,
                "val" => &mut splits.val,
                "test" => &mut splits.test,
                other => {
                    return Err(Error::manifest(
                        source,
                        format!("{}: unknown split `{other}`", row.path),
                    ))
                }
            };
            target.x.extend_from_slice(&row.values);
            target.y.push(class);
            target.groups.push(row.group.clone());
        }
        if splits.train.is_empty() {
            return Err(Error::manifest(source, "no rows in the train split"));
        }
        Ok(splits)
    }

    pub fn d(&self) -> usize {
        self.feature_names.len()
    }
}

/// Accuracy and confusion counts `[true][predicted]`.
pub fn evaluate(
    model: &Classifier,
    x: &[f64],
    y: &[usize],
    d: usize,
    k: usize,
) -> (f64, Vec<Vec<usize>>) {
    let mut confusion = vec![vec![0usize; k]; k];
    let mut correct = 0usize;
    for (i, &label) in y.iter().enumerate() {
        let predicted = argmax(&model.predict_proba(&x[i * d..(i + 1) * d]));
        confusion[label][predicted] += 1;
        correct += usize::from(predicted == label);
    }
    (correct as f64 / y.len().max(1) as f64, confusion)
}

/// Cross-validation outcome of one grid point.
#[derive(Debug, Clone, Serialize)]
pub struct CvResult {
    pub model: String,
    pub params: String,
    pub fold_accuracy: Vec<f64>,
    pub mean_accuracy: f64,
}

/// One row of `results.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub best_params: String,
    pub cv_accuracy: f64,
    pub train_accuracy: f64,
    pub val_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub fit_seconds: f64,
    /// Boosting rounds kept after early stopping (gradient boosting only).
    pub rounds: Option<usize>,
}

/// What `soundclass baseline` produced.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub run_dir: PathBuf,
    pub folds: usize,
    pub train_rows: usize,
    pub val_rows: usize,
    pub test_rows: usize,
    pub results: Vec<ModelResult>,
    pub cv: Vec<CvResult>,
    pub wall_seconds: f64,
}

/// Fit and cross-validate one grid point on fold `fold`; `None` when the
/// fold holds no rows.
fn fold_accuracy(
    candidate: &Candidate,
    data: &SplitData,
    folds: &[usize],
    fold: usize,
    d: usize,
    k: usize,
    seed: u64,
) -> Option<f64> {
    let fit_rows: Vec<usize> = (0..data.len()).filter(|&i| folds[i] != fold).collect();
    let held_rows: Vec<usize> = (0..data.len()).filter(|&i| folds[i] == fold).collect();
    if held_rows.is_empty() || fit_rows.is_empty() {
        return None;
    }
    let fit = data.select(&fit_rows, d);
    let held = data.select(&held_rows, d);
    let scaler = Standardizer::fit(&fit.x, fit.len(), d);
    let model = candidate.fit(&scaler.transform(&fit.x), &fit.y, d, k, None, seed);
    Some(evaluate(&model, &scaler.transform(&held.x), &held.y, d, k).0)
}

/// Run every configured model: grid search, refit, outputs in `run_dir`.
pub fn run_baselines(
    config: &Config,
    table: &FeatureTable,
    source: &Path,
    run_dir: &Path,
    quiet: bool,
) -> Result<BaselineReport> {
    let started = Instant::now();
    let b = &config.baselines;
    let splits = Splits::new(table, &config.data.classes, source)?;
    let groups: Vec<&str> = splits.train.groups.iter().map(String::as_str).collect();
    let folds = stratified_group_folds(&splits.train.y, &groups, b.cv_folds, b.seed);
    std::fs::create_dir_all(run_dir.join("models")).map_err(|e| Error::io(run_dir, e))?;
    let study = Study {
        d: splits.d(),
        k: splits.classes.len(),
        splits,
        folds,
        cv_folds: b.cv_folds,
        seed: b.seed,
        run_dir,
    };
    let mut results = Vec::new();
    let mut cv_all = Vec::new();
    for model_name in &b.models {
        let grid = candidates(model_name, b);
        let cv = study.grid_search(model_name, &grid, quiet);
        let best = best_candidate(&cv);
        cv_all.extend(cv);
        if let Some((cv_accuracy, best_index)) = best {
            results.push(study.refit(model_name, &grid[best_index], cv_accuracy)?);
        }
    }
    let report = BaselineReport {
        run_dir: run_dir.to_path_buf(),
        folds: b.cv_folds,
        train_rows: study.splits.train.len(),
        val_rows: study.splits.val.len(),
        test_rows: study.splits.test.len(),
        results,
        cv: cv_all,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_results(run_dir, &report)?;
    Ok(report)
}

/// The highest mean CV accuracy and its candidate's index; the first
/// candidate wins a tie, so the grid's order decides.
fn best_candidate(cv: &[CvResult]) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for (c, result) in cv.iter().enumerate() {
        if best.is_none_or(|(m, _)| result.mean_accuracy > m) {
            best = Some((result.mean_accuracy, c));
        }
    }
    best
}

/// What every model of one `baselines` run shares: the splits, the
/// grouped folds on train, and where the outputs go.
struct Study<'a> {
    splits: Splits,
    folds: Vec<usize>,
    cv_folds: usize,
    /// Feature count and class count.
    d: usize,
    k: usize,
    seed: u64,
    run_dir: &'a Path,
}

impl Study<'_> {
    /// Every candidate's accuracy on each grouped fold of train (folds run
    /// in parallel), one result per candidate in grid order.
    fn grid_search(&self, model_name: &str, grid: &[Candidate], quiet: bool) -> Vec<CvResult> {
        let jobs: Vec<(usize, usize)> = (0..grid.len())
            .flat_map(|c| (0..self.cv_folds).map(move |f| (c, f)))
            .collect();
        let bar = progress_bar(jobs.len() as u64, &format!("{model_name} cv"), quiet);
        let scores: Vec<Option<f64>> = jobs
            .par_iter()
            .map(|&(c, fold)| {
                let train = &self.splits.train;
                let score = fold_accuracy(
                    &grid[c],
                    train,
                    &self.folds,
                    fold,
                    self.d,
                    self.k,
                    self.seed,
                );
                bar.inc(1);
                score
            })
            .collect();
        bar.finish_and_clear();
        grid.iter()
            .enumerate()
            .map(|(c, candidate)| {
                let fold_accuracy: Vec<f64> = jobs
                    .iter()
                    .zip(&scores)
                    .filter(|((jc, _), _)| *jc == c)
                    .filter_map(|(_, s)| *s)
                    .collect();
                let mean = fold_accuracy.iter().sum::<f64>() / fold_accuracy.len().max(1) as f64;
                CvResult {
                    model: model_name.to_string(),
                    params: candidate.params_text(),
                    fold_accuracy,
                    mean_accuracy: mean,
                }
            })
            .collect()
    }

    /// Fit the chosen candidate on all of train, score it on every split
    /// (confusion matrices, gbdt's importances), and save the model.
    fn refit(
        &self,
        model_name: &str,
        candidate: &Candidate,
        cv_accuracy: f64,
    ) -> Result<ModelResult> {
        let (splits, d, k) = (&self.splits, self.d, self.k);
        let scaler = Standardizer::fit(&splits.train.x, splits.train.len(), d);
        let train_x = scaler.transform(&splits.train.x);
        let val_x = scaler.transform(&splits.val.x);
        let test_x = scaler.transform(&splits.test.x);
        let eval = (!splits.val.is_empty()).then(|| EvalSet {
            x: &val_x,
            y: &splits.val.y,
        });
        let fit_started = Instant::now();
        let model = candidate.fit(&train_x, &splits.train.y, d, k, eval, self.seed);
        let fit_seconds = fit_started.elapsed().as_secs_f64();
        let (train_accuracy, _) = evaluate(&model, &train_x, &splits.train.y, d, k);
        let split_accuracy = |name: &str, x: &[f64], data: &SplitData| -> Result<Option<f64>> {
            if data.is_empty() {
                return Ok(None);
            }
            let (accuracy, confusion) = evaluate(&model, x, &data.y, d, k);
            let classes = &splits.classes;
            write_confusion(
                self.run_dir,
                model_name,
                name,
                classes,
                &confusion,
                accuracy,
            )?;
            Ok(Some(accuracy))
        };
        let val_accuracy = split_accuracy("val", &val_x, &splits.val)?;
        let test_accuracy = split_accuracy("test", &test_x, &splits.test)?;
        let rounds = match &model {
            Classifier::Gbdt(g) => {
                write_importance(self.run_dir, &splits.feature_names, &g.importance())?;
                Some(g.rounds.len())
            }
            _ => None,
        };
        SavedModel {
            name: model_name.to_string(),
            params: candidate.params(),
            classes: splits.classes.clone(),
            feature_names: splits.feature_names.clone(),
            scaler,
            model,
        }
        .save(
            &self
                .run_dir
                .join("models")
                .join(format!("{model_name}.json")),
        )?;
        Ok(ModelResult {
            model: model_name.to_string(),
            best_params: candidate.params_text(),
            cv_accuracy,
            train_accuracy,
            val_accuracy,
            test_accuracy,
            fit_seconds,
            rounds,
        })
    }
}

fn write_confusion(
    run_dir: &Path,
    model: &str,
    split: &str,
    classes: &[String],
    confusion: &[Vec<usize>],
    accuracy: f64,
) -> Result<()> {
    let mut csv = format!("true\\predicted,{}\n", classes.join(","));
    for (class, row) in classes.iter().zip(confusion) {
        let cells: Vec<String> = row.iter().map(usize::to_string).collect();
        csv.push_str(&format!("{class},{}\n", cells.join(",")));
    }
    let stem = run_dir.join(format!("confusion_{model}_{split}"));
    atomic_write_str(&stem.with_extension("csv"), &csv)?;
    confusion_matrix_png(
        &stem.with_extension("png"),
        &format!("{model}, {split}: accuracy {:.1}%", 100.0 * accuracy),
        classes,
        confusion,
    )
}

fn write_importance(run_dir: &Path, names: &[String], gain: &[f64]) -> Result<()> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| gain[b].total_cmp(&gain[a]));
    let mut csv = String::from("feature,gain\n");
    for i in order {
        csv.push_str(&format!("{},{}\n", names[i], gain[i]));
    }
    atomic_write_str(&run_dir.join("importance_gbdt.csv"), &csv)
}

fn optional(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn write_results(run_dir: &Path, report: &BaselineReport) -> Result<()> {
    let mut csv = String::from(
        "model,best_params,cv_accuracy,train_accuracy,val_accuracy,test_accuracy,fit_seconds\n",
    );
    for r in &report.results {
        csv.push_str(&format!(
            "{},\"{}\",{:.4},{:.4},{},{},{:.3}\n",
            r.model,
            r.best_params,
            r.cv_accuracy,
            r.train_accuracy,
            optional(r.val_accuracy),
            optional(r.test_accuracy),
            r.fit_seconds
        ));
    }
    atomic_write_str(&run_dir.join("results.csv"), &csv)?;
    let mut cv = String::from("model,params,mean_accuracy,fold_accuracies\n");
    for r in &report.cv {
        let folds: Vec<String> = r.fold_accuracy.iter().map(|a| format!("{a:.4}")).collect();
        cv.push_str(&format!(
            "{},\"{}\",{:.4},\"{}\"\n",
            r.model,
            r.params,
            r.mean_accuracy,
            folds.join(";")
        ));
    }
    atomic_write_str(&run_dir.join("cv_results.csv"), &cv)
}

/// The results as an aligned text table.
pub fn format_results_table(results: &[ModelResult]) -> String {
    let mut out = format!(
        "{:<20} {:>7} {:>7} {:>7} {:>7} {:>8}  {}\n",
        "model", "cv", "train", "val", "test", "fit_s", "best_params"
    );
    let cell = |v: Option<f64>| v.map(|a| format!("{a:.4}")).unwrap_or_else(|| "-".into());
    for r in results {
        out.push_str(&format!(
            "{:<20} {:>7.4} {:>7.4} {:>7} {:>7} {:>8.2}  {}\n",
            r.model,
            r.cv_accuracy,
            r.train_accuracy,
            cell(r.val_accuracy),
            cell(r.test_accuracy),
            r.fit_seconds,
            r.best_params
        ));
    }
    out
}
