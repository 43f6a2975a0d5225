//! The bound on live containers and on requests waiting for one.
//!
//! A permit is held from before the container is created until the container is removed,
//! so the limit counts containers, not requests. Waiting is bounded in count
//! and in time; beyond either, the caller gets [`SandboxError::Busy`] at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::job::SandboxError;

/// Longest a request waits for a container slot.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    limit: usize,
    waiting: AtomicUsize,
    max_queue: usize,
}

impl Gate {
    pub fn new(limit: usize, max_queue: usize) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            waiting: AtomicUsize::new(0),
            max_queue,
        }
    }

    /// A container slot, waiting in the bounded queue if none is free.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let busy = SandboxError::Busy { limit: self.limit };
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy);
        }
        let acquired =
            tokio::time::timeout(MAX_WAIT, Arc::clone(&self.slots).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy),
        }
    }

    /// Slots in use right now.
    pub fn in_use(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Waits until no slot is held (every container removed), at most
    /// `within`; whether that happened. No new run can enter meanwhile.
    pub async fn idle(&self, within: Duration) -> bool {
        let all = u32::try_from(self.limit).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout(within, self.slots.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }

    /// The slot limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests waiting right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_callers_are_refused_at_once() {
        let gate = Arc::new(Gate::new(1, 1));
        let held = gate.enter().await.unwrap();
        let queued = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.enter().await.map(|_| ()) })
        };
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = gate.enter().await;
        assert!(matches!(refused, Err(SandboxError::Busy { limit: 1 })));
        drop(held);
        queued
            .await
            .unwrap()
            .expect("the queued caller gets the freed slot");
        assert_eq!(gate.in_use(), 0);
    }

    #[tokio::test]
    async fn idle_waits_for_the_last_slot_and_gives_up_at_its_deadline() {
        let gate = Arc::new(Gate::new(2, 0));
        let held = gate.enter().await.unwrap();
        assert!(
            !gate.idle(Duration::from_millis(50)).await,
            "a slot is held"
        );
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
        });
        assert!(gate.idle(Duration::from_secs(5)).await);
        releaser.await.unwrap();
    }
}
