//! End-to-end check: write a log dir with every event kind, then let
//! TensorBoard's own Python readers verify it (`check_tensorboard_events.py`).
//!
//! Set `TB_KEEP_DIR=/some/dir` to write there and keep the result (e.g. to
//! point `tensorboard --logdir` at it). If Python's `tensorboard` package is
//! not importable the test is skipped with a message, unless
//! `TB_REQUIRE_PYTHON=1`, so machines without it still pass `cargo test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use soundclass::train::tensorboard::{EventWriter, HParamValue};

const W: u32 = 32;
const H: u32 = 16;

/// A small RGB gradient, PNG-encoded with the `png` crate.
fn gradient_png() -> Vec<u8> {
    let mut rgb = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            rgb.extend_from_slice(&[(x * 255 / (W - 1)) as u8, (y * 255 / (H - 1)) as u8, 128]);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, W, H);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().expect("png header");
    writer.write_image_data(&rgb).expect("png data");
    writer.finish().expect("png finish");
    out
}

fn python_has_tensorboard() -> bool {
    Command::new("python3")
        .args(["-c", "import tensorboard, PIL"])
        .status()
        .is_ok_and(|s| s.success())
}

fn log_dir() -> PathBuf {
    match std::env::var_os("TB_KEEP_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("soundclass_tb_e2e_{}", std::process::id())),
    }
}

fn write_run(dir: &Path) -> serde_json::Value {
    let mut w = EventWriter::create(dir).expect("create writer");
    let mut loss = Vec::new();
    let mut acc = Vec::new();
    for step in 0..5i64 {
        let l = 1.0 / (step as f32 + 1.0);
        let a = 0.5 + 0.075 * step as f32;
        w.add_scalar("loss/train", l, step).expect("scalar");
        w.add_scalar("accuracy/val", a, step).expect("scalar");
        loss.push(json!([step, l]));
        acc.push(json!([step, a]));
    }
    w.add_image("spectrogram/example", &gradient_png(), W, H, 3, 4)
        .expect("image");
    let text = "# Run notes\n**cnn6** on fold 1 — ünïcödé ok";
    w.add_text("notes", text, 0).expect("text");
    let hparams = [
        ("lr".to_owned(), HParamValue::from(0.001)),
        ("arch".to_owned(), HParamValue::from("cnn6")),
        ("mixup".to_owned(), HParamValue::from(true)),
    ];
    w.add_hparams(&hparams, &[("hparam/val_accuracy".to_owned(), 0.8)], 4)
        .expect("hparams");
    w.flush().expect("flush");

    json!({
        "scalars": {"loss/train": loss, "accuracy/val": acc},
        "images": {"spectrogram/example": {"step": 4, "width": W, "height": H, "channels": 3}},
        "texts": {"notes": {"step": 0, "text": text}},
        "hparams": {
            "hparams": {"lr": 0.001, "arch": "cnn6", "mixup": true},
            "metrics": {"hparam/val_accuracy": 0.8}
        }
    })
}

#[test]
fn tensorboard_reads_what_we_write() {
    if !python_has_tensorboard() && std::env::var_os("TB_REQUIRE_PYTHON").is_none() {
        eprintln!("SKIPPED: python3 with tensorboard + Pillow not available");
        return;
    }
    let dir = log_dir();
    // Start from an empty run dir so stale event files cannot satisfy the check.
    let _ = std::fs::remove_dir_all(&dir);
    let expected = write_run(&dir);
    // Kept outside the log dir: TensorBoard should see only event files.
    let expect_path = dir.with_extension("expected.json");
    std::fs::write(
        &expect_path,
        serde_json::to_vec_pretty(&expected).expect("json"),
    )
    .expect("write expected json");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_tensorboard_events.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .arg("--expect-json")
        .arg(&expect_path)
        .output()
        .expect("run check_tensorboard_events.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "check_tensorboard_events.py failed:\n{stdout}\n{stderr}"
    );

    if std::env::var_os("TB_KEEP_DIR").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&expect_path);
    }
}
