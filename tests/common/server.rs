//! A `soundclass serve` process for HTTP and browser tests, and a tiny
//! model to serve.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::{request, Response};
use super::{assert_success, soundclass, tiny_config, two_tones};

/// A CNN trained for two epochs on the two-tone fixture, in `dir/run`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    train_tiny(dir, &two_tones(dir), &["training.epochs=2"])
}

/// `train` on the CPU with [`tiny_config`] for `manifest` (classes low and
/// high) and `extra` settings; returns the run folder, `dir/run`.
pub fn train_tiny(dir: &Path, manifest: &Path, extra: &[&str]) -> PathBuf {
    train_tiny_on(dir, "run", manifest, extra, "cpu")
}

/// [`train_tiny`] into `dir/<name>` (config `dir/<name>.toml`) on `device`.
pub fn train_tiny_on(
    dir: &Path,
    name: &str,
    manifest: &Path,
    extra: &[&str],
    device: &str,
) -> PathBuf {
    let config = tiny_config(manifest, &["low", "high"], extra);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml_string().unwrap()).unwrap();
    let run = dir.join(name);
    assert_success(&soundclass(&[
        "train",
        "--config",
        path.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--device",
        device,
        "--json",
    ]));
    run
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// `serve --model MODEL --addr 127.0.0.1:0` with `sets` (`serve.*`),
    /// temporary files under `tmp`.
    pub fn start(model: &Path, tmp: &Path, sets: &[&str]) -> Self {
        std::fs::create_dir_all(tmp).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_soundclass"));
        command
            .args(["serve", "--model", model.to_str().unwrap()])
            .args(["--addr", "127.0.0.1:0", "--device", "cpu"]);
        for set in sets {
            command.args(["--set", set]);
        }
        let mut child = command
            .env("TMPDIR", tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start soundclass serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server printed its address");
        Self { child, url }
    }

    /// Peak resident memory of the server process, MiB (Linux).
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A multipart/form-data body with one `files` part per (name, bytes);
/// returns the content type and the body.
pub fn multipart(files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "soundclass-test-boundary-7e1f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POST files to `/api/predict`: the status and the JSON body.
pub fn post_files(url: &str, query: &str, files: &[(String, Vec<u8>)]) -> (u16, serde_json::Value) {
    let (content_type, body) = multipart(files);
    answer(request(
        "POST",
        &format!("{url}/api/predict{query}"),
        Some(&content_type),
        &body,
    ))
}

/// Status and JSON body of a response, error statuses included.
pub fn answer(response: std::io::Result<Response>) -> (u16, serde_json::Value) {
    let response = response.expect("request failed");
    (response.status, response.json())
}

/// Some demo clips (real recordings, one per class), as uploads.
pub fn demo_uploads(count: usize) -> Vec<(String, Vec<u8>)> {
    let root = super::repo_root().join("data/demo/clips");
    let mut files = Vec::new();
    for class in ["Animal", "Music", "Speech", "Vehicle"] {
        let mut paths: Vec<PathBuf> = walk(&root.join(class));
        paths.sort();
        files.extend(paths.into_iter().take(count.div_ceil(4)));
    }
    files.truncate(count);
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// Audio files under `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if soundclass::audio::is_audio_path(&path) {
            out.push(path);
        }
    }
    out
}
