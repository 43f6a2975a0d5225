//! A body's field errors, gathered in Judge0's shape (every field's at
//! once).

use std::collections::BTreeMap;

/// Field errors, in Judge0's shape.
#[derive(Debug, Default)]
pub(super) struct Errors(pub(super) BTreeMap<String, Vec<String>>);

impl Errors {
    pub(super) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One field's messages (none: empty).
    #[cfg(test)]
    pub(super) fn get(&self, field: &str) -> &[String] {
        self.0.get(field).map_or(&[], Vec::as_slice)
    }
}
