//! Train/val/test assignment that is stratified by class and keeps each
//! group (a recording session, a source package, a sub-folder) whole, so
//! near-duplicates never sit on both sides of a split.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::manifest::Split;
use crate::error::{Error, Result};

/// Target fractions of each split.
#[derive(Debug, Clone, Copy)]
pub struct SplitFractions {
    pub val: f64,
    pub test: f64,
}

impl SplitFractions {
    pub fn new(val: f64, test: f64) -> Result<Self> {
        let ok = |f: f64| (0.0..1.0).contains(&f);
        if !ok(val) || !ok(test) || val + test >= 1.0 {
            return Err(Error::InvalidArgument(format!(
                "split fractions val={val} test={test}: each must be in [0, 1) and their sum below 1"
            )));
        }
        Ok(Self { val, test })
    }
}

/// Assign a split to each item, given as `(class, group)`. Within a class,
/// groups are shuffled with `seed`, then placed largest first into the split
/// whose clip count is furthest below its target.
pub fn assign_splits(items: &[(&str, &str)], fractions: SplitFractions, seed: u64) -> Vec<Split> {
    // class -> group -> item indices
    let mut by_class: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, (class, group)) in items.iter().enumerate() {
        by_class
            .entry(class)
            .or_default()
            .entry(group)
            .or_default()
            .push(i);
    }
    let mut out = vec![Split::Train; items.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for groups in by_class.values() {
        let mut groups: Vec<&Vec<usize>> = groups.values().collect();
        groups.shuffle(&mut rng);
        // Stable sort keeps the shuffled order among equal sizes.
        groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
        let total: usize = groups.iter().map(|g| g.len()).sum();
        let targets = [
            (
                Split::Train,
                total as f64 * (1.0 - fractions.val - fractions.test),
            ),
            (Split::Val, total as f64 * fractions.val),
            (Split::Test, total as f64 * fractions.test),
        ];
        let mut counts = [0usize; 3];
        for group in groups {
            let (slot, _) = targets
                .iter()
                .enumerate()
                .filter(|(_, (_, target))| *target > 0.0)
                .map(|(k, (_, target))| (k, (target - counts[k] as f64) / target))
                .fold((0, f64::NEG_INFINITY), |best, cur| {
                    if cur.1 > best.1 {
                        cur
                    } else {
                        best
                    }
                });
            counts[slot] += group.len();
            for &i in group {
                out[i] = targets[slot].0;
            }
        }
    }
    out
}

