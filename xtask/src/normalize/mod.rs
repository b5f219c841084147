//! Lowers an OpenAPI 3.1 document to OpenAPI 3.0.3, in place, on a [`serde_json::Value`].
//!
//! # Why
//!
//! Progenitor 0.15 reads specs through the `openapiv3` crate, which only models OpenAPI
//! 3.0.x. A 3.1 document either fails to parse there (type arrays, numeric
//! `exclusiveMinimum`, boolean schemas, `mutualTLS` schemes) or parses into something
//! progenitor panics on (`type: "null"` and unknown type names hit a `todo!`, so does a
//! boolean `exclusiveMinimum` without `minimum`). FastAPI/pydantic, utoipa and many
//! hand-written specs are 3.1, so every spec goes through [`normalize`] before generation.
//!
//! The rewrites are general (nothing is specific to one spec), never panic on odd input,
//! are idempotent, and are harmless on a document that already is 3.0.x. What cannot be
//! lowered is reported as a [`Warning`] (in document order) and, unless stated otherwise
//! in the warning, left in place: the `openapiv3` parser ignores keys it does not know.
//!
//! # Document-level rewrites
//!
//! - `openapi: 3.1.x` becomes `3.0.3`; a missing `paths` (optional in 3.1) becomes `{}`.
//! - `webhooks`, `jsonSchemaDialect`, `info.summary` and `info.license.identifier` are
//!   dropped without a warning: none of them can change a generated client.
//! - `components.pathItems` is dropped after every `$ref` to it from a path item (in
//!   `paths` or in callbacks) was inlined; a `$ref` that cannot be resolved is a warning.
//! - `mutualTLS` security schemes are removed with a warning (3.0 has no such type and the
//!   3.0 parser rejects the whole document on it).
//! - A Reference Object outside schemas (parameters, responses, request bodies, headers,
//!   callbacks) keeps only its `$ref`: 3.1 allows `summary`/`description` next to it.
//!
//! # Schema rewrites
//!
//! 1. `type: [T, "null"]` → `type: T, nullable: true`; `type: [T]` → `type: T`;
//!    `type: ["null"]` and `type: "null"` → `nullable: true, enum: [null]`; several
//!    non-null types → `anyOf` with one branch per type, moving the keywords that
//!    obviously belong to one type (`items`, `properties`, `minLength`, `format: date`,
//!    `minimum` when only one numeric type is listed, enum values…) into its branch.
//!    Unknown type names are removed with a warning (progenitor panics on them); the
//!    Swagger 2 `type: file` becomes `type: string, format: binary`.
//! 2. `anyOf`/`oneOf` with a null member (`{type: "null"}`, `{type: ["null"]}`,
//!    `{enum: [null]}`, `{const: null}`, or anything that lowers to one of those): the
//!    member is removed and `nullable: true` set; a single remaining member is merged
//!    into the parent (a `$ref` ends up as `allOf: [{$ref}]`, see 6), or appended to
//!    `allOf` if its keywords clash with the parent's; the parent's annotations (`title`,
//!    `description`, `default`…) win. An `enum` of the merged member gets `null` added.
//! 3. `const: V` → `enum: [V]`. An `enum` holding `null` gets `nullable: true` and, when
//!    the schema has no `type`, the type shared by its other values (progenitor reads an
//!    untyped nullable enum as "only null").
//! 4. `examples: [..]` → `example: <first>` (only in schemas, only when an array).
//! 5. Numeric `exclusiveMinimum: N` → `minimum: N, exclusiveMinimum: true` (keeping a
//!    tighter `minimum` if there is one); same for the maximum. A boolean exclusive bound
//!    without its `minimum`/`maximum` means nothing in 3.0 and is dropped.
//! 6. `$ref` with sibling keywords → `allOf: [{$ref}]` plus the siblings.
//! 7. `contentEncoding: base64` → `format: byte`; a non-textual `contentMediaType` →
//!    `format: binary`; the keywords and `contentSchema` are dropped. `$schema`, `$id`,
//!    `$anchor` and `$comment` are dropped silently.
//! 8. Boolean schemas: `true` → `{}`, `false` → `{not: {}}`, except where 3.0 already
//!    allows a boolean (`additionalProperties`).
//! 9. The array form of `items` (older drafts; invalid in 3.0 and 3.1) is removed with a
//!    warning, since the 3.0 parser would reject the document.
//!
//! Left in place with a warning: `prefixItems`, `$defs`, `if`/`then`/`else`,
//! `patternProperties`, `unevaluatedProperties`, `unevaluatedItems`, `dependentSchemas`,
//! `dependentRequired`, `propertyNames`, `contains`/`minContains`/`maxContains`,
//! `$dynamicRef`/`$dynamicAnchor`. Their subschemas are still lowered.
//!
//! # Where schemas are looked for
//!
//! Only in real schema positions: `components.schemas`, the `schema` of parameters,
//! headers and media types (reached through paths, operations, callbacks and the
//! `components` maps), and the subschema keywords of a schema. Nothing inside `example`,
//! `examples`, `default`, `enum`, `const` or a vendor extension (`x-…` key of an object
//! that allows extensions) is ever rewritten. Keys of name maps (`properties`, header
//! names, media types, component names) are names, not extensions, so a property called
//! `x-id` is lowered like any other.
//!
//! # Files
//!
//! - [`document`]: the document-level rewrites, and the walk of the non-schema objects
//!   (paths, operations, parameters, bodies, responses, callbacks) down to their schemas;
//! - [`schema`]: one schema — boolean schemas (8), the order of the rewrites, the walk into
//!   subschemas;
//! - [`types`]: `type` arrays, `null` and unknown types (1);
//! - [`composition`]: null members of `anyOf`/`oneOf` (2), `$ref` siblings (6);
//! - [`keywords`]: `const` and nullable enums (3), `examples` (4), exclusive bounds (5),
//!   content keywords and dropped keywords (7), array-form `items` (9);
//! - [`warnings`]: [`Warning`] and the keywords left in place with one.
//!
//! # Why not [`crate::visit`]
//!
//! The other passes over schemas walk the document with [`crate::visit::schemas`]. This
//! one keeps its own walker because it has to do what that visitor does not, and moving it
//! would change its output: it replaces boolean schemas (`true` → `{}`), which are not
//! objects and so are never visited; it descends into `if`/`then`/`else`, which the
//! visitor does not; it inlines `$ref`s to `components.pathItems` *while* walking (the
//! inlined item is then walked) and drops the section; it reduces Reference Objects
//! outside schemas to their `$ref` and leaves their siblings unvisited; it skips vendor
//! extensions among path items, responses and callbacks (`paths: {x-foo: ...}` is not a
//! path item); it reports wrong shapes (a list of parameters that is not a list…) with
//! the pointer where they are; and it stops at [`MAX_DEPTH`] with a warning instead of
//! overflowing the stack. Its warnings come out in document order, which the visitor's
//! fixed section order (components first) would change.

