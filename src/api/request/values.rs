//! The values of `POST /run`'s fields that are more than a JSON type: the
//! whole numbers the original takes as a JSON integer or as a string of
//! decimal digits (its README's example sends `"language_id": "2"` and
//! `"timeout": "5"`), and one more file of a run; each read and described
//! as such.

use std::fmt;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::api::lenient::Lenient;

/// Most digits of a `language_id` sent as a string.
const ID_DIGITS: usize = 10;
/// Largest `timeout` accepted (then capped to the server's).
pub(super) const MAX_TIMEOUT_SECS: u64 = 1 << 31;

/// A language id of `GET /languages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageId(pub u64);

/// Whole seconds; 0 is the server's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

/// A JSON integer (not negative), or a string of at most `max_digits`
/// decimal digits that fits a `u64`.
struct Whole {
    max_digits: usize,
}

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string of decimal digits")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
        let digits =
            !s.is_empty() && s.len() <= self.max_digits && s.bytes().all(|b| b.is_ascii_digit());
        digits
            .then(|| s.parse().ok())
            .flatten()
            .ok_or_else(|| E::invalid_value(Unexpected::Str(s), &self))
    }
}

impl<'de> Deserialize<'de> for LanguageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let max_digits = ID_DIGITS;
        d.deserialize_any(Whole { max_digits }).map(LanguageId)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let max_digits = usize::MAX;
        d.deserialize_any(Whole { max_digits }).map(Seconds)
    }
}

/// An integer from 0 to `max`, or a string of digits.
fn integer_or_digits(max: u64, pattern: &str) -> RefOr<Schema> {
    let integer = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(max));
    let digits = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern));
    OneOfBuilder::new().item(integer).item(digits).into()
}

impl PartialSchema for LanguageId {
    fn schema() -> RefOr<Schema> {
        integer_or_digits(u64::from(u32::MAX), "^[0-9]{1,10}$")
    }
}

impl ToSchema for LanguageId {}

impl PartialSchema for Seconds {
    fn schema() -> RefOr<Schema> {
        integer_or_digits(MAX_TIMEOUT_SECS, "^[0-9]+$")
    }
}

impl ToSchema for Seconds {}

/// One more file of a run.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self")]
pub struct RunFile {
    /// A relative path in the working directory.
    #[schema(required = true)]
    #[serde(default)]
    pub name: Lenient<String>,
    /// Its bytes, in base64 (absent: an empty file).
    #[schema(required = true)]
    #[serde(default)]
    pub content: Lenient<String>,
}

// Only a JSON object is a file: serde's derive alone would take a list of
// two strings for one too.
impl<'de> Deserialize<'de> for RunFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let object = serde_json::Map::deserialize(d)?;
        RunFile::deserialize(Value::Object(object)).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_whole_number_is_an_integer_or_a_string_of_digits() {
        let id = |v| serde_json::from_value::<LanguageId>(v).ok();
        assert_eq!(id(json!(7)), Some(LanguageId(7)));
        assert_eq!(id(json!("0012")), Some(LanguageId(12)));
        for bad in [
            json!(-1),
            json!(1.0),
            json!(""),
            json!(" 1"),
            json!("+1"),
            json!(null),
        ] {
            assert_eq!(id(bad.clone()), None, "{bad}");
        }
        assert_eq!(id(json!("12345678901")), None, "at most 10 digits");
        let secs = |v| serde_json::from_value::<Seconds>(v).ok();
        assert_eq!(secs(json!("12345678901")), Some(Seconds(12_345_678_901)));
        assert_eq!(secs(json!("99999999999999999999999")), None, "over u64");
    }

    #[test]
    fn a_file_is_an_object_and_only_an_object() {
        let file = |v| serde_json::from_value::<RunFile>(v).ok();
        let read = file(json!({"name": "a.txt", "content": 5, "more": 1})).unwrap();
        assert_eq!(read.name, Lenient::Read("a.txt".to_owned()));
        assert_eq!(read.content, Lenient::Invalid(json!(5)));
        assert!(file(json!({})).unwrap().name.is_absent());
        assert!(file(json!(["a.txt", "eA=="])).is_none(), "not a list");
    }
}
