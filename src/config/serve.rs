//! `[serve]`: the limits of `soundclass serve`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on; loopback unless asked otherwise.
    pub addr: String,
    /// Largest request body (all files of one upload), MiB.
    pub max_upload_mb: f64,
    /// Most files in one request.
    pub max_files: usize,
    /// Seconds a request may take, queueing included (504 after).
    pub request_timeout_seconds: f64,
    /// Inferences that run at once (each holds one copy of the model).
    pub workers: usize,
    /// Requests that may wait for a worker; more get 503 at once.
    pub queue: usize,
    /// Seconds of each file drawn as its log-Mel image.
    pub mel_image_seconds: f64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            max_upload_mb: 64.0,
            max_files: 32,
            request_timeout_seconds: 120.0,
            workers: 1,
            queue: 16,
            mel_image_seconds: 20.0,
        }
    }
}

impl ServeConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::ConfigValue {
                key: format!("serve.{key}"),
                reason: reason.into(),
            })
        };
        if self.addr.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "addr",
                "must be an IP address and port, e.g. 127.0.0.1:8080",
            );
        }
        if !(self.max_upload_mb.is_finite() && self.max_upload_mb > 0.0) {
            return bad("max_upload_mb", "must be > 0");
        }
        if self.max_files == 0 {
            return bad("max_files", "must be at least 1");
        }
        if !(self.request_timeout_seconds.is_finite() && self.request_timeout_seconds > 0.0) {
            return bad("request_timeout_seconds", "must be > 0");
        }
        if self.workers == 0 {
            return bad("workers", "must be at least 1");
        }
        if !(self.mel_image_seconds.is_finite() && self.mel_image_seconds > 0.0) {
            return bad("mel_image_seconds", "must be > 0");
        }
        Ok(())
    }

    /// The body limit in bytes.
    pub fn max_upload_bytes(&self) -> usize {
        (self.max_upload_mb * 1024.0 * 1024.0) as usize
    }
}
