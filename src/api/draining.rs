//! Whether the service is draining: a shutdown signal has come, `/ready`
//! answers 503 so that load balancers take the instance out, and the
//! listener still serves for the drain grace. The server sets it
//! (`server::run`'s shutdown); the HTTP layer only reads it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag the server sets once, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// From now on `/ready` says the instance is draining.
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_sees_the_drain_begun_on_another() {
        let server = Draining::default();
        let handler = server.clone();
        assert!(!handler.is_draining());
        server.begin();
        assert!(handler.is_draining());
    }
}
