//! The handlers: the page, `/api/health`, `/api/predict`; typed errors
//! become JSON responses with the right status.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::audio::{decode_window, resample};
use crate::dsp::{spectrogram_rgb, MelSpectrogram};
use crate::predict::{predict_files, FileResult, LoadedModel, Outcome, Prediction};
use crate::util::rgb_png_bytes;

static PAGE: &str = include_str!("page.html");

/// An error answered as `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        // 413 when the body limit was hit, 400 for a malformed body.
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request larger than the server's upload limit (serve.max_upload_mb)".to_string()
        } else {
            format!("malformed multipart request: {}", e.body_text())
        };
        Self::new(status, message)
    }
}

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page or API")
}

pub async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let l = &state.limits;
    Json(json!({
        "status": "ok",
        "model": state.description,
        "kind": state.kind,
        "classes": state.classes,
        "window_seconds": state.window_seconds,
        "hop_seconds": state.hop_seconds,
        "limits": {
            "max_upload_bytes": l.max_upload_bytes(),
            "max_files": l.max_files,
            "request_timeout_seconds": l.request_timeout_seconds,
            "workers": l.workers,
            "queue": l.queue,
        },
    }))
}

#[derive(Debug, Deserialize)]
pub struct PredictQuery {
    /// Include each file's log-Mel image (a PNG data URL).
    #[serde(default)]
    mel: Option<u8>,
}

/// One file of the response.
#[derive(Debug, Serialize)]
pub struct FileReply {
    file: String,
    #[serde(flatten)]
    prediction: Option<Prediction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mel_png: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PredictReply {
    classes: Vec<String>,
    seconds: f64,
    results: Vec<FileReply>,
}

/// An uploaded file saved in the request's temporary folder.
struct Upload {
    name: String,
    path: PathBuf,
}

pub async fn predict(
    State(state): State<Arc<AppState>>,
    Query(query): Query<PredictQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<PredictReply>, ApiError> {
    let started = Instant::now();
    let multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected multipart/form-data with file parts: {e}"),
        )
    })?;
    let Some(admission) = state.pool.admit() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "server busy: {} requests are running or waiting; try again shortly",
                state.limits.workers + state.limits.queue
            ),
        ));
    };
    let timeout = Duration::from_secs_f64(state.limits.request_timeout_seconds);
    let work = handle_predict(state.clone(), multipart, query.mel.unwrap_or(0) == 1);
    let results = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "request took longer than {} s (serve.request_timeout_seconds)",
                    state.limits.request_timeout_seconds
                ),
            ))
        }
    };
    drop(admission);
    Ok(Json(PredictReply {
        classes: state.classes.clone(),
        seconds: started.elapsed().as_secs_f64(),
        results,
    }))
}

async fn handle_predict(
    state: Arc<AppState>,
    mut multipart: Multipart,
    with_mel: bool,
) -> Result<Vec<FileReply>, ApiError> {
    let folder = tempfile::Builder::new()
        .prefix("soundclass-serve-")
        .tempdir()
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("temporary folder: {e}"),
            )
        })?;
    let mut uploads = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        let Some(name) = field.file_name().map(str::to_string) else {
            continue; // a plain form field, not a file
        };
        if uploads.len() == state.limits.max_files {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "too many files: at most {} per request (serve.max_files)",
                    state.limits.max_files
                ),
            ));
        }
        let bytes = field.bytes().await?;
        // Only the extension of the client's name is used on disk.
        let extension = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or("bin")
            .to_ascii_lowercase();
        let path = folder.path().join(format!("{}.{extension}", uploads.len()));
        // A small local write (bounded by the body limit).
        std::fs::write(&path, &bytes).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("saving an upload: {e}"),
            )
        })?;
        uploads.push(Upload { name, path });
    }
    if uploads.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no files in the request (send multipart/form-data with file parts named `files`)",
        ));
    }
    let worker = state.pool.worker().await;
    let job_state = state.clone();
    // The worker permit and the folder move into the job: a request that
    // timed out meanwhile neither frees the permit while its model copy is
    // still in use nor leaves its uploads behind.
    tokio::task::spawn_blocking(move || {
        let replies = job_state
            .pool
            .with_model(|model| run_inference(model, &job_state, &uploads, with_mel));
        drop(folder);
        drop(worker);
        replies
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("inference: {e}")))?
}

fn run_inference(
    model: &LoadedModel,
    state: &AppState,
    uploads: &[Upload],
    with_mel: bool,
) -> Result<Vec<FileReply>, ApiError> {
    let paths: Vec<PathBuf> = uploads.iter().map(|u| u.path.clone()).collect();
    let results = predict_files(model, &paths, &state.options, &|| {})
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(uploads
        .iter()
        .zip(results)
        .map(|(upload, result)| reply(model, state, upload, result, with_mel))
        .collect())
}

fn reply(
    model: &LoadedModel,
    state: &AppState,
    upload: &Upload,
    result: FileResult,
    with_mel: bool,
) -> FileReply {
    // Errors name the temporary file: show the uploaded name instead.
    let rename = |text: &str| text.replace(&upload.path.display().to_string(), &upload.name);
    match result.outcome {
        Outcome::Predicted(prediction) => FileReply {
            file: upload.name.clone(),
            mel_png: with_mel
                .then(|| mel_data_url(model, &upload.path, state.limits.mel_image_seconds))
                .flatten(),
            prediction: Some(prediction),
            error: None,
        },
        Outcome::Failed { error } => FileReply {
            file: upload.name.clone(),
            prediction: None,
            mel_png: None,
            error: Some(rename(&error)),
        },
    }
}

/// The first `seconds` of the file as a log-Mel PNG data URL (the model's
/// own spectrogram settings); `None` if it cannot be drawn.
fn mel_data_url(model: &LoadedModel, path: &Path, seconds: f64) -> Option<String> {
    let rate = model.sample_rate();
    let decoded = decode_window(path, 0.0, seconds).ok()?;
    let samples = resample(&decoded.samples, decoded.sample_rate, rate).ok()?;
    let mel = MelSpectrogram::new(&model.config().spectrogram, rate);
    let spec = mel.compute(&samples).ok()?;
    let scale = if spec.n_mels < 96 { 2 } else { 1 };
    let (width, height, rgb) = spectrogram_rgb(&spec, scale);
    let png = rgb_png_bytes(width, height, &rgb).ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}
