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

    /// A rule's value, or its error recorded under `field` (and the
    /// value's default, never used: the submission is refused).
    pub(super) fn check<T: Default>(&mut self, field: &str, checked: Result<T, String>) -> T {
        checked.unwrap_or_else(|why| {
            self.add(field, why);
            T::default()
        })
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
