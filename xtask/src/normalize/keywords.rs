//! Rewrites of a schema's own keywords, in [`Lowerer::lower_keywords`]: `$schema`/`$id`/
//! `$anchor`/`$comment` dropped, `const` → `enum` and a `null` in an `enum` (rewrite 3),
//! `examples` → `example` (4), numeric exclusive bounds (5), content keywords → `format`
//! (7), array-form `items` removed; the `type` (rewrite 1, [`super::types`]) and `$ref`
//! siblings (rewrite 6, [`super::composition`]) in their place in that order.

use super::composition::wrap_ref_with_siblings;
use super::types::value_has_type;
use super::{Lowerer, child};
use serde_json::{Map, Value, json};

/// Schema keywords dropped silently: they carry no meaning for a 3.0 client generator.
pub(super) const DROPPED_KEYWORDS: [&str; 4] = ["$schema", "$id", "$anchor", "$comment"];

impl Lowerer {
    /// Rewrites of the schema's own keywords (not of its subschemas).
    pub(super) fn lower_keywords(&mut self, schema: &mut Map<String, Value>, ptr: &str) {
        for key in DROPPED_KEYWORDS {
            schema.remove(key);
        }
        if let Some(value) = schema.remove("const") {
            schema.insert("enum".to_owned(), Value::Array(vec![value]));
        }
        if schema.get("examples").is_some_and(Value::is_array)
            && let Some(Value::Array(examples)) = schema.remove("examples")
            && !schema.contains_key("example")
            && let Some(first) = examples.into_iter().next()
        {
            schema.insert("example".to_owned(), first);
        }
        lower_exclusive_bound(schema, "exclusiveMinimum", "minimum", true);
        lower_exclusive_bound(schema, "exclusiveMaximum", "maximum", false);
        lower_content_keywords(schema);
        if schema.get("items").is_some_and(Value::is_array) {
            schema.remove("items");
            self.warn(
                &child(ptr, "items"),
                "array-form `items` (tuple validation of older JSON Schema drafts, invalid in \
                 OpenAPI 3.0 and 3.1) has no OpenAPI 3.0 equivalent; removed, since the 3.0 \
                 parser rejects it"
                    .to_owned(),
            );
        }
        self.lower_type(schema, ptr);
        lower_nullable_enum(schema);
        wrap_ref_with_siblings(schema);
    }
}

/// Rewrite 3, second half: an `enum` listing `null` needs `nullable: true` in 3.0. On a
/// schema without `type`, the type all other values share is added too: progenitor reads
/// an untyped `nullable` schema with an `enum` as "only null" and then rejects the values.
fn lower_nullable_enum(schema: &mut Map<String, Value>) {
    let Some(Value::Array(values)) = schema.get("enum") else {
        return;
    };
    if !values.iter().any(Value::is_null) {
        return;
    }
    let non_null: Vec<&Value> = values.iter().filter(|value| !value.is_null()).collect();
    let untyped = !["type", "$ref", "allOf", "anyOf", "oneOf", "not"]
        .iter()
        .any(|key| schema.contains_key(*key));
    let inferred = ["string", "boolean", "integer", "number"]
        .into_iter()
        .find(|name| {
            untyped
                && !non_null.is_empty()
                && non_null.iter().all(|value| value_has_type(value, name))
        });
    schema.insert("nullable".to_owned(), Value::Bool(true));
    if let Some(name) = inferred {
        schema.insert("type".to_owned(), json!(name));
    }
}

/// Rewrite 5: numeric `exclusiveMinimum`/`exclusiveMaximum`.
fn lower_exclusive_bound(
    schema: &mut Map<String, Value>,
    exclusive: &str,
    bound: &str,
    lower: bool,
) {
    match schema.get(exclusive) {
        Some(Value::Number(limit)) => {
            let limit = limit.clone();
            let tighter = match (schema.get(bound).and_then(Value::as_f64), limit.as_f64()) {
                (Some(own), Some(new)) => {
                    if lower {
                        new >= own
                    } else {
                        new <= own
                    }
                }
                _ => true,
            };
            if tighter {
                schema.insert(bound.to_owned(), Value::Number(limit));
                schema.insert(exclusive.to_owned(), Value::Bool(true));
            } else {
                schema.remove(exclusive);
            }
        }
        Some(Value::Bool(_)) if !schema.contains_key(bound) => {
            schema.remove(exclusive);
        }
        _ => {}
    }
}

