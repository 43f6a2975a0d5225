//! Captured output: the chunks as they arrived, never copied into one
//! growing buffer (which would briefly need twice its size on every
//! reallocation), and never more than a cap.

use std::collections::VecDeque;

use bytes::Bytes;

/// One stream's output, in arrival order. Chunks are shared, not copied,
/// when a capture is cloned (a stage's output is also part of the run's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Captured {
    /// Keeps as much of `bytes` as fits under `cap`; true if some did not fit.
    pub fn push_capped(&mut self, mut bytes: Vec<u8>, cap: usize) -> bool {
        let room = cap.saturating_sub(self.len);
        let exceeded = bytes.len() > room;
        bytes.truncate(room);
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push_back(Bytes::from(bytes));
        }
        exceeded
    }

    /// Keeps `bytes` (no cap); a clone of the same chunk kept elsewhere shares it.
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the oldest chunk, freeing it from this buffer.
    pub fn pop_chunk(&mut self) -> Option<Bytes> {
        let chunk = self.chunks.pop_front()?;
        self.len -= chunk.len();
        Some(chunk)
    }

    /// All of it in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            all.extend_from_slice(chunk);
        }
        all
    }
}

impl From<&[u8]> for Captured {
    fn from(bytes: &[u8]) -> Self {
        let mut captured = Captured::default();
        captured.push_capped(bytes.to_vec(), usize::MAX);
        captured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_beyond_the_cap_is_dropped_and_reported() {
        let mut c = Captured::default();
        assert!(!c.push_capped(vec![b'a'; 600], 1000));
        assert!(c.push_capped(vec![b'b'; 600], 1000));
        assert_eq!(c.len(), 1000);
        assert!(c.push_capped(vec![b'c'; 1], 1000));
        assert_eq!(c.to_vec(), [vec![b'a'; 600], vec![b'b'; 400]].concat());
        assert_eq!(c.pop_chunk().unwrap().len(), 600);
        assert_eq!(c.len(), 400);
    }
}