mod composition;
mod document;
mod keywords;
mod schema;
mod types;
mod warnings;

pub(crate) use warnings::Warning;

use crate::oas::escape;
use serde_json::{Map, Value};

/// Lowers `doc` from OpenAPI 3.1 to 3.0.3 in place. A 3.0.x document is left as is except
/// that the same schema rewrites are harmless on it. Returns warnings in document order
/// (deterministic: same input, same output, same warnings).
pub(crate) fn normalize(doc: &mut Value) -> Vec<Warning> {
    let mut lowerer = Lowerer::default();
    lowerer.document(doc);
    lowerer.warnings
}

/// Deeper nesting (schemas or callbacks) is reported and not lowered, so that hostile
/// input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

#[derive(Default)]
struct Lowerer {
    warnings: Vec<Warning>,
    /// `components.pathItems`, removed from the document, kept to inline `$ref`s to it.
    path_items: Map<String, Value>,
    depth: usize,
}

/// A walker of one kind of non-schema object, e.g. [`Lowerer::parameter`].
type Walk = fn(&mut Lowerer, &mut Value, &str);

impl Lowerer {
    fn warn(&mut self, pointer: &str, message: String) {
        self.warnings.push(Warning {
            pointer: pointer.to_owned(),
            message,
        });
    }

    /// Runs `f` one level deeper, unless that is too deep.
    fn nested(&mut self, ptr: &str, f: impl FnOnce(&mut Self)) {
        if self.depth >= MAX_DEPTH {
            self.warn(
                ptr,
                format!("nested more than {MAX_DEPTH} levels deep; not lowered further"),
            );
            return;
        }
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    /// The object in `value`, or a warning that `what` should have been one.
    fn object<'v>(
        &mut self,
        value: &'v mut Value,
        ptr: &str,
        what: &str,
    ) -> Option<&'v mut Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                let found = kind(other);
                self.warn(
                    ptr,
                    format!("expected {what} (an object), found {found}; left in place"),
                );
                None
            }
        }
    }

    /// Walks every entry of the map in `value` with `walk` (skipping vendor extensions if
    /// `skip_extensions`, for objects whose other keys are patterned fields).
    fn entries(
        &mut self,
        value: &mut Value,
        ptr: &str,
        what: &str,
        skip_extensions: bool,
        walk: Walk,
    ) {
        let Some(map) = self.object(value, ptr, what) else {
            return;
        };
        for (key, entry) in map.iter_mut() {
            if !(skip_extensions && is_extension(key)) {
                walk(self, entry, &child(ptr, key));
            }
        }
    }
}