/// Rewrite 7: `contentEncoding`/`contentMediaType` become a string `format`.
fn lower_content_keywords(schema: &mut Map<String, Value>) {
    let encoding = schema.remove("contentEncoding");
    let media_type = schema.remove("contentMediaType");
    schema.remove("contentSchema");
    let encoding = encoding.as_ref().and_then(Value::as_str);
    let media_type = media_type.as_ref().and_then(Value::as_str);
    let format = match (encoding, media_type) {
        (Some(encoding), _)
            if encoding.eq_ignore_ascii_case("base64")
                || encoding.eq_ignore_ascii_case("base64url") =>
        {
            "byte"
        }
        (_, Some(media_type)) if !is_textual(media_type) => "binary",
        _ => return,
    };
    let is_string = match schema.get("type") {
        None => true,
        Some(Value::String(name)) => name == "string",
        Some(Value::Array(names)) => names.iter().any(|name| name.as_str() == Some("string")),
        Some(_) => false,
    };
    if !is_string {
        return;
    }
    if !schema.contains_key("format") {
        schema.insert("format".to_owned(), json!(format));
    }
    let typed_elsewhere = ["type", "$ref", "allOf", "anyOf", "oneOf", "not", "enum"]
        .iter()
        .any(|key| schema.contains_key(*key));
    if !typed_elsewhere {
        schema.insert("type".to_owned(), json!("string"));
    }
}

