//! CNNs on log-Mel spectrograms, in the PANNs style (Kong et al. 2020):
//! batch normalisation over Mel bins at the input, convolution blocks with
//! 2x2 pooling, mean over frequency, then max + mean over time, dropout and
//! a two-layer head. `cnn4` is the seed study's scale (single 3x3 convs,
//! max pooling), `cnn6` uses single 5x5 convs, `cnn10` pairs of 3x3 convs,
//! `resnet` residual pairs of 3x3 convs. Initializers are chosen per layer
//! family by config.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
    PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::config::ModelConfig;
use crate::error::{Error, Result};

/// Architectures `model.arch` accepts.
pub const ARCHITECTURES: [&str; 4] = ["cnn4", "cnn6", "cnn10", "resnet"];

/// An initializer as written in the config: `name` or
/// `name:key=value,key=value`, e.g. `kaiming_normal:gain=1.414,fan=out`.
/// Names and defaults follow `torch.nn.init`: `kaiming_uniform` and
/// `kaiming_normal` (gain sqrt(2), fan `in`), `xavier_uniform` and
/// `xavier_normal` (gain 1), `orthogonal` (gain 1), `normal` (mean 0, std
/// 0.01), `uniform` (min -0.05, max 0.05), `constant` (value 0), `zeros`,
/// `ones`.
pub fn parse_initializer(spec: &str, key: &str) -> Result<Initializer> {
    let bad = |reason: String| Error::ConfigValue {
        key: key.to_string(),
        reason,
    };
    let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
    let mut values: Vec<(String, String)> = Vec::new();
    for pair in args.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("`{pair}` is not key=value")))?;
        values.push((k.trim().to_string(), v.trim().to_string()));
    }
    let allowed: &[&str] = match name.trim() {
        "kaiming_uniform" | "kaiming_normal" => &["gain", "fan"],
        "xavier_uniform" | "xavier_normal" | "orthogonal" => &["gain"],
        "normal" => &["mean", "std"],
        "uniform" => &["min", "max"],
        "constant" => &["value"],
        "zeros" | "ones" => &[],
        other => {
            return Err(bad(format!(
                "unknown initializer `{other}` (known: kaiming_uniform, kaiming_normal, \
                 xavier_uniform, xavier_normal, orthogonal, normal, uniform, constant, zeros, ones)"
            )))
        }
    };
    for (k, _) in &values {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(format!(
                "`{name}` takes no `{k}` (it takes: {})",
                allowed.join(", ")
            )));
        }
    }
    let number = |k: &str, default: f64| -> Result<f64> {
        match values.iter().find(|(key, _)| key == k) {
            Some((_, v)) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(format!("`{k}={v}` is not a number"))),
            None => Ok(default),
        }
    };
    let fan_out_only = match values.iter().find(|(k, _)| k == "fan") {
        None => false,
        Some((_, v)) if v == "in" => false,
        Some((_, v)) if v == "out" => true,
        Some((_, v)) => return Err(bad(format!("`fan={v}`: use `in` or `out`"))),
    };
    Ok(match name.trim() {
        "kaiming_uniform" => Initializer::KaimingUniform {
            gain: number("gain", 2f64.sqrt())?,
            fan_out_only,
        },
        "kaiming_normal" => Initializer::KaimingNormal {
            gain: number("gain", 2f64.sqrt())?,
            fan_out_only,
        },
        "xavier_uniform" => Initializer::XavierUniform {
            gain: number("gain", 1.0)?,
        },
        "xavier_normal" => Initializer::XavierNormal {
            gain: number("gain", 1.0)?,
        },
        "orthogonal" => Initializer::Orthogonal {
            gain: number("gain", 1.0)?,
        },
        "normal" => Initializer::Normal {
            mean: number("mean", 0.0)?,
            std: number("std", 0.01)?,
        },
        "uniform" => {
            let (min, max) = (number("min", -0.05)?, number("max", 0.05)?);
            if min >= max {
                return Err(bad(format!("uniform needs min < max (got {min}, {max})")));
            }
            Initializer::Uniform { min, max }
        }
        "constant" => Initializer::Constant {
            value: number("value", 0.0)?,
        },
        "zeros" => Initializer::Zeros,
        _ => Initializer::Ones,
    })
}

