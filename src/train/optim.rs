//! Optimizers and learning-rate schedules of CNN training.
//!
//! The schedule is a pure function of the step, so resuming needs no
//! scheduler state: the step count in the checkpoint is enough.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::{OptimConfig, TrainingConfig};

/// The optimizer `optim.kind` names, with PyTorch's meaning of each knob:
/// `adam`'s weight decay is an L2 term added to the gradient, `adamw`'s is
/// decoupled, `sgd` has momentum with dampening and optional Nesterov.
pub fn build_optimizer(optim: &OptimConfig, training: &TrainingConfig) -> ModuleOptimizer {
    let clipping = (training.grad_clip_norm > 0.0)
        .then_some(GradientClippingConfig::Norm(training.grad_clip_norm as f32));
    let decay =
        (optim.weight_decay > 0.0).then(|| WeightDecayConfig::new(optim.weight_decay as f32));
    match optim.kind.as_str() {
        "adam" => AdamConfig::new()
            .with_beta_1(optim.beta1 as f32)
            .with_beta_2(optim.beta2 as f32)
            .with_epsilon(optim.epsilon as f32)
            .with_weight_decay(decay)
            .with_grad_clipping(clipping)
            .init(),
        "sgd" => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum((optim.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(optim.momentum)
                    .with_dampening(optim.dampening)
                    .with_nesterov(optim.nesterov)
            }))
            .with_gradient_clipping(clipping)
            .init(),
        _ => AdamWConfig::new()
            .with_beta_1(optim.beta1 as f32)
            .with_beta_2(optim.beta2 as f32)
            .with_epsilon(optim.epsilon as f32)
            .with_weight_decay(optim.weight_decay as f32)
            .with_grad_clipping(clipping)
            .init(),
    }
}

/// Learning rate at `step` (0-based) of a run with `steps_per_epoch`:
/// linear warmup from lr/steps to lr over `warmup_epochs`, then constant,
/// cosine down to `min_lr` at the end of the last epoch, or step decay.
pub fn learning_rate(training: &TrainingConfig, step: usize, steps_per_epoch: usize) -> f64 {
    let steps_per_epoch = steps_per_epoch.max(1) as f64;
    let warmup = training.warmup_epochs * steps_per_epoch;
    let total = training.epochs as f64 * steps_per_epoch;
    let s = step as f64;
    if s < warmup {
        return training.lr * (s + 1.0) / warmup.ceil().max(1.0);
    }
    match training.schedule.as_str() {
        "cosine" => {
            let span = (total - warmup).max(1.0);
            let progress = ((s - warmup) / span).clamp(0.0, 1.0);
            training.min_lr
                + 0.5
                    * (training.lr - training.min_lr)
                    * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        "step" => {
            let epoch = (s / steps_per_epoch).floor() as usize;
            let drops = epoch / training.step_epochs.max(1);
            training.lr * training.step_gamma.powi(drops as i32)
        }
        _ => training.lr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn training(schedule: &str) -> TrainingConfig {
        TrainingConfig {
            epochs: 10,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_epochs: 1.0,
            schedule: schedule.into(),
            step_epochs: 4,
            step_gamma: 0.5,
            ..TrainingConfig::default()
        }
    }

    #[test]
    fn warmup_then_cosine_to_min() {
        let t = training("cosine");
        assert!((learning_rate(&t, 0, 10) - 1e-4).abs() < 1e-12);
        assert!((learning_rate(&t, 9, 10) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&t, 10, 10) - 1e-3).abs() < 1e-12);
        let mid = learning_rate(&t, 55, 10);
        assert!((mid - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-9, "{mid}");
        assert!((learning_rate(&t, 100, 10) - 1e-5).abs() < 1e-12);
        let rates: Vec<f64> = (10..100).map(|s| learning_rate(&t, s, 10)).collect();
        assert!(rates.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn step_decay_by_epoch() {
        let t = training("step");
        assert_eq!(learning_rate(&t, 15, 10), 1e-3);
        assert_eq!(learning_rate(&t, 40, 10), 5e-4);
        assert_eq!(learning_rate(&t, 85, 10), 2.5e-4);
        assert_eq!(learning_rate(&training("constant"), 85, 10), 1e-3);
    }
}
