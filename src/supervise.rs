//! Supervised background tasks: a task that panics is logged, counted in
//! `aws_quota_exporter_task_restarts_total{task}` and started again after a backoff,
//! so one bug in a refresh cannot silently stop a target's data for good.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::selfmetrics::SelfMetrics;

/// The first wait before a panicked task starts again; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs `make()`'s task until it returns, starting it again after each panic. Aborting
/// the supervisor aborts the task it runs.
pub async fn supervise<F, Fut>(task: &'static str, metrics: Arc<SelfMetrics>, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let handle = tokio::spawn(make());
        let _abort = AbortOnDrop(handle.abort_handle());
        match handle.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                tracing::error!(task, panic = %message, restart_in = ?backoff, "a background task panicked; starting it again");
                metrics.count_task_restart(task);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(_) => return,
        }
    }
}

/// Aborts a task when dropped: the supervisor's own cancellation reaches the task.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_counted_and_started_again_until_it_finishes() {
        let metrics = Arc::new(SelfMetrics::new());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        supervise("refresh", metrics.clone(), move || {
            let runs = counter.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("a bug in a refresh");
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, then a run that finished");
        assert_eq!(metrics.task_restarts("refresh"), 2);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_its_task() {
        let metrics = Arc::new(SelfMetrics::new());
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let supervisor = tokio::spawn(supervise("tracker", metrics, move || {
            let tx = tx.clone();
            async move {
                // Holds the sender until aborted.
                std::future::pending::<()>().await;
                drop(tx);
            }
        }));
        tokio::task::yield_now().await;
        supervisor.abort();
        let _ = supervisor.await;
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("the task ended"),
            None,
            "the task's sender was dropped with it"
        );
    }
}
