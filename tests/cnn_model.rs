//! The CNNs: every architecture maps `[batch, frames, mels]` to
//! `[batch, classes]`; freshly initialised weights have the mean and spread
//! each initializer's formula gives; a few optimisation steps lower the loss
//! on the CPU backend and on wgpu (Mesa lavapipe in CI).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use soundclass::config::ModelConfig;
use soundclass::features::mean_std;
use soundclass::gpu::{wgpu_device, GpuApi};
use soundclass::model::cnn::{parse_initializer, Initializers, SoundCnn};

fn small_model(arch: &str) -> ModelConfig {
    ModelConfig {
        arch: arch.into(),
        width: 4,
        blocks: 2,
        dropout: 0.0,
        ..ModelConfig::default()
    }
}

#[test]
fn every_architecture_gives_logits_per_class() {
    let device = Device::flex();
    for arch in ["cnn4", "cnn6", "cnn10", "resnet"] {
        let model = SoundCnn::new(&small_model(arch), 32, 4, &device).unwrap();
        let x = Tensor::<3>::zeros([3, 40, 32], &device);
        assert_eq!(model.forward(x).dims(), [3, 4], "{arch}");
        assert!(model.parameter_count() > 0);
    }
    let bad = SoundCnn::new(&small_model("cnn7"), 32, 4, &device).unwrap_err();
    assert!(bad.to_string().contains("model.arch"), "{bad}");
}

/// Expected standard deviation from (fan_in, fan_out).
fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

type ExpectedStd = Box<dyn Fn(f64, f64) -> f64>;

/// Mean, standard deviation and root mean square.
fn stats(values: &[f32]) -> (f64, f64, f64) {
    let (mean, std) = mean_std(values);
    let rms =
        (values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    (mean, std, rms)
}

#[test]
fn initializer_statistics_follow_their_formulas() {
    let device = Device::flex();
    device.seed(3);
    // Conv [128, 64, 3, 3]: fan_in 576, fan_out 1152. Linear 256 -> 512.
    let (conv_in, conv_out) = (64.0 * 9.0, 128.0 * 9.0);
    let (lin_in, lin_out) = (256.0, 512.0);
    let cases: [(&str, ExpectedStd); 9] = [
        ("kaiming_uniform", Box::new(|fi, _| 2f64.sqrt() / fi.sqrt())),
        ("kaiming_normal", Box::new(|fi, _| 2f64.sqrt() / fi.sqrt())),
        (
            "kaiming_uniform:gain=1,fan=out",
            Box::new(|_, fo| 1.0 / fo.sqrt()),
        ),
        (
            "kaiming_normal:gain=0.5,fan=out",
            Box::new(|_, fo| 0.5 / fo.sqrt()),
        ),
        (
            "xavier_uniform",
            Box::new(|fi, fo| (2.0 / (fi + fo)).sqrt()),
        ),
        (
            "xavier_normal:gain=2",
            Box::new(|fi, fo| 2.0 * (2.0 / (fi + fo)).sqrt()),
        ),
        ("normal:mean=0,std=0.02", Box::new(|_, _| 0.02)),
        (
            "uniform:min=-0.3,max=0.3",
            Box::new(|_, _| 0.6 / 12f64.sqrt()),
        ),
        ("normal", Box::new(|_, _| 0.01)),
    ];
    for (spec, expected_std) in cases {
        let init = Initializers {
            conv: parse_initializer(spec, "model.init.conv").unwrap(),
            linear: parse_initializer(spec, "model.init.linear").unwrap(),
            bias: parse_initializer("zeros", "model.init.bias").unwrap(),
        };
        let conv = init.conv(64, 128, 3, &device);
        let conv_w = values(conv.weight.val());
        let linear = init.linear(256, 512, &device);
        let lin_w = values(linear.weight.val());
        for (what, values, expected) in [
            ("conv", &conv_w, expected_std(conv_in, conv_out)),
            ("linear", &lin_w, expected_std(lin_in, lin_out)),
        ] {
            let (mean, std, _) = stats(values);
            assert!(
                (std / expected - 1.0).abs() < 0.05,
                "{spec} {what}: std {std} vs {expected}"
            );
            assert!(mean.abs() < 0.05 * expected, "{spec} {what}: mean {mean}");
        }
        let bias = values(linear.bias.unwrap().val());
        assert!(bias.iter().all(|&b| b == 0.0), "{spec}: bias not zero");
    }
    // Orthogonal: a [rows, cols] matrix with orthonormal rows (or columns)
    // has RMS gain / sqrt(max(rows, cols)).
    let init = Initializers {
        conv: parse_initializer("orthogonal:gain=1.5", "model.init.conv").unwrap(),
        linear: parse_initializer("orthogonal", "model.init.linear").unwrap(),
        bias: parse_initializer("constant:value=0.1", "model.init.bias").unwrap(),
    };
    let conv_w = values(init.conv(64, 128, 3, &device).weight.val());
    let (_, _, rms) = stats(&conv_w);
    assert!(
        (rms / (1.5 / 576f64.sqrt()) - 1.0).abs() < 0.01,
        "orthogonal conv rms {rms}"
    );
    let linear = init.linear(256, 512, &device);
    let lin_w = values(linear.weight.val());
    let (_, _, rms) = stats(&lin_w);
    assert!(
        (rms / (1.0 / 512f64.sqrt()) - 1.0).abs() < 0.01,
        "orthogonal linear rms {rms}"
    );
    let bias = values(linear.bias.unwrap().val());
    assert!(bias.iter().all(|&b| (b - 0.1).abs() < 1e-7));

    for (spec, key) in [
        ("kaiming_normal:fan=sideways", "fan"),
        ("glorot", "unknown"),
        ("normal:gain=2", "takes no"),
    ] {
        let err = parse_initializer(spec, "model.init.conv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.init.conv") && err.contains(key),
            "{spec}: {err}"
        );
    }
}

/// Twelve steps of AdamW on a fixed batch where each class lights up its
/// own band of Mel bins: the loss must fall by at least 10 %.
fn loss_falls_on(device: Device) {
    let device = device.autodiff();
    device.seed(11);
    let (batch, frames, mels, classes) = (8, 24, 16, 4);
    let mut data = vec![0.0f32; batch * frames * mels];
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % classes as i64).collect();
    for (b, &label) in labels.iter().enumerate() {
        for t in 0..frames {
            for m in 0..mels {
                let band = m * classes / mels;
                let noise = ((b * 31 + t * 7 + m * 13) % 17) as f32 / 17.0 - 0.5;
                let value = if band == label as usize { 2.0 } else { 0.0 };
                data[(b * frames + t) * mels + m] = value + 0.3 * noise;
            }
        }
    }
    let x = Tensor::<3>::from_data(TensorData::new(data, [batch, frames, mels]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let mut model = SoundCnn::new(&small_model("cnn6"), mels, classes, &device).unwrap();
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut losses = Vec::new();
    for _ in 0..12 {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    assert!(
        losses[11] < 0.8 * losses[0],
        "loss did not fall: {losses:?}"
    );
}

#[test]
fn a_few_steps_lower_the_loss_on_cpu() {
    loss_falls_on(Device::flex());
}

#[test]
fn a_few_steps_lower_the_loss_on_wgpu() {
    loss_falls_on(wgpu_device(GpuApi::Auto).expect("wgpu device (Mesa lavapipe in CI)"));
}