/// Cross-validation folds that keep every group whole and balance class
/// proportions across folds, like scikit-learn's `StratifiedGroupKFold`:
/// groups (shuffled with `seed`, then ordered by how concentrated their
/// classes are) go one by one to the fold where the spread of per-class
/// fractions across folds grows least. Returns each item's fold.
pub fn stratified_group_folds(
    labels: &[usize],
    groups: &[&str],
    k: usize,
    seed: u64,
) -> Vec<usize> {
    let n_classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        by_group.entry(g).or_default().push(i);
    }
    let mut group_list: Vec<(Vec<usize>, Vec<f64>)> = by_group
        .into_values()
        .map(|items| {
            let mut counts = vec![0.0; n_classes];
            for &i in &items {
                counts[labels[i]] += 1.0;
            }
            (items, counts)
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    group_list.shuffle(&mut rng);
    let spread = |counts: &[f64]| {
        let mean = counts.iter().sum::<f64>() / counts.len().max(1) as f64;
        (counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / counts.len().max(1) as f64).sqrt()
    };
    group_list.sort_by(|a, b| spread(&b.1).total_cmp(&spread(&a.1)));
    let class_totals: Vec<f64> = (0..n_classes)
        .map(|c| group_list.iter().map(|g| g.1[c]).sum::<f64>().max(1.0))
        .collect();
    let mut fold_counts = vec![vec![0.0f64; n_classes]; k];
    let mut fold_sizes = vec![0usize; k];
    let mut out = vec![0usize; labels.len()];
    for (items, counts) in &group_list {
        let mut best = (f64::INFINITY, usize::MAX, 0usize);
        for fold in 0..k {
            for c in 0..n_classes {
                fold_counts[fold][c] += counts[c];
            }
            let cost = (0..n_classes)
                .map(|c| {
                    let fractions: Vec<f64> = (0..k)
                        .map(|f| fold_counts[f][c] / class_totals[c])
                        .collect();
                    spread(&fractions)
                })
                .sum::<f64>()
                / n_classes.max(1) as f64;
            for c in 0..n_classes {
                fold_counts[fold][c] -= counts[c];
            }
            let better = cost < best.0 - 1e-12
                || ((cost - best.0).abs() <= 1e-12 && fold_sizes[fold] < best.1);
            if better {
                best = (cost, fold_sizes[fold], fold);
            }
        }
        let fold = best.2;
        for c in 0..n_classes {
            fold_counts[fold][c] += counts[c];
        }
        fold_sizes[fold] += items.len();
        for &i in items {
            out[i] = fold;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_keep_groups_whole_and_cover_classes() {
        // 3 classes, 30 groups of 1-6 items.
        let mut labels = Vec::new();
        let mut groups = Vec::new();
        for g in 0..30 {
            for _ in 0..(1 + g % 6) {
                labels.push(g % 3);
                groups.push(format!("group{g}"));
            }
        }
        let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        let folds = stratified_group_folds(&labels, &group_refs, 5, 7);
        let mut fold_of_group = std::collections::HashMap::new();
        for (g, f) in group_refs.iter().zip(&folds) {
            assert_eq!(
                *fold_of_group.entry(*g).or_insert(*f),
                *f,
                "group {g} split"
            );
        }
        for fold in 0..5 {
            for class in 0..3 {
                assert!(
                    labels
                        .iter()
                        .zip(&folds)
                        .any(|(l, f)| *l == class && *f == fold),
                    "fold {fold} lacks class {class}"
                );
            }
        }
        assert_eq!(folds, stratified_group_folds(&labels, &group_refs, 5, 7));
    }

    use super::*;
    use std::collections::HashMap;

    #[test]
    fn groups_stay_whole_and_classes_are_stratified() {
        let mut items = Vec::new();
        let names: Vec<String> = (0..60).map(|g| format!("g{g}")).collect();
        for (g, name) in names.iter().enumerate() {
            let class = if g % 2 == 0 { "A" } else { "B" };
            for _ in 0..(1 + g % 4) {
                items.push((class, name.as_str()));
            }
        }
        let splits = assign_splits(&items, SplitFractions::new(0.15, 0.15).unwrap(), 3);
        let mut group_split: HashMap<&str, Split> = HashMap::new();
        for ((_, group), split) in items.iter().zip(&splits) {
            assert_eq!(
                *group_split.entry(group).or_insert(*split),
                *split,
                "group {group} straddles splits"
            );
        }
        for class in ["A", "B"] {
            let n = items.iter().filter(|(c, _)| *c == class).count() as f64;
            for (split, frac) in [(Split::Train, 0.7), (Split::Val, 0.15), (Split::Test, 0.15)] {
                let k = items
                    .iter()
                    .zip(&splits)
                    .filter(|((c, _), s)| *c == class && **s == split)
                    .count();
                assert!(
                    (k as f64 / n - frac).abs() < 0.08,
                    "{class} {split}: {k}/{n}"
                );
            }
        }
        assert_eq!(
            splits,
            assign_splits(&items, SplitFractions::new(0.15, 0.15).unwrap(), 3)
        );
    }

    #[test]
    fn rejects_bad_fractions() {
        assert!(SplitFractions::new(0.6, 0.5).is_err());
        assert!(SplitFractions::new(-0.1, 0.1).is_err());
    }
}
