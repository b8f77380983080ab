//! `soundclass serve`: the study's "classify a folder" app as a web page
//! served by the binary, and the JSON API the page (and scripts) use.
//!
//! `GET /` is the page (HTML, CSS and JS inside the binary), `GET
//! /api/health` answers once the model is loaded, `POST /api/predict`
//! takes multipart files and returns each file's label, probabilities,
//! window timeline and log-Mel image, or its error. Uploads go to a
//! temporary folder removed after the request; inference runs on a
//! bounded pool of model copies, so concurrent uploads queue (and beyond
//! `serve.queue` get 503) instead of exhausting memory.

mod api;
mod pool;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::config::ServeConfig;
use crate::error::{Error, Result};
use crate::predict::{LoadedModel, PredictOptions};
use crate::train::device::DeviceChoice;
pub use pool::ModelPool;

/// What the handlers share.
pub struct AppState {
    pub pool: ModelPool,
    pub limits: ServeConfig,
    pub options: PredictOptions,
    pub description: String,
    pub kind: &'static str,
    pub classes: Vec<String>,
    pub window_seconds: f64,
    pub hop_seconds: f64,
}

/// Load `workers` copies of the model and describe it for `/api/health`.
pub fn load_state(
    model_path: &std::path::Path,
    device: DeviceChoice,
    limits: ServeConfig,
    options: PredictOptions,
) -> Result<AppState> {
    let models = (0..limits.workers)
        .map(|_| LoadedModel::load(model_path, device))
        .collect::<Result<Vec<_>>>()?;
    let first = &models[0];
    let plan = options.plan(first)?;
    let rate = f64::from(plan.sample_rate);
    Ok(AppState {
        description: first.describe(),
        kind: first.kind(),
        classes: first.classes().to_vec(),
        window_seconds: plan.window as f64 / rate,
        hop_seconds: plan.hop as f64 / rate,
        pool: ModelPool::new(models, limits.queue),
        limits,
        options,
    })
}

/// The router: page, health, predict; the body limit from `serve`.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_upload_bytes();
    Router::new()
        .route("/", get(api::page))
        .route("/api/health", get(api::health))
        .route("/api/predict", post(api::predict))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serve until Ctrl-C or SIGTERM; prints the address it listens on first
/// (with port 0 the system picks one).
pub fn serve(state: AppState, addr: SocketAddr) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::InvalidArgument(format!("starting the server runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::InvalidArgument(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::InvalidArgument(format!("listening on {addr}: {e}")))?;
        println!("listening on http://{local}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, router(Arc::new(state)))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Error::InvalidArgument(format!("server: {e}")))
    })?;
    // In-flight inferences finish on their own threads; give them a moment.
    std::thread::sleep(Duration::from_millis(50));
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    eprintln!("stopping: finishing open requests");
}