/// The three initializer families of a model.
#[derive(Debug, Clone)]
pub struct Initializers {
    pub conv: Initializer,
    pub linear: Initializer,
    pub bias: Initializer,
}

impl Initializers {
    pub fn from_config(config: &ModelConfig) -> Result<Self> {
        Ok(Self {
            conv: parse_initializer(&config.init.conv, "model.init.conv")?,
            linear: parse_initializer(&config.init.linear, "model.init.linear")?,
            bias: parse_initializer(&config.init.bias, "model.init.bias")?,
        })
    }

    /// A bias-free conv (batch norm follows every conv).
    pub fn conv(&self, c_in: usize, c_out: usize, kernel: usize, device: &Device) -> Conv2d {
        let pad = kernel / 2;
        Conv2dConfig::new([c_in, c_out], [kernel, kernel])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .with_initializer(self.conv.clone())
            .init(device)
    }

    /// A linear layer whose bias has its own initializer (Burn would reuse
    /// the weight's).
    pub fn linear(&self, d_in: usize, d_out: usize, device: &Device) -> Linear {
        let mut layer = LinearConfig::new(d_in, d_out)
            .with_initializer(self.linear.clone())
            .init(device);
        layer.bias = Some(
            self.bias
                .init_with([d_out], Some(d_in), Some(d_out), device),
        );
        layer
    }
}

/// conv + BN + ReLU, once or twice, then 2x2 pooling.
#[derive(Module, Debug)]
pub struct ConvBlock {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    avg_pool: Option<AvgPool2d>,
    max_pool: Option<MaxPool2d>,
}

impl ConvBlock {
    fn new(
        init: &Initializers,
        (c_in, c_out): (usize, usize),
        kernel: usize,
        layers: usize,
        max_pool: bool,
        device: &Device,
    ) -> Self {
        let convs = (0..layers)
            .map(|i| init.conv(if i == 0 { c_in } else { c_out }, c_out, kernel, device))
            .collect();
        let norms = (0..layers)
            .map(|_| BatchNormConfig::new(c_out).init(device))
            .collect();
        Self {
            convs,
            norms,
            avg_pool: (!max_pool).then(|| AvgPool2dConfig::new([2, 2]).init()),
            max_pool: max_pool.then(|| MaxPool2dConfig::new([2, 2]).init()),
        }
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = relu(norm.forward(conv.forward(x)));
        }
        match (&self.avg_pool, &self.max_pool) {
            (Some(pool), _) => pool.forward(x),
            (_, Some(pool)) => pool.forward(x),
            _ => x,
        }
    }
}

/// Two 3x3 conv + BN with an identity (or 1x1 conv) shortcut, then 2x2
/// average pooling.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    shortcut: Option<Conv2d>,
    shortcut_norm: Option<BatchNorm>,
    pool: AvgPool2d,
}

impl ResidualBlock {
    fn new(init: &Initializers, c_in: usize, c_out: usize, device: &Device) -> Self {
        let projection = c_in != c_out;
        Self {
            conv1: init.conv(c_in, c_out, 3, device),
            norm1: BatchNormConfig::new(c_out).init(device),
            conv2: init.conv(c_out, c_out, 3, device),
            norm2: BatchNormConfig::new(c_out).init(device),
            shortcut: projection.then(|| init.conv(c_in, c_out, 1, device)),
            shortcut_norm: projection.then(|| BatchNormConfig::new(c_out).init(device)),
            pool: AvgPool2dConfig::new([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = match (&self.shortcut, &self.shortcut_norm) {
            (Some(conv), Some(norm)) => norm.forward(conv.forward(x.clone())),
            _ => x.clone(),
        };
        let y = relu(self.norm1.forward(self.conv1.forward(x)));
        let y = self.norm2.forward(self.conv2.forward(y));
        self.pool.forward(relu(y + skip))
    }
}

/// How time is pooled after the mean over frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePooling {
    MaxMean,
    Mean,
    Max,
}

impl TimePooling {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "max_mean" => Ok(Self::MaxMean),
            "mean" => Ok(Self::Mean),
            "max" => Ok(Self::Max),
            other => Err(Error::ConfigValue {
                key: "model.pooling".into(),
                reason: format!("unknown pooling `{other}` (known: max_mean, mean, max)"),
            }),
        }
    }
}

