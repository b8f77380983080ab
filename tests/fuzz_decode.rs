//! Mutation fuzzing of the guarded decode path, on stable Rust.
//!
//! Mutants of every format fixture go through `probe_info`, `decode_file`
//! and `decode_window` with a time bound per file and the test thread's
//! allocations counted: the test fails on an escaped panic, a hang, or an
//! allocation far above the file's size. The default run is bounded and
//! seeded; `scripts/fuzz_decode.sh` runs the same test for minutes with
//! random seeds (environment below) and keeps every failing input.
//!
//! - `SOUNDCLASS_FUZZ_SEED`: the first seed (default fixed).
//! - `SOUNDCLASS_FUZZ_MUTANTS`: random mutants per fixture (default 300).
//! - `SOUNDCLASS_FUZZ_SECONDS`: keep going, seed after seed, this long.
//! - `SOUNDCLASS_FUZZ_FAILURES`: folder for failing inputs
//!   (default `target/fuzz-failures`).
//!
//! Files kept in `tests/data/fuzz/` (earlier finds) are checked first.

mod fuzz;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use fuzz::mutate::Seed;
use soundclass::audio::{decode_file, decode_window, probe_info};

/// Counts the live bytes and the peak of the current thread.
struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

thread_local! {
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// With `SOUNDCLASS_FUZZ_TRACE` set, print where a single allocation over
/// 64 MiB comes from (to find the field a decoder trusted).
fn trace_large(size: usize) {
    if size < FIXED_ALLOWANCE as usize || std::env::var_os("SOUNDCLASS_FUZZ_TRACE").is_none() {
        return;
    }
    let _ = TRACING.try_with(|tracing| {
        if !tracing.replace(true) {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            let frames: Vec<&str> = trace
                .lines()
                .filter(|l| l.contains("symphonia") || l.contains("soundclass"))
                .take(6)
                .collect();
            eprintln!("allocation of {size} bytes:\n{}", frames.join("\n"));
            tracing.set(false);
        }
    });
}

fn account(delta: isize) {
    // `try_with`: thread-local storage may be gone while a thread exits.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        trace_large(layout.size());
        account(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        trace_large(layout.size());
        account(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        trace_large(new_size);
        account(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Longest a mutant of a fixture (a few KB) may take, in a debug build.
const TIME_BOUND: Duration = Duration::from_secs(20);
/// Allocation allowed above the file's size: decoders' fixed buffers plus
/// the decode budget's samples (512 frames per byte, as f32, twice over
/// for a growing Vec).
const FIXED_ALLOWANCE: isize = 64 << 20;
const PER_FILE_BYTE: isize = 4096;

/// What went wrong with one input.
enum Failure {
    Panic(String),
    Hang,
    Allocation { peak: isize, limit: isize },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Panic(message) => write!(f, "escaped panic: {message}"),
            Failure::Hang => write!(f, "no answer within {TIME_BOUND:?}"),
            Failure::Allocation { peak, limit } => {
                write!(
                    f,
                    "allocated {peak} bytes at peak, over the limit of {limit}"
                )
            }
        }
    }
}

/// Runs inputs on a worker thread, so that a hang is seen from outside.
struct Harness {
    jobs: mpsc::Sender<PathBuf>,
    results: mpsc::Receiver<Result<isize, String>>,
}

impl Harness {
    fn new() -> Self {
        let (jobs, job_rx) = mpsc::channel::<PathBuf>();
        let (result_tx, results) = mpsc::channel();
        std::thread::spawn(move || {
            for path in job_rx {
                let outcome = std::panic::catch_unwind(|| decode_every_way(&path));
                let sent = result_tx.send(outcome.map_err(|p| panic_text(p.as_ref())));
                if sent.is_err() {
                    break;
                }
            }
        });
        Self { jobs, results }
    }

    fn check(&self, path: &Path) -> Result<(), Failure> {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as isize;
        self.jobs.send(path.to_path_buf()).expect("worker alive");
        match self.results.recv_timeout(TIME_BOUND) {
            Err(_) => Err(Failure::Hang),
            Ok(Err(message)) => Err(Failure::Panic(message)),
            Ok(Ok(peak)) => {
                let limit = FIXED_ALLOWANCE + PER_FILE_BYTE * len;
                if peak > limit {
                    Err(Failure::Allocation { peak, limit })
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The three ways commands open audio; returns the peak allocation above
/// what the thread held before.
fn decode_every_way(path: &Path) -> isize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    // Errors are the expected outcome for most mutants; only panics and
    // hangs escape the guard's promise.
    let _ = probe_info(path);
    let _ = decode_file(path);
    let _ = decode_window(path, 0.1, 0.2);
    PEAK.with(Cell::get) - base
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seeds() -> Vec<Seed> {
    let dir = repo().join("tests/data/formats");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            Seed::new(&name, std::fs::read(p).unwrap())
        })
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Where failing inputs are kept.
fn failure_dir() -> PathBuf {
    std::env::var_os("SOUNDCLASS_FUZZ_FAILURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/fuzz-failures"))
}

#[test]
fn earlier_finds_stay_fixed() {
    // `SOUNDCLASS_FUZZ_REGRESSIONS` points at another folder, e.g. a long
    // run's finds, to check them all at once.
    let dir = std::env::var_os("SOUNDCLASS_FUZZ_REGRESSIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/data/fuzz"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let harness = Harness::new();
        if let Err(failure) = harness.check(path) {
            failures.push(format!("{}: {failure}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mutants_of_every_format_neither_panic_hang_nor_overallocate() {
    let seeds = seeds();
    assert!(seeds.len() >= 9, "format fixtures missing");
    let first_seed = env_u64("SOUNDCLASS_FUZZ_SEED").unwrap_or(0x5eed_0001);
    let per_fixture = env_u64("SOUNDCLASS_FUZZ_MUTANTS").unwrap_or(300) as usize;
    let deadline =
        env_u64("SOUNDCLASS_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    // Mutants are written here before they are decoded, so that the input
    // survives if the process itself dies (an abort is no panic).
    let work = failure_dir().join("in-progress");
    std::fs::create_dir_all(&work).unwrap();
    let harness = Harness::new();
    let mut tried = 0usize;
    let mut failures = Vec::new();
    let mut run_one = |name: &str, what: &str, data: &[u8], failures: &mut Vec<String>| {
        let path = work.join(name);
        std::fs::write(&path, data).unwrap();
        tried += 1;
        let outcome = harness.check(&path);
        if outcome.is_ok() {
            // Only an input the process died on stays in `work`.
            let _ = std::fs::remove_file(&path);
        }
        if let Err(failure) = outcome {
            let keep = failure_dir().join(format!(
                "{}-{tried}-{}",
                what.replace(['/', '@', '+'], "_"),
                name
            ));
            std::fs::create_dir_all(failure_dir()).unwrap();
            std::fs::write(&keep, data).unwrap();
            failures.push(format!("{name} [{what}]: {failure} -> {}", keep.display()));
            // A hung worker is still busy: nothing more can be checked.
            matches!(failure, Failure::Hang)
        } else {
            false
        }
    };
    'outer: for (round, seed_value) in (first_seed..).enumerate() {
        for (k, seed) in seeds.iter().enumerate() {
            if round == 0 {
                for (what, data) in seed.boundary_truncations() {
                    if run_one(&seed.name, &what, &data, &mut failures) {
                        break 'outer;
                    }
                }
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed_value ^ ((k as u64) << 32));
            for _ in 0..per_fixture {
                let (what, data) = seed.mutate(&mut rng);
                if run_one(&seed.name, &what, &data, &mut failures) {
                    break 'outer;
                }
            }
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    println!("fuzz: {tried} mutants tried, {} failures", failures.len());
    let _ = std::fs::remove_dir_all(&work);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
