//! A full disk or a run folder without write permission: the command stops
//! with an error naming the path and leaves no half-written checkpoint,
//! cache entry or table behind.
//!
//! The full disk is a file-size limit (`ulimit -f`, with SIGXFSZ ignored so
//! that writes fail with EFBIG as they would with ENOSPC); the missing
//! permission is a read-only folder, entered as `nobody` when the tests run
//! as root (root writes anywhere).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{tiny_config, write_sine};

fn fixture(dir: &Path) -> PathBuf {
    let mut csv = String::from("path,label,split\n");
    for i in 0..8 {
        let (label, rate) = if i % 2 == 0 {
            ("A", 8000)
        } else {
            ("B", 16000)
        };
        let name = format!("clip{i}.wav");
        write_sine(&dir.join(&name), rate, 0.5 + 0.1 * i as f32);
        let split = if i >= 6 { "val" } else { "train" };
        csv += &format!("{name},{label},{split}\n");
    }
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    let extra = [
        "model.width=8",
        "training.epochs=2",
        "training.batch_size=4",
    ];
    let text = tiny_config(&manifest, &["A", "B"], &extra)
        .to_toml_string()
        .unwrap();
    let config = dir.join("c.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// Run the binary under `sh -c` with `prefix` (limits, user switch).
fn run_limited(prefix: &str, args: &[&str]) -> Output {
    let mut script = format!("{prefix} exec \"$0\"");
    for i in 1..=args.len() {
        script += &format!(" \"${i}\"");
    }
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_soundclass"))
        .args(args)
        .output()
        .unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Every file under `dir`, recursively, after checking that no temporary
/// file of an interrupted atomic write was left behind.
fn whole_files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let files = files_under(dir);
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with(".tmp-"),
            "left behind: {}",
            file.display()
        );
        out.push((file, name));
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_clean_failure(out: &Output, names: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(names),
        "the error should name {names}:\n{stderr}"
    );
    stderr
}

#[test]
fn a_full_disk_stops_training_with_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = fixture(tmp.path());
    let run = tmp.path().join("run");
    // 24 KiB per file: config and metadata fit, a checkpoint does not.
    let out = run_limited(
        "trap '' XFSZ; ulimit -f 24;",
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--device",
            "cpu",
            "--run-dir",
            run.to_str().unwrap(),
            "--json",
        ],
    );
    let stderr = assert_clean_failure(&out, "run/");
    assert!(stderr.contains("File too large"), "{stderr}");
    for (file, name) in whole_files_under(&run) {
        if name.ends_with(".ckpt") {
            soundclass::train::checkpoint::load(&file)
                .unwrap_or_else(|e| panic!("half-written checkpoint {name}: {e}"));
        }
    }
}

#[test]
fn a_full_disk_leaves_whole_feature_cache_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let config = fixture(tmp.path());
    let cache = tmp.path().join("cache");
    let table = tmp.path().join("features.csv");
    // 4 blocks (2 KiB under dash, 4 KiB under bash): the cache entries of
    // 84 features or the table of 8 rows run into the limit.
    let out = run_limited(
        "trap '' XFSZ; ulimit -f 4;",
        &[
            "features",
            "--config",
            config.to_str().unwrap(),
            "--out",
            table.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    if out.status.success() {
        // The table fitted after all: then it must be whole.
        let text = std::fs::read_to_string(&table).unwrap();
        assert_eq!(text.lines().count(), 9, "{text}");
    } else {
        assert_clean_failure(&out, &tmp.path().display().to_string());
        assert!(!table.exists(), "a half-written table was left");
    }
    for (file, name) in whole_files_under(&cache) {
        let text = std::fs::read_to_string(&file).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("half-written cache entry {name}: {e}"));
    }
}

#[test]
fn a_run_folder_without_write_permission_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // `nobody` must be able to read the fixture when we switch to it.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = fixture(tmp.path());
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = locked.join("run");
    let prefix = if is_root() {
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$0\" \"$@\";"
    } else {
        ""
    };
    // A `--features tch` binary links LibTorch from where the setup script
    // put it (by default under root's home, which `nobody` cannot read).
    let starts = run_limited(prefix, &["--version"]);
    if cfg!(feature = "tch") && starts.status.code() == Some(127) {
        eprintln!(
            "skipped: `nobody` cannot load this binary's LibTorch: {}",
            String::from_utf8_lossy(&starts.stderr)
        );
        return;
    }
    let out = run_limited(
        prefix,
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--device",
            "cpu",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    );
    let stderr = assert_clean_failure(&out, &run.display().to_string());
    assert!(stderr.contains("ermission denied"), "{stderr}");
    assert!(!run.exists());
}
