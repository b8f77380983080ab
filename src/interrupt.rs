//! Ctrl-C and SIGTERM as requests to stop at the next safe point.
//!
//! Long commands (`train`, sweep workers) call [`install`] once; SIGINT,
//! SIGTERM and SIGHUP then only raise a flag, which the training loop reads
//! between optimizer steps: it writes `last.ckpt` with the epoch's progress
//! and returns [`Error::Interrupted`], so a requeued cluster job or a
//! `--resume` continues exactly where it stopped. A second Ctrl-C ends the
//! process at once (exit status 130), as it does elsewhere; a repeated
//! SIGTERM does not, because schedulers often send it twice (to every
//! process of a job, and again through a driver) and follow with SIGKILL
//! when they mean it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};

struct Flags {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// A stop request: the signal that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRequest {
    pub signal: i32,
}

impl StopRequest {
    pub fn name(self) -> &'static str {
        match self.signal {
            signal_hook::consts::SIGINT => "SIGINT (Ctrl-C)",
            signal_hook::consts::SIGTERM => "SIGTERM",
            signal_hook::consts::SIGHUP => "SIGHUP",
            _ => "a signal",
        }
    }

    /// The conventional exit status of a process stopped by this signal.
    pub fn exit_status(self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }

    /// The error a command stops with once `saved` (what it saved) holds.
    pub fn error(self, saved: String) -> Error {
        Error::Interrupted {
            signal: self.name().to_string(),
            exit_status: self.exit_status(),
            saved,
        }
    }
}

/// Route SIGINT, SIGTERM and SIGHUP to the stop flag (idempotent).
pub fn install() -> Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        requested: Arc::new(AtomicBool::new(false)),
        signal: Arc::new(AtomicUsize::new(0)),
    };
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let fail = |e: std::io::Error| Error::InvalidArgument(format!("signal handler: {e}"));
    // Registered first, so it sees the flag as it was before this signal:
    // only a second Ctrl-C ends the process.
    signal_hook::flag::register_conditional_shutdown(
        SIGINT,
        128 + SIGINT,
        Arc::clone(&flags.requested),
    )
    .map_err(fail)?;
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(signal, Arc::clone(&flags.signal), signal as usize)
            .map_err(fail)?;
        signal_hook::flag::register(signal, Arc::clone(&flags.requested)).map_err(fail)?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The pending stop request, if a handled signal has arrived.
pub fn requested() -> Option<StopRequest> {
    let flags = FLAGS.get()?;
    if !flags.requested.load(Ordering::SeqCst) {
        return None;
    }
    Some(StopRequest {
        signal: flags.signal.load(Ordering::SeqCst) as i32,
    })
}

/// Forget a stop request that has been honoured, so that this process
/// can go on (a test that stopped a run and now resumes it).
pub fn clear() {
    if let Some(flags) = FLAGS.get() {
        flags.requested.store(false, Ordering::SeqCst);
    }
}

/// `Err(Error::Interrupted)` when a stop was requested, describing `what`
/// was saved.
pub fn check(what: impl FnOnce() -> String) -> Result<()> {
    match requested() {
        Some(request) => Err(request.error(what())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_signal_raises_the_flag_without_ending_the_process() {
        install().unwrap();
        assert_eq!(requested(), None);
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        let request = requested().expect("flag raised");
        assert_eq!(request.signal, signal_hook::consts::SIGTERM);
        assert_eq!(request.exit_status(), 143);
        let err = check(|| "nothing".into()).unwrap_err();
        assert!(err.to_string().contains("SIGTERM"), "{err}");
        // Lowered again so that no other test in this binary sees it (a
        // second signal would end the test process).
        clear();
        assert_eq!(requested(), None);
    }
}
