//! Weight averaging (`training.average_last_epochs`): the running mean of a
//! model's weights at the ends of the last epochs, as checkpoint averaging
//! in DCASE systems and stochastic weight averaging (Izmailov et al., 2018)
//! use it. Late epochs of a cosine schedule wander around a wide minimum
//! and their validation accuracy swings by points from epoch to epoch; the
//! mean of their weights sits nearer its centre and does not depend on
//! which epoch happened to score best on val.
//!
//! Batch-norm running statistics are averaged like the weights (they are
//! float parameters to Burn's module visitors) rather than recomputed with
//! an extra pass over the training data as torch's `swa_utils.update_bn`
//! does: over the last epochs of a decaying schedule they change little.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::error::Result;
use crate::model::cnn::SoundCnn;
use crate::train::cnn::host_values;

/// The first epoch (1-based) whose weights go into the average of a run of
/// `epochs` epochs that averages the last `last` of them; `None` when off.
pub fn first_averaged_epoch(epochs: usize, last: usize) -> Option<usize> {
    (last > 0).then(|| epochs + 1 - last.min(epochs))
}

/// `average` with `model` folded in as the `count`-th member (1-based):
/// `average + (model - average) / count`. The first member is the model
/// itself. Both are taken without autodiff.
pub fn fold_in(average: Option<SoundCnn>, model: &SoundCnn, count: usize) -> SoundCnn {
    let current = model.valid();
    let Some(average) = average else {
        return current;
    };
    let mut collect = CollectFloats(Vec::new());
    current.visit(&mut collect);
    let mut mapper = TowardMapper {
        targets: collect.0.into_iter(),
        weight: 1.0 / count.max(1) as f64,
    };
    let averaged = average.map(&mut mapper);
    debug_assert!(mapper.targets.next().is_none(), "modules differ in shape");
    averaged
}

/// Every float value of `model` (weights and running statistics) in
/// visiting order, read back to the host: for comparing two models.
pub fn float_values(model: &SoundCnn) -> Result<Vec<f32>> {
    let mut collect = CollectFloats(Vec::new());
    model.valid().visit(&mut collect);
    let mut values = Vec::new();
    for tensor in collect.0 {
        values.extend(host_values(tensor, "model weights")?);
    }
    Ok(values)
}

/// Every float tensor of a module (weights and running statistics), in
/// visiting order, flattened.
struct CollectFloats(Vec<Tensor<1>>);

impl ModuleVisitor for CollectFloats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let numel = value.shape().num_elements();
        self.0.push(value.reshape([numel]));
    }
}

/// Moves each float tensor a `weight` of the way toward its target.
struct TowardMapper {
    targets: std::vec::IntoIter<Tensor<1>>,
    weight: f64,
}

impl ModuleMapper for TowardMapper {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let target = self
            .targets
            .next()
            .expect("the averaged modules have the same parameters");
        let weight = self.weight;
        param.map(|value| {
            let target = target.reshape(value.shape());
            value.clone() + (target - value).mul_scalar(weight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_the_last_epochs() {
        assert_eq!(first_averaged_epoch(30, 0), None);
        assert_eq!(first_averaged_epoch(30, 5), Some(26));
        assert_eq!(first_averaged_epoch(30, 30), Some(1));
        assert_eq!(first_averaged_epoch(3, 10), Some(1));
    }
}