#[derive(Module, Debug)]
pub struct SoundCnn {
    input_norm: BatchNorm,
    blocks: Vec<ConvBlock>,
    residual: Vec<ResidualBlock>,
    dropout: Dropout,
    hidden: Linear,
    output: Linear,
    #[module(skip)]
    pooling: String,
}

impl SoundCnn {
    /// Build `config.arch` for `n_mels` bins and `n_classes` outputs.
    pub fn new(
        config: &ModelConfig,
        n_mels: usize,
        n_classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let init = Initializers::from_config(config)?;
        TimePooling::parse(&config.pooling)?;
        let w = config.width.max(1);
        let depth = config.blocks.max(1);
        let channels: Vec<usize> = (0..depth).map(|i| w << i.min(5)).collect();
        let pairs: Vec<(usize, usize)> = std::iter::once(1)
            .chain(channels.iter().copied())
            .zip(channels.iter().copied())
            .collect();
        let (blocks, residual) = match config.arch.as_str() {
            "cnn4" => (
                pairs
                    .iter()
                    .map(|&p| ConvBlock::new(&init, p, 3, 1, true, device))
                    .collect(),
                Vec::new(),
            ),
            "cnn6" => (
                pairs
                    .iter()
                    .map(|&p| ConvBlock::new(&init, p, 5, 1, false, device))
                    .collect(),
                Vec::new(),
            ),
            "cnn10" => (
                pairs
                    .iter()
                    .map(|&p| ConvBlock::new(&init, p, 3, 2, false, device))
                    .collect(),
                Vec::new(),
            ),
            "resnet" => (
                vec![ConvBlock::new(&init, (1, w), 3, 1, false, device)],
                pairs
                    .iter()
                    .map(|&(_, c_out)| c_out)
                    .scan(w, |c_in, c_out| {
                        let block = ResidualBlock::new(&init, *c_in, c_out, device);
                        *c_in = c_out;
                        Some(block)
                    })
                    .collect(),
            ),
            other => {
                return Err(Error::ConfigValue {
                    key: "model.arch".into(),
                    reason: format!(
                        "unknown architecture `{other}` (known: {})",
                        ARCHITECTURES.join(", ")
                    ),
                })
            }
        };
        let features = *channels.last().unwrap_or(&w);
        Ok(Self {
            input_norm: BatchNormConfig::new(n_mels).init(device),
            blocks,
            residual,
            dropout: DropoutConfig::new(config.dropout).init(),
            hidden: init.linear(features, features, device),
            output: init.linear(features, n_classes, device),
            pooling: config.pooling.clone(),
        })
    }

    /// Logits `[batch, classes]` of log-Mel spectrograms `[batch, frames, mels]`.
    pub fn forward(&self, mels: Tensor<3>) -> Tensor<2> {
        // Batch norm over Mel bins: move them to the channel axis and back.
        let x: Tensor<4> = mels.unsqueeze_dim(1);
        let mut x = self.input_norm.forward(x.swap_dims(1, 3)).swap_dims(1, 3);
        for block in &self.blocks {
            x = self.dropout.forward(block.forward(x));
        }
        for block in &self.residual {
            x = self.dropout.forward(block.forward(x));
        }
        // [batch, channels, time, freq] -> mean over frequency.
        let x: Tensor<3> = x.mean_dim(3).squeeze_dim(3);
        let pooled: Tensor<2> =
            match TimePooling::parse(&self.pooling).unwrap_or(TimePooling::MaxMean) {
                TimePooling::MaxMean => (x.clone().max_dim(2) + x.mean_dim(2)).squeeze_dim(2),
                TimePooling::Mean => x.mean_dim(2).squeeze_dim(2),
                TimePooling::Max => x.max_dim(2).squeeze_dim(2),
            };
        let hidden = relu(self.hidden.forward(self.dropout.forward(pooled)));
        self.output.forward(self.dropout.forward(hidden))
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }
}
