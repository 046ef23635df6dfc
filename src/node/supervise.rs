//! Fail fast: the tasks the node cannot run without (the channel manager, which also runs the
//! HTLC router and the on-chain monitor, and the block poller that drives them) are watched;
//! if one ends before shutdown was asked for, or panics at any time, the node must stop. A node
//! that serves its API while nothing watches the chain would look healthy and lose funds.

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A critical task that ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDied {
    pub task: &'static str,
    pub panicked: bool,
}

impl std::fmt::Display for TaskDied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.panicked {
            "panicked"
        } else {
            "stopped unexpectedly"
        };
        write!(f, "the {} {how}", self.task)
    }
}

impl std::error::Error for TaskDied {}

/// Watches `critical` tasks: each one's end is reported on the receiver unless it ended
/// cleanly after `shutdown` flipped. Returns the watchers (to join at shutdown) and the
/// receiver of deaths.
pub fn supervise(
    critical: Vec<(&'static str, JoinHandle<()>)>,
    shutdown: &watch::Receiver<bool>,
) -> (Vec<JoinHandle<()>>, mpsc::UnboundedReceiver<TaskDied>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let watchers = critical
        .into_iter()
        .map(|(task, handle)| {
            let tx = tx.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let panicked = match handle.await {
                    Ok(()) => false,
                    Err(e) => e.is_panic(),
                };
                if panicked || !*shutdown.borrow() {
                    tracing::error!(task, panicked, "critical task died; the node stops");
                    let _ = tx.send(TaskDied { task, panicked });
                }
            })
        })
        .collect();
    (watchers, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_or_panics_is_reported_a_clean_stop_is_not() {
        let (stop, signal) = watch::channel(false);
        let mut waits = signal.clone();
        let waiting = tokio::spawn(async move {
            let _ = waits.wait_for(|s| *s).await;
        });
        let (watchers, mut died) = supervise(
            vec![
                ("ended", tokio::spawn(async {})),
                ("waiting", waiting),
                ("panicking", tokio::spawn(async { panic!("boom") })),
            ],
            &signal,
        );
        let mut seen = vec![died.recv().await.unwrap(), died.recv().await.unwrap()];
        seen.sort_by_key(|d| d.task);
        assert_eq!(
            seen,
            vec![
                TaskDied {
                    task: "ended",
                    panicked: false
                },
                TaskDied {
                    task: "panicking",
                    panicked: true
                }
            ]
        );
        assert_eq!(seen[1].to_string(), "the panicking panicked");
        // A shutdown ends the waiting task cleanly: no death.
        stop.send(true).unwrap();
        for w in watchers {
            w.await.unwrap();
        }
        assert!(died.recv().await.is_none());
    }
}
