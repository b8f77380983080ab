//! Sweeps: spec checks, grid and random expansion, a small sweep end to
//! end, a failing trial that does not stop it, and kill -9 then resume
//! ending with the same leaderboard as an uninterrupted sweep.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{read_json, soundclass};
use soundclass::sweep::{trials, SweepSpec};

/// The two-tone fixture (6 train and 2 val clips per class) and a base
/// config of 3 epochs for it.
fn fixture(dir: &Path) -> PathBuf {
    common::two_tone_base(dir, &["training.batch_size=4", "training.epochs=3"])
}

fn spec_text(base: &Path, method: &str, parameters: &str) -> String {
    format!(
        "[sweep]\nname = \"t\"\nbase = \"{}\"\nmethod = {method}\nrepeats = 2\nmetric = \"val_accuracy\"\n\n[parameters]\n{parameters}\n",
        base.display()
    )
}

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn spec_errors_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    let cases = [
        (
            "\"grid\"",
            "\"model.dropot\" = [0.1]",
            "unknown config key `model.dropot` (did you mean `model.dropout`?)",
        ),
        (
            "\"grid\"",
            "\"model.dropout\" = [0.1, 1.5]",
            "config key `model.dropout`: must be in [0, 1)",
        ),
        (
            "\"grid\"",
            "\"optim.kind\" = [\"adamw\", \"adagrad\"]",
            "optim.kind",
        ),
        (
            "\"grid\"",
            "\"model.dropout\" = { distribution = \"uniform\", min = 0.0, max = 0.5 }",
            "a grid takes lists of values",
        ),
        (
            "\"random\"",
            "\"model.dropout\" = [0.1]",
            "random search needs trials >= 1",
        ),
        ("\"bayes\"", "\"model.dropout\" = [0.1]", "`sweep.method`"),
        ("\"grid\"", "\"training.seed\" = [1, 2]", "use sweep.seed"),
        (
            "\"grid\"",
            "augment = [{}, { gain_prob = 0.5, eq_prb = 0.5 }]",
            "unknown config key `augment.eq_prb` (did you mean `augment.eq_prob`?)",
        ),
        (
            "\"grid\"",
            "augment = [{ noise_prob = 1.5 }]",
            "augment.noise_prob",
        ),
        // Valid alone, not together: the grid point is named.
        (
            "\"grid\"",
            "\"audio.sample_rate\" = [16000, 8000]\n\"spectrogram.fmax\" = [6000.0]",
            "must not exceed half of audio.sample_rate (grid point audio.sample_rate=8000, spectrogram.fmax=6000.0)",
        ),
    ];
    for (method, parameters, expected) in cases {
        let spec = write_spec(tmp.path(), &spec_text(&base, method, parameters));
        let out = soundclass(&["sweep", "run", spec.to_str().unwrap(), "--dry-run"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{parameters}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{parameters}: {stderr} should contain {expected}"
        );
    }
}

#[test]
fn a_grid_point_is_checked_whole() {
    // An 8-kHz rate is invalid beside the base's 8-kHz Mel range; with a
    // 4-kHz range it is a valid point.
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    let parameters = "\"audio.sample_rate\" = [8000]\n\"spectrogram.fmax\" = [4000.0]";
    let spec = write_spec(tmp.path(), &spec_text(&base, "\"grid\"", parameters));
    assert_eq!(dry_run_trials(&spec, "grid"), 2);
}