// ---- helpers ----------------------------------------------------------------------------

fn keys(map: &Map<String, Value>) -> Vec<String> {
    map.keys().cloned().collect()
}

fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", escape(token))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Wraps a schema in a minimal 3.1 document as `components.schemas.S`.
    pub(super) fn doc_with_schema(schema: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {},
            "components": { "schemas": { "S": schema } }
        })
    }

    /// Lowers `schema` as `components.schemas.S`; returns it and the warnings.
    pub(super) fn lower(schema: Value) -> (Value, Vec<Warning>) {
        let mut doc = doc_with_schema(schema);
        let warnings = normalize(&mut doc);
        let schema = doc.pointer("/components/schemas/S").cloned().unwrap();
        (schema, warnings)
    }

    pub(super) fn lower_quiet(schema: Value) -> Value {
        let (schema, warnings) = lower(schema);
        assert_eq!(warnings, [], "unexpected warnings");
        schema
    }

    pub(super) fn pointers(warnings: &[Warning]) -> Vec<&str> {
        warnings.iter().map(|w| w.pointer.as_str()).collect()
    }

    // ---- real-world shapes ----

    #[test]
    fn fastapi_style_document() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": { "title": "FastAPI", "version": "0.1.0" },
            "paths": { "/jobs/{job_id}": { "get": {
                "operationId": "get_job",
                "parameters": [{
                    "name": "job_id", "in": "path", "required": true,
                    "schema": { "type": "string", "format": "uuid", "title": "Job Id" }
                }, {
                    "name": "since", "in": "query", "required": false,
                    "schema": { "anyOf": [{ "type": "string", "format": "date-time" }, { "type": "null" }], "title": "Since" }
                }],
                "responses": {
                    "200": { "description": "Successful Response", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Job" }
                    } } },
                    "422": { "description": "Validation Error", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/HTTPValidationError" }
                    } } }
                }
            } } },
            "components": { "schemas": {
                "Job": {
                    "properties": {
                        "progress": { "anyOf": [{ "type": "integer" }, { "type": "null" }], "title": "Progress" },
                        "owner": { "anyOf": [{ "$ref": "#/components/schemas/User" }, { "type": "null" }] },
                        "tags": { "items": { "type": "string" }, "type": "array", "title": "Tags", "default": [] },
                        "kind": { "type": "string", "const": "job", "title": "Kind" }
                    },
                    "type": "object",
                    "required": ["progress"],
                    "title": "Job"
                },
                "User": { "properties": { "name": { "type": "string" } }, "type": "object" },
                "HTTPValidationError": {
                    "properties": { "detail": {
                        "items": { "$ref": "#/components/schemas/ValidationError" },
                        "type": "array", "title": "Detail"
                    } },
                    "type": "object"
                },
                "ValidationError": {
                    "properties": { "loc": {
                        "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
                        "type": "array"
                    } },
                    "type": "object"
                }
            } }
        });
        assert_eq!(normalize(&mut doc), []);
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(
            doc["paths"]["/jobs/{job_id}"]["get"]["parameters"][1]["schema"],
            json!({ "type": "string", "format": "date-time", "nullable": true, "title": "Since" })
        );
        let job = &doc["components"]["schemas"]["Job"]["properties"];
        assert_eq!(
            job["progress"],
            json!({ "type": "integer", "nullable": true, "title": "Progress" })
        );
        assert_eq!(
            job["owner"],
            json!({ "allOf": [{ "$ref": "#/components/schemas/User" }], "nullable": true })
        );
        assert_eq!(
            job["kind"],
            json!({ "type": "string", "enum": ["job"], "title": "Kind" })
        );
        assert_eq!(
            job["tags"],
            json!({ "items": { "type": "string" }, "type": "array", "title": "Tags", "default": [] })
        );
        assert_eq!(
            doc["components"]["schemas"]["ValidationError"]["properties"]["loc"]["items"],
            json!({ "anyOf": [{ "type": "string" }, { "type": "integer" }] })
        );
    }

    #[test]
    fn deep_nesting_is_lowered_recursively() {
        let (schema, warnings) = lower(json!({
            "type": "object",
            "properties": { "rows": {
                "type": "array",
                "items": { "type": "object", "properties": { "cell": {
                    "anyOf": [
                        { "type": "array", "items": { "type": ["number", "null"], "exclusiveMinimum": 0 } },
                        { "type": "null" }
                    ]
                } } }
            } }
        }));
        assert_eq!(warnings, []);
        assert_eq!(
            schema.pointer("/properties/rows/items/properties/cell"),
            Some(&json!({
                "type": "array",
                "nullable": true,
                "items": { "type": "number", "nullable": true, "minimum": 0, "exclusiveMinimum": true }
            }))
        );
    }

    // ---- properties of the whole pass ----

    fn sample_31() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1", "summary": "s" },
            "webhooks": {},
            "paths": { "/p": { "post": {
                "requestBody": { "content": { "application/json": { "schema": {
                    "type": ["object", "null"],
                    "properties": {
                        "a": { "anyOf": [{ "$ref": "#/components/schemas/A" }, { "type": "null" }] },
                        "b": { "type": ["string", "integer"], "examples": ["x"] },
                        "c": { "prefixItems": [{ "const": 1 }] }
                    }
                } } } },
                "responses": { "204": { "description": "none" } }
            } } },
            "components": {
                "securitySchemes": { "m": { "type": "mutualTLS" } },
                "schemas": {
                    "A": { "$defs": {}, "type": "object", "if": { "required": ["x"] }, "then": {} },
                    "B": { "exclusiveMaximum": 10, "contentEncoding": "base64", "type": "string" }
                }
            }
        })
    }

    #[test]
    fn normalizing_twice_equals_normalizing_once() {
        let mut once = sample_31();
        let first = normalize(&mut once);
        let mut twice = once.clone();
        let second = normalize(&mut twice);
        assert_eq!(twice, once);
        // The second pass reports exactly what was left in place, nothing else.
        let left_in_place: Vec<Warning> = first
            .iter()
            .filter(|w| w.message.contains("left in place"))
            .cloned()
            .collect();
        assert_eq!(second, left_in_place);
        assert_eq!(first.len(), left_in_place.len() + 1, "{first:#?}");
    }

    #[test]
    fn already_30_documents_keep_their_warnings_and_content() {
        let mut doc = json!({
            "openapi": "3.0.3",
            "paths": { "/p": { "get": { "responses": { "200": {
                "description": "ok",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "nullable": true,
                    "properties": {
                        "n": { "type": "integer", "minimum": 0, "exclusiveMinimum": true, "example": 1 },
                        "r": { "allOf": [{ "$ref": "#/components/schemas/R" }], "nullable": true },
                        "u": { "anyOf": [{ "type": "string" }, { "type": "integer" }] }
                    },
                    "patternProperties": { "^x": {} }
                } } }
            } } } } },
            "components": { "schemas": { "R": { "type": "string", "enum": ["a", null], "nullable": true } } }
        });
        let original = doc.clone();
        let first = normalize(&mut doc);
        assert_eq!(doc, original);
        let second = normalize(&mut doc);
        assert_eq!(doc, original);
        assert_eq!(first, second);
        assert_eq!(
            pointers(&first),
            ["/paths/~1p/get/responses/200/content/application~1json/schema/patternProperties"]
        );
    }

    #[test]
    fn warnings_are_deterministic_and_in_document_order() {
        let runs: Vec<Vec<Warning>> = (0..3).map(|_| normalize(&mut sample_31())).collect();
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[1], runs[2]);
        let mut doc = json!({
            "openapi": "3.1.0",
            "components": { "schemas": {
                "A": { "$defs": {}, "contains": {}, "properties": { "p": { "if": {}, "prefixItems": [] } } },
                "B": { "dependentRequired": {} }
            } },
            "paths": { "/z": { "get": { "parameters": [{ "name": "q", "in": "query", "schema": { "propertyNames": {} } }] } } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(
            pointers(&warnings),
            [
                "/components/schemas/A/$defs",
                "/components/schemas/A/contains",
                "/components/schemas/A/properties/p/if",
                "/components/schemas/A/properties/p/prefixItems",
                "/components/schemas/B/dependentRequired",
                "/paths/~1z/get/parameters/0/schema/propertyNames",
            ]
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let odd_documents = [
            json!(null),
            json!([]),
            json!("openapi"),
            json!({ "openapi": 3.1, "paths": [] }),
            json!({ "openapi": "3.1.0", "paths": { "/p": [] } }),
            json!({ "openapi": "3.1.0", "paths": { "/p": { "get": [], "parameters": {} } } }),
            json!({ "openapi": "3.1.0", "paths": { "/p": { "get": {
                "parameters": [5, { "schema": "s" }, { "content": [] }],
                "requestBody": { "content": { "a/b": { "schema": null, "encoding": [] } } },
                "responses": 5,
                "callbacks": { "c": { "e": 5 } }
            } } } }),
            json!({ "openapi": "3.1.0", "info": 5, "components": 3 }),
            json!({ "openapi": "3.1.0", "components": {
                "schemas": [], "parameters": 1, "responses": { "R": [] }, "securitySchemes": [],
                "pathItems": 5, "headers": { "H": { "content": 1 } }
            } }),
            json!({ "openapi": "3.1.0", "components": { "pathItems": { "A": 5 } }, "paths": {
                "/a": { "$ref": "#/components/pathItems/A" }, "/b": { "$ref": 5 }
            } }),
            doc_with_schema(json!({
                "type": 5,
                "anyOf": "x",
                "oneOf": [5, { "type": "null" }],
                "allOf": { "a": 1 },
                "properties": [],
                "items": "i",
                "not": null,
                "enum": "e",
                "const": [],
                "examples": [],
                "exclusiveMinimum": "0",
                "exclusiveMaximum": null,
                "minimum": "x",
                "contentEncoding": 5,
                "contentMediaType": [],
                "additionalProperties": 5,
                "$ref": 7,
                "$defs": 5
            })),
            doc_with_schema(json!({ "anyOf": [{ "type": "null" }, 5], "allOf": 5 })),
            doc_with_schema(
                json!({ "type": ["integer", "number", "string"], "enum": [1.5, "a", 2] }),
            ),
            doc_with_schema(json!({ "minimum": 1e308, "exclusiveMinimum": -1e308 })),
        ];
        for mut doc in odd_documents {
            let input = doc.clone();
            let first = normalize(&mut doc);
            let mut again = doc.clone();
            let second = normalize(&mut again);
            assert_eq!(again, doc, "not idempotent on {input}");
            assert!(second.len() <= first.len() + 1, "{input}");
        }
    }

    #[test]
    fn wrong_shapes_are_reported_where_they_are() {
        let (_, warnings) = lower(json!({ "anyOf": "x", "properties": { "p": 5 } }));
        assert_eq!(
            pointers(&warnings),
            [
                "/components/schemas/S/anyOf",
                "/components/schemas/S/properties/p"
            ]
        );
        let mut doc = json!({ "openapi": "3.1.0", "paths": [] });
        let warnings = normalize(&mut doc);
        assert_eq!(pointers(&warnings), ["/paths"]);
        assert_eq!(doc["paths"], json!([]));
        let warnings = normalize(&mut json!(null));
        assert_eq!(pointers(&warnings), [""]);
    }

    #[test]
    fn very_deep_nesting_stops_with_a_warning() {
        let mut schema = json!({ "type": ["string", "null"] });
        for _ in 0..(MAX_DEPTH + 10) {
            schema = json!({ "type": "array", "items": schema });
        }
        let (lowered, warnings) = lower(schema);
        assert_eq!(warnings.len(), 1);
        let too_deep = "/items".repeat(MAX_DEPTH);
        assert_eq!(
            warnings[0].pointer,
            format!("/components/schemas/S{too_deep}")
        );
        assert!(warnings[0].message.contains("not lowered further"));
        let innermost = "/items".repeat(MAX_DEPTH + 10);
        assert_eq!(
            lowered.pointer(&innermost),
            Some(&json!({ "type": ["string", "null"] }))
        );
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/a~b/{id}": { "get": { "responses": { "200": {
                "description": "ok",
                "content": { "application/json": { "schema": { "prefixItems": [] } } }
            } } } } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(
            pointers(&warnings),
            ["/paths/~1a~0b~1{id}/get/responses/200/content/application~1json/schema/prefixItems"]
        );
    }

    #[test]
    fn warning_display_is_pointer_colon_message() {
        let warning = Warning {
            pointer: "/a/b".to_owned(),
            message: "m".to_owned(),
        };
        assert_eq!(warning.to_string(), "/a/b: m");
    }
}
