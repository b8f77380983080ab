//! The library's one error type. Every variant that concerns a file or a
//! config key names it, so a user can act on the message alone.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot decode audio: {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("{path}: decoder panicked: {message}")]
    DecoderPanic { path: PathBuf, message: String },

    #[error("{path}: implausible audio: {reason}")]
    Implausible { path: PathBuf, reason: String },

    #[error(
        "{path}: truncated: the header promises {promised_s:.3} s, only {decoded_s:.3} s decode"
    )]
    Truncated {
        path: PathBuf,
        promised_s: f64,
        decoded_s: f64,
    },

    #[error("{path}: empty file (0 bytes)")]
    EmptyFile { path: PathBuf },

    #[error("{path}: non-finite sample (NaN or infinity) at {seconds:.3} s")]
    NonFiniteSample { path: PathBuf, seconds: f64 },

    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    Ontology { path: PathBuf, reason: String },

    #[error("unknown config key `{key}`{}", suggestion_text(.suggestion))]
    UnknownConfigKey {
        key: String,
        suggestion: Option<String>,
    },

    #[error("config key `{key}`: {reason}")]
    ConfigValue { key: String, reason: String },

    #[error("{path}: invalid TOML: {reason}")]
    ConfigSyntax { path: PathBuf, reason: String },

    #[error("{path}: not a saved model: {reason}")]
    Model { path: PathBuf, reason: String },

    #[error("GPU: {0}")]
    Gpu(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Stopped by SIGINT/SIGTERM at a safe point, with its work saved.
    #[error("stopped by {signal}: {saved}")]
    Interrupted {
        signal: String,
        exit_status: u8,
        saved: String,
    },
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn decode(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn manifest(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Manifest {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