/// How many trials `sweep run SPEC --dry-run` lists (`what` names the spec
/// when it fails).
fn dry_run_trials(spec: &Path, what: &str) -> usize {
    let out = soundclass(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--dry-run",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array().unwrap().len()
}

#[test]
fn grid_and_random_expansion_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    let grid = SweepSpec::load(&write_spec(
        tmp.path(),
        &spec_text(
            &base,
            "\"grid\"",
            "\"model.dropout\" = [0.0, 0.3]\n\"optim.kind\" = [\"adam\", \"adamw\", \"sgd\"]",
        ),
    ))
    .unwrap();
    let t = trials(&grid);
    assert_eq!(t.len(), 2 * 3 * 2);
    assert_eq!(
        t[0].overrides(),
        [
            "model.dropout=0.0",
            "optim.kind=\"adam\"",
            "training.seed=0"
        ]
    );
    assert_eq!(
        t[1].overrides(),
        [
            "model.dropout=0.0",
            "optim.kind=\"adam\"",
            "training.seed=1"
        ]
    );
    assert_eq!(
        t[11].overrides(),
        ["model.dropout=0.3", "optim.kind=\"sgd\"", "training.seed=1"]
    );

    // A section as one parameter: each value's keys are set together, the
    // section's other keys stay the base's.
    let text = spec_text(
        &base,
        "\"grid\"",
        "augment = [{}, { gain_prob = 0.5, noise_prob = 0.25 }]",
    );
    let spec = SweepSpec::load(&write_spec(tmp.path(), &text)).unwrap();
    let t = trials(&spec);
    assert_eq!(t.len(), 2 * 2);
    let on = &t[2].overrides();
    assert_eq!(on[0], "augment={ gain_prob = 0.5, noise_prob = 0.25 }");
    let config = spec.base_config(&[], on).unwrap();
    let plain = spec.base_config(&[], &t[0].overrides()).unwrap();
    assert_eq!(
        (config.augment.gain_prob, config.augment.noise_prob),
        (0.5, 0.25)
    );
    assert_eq!(
        (plain.augment.gain_prob, plain.augment.noise_prob),
        (0.0, 0.0)
    );
    assert_eq!(config.augment.mixup_alpha, plain.augment.mixup_alpha);

    let random = |seed: u64| {
        let text = spec_text(
            &base,
            "\"random\"\ntrials = 5",
            "\"optim.weight_decay\" = { distribution = \"log_uniform\", min = 1e-5, max = 1e-1 }\n\
             \"training.batch_size\" = { distribution = \"int_uniform\", min = 2, max = 8 }",
        )
        .replace("repeats = 2", &format!("repeats = 1\nseed = {seed}"));
        trials(&SweepSpec::load(&write_spec(tmp.path(), &text)).unwrap())
    };
    let (a, b, c) = (random(7), random(7), random(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
    for trial in &a {
        let decay = trial.values[0].1.as_float().unwrap();
        let batch = trial.values[1].1.as_integer().unwrap();
        assert!(
            (1e-5..=1e-1).contains(&decay) && (2..=8).contains(&batch),
            "{trial:?}"
        );
    }
}

/// The fixture and a grid over two dropout values, two repeats each.
fn dropout_spec(dir: &Path) -> PathBuf {
    let base = fixture(dir);
    write_spec(
        dir,
        &spec_text(&base, "\"grid\"", "\"model.dropout\" = [0.0, 0.3]"),
    )
}

#[test]
fn a_sweep_runs_every_trial_and_a_failing_one_does_not_stop_it() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    let missing = tmp.path().join("missing.csv");
    // Half the trials average their last two epochs' weights: their
    // objective is the average's val accuracy, the others' the best epoch's.
    let parameters = format!(
        "\"training.average_last_epochs\" = [0, 2]\n\"data.manifest\" = [\"{}\", \"{}\"]",
        tmp.path().join("manifest.csv").display(),
        missing.display()
    );
    let spec = write_spec(tmp.path(), &spec_text(&base, "\"grid\"", &parameters));
    let dir = tmp.path().join("sweep");
    let out = Command::new(env!("CARGO_BIN_EXE_soundclass"))
        .args(common::sweep_args(&spec, &dir))
        .output()
        .unwrap();
    // Exit 1: some trials failed; the others ran.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = read_json(&dir.join("trials.json"));
    let records = table["trials"].as_array().unwrap();
    assert_eq!(records.len(), 8);
    for r in records {
        // Values in key order: data.manifest, training.average_last_epochs.
        let manifest = r["values"][0][1].as_str().unwrap();
        let averaged = r["values"][1][1].as_i64().unwrap() == 2;
        if manifest.ends_with("missing.csv") {
            assert_eq!(r["state"], "failed", "{r}");
            assert!(r["error"].as_str().unwrap().contains("missing.csv"), "{r}");
        } else {
            assert_eq!(r["state"], "done", "{r}");
            let run = dir.join("trials").join(r["id"].as_str().unwrap());
            let summary = read_json(&run.join("summary.json"));
            let model = if averaged {
                &summary["average"]["val"]
            } else {
                assert!(summary.get("average").is_none(), "{summary}");
                &summary["best_val"]
            };
            assert_eq!(r["metric"], model["accuracy"], "{r}");
            assert!(r["metric"].is_number(), "{r}");
            assert_eq!(r["epochs"], 3);
        }
    }
    let leaderboard = std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    let rows: Vec<&str> = leaderboard.lines().collect();
    assert_eq!(rows.len(), 3, "{leaderboard}");
    assert!(
        rows[1].ends_with(",2,0,0"),
        "two repeats, none failed or pruned: {leaderboard}"
    );
    let md = std::fs::read_to_string(dir.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("8 trials: 4 done, 0 pruned, 4 failed") && md.contains("## Marginal effects"),
        "{md}"
    );
    let status = soundclass(&["sweep", "status", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("failed") && text.contains("missing.csv"),
        "{text}"
    );
}

#[test]
fn kill_9_then_resume_gives_the_uninterrupted_leaderboard() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = dropout_spec(tmp.path());
    let bin = env!("CARGO_BIN_EXE_soundclass");
    let whole = tmp.path().join("whole");
    common::soundclass_ok(&common::sweep_args(&spec, &whole));

    // Kill the second sweep in the middle of its second trial.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(bin)
        .args(common::sweep_args(&spec, &killed))
        .spawn()
        .unwrap();
    let checkpoint = killed.join("trials/t0001/checkpoints/last.ckpt");
    common::wait_until("checkpoint", Duration::from_secs(600), || {
        checkpoint.exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let table = read_json(&killed.join("trials.json"));
    assert_eq!(table["trials"][0]["state"], "done");
    assert_eq!(
        table["trials"][1]["state"], "running",
        "the kill came too late"
    );

    let out = soundclass(&[
        "sweep",
        "resume",
        killed.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]);
    common::assert_success(&out);
    let leaderboard = |dir: &Path| std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    assert_eq!(leaderboard(&killed), leaderboard(&whole));
    let metrics = |dir: &Path| {
        read_json(&dir.join("trials.json"))["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["state"].clone(), r["metric"].clone(), r["epochs"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics(&killed), metrics(&whole));
    // The interrupted trial continued from its checkpoint.
    assert!(killed.join("trials/t0001").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("run-resumed-")
    }));
}

#[test]
fn the_shipped_sweeps_are_valid() {
    let shipped = [
        ("quickstart_sweep", 8),
        ("init_reg", 32),
        ("init_reg_gpu", 810),
        ("recipe", 6),
        ("sampler", 6),
        ("arch", 3),
        ("level", 3),
        ("long", 3),
        ("chain", 3),
        ("band", 3),
        ("prior", 3),
        ("mixstyle", 3),
        ("resolution", 3),
        ("band128", 3),
        ("crop", 3),
        ("width", 3),
        ("mixup", 3),
        ("clipping", 3),
        ("clip50", 3),
        ("decay", 3),
        ("seeds", 3),
        ("drive", 3),
        ("pitch", 3),
        ("pitch4", 3),
        ("stretch", 3),
        ("shuffle", 3),
    ];
    // Every spec in experiments/ is checked: a new one must be listed.
    let mut listed: Vec<&str> = shipped.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    let mut found: Vec<String> = std::fs::read_dir(common::repo_root().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort_unstable();
    assert_eq!(found, listed, "experiments/*.toml against this test's list");
    for (name, trials) in shipped {
        let spec = common::repo_root().join(format!("experiments/{name}.toml"));
        assert_eq!(dry_run_trials(&spec, name), trials, "{name}");
    }
}

#[test]
fn two_workers_share_a_sweep_and_never_run_the_same_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    let spec = write_spec(
        tmp.path(),
        &spec_text(
            &base,
            "\"grid\"",
            "\"model.dropout\" = [0.0, 0.3]\n\"optim.kind\" = [\"adam\", \"adamw\"]",
        ),
    );
    let bin = env!("CARGO_BIN_EXE_soundclass");
    let serial = tmp.path().join("serial");
    let out = Command::new(bin)
        .args(common::sweep_args(&spec, &serial))
        .output()
        .unwrap();
    common::assert_success(&out);
    let parallel = tmp.path().join("parallel");
    let mut args = common::sweep_args(&spec, &parallel);
    args.extend(["--workers".to_string(), "2".to_string()]);
    let out = Command::new(bin).args(&args).output().unwrap();
    common::assert_success(&out);

    let table = read_json(&parallel.join("trials.json"));
    let mut owners = std::collections::BTreeSet::new();
    for r in table["trials"].as_array().unwrap() {
        assert_eq!(r["state"], "done", "{r}");
        owners.insert(r["owner"].as_str().unwrap().to_string());
        // One training per trial: a second taker would have resumed it.
        let run = parallel.join("trials").join(r["id"].as_str().unwrap());
        let runs: Vec<String> = run
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("run"))
            .collect();
        assert_eq!(runs, ["run.json"], "{}", run.display());
    }
    assert!(!owners
        .iter()
        .any(|o| o.ends_with(&format!(":{}", std::process::id()))));
    // Separate processes, the same results as one process in order.
    let leaderboard = |dir: &Path| std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    assert_eq!(leaderboard(&parallel), leaderboard(&serial));
}

#[test]
fn asha_prunes_the_same_trials_serially_and_with_two_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    // Learning rates from useless to good: rung values differ, so some
    // trials fall below the cutoff. Epochs 4, rungs at 1 and 2.
    let text = spec_text(
        &base,
        "\"grid\"",
        "\"training.lr\" = [1e-5, 0.003, 1e-4, 0.01, 3e-5, 0.03]",
    )
    .replace("repeats = 2", "repeats = 1\nset = [\"training.epochs=4\"]")
        + "";
    let text = text.replace(
        "metric = \"val_accuracy\"",
        "metric = \"val_loss\"\n[sweep.early_stopping]\nkind = \"asha\"\ngrace_epochs = 1\nreduction = 2.0",
    );
    let spec = write_spec(tmp.path(), &text);
    let bin = env!("CARGO_BIN_EXE_soundclass");
    let serial = tmp.path().join("serial");
    let out = Command::new(bin)
        .args(common::sweep_args(&spec, &serial))
        .output()
        .unwrap();
    common::assert_success(&out);
    let parallel = tmp.path().join("parallel");
    let mut args = common::sweep_args(&spec, &parallel);
    args.extend(["--workers".to_string(), "2".to_string()]);
    let out = Command::new(bin).args(&args).output().unwrap();
    common::assert_success(&out);

    let decisions = |dir: &Path| {
        read_json(&dir.join("trials.json"))["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["state"].clone(),
                    r["epochs"].clone(),
                    r["metric"].clone(),
                    r["rungs"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let serial_decisions = decisions(&serial);
    assert_eq!(serial_decisions, decisions(&parallel));
    let pruned: Vec<_> = serial_decisions
        .iter()
        .filter(|d| d.0 == "pruned")
        .collect();
    assert!(!pruned.is_empty(), "nothing pruned: {serial_decisions:?}");
    assert!(serial_decisions.iter().any(|d| d.0 == "done" && d.1 == 4));
    for (state, epochs, _, rungs) in &serial_decisions {
        let rungs = rungs.as_array().unwrap();
        if state == "pruned" {
            let last = rungs.last().unwrap();
            assert_eq!(last["passed"], false);
            assert_eq!(&last["epoch"], epochs);
        } else {
            assert!(rungs.iter().all(|r| r["passed"] == true), "{rungs:?}");
        }
    }
    // The first trial has no earlier trial to lose to.
    assert_eq!(serial_decisions[0].0, "done");
    let leaderboard = |dir: &Path| std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    assert_eq!(leaderboard(&serial), leaderboard(&parallel));
}

/// TensorBoard's own readers (scripts/tb_hparams_sessions.py) on a sweep
/// folder: `{run: {hparam: value}}` for every run with an HParams session.
/// `None` when Python's tensorboard is missing (unless TB_REQUIRE_PYTHON).
fn hparams_sessions(dir: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    let script = common::repo_root().join("scripts/tb_hparams_sessions.py");
    let out = Command::new("python3").arg(&script).arg(dir).output();
    match out {
        Ok(out) if out.status.success() => Some(
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap()
                .as_object()
                .unwrap()
                .clone(),
        ),
        _ if std::env::var_os("TB_REQUIRE_PYTHON").is_none() => {
            eprintln!("SKIPPED: python3 with tensorboard not available");
            None
        }
        other => panic!("tb_hparams_sessions.py failed: {other:?}"),
    }
}

#[test]
fn sigterm_stops_the_workers_and_resume_gives_the_same_leaderboard() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = dropout_spec(tmp.path());
    let bin = env!("CARGO_BIN_EXE_soundclass");
    let whole = tmp.path().join("whole");
    common::soundclass_ok(&common::sweep_args(&spec, &whole));

    // SIGTERM to the driver of two workers once a trial has a checkpoint:
    // it passes the request on, each worker saves its trial and hands it
    // back, and the driver exits with 128 + 15.
    let stopped = tmp.path().join("stopped");
    let mut args = common::sweep_args(&spec, &stopped);
    args.extend(["--workers".to_string(), "2".to_string()]);
    let child = Command::new(bin)
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = stopped.join("trials/t0000/checkpoints/last.ckpt");
    common::wait_until("first", Duration::from_secs(600), || first.exists());
    common::terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    let table = read_json(&stopped.join("trials.json"));
    let states: Vec<String> = table["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect();
    assert!(!states.contains(&"running".to_string()), "{states:?}");
    assert!(states.contains(&"pending".to_string()), "{states:?}");

    let out = soundclass(&[
        "sweep",
        "resume",
        stopped.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]);
    common::assert_success(&out);
    let leaderboard = |dir: &Path| std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    assert_eq!(leaderboard(&stopped), leaderboard(&whole));
    // Trials decoded the fixture once between them.
    let cached: Vec<_> = stopped.join("audio_cache").read_dir().unwrap().collect();
    assert!(!cached.is_empty());

    // TensorBoard's HParams dashboard lists every trial once, with its
    // swept value, interrupted trials included.
    let Some(sessions) = hparams_sessions(&stopped) else {
        return;
    };
    let records = read_json(&stopped.join("trials.json"));
    let records = records["trials"].as_array().unwrap();
    assert_eq!(sessions.len(), records.len(), "{sessions:?}");
    for r in records {
        let id = r["id"].as_str().unwrap();
        let (_, hparams) = sessions
            .iter()
            .find(|(run, _)| run.starts_with(&format!("trials/{id}/")))
            .unwrap_or_else(|| panic!("no session for {id}: {sessions:?}"));
        assert_eq!(hparams["model.dropout"], r["values"][0][1], "{id}");
    }
}

#[test]
fn devices_put_one_worker_on_each_gpu() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = dropout_spec(tmp.path());
    let dir = tmp.path().join("gpus");
    let mut args = common::sweep_args(&spec, &dir);
    // CPU training here: what is checked is which GPU each worker was
    // given (run.json records it). Trials long enough (12 epochs) that the
    // second worker has started before the first could take all four,
    // however slowly its process starts.
    args.extend(["--devices", "0,1", "--set", "training.epochs=12"].map(String::from));
    let out = Command::new(env!("CARGO_BIN_EXE_soundclass"))
        .args(&args)
        .output()
        .unwrap();
    common::assert_success(&out);
    let mut seen = std::collections::BTreeMap::new();
    for entry in dir.join("trials").read_dir().unwrap() {
        let info = read_json(&entry.unwrap().path().join("run.json"));
        assert_eq!(info["gpu_index"], info["cuda_visible_devices"], "{info}");
        let owner_gpu = info["gpu_index"].as_str().unwrap().to_string();
        *seen.entry(owner_gpu).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["0", "1"],
        "{seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), 4);

    let mut args = common::sweep_args(&spec, &tmp.path().join("bad"));
    args.extend(["--workers", "3", "--devices", "0,1"].map(String::from));
    let out = Command::new(env!("CARGO_BIN_EXE_soundclass"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("one worker runs per device"), "{stderr}");
    assert!(!tmp.path().join("bad").exists(), "nothing is created");
}

#[test]
fn k_fold_trials_take_the_folds_mean_as_objective() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture(tmp.path());
    // Three sources: clip i comes from package i % 3.
    let manifest = tmp.path().join("manifest.csv");
    let mut grouped = String::from("path,label,split,source_package\n");
    for line in std::fs::read_to_string(&manifest).unwrap().lines().skip(1) {
        let i: usize = line
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("clip")
            .trim_end_matches(".wav")
            .parse()
            .unwrap();
        grouped += &format!("{line},pkg{}\n", i % 3);
    }
    std::fs::write(&manifest, grouped).unwrap();
    let text = spec_text(&base, "\"grid\"", "\"model.dropout\" = [0.0]")
        .replace("repeats = 2", "repeats = 1\nfolds = 2");
    let spec = write_spec(tmp.path(), &text);
    let dir = tmp.path().join("sweep");
    common::soundclass_ok(&common::sweep_args(&spec, &dir));
    let table = common::read_json(&dir.join("trials.json"));
    let trial = &table["trials"][0];
    assert_eq!(trial["state"], "done");
    let id = trial["id"].as_str().unwrap();
    let folds = common::read_json(&dir.join("trials").join(id).join("folds.json"));
    assert_eq!(folds["results"].as_array().unwrap().len(), 2);
    assert_eq!(trial["metric"], folds["accuracy_mean"]);

    let bad = write_spec(tmp.path(), &text.replace("folds = 2", "folds = 1"));
    let out = common::soundclass(&[
        "sweep",
        "run",
        bad.to_str().unwrap(),
        "--sweep-dir",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sweep.folds"));
}
