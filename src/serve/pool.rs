//! A bounded pool of model copies: a request waits for a free copy (at most
//! `queue` requests wait; the rest are turned away at once), and the
//! inference runs on a blocking thread holding that copy.

use std::sync::Mutex;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::predict::LoadedModel;

pub struct ModelPool {
    models: Mutex<Vec<LoadedModel>>,
    /// One permit per model copy.
    free: std::sync::Arc<Semaphore>,
    /// Requests admitted: running plus waiting.
    admitted: std::sync::Arc<Semaphore>,
}

/// A request's place in the pool: admitted, not yet holding a model.
pub struct Admission {
    _place: OwnedSemaphorePermit,
}

impl ModelPool {
    pub fn new(models: Vec<LoadedModel>, queue: usize) -> Self {
        let workers = models.len();
        Self {
            models: Mutex::new(models),
            free: std::sync::Arc::new(Semaphore::new(workers)),
            admitted: std::sync::Arc::new(Semaphore::new(workers + queue)),
        }
    }

    /// Admit a request, or `None` when the queue is full.
    pub fn admit(&self) -> Option<Admission> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(place) => Some(Admission { _place: place }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }

    /// Wait for a free model copy; the permit returns it when dropped.
    pub async fn worker(&self) -> OwnedSemaphorePermit {
        self.free
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed")
    }

    /// Run `work` with a model copy (call while holding a worker permit).
    pub fn with_model<T>(&self, work: impl FnOnce(&LoadedModel) -> T) -> T {
        let model = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .expect("a worker permit guarantees a free model");
        // Put the copy back even if `work` panics.
        struct Return<'a>(&'a ModelPool, Option<LoadedModel>);
        impl Drop for Return<'_> {
            fn drop(&mut self) {
                if let Some(m) = self.1.take() {
                    self.0
                        .models
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(m);
                }
            }
        }
        let guard = Return(self, Some(model));
        work(guard.1.as_ref().expect("set above"))
    }
}
