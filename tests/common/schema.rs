//! The OpenAPI document from the tests' side: a schema with its `$ref`s
//! followed, as the agreement tests of each API's request read it.

use serde_json::Value;

/// `schema` with its `$ref`s followed, against `doc`'s components.
pub fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(name) => {
            let name = name.trim_start_matches("#/components/schemas/");
            resolved(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}
