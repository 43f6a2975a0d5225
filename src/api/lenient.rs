//! A wire field read leniently: what a client sent is kept whatever its
//! type, so validation can refuse it in its API's own words and order (every
//! field's problems at once for Judge0, the first in Piston's order for
//! Piston) instead of serde failing the whole body at the first. The typed
//! struct holding such fields is both what serde reads and what the OpenAPI
//! document describes: a `Lenient<T>` is described as a `T`.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A field as sent: absent (or `null`), a `T`, or something else.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Lenient<T> {
    /// Absent, or `null` (which clients send for "not set").
    #[default]
    Absent,
    /// Read as a `T`.
    Read(T),
    /// Present, but not a `T`: the value as sent.
    Invalid(Value),
}

impl<T> Lenient<T> {
    /// The `T`, if one was sent.
    pub fn read(&self) -> Option<&T> {
        match self {
            Lenient::Read(t) => Some(t),
            _ => None,
        }
    }

    /// The `T`, `None` when absent, and the value as sent otherwise.
    pub fn into_result(self) -> Result<Option<T>, Value> {
        match self {
            Lenient::Absent => Ok(None),
            Lenient::Read(t) => Ok(Some(t)),
            Lenient::Invalid(value) => Err(value),
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Lenient::Absent)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Lenient::Absent);
        }
        Ok(match T::deserialize(&value) {
            Ok(t) => Lenient::Read(t),
            Err(_) => Lenient::Invalid(value),
        })
    }
}

/// The document refers to a field of this type as the component
/// `Lenient_<T>`, which is `T`'s schema. (Inlined, utoipa would write a
/// field's description as a second, object-typed `allOf` item, which no
/// value satisfies.)
impl<T: ToSchema> ToSchema for Lenient<T> {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
    }
}

/// Described as the `T` a client should send. utoipa's derive describes a
/// generic field type by this trait, given its argument's schema (and
/// utoipa derives `PartialSchema` from it).
impl<T: PartialSchema> utoipa::__dev::ComposeSchema for Lenient<T> {
    fn compose(generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        generics.into_iter().next().unwrap_or_else(T::schema)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;
    use utoipa::ToSchema;

    use super::*;

    #[derive(Debug, Deserialize, ToSchema)]
    struct Body {
        /// A number.
        #[serde(default)]
        n: Lenient<u32>,
        #[serde(default)]
        #[schema(required = true)]
        name: Lenient<String>,
        #[serde(default)]
        list: Lenient<Vec<String>>,
    }

    #[test]
    fn each_field_keeps_what_was_sent_and_the_body_still_parses() {
        let body: Body =
            serde_json::from_value(json!({"n": "seven", "name": "x", "list": null})).unwrap();
        assert_eq!(body.n, Lenient::Invalid(json!("seven")));
        assert_eq!(body.name, Lenient::Read("x".to_owned()));
        assert_eq!(body.list, Lenient::Absent, "null is absent");
        let empty: Body = serde_json::from_value(json!({})).unwrap();
        assert!(empty.n.is_absent() && empty.name.is_absent());
        assert_eq!(empty.n.into_result(), Ok(None));
    }

    #[test]
    fn a_lenient_field_is_described_as_its_type() {
        let schema = serde_json::to_value(<Body as PartialSchema>::schema()).unwrap();
        let mut components = Vec::new();
        <Body as ToSchema>::schemas(&mut components);
        let components: serde_json::Map<String, Value> = components
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap()))
            .collect();
        let resolved = |field: &str| {
            let property = &schema["properties"][field];
            let name = property["$ref"].as_str().unwrap();
            let name = name.trim_start_matches("#/components/schemas/");
            components[name].clone()
        };
        assert_eq!(resolved("n")["type"], "integer", "{schema}");
        assert_eq!(schema["properties"]["n"]["description"], "A number.");
        assert_eq!(resolved("name")["type"], "string");
        assert_eq!(resolved("list")["type"], "array");
        assert_eq!(resolved("list")["items"]["type"], "string");
        assert_eq!(schema["required"], json!(["name"]), "{schema}");
    }
}