/// Media types whose content is text, so a string holding it stays a plain string.
fn is_textual(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || ["/json", "+json", "/xml", "+xml", "/yaml", "+yaml"]
            .iter()
            .any(|suffix| essence.ends_with(suffix))
        || essence == "application/x-www-form-urlencoded"
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::normalize;
    use crate::normalize::tests::{lower, lower_quiet, pointers};
    use serde_json::json;

    // ---- rewrite 3: const ----

    #[test]
    fn const_becomes_a_one_value_enum() {
        assert_eq!(
            lower_quiet(json!({ "type": "string", "const": "fixed" })),
            json!({ "type": "string", "enum": ["fixed"] })
        );
        assert_eq!(
            lower_quiet(json!({ "const": { "type": ["x", "null"] } })),
            json!({ "enum": [{ "type": ["x", "null"] }] })
        );
    }

    #[test]
    fn null_in_enum_sets_nullable() {
        assert_eq!(
            lower_quiet(json!({ "const": null })),
            json!({ "enum": [null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "string", "enum": ["a", null] })),
            json!({ "type": "string", "enum": ["a", null], "nullable": true })
        );
    }

    #[test]
    fn nullable_enum_without_type_gets_the_type_of_its_values() {
        assert_eq!(
            lower_quiet(json!({ "enum": ["a", null] })),
            json!({ "type": "string", "enum": ["a", null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "enum": [1, 2.5, null] })),
            json!({ "type": "number", "enum": [1, 2.5, null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "enum": ["a", 1, null] })),
            json!({ "enum": ["a", 1, null], "nullable": true })
        );
        // Only when null is listed; never next to a reference or combinator.
        assert_eq!(
            lower_quiet(json!({ "enum": ["a"] })),
            json!({ "enum": ["a"] })
        );
        assert_eq!(
            lower_quiet(
                json!({ "enum": ["a", null], "allOf": [{ "$ref": "#/components/schemas/E" }] })
            ),
            json!({ "enum": ["a", null], "nullable": true, "allOf": [{ "$ref": "#/components/schemas/E" }] })
        );
    }

    // ---- rewrite 4: examples ----

    #[test]
    fn schema_examples_array_becomes_example() {
        assert_eq!(
            lower_quiet(json!({ "type": "integer", "examples": [3, 4] })),
            json!({ "type": "integer", "example": 3 })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "integer", "example": 1, "examples": [3] })),
            json!({ "type": "integer", "example": 1 })
        );
        assert_eq!(lower_quiet(json!({ "examples": [] })), json!({}));
        // Not an array: not the JSON Schema keyword, left alone.
        assert_eq!(
            lower_quiet(json!({ "examples": { "a": 1 } })),
            json!({ "examples": { "a": 1 } })
        );
    }

    #[test]
    fn openapi_examples_maps_are_not_touched() {
        let examples = json!({ "one": { "value": { "type": ["string", "null"], "const": 1 } } });
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/p": { "get": {
                "parameters": [{ "name": "q", "in": "query", "schema": { "type": "string" }, "examples": examples.clone() }],
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "type": "string" }, "examples": examples.clone()
                } } } }
            } } },
            "components": { "examples": { "E": { "value": [1, 2] } } }
        });
        assert_eq!(normalize(&mut doc), []);
        let op = &doc["paths"]["/p"]["get"];
        assert_eq!(op["parameters"][0]["examples"], examples);
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["examples"],
            examples
        );
        assert_eq!(
            doc["components"]["examples"],
            json!({ "E": { "value": [1, 2] } })
        );
    }

    // ---- rewrite 5: exclusive bounds ----

    #[test]
    fn numeric_exclusive_bounds_become_boolean_ones() {
        assert_eq!(
            lower_quiet(
                json!({ "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5 })
            ),
            json!({
                "type": "number",
                "minimum": 0, "exclusiveMinimum": true,
                "maximum": 1.5, "exclusiveMaximum": true
            })
        );
    }

    #[test]
    fn the_tighter_of_inclusive_and_exclusive_bounds_is_kept() {
        assert_eq!(
            lower_quiet(
                json!({ "minimum": 5, "exclusiveMinimum": 0, "maximum": 5, "exclusiveMaximum": 9 })
            ),
            json!({ "minimum": 5, "maximum": 5 })
        );
        assert_eq!(
            lower_quiet(
                json!({ "minimum": 0, "exclusiveMinimum": 0, "maximum": 9, "exclusiveMaximum": 5 })
            ),
            json!({ "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true })
        );
    }

    #[test]
    fn boolean_exclusive_bounds_stay_unless_meaningless() {
        let schema = json!({ "minimum": 1, "exclusiveMinimum": true, "maximum": 2, "exclusiveMaximum": false });
        assert_eq!(lower_quiet(schema.clone()), schema);
        assert_eq!(
            lower_quiet(
                json!({ "type": "integer", "exclusiveMinimum": true, "exclusiveMaximum": false })
            ),
            json!({ "type": "integer" })
        );
    }

    // ---- rewrite 7: content keywords and dropped keywords ----

    #[test]
    fn content_encoding_and_media_type_become_formats() {
        assert_eq!(
            lower_quiet(json!({ "type": "string", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "byte" })
        );
        assert_eq!(
            lower_quiet(
                json!({ "type": "string", "contentMediaType": "application/octet-stream" })
            ),
            json!({ "type": "string", "format": "binary" })
        );
        assert_eq!(
            lower_quiet(json!({ "contentMediaType": "image/png", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "byte" })
        );
        assert_eq!(
            lower_quiet(json!({ "contentMediaType": "image/png" })),
            json!({ "type": "string", "format": "binary" })
        );
        assert_eq!(
            lower_quiet(
                json!({ "type": ["string", "null"], "contentMediaType": "application/pdf" })
            ),
            json!({ "type": "string", "format": "binary", "nullable": true })
        );
    }

    #[test]
    fn textual_or_foreign_content_keywords_are_just_dropped() {
        assert_eq!(
            lower_quiet(json!({
                "type": "string",
                "contentMediaType": "application/json; charset=utf-8",
                "contentSchema": { "type": "object" }
            })),
            json!({ "type": "string" })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "string", "format": "uuid", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "uuid" })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "object", "contentMediaType": "image/png" })),
            json!({ "type": "object" })
        );
    }

    #[test]
    fn json_schema_identifiers_are_dropped_silently() {
        assert_eq!(
            lower_quiet(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.com/s",
                "$anchor": "s",
                "$comment": "c",
                "type": "string"
            })),
            json!({ "type": "string" })
        );
    }

    #[test]
    fn array_form_items_is_removed_with_a_warning() {
        let (schema, warnings) = lower(json!({ "type": "array", "items": [{ "type": "string" }] }));
        assert_eq!(schema, json!({ "type": "array" }));
        assert_eq!(pointers(&warnings), ["/components/schemas/S/items"]);
        assert!(warnings[0].message.contains("removed"));
    }
}
