//! What an entry counts against the cache's bound, in either backend.

use axum::body::Bytes;

/// Bytes counted per entry on top of its body: the key twice, the map slots.
pub const ENTRY_OVERHEAD: usize = 128;

/// What one entry with `body` counts.
pub fn cost(body: &Bytes) -> usize {
    body.len() + ENTRY_OVERHEAD
}
