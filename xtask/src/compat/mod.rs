//! Generic fixes applied to every spec after 3.1 → 3.0 lowering, so that the generated
//! client copes with real servers. Each is listed in `specs/README.md`.
//!
//! - [`unify_error_responses`]: every 4xx/5xx response (declared or not) decodes into one
//!   permissive `ApiError` schema. Progenitor asserts one error type per operation and drops
//!   the body of errors declared without content; real servers send `{error, message}`,
//!   `{detail, status}`, FastAPI validation lists, HTML and empty bodies.
//! - [`tolerate_unknown_fields`]: `additionalProperties: false` is dropped, because a server
//!   adding a field must not break deployed clients (typify would emit
//!   `deny_unknown_fields`).
//! - [`json_query_params`]: query parameters marked `x-sdk-query-encoding: json` (set by an
//!   overlay) are collected so that the runtime hook can send them as one JSON value.

use crate::oas::METHODS;
use serde_json::{Map, Value, json};

/// Name of the permissive error schema added to `components.schemas`.
pub const ERROR_SCHEMA: &str = "ApiError";

fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| {
            item.iter_mut()
                .filter(|(k, _)| METHODS.contains(&k.as_str()))
                .filter_map(|(_, op)| op.as_object_mut())
        })
}

fn is_error_status(code: &str) -> bool {
    matches!(code.as_bytes().first(), Some(b'4' | b'5'))
}

/// Replaces every 4xx/5xx response and `default` by two catch-alls, `4XX` and `5XX`, both
/// decoding into one permissive error schema, so that undeclared error statuses decode too
/// and `default` is not taken for a second success type. The declared descriptions are
/// kept, joined, in the catch-alls.
pub fn unify_error_responses(doc: &mut Value) {
    let components_responses = doc
        .pointer("/components/responses")
        .cloned()
        .unwrap_or(Value::Null);
    let error_ref = json!({ "$ref": format!("#/components/schemas/{ERROR_SCHEMA}") });
    let error_content = json!({ "application/json": { "schema": error_ref } });

    for op in operations_mut(doc) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let default_description = responses.remove("default").and_then(|d| {
            d.get("description")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        // Collapse every 4xx/5xx into `4XX`/`5XX`: they all decode into the same type, and
        // progenitor matches ranges before codes (the codes would be unreachable arms).
        let mut described: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let codes: Vec<String> = responses
            .keys()
            .filter(|c| is_error_status(c))
            .cloned()
            .collect();
        for code in codes {
            let Some(response) = responses.remove(&code) else {
                continue;
            };
            // Resolve a `$ref` to components.responses so the description survives.
            let resolved = match response.get("$ref").and_then(Value::as_str) {
                Some(r) => r
                    .strip_prefix("#/components/responses/")
                    .and_then(|name| components_responses.get(name))
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                None => response,
            };
            let description = resolved
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_owned();
            let slot = usize::from(code.starts_with('5'));
            described[slot].push(format!("{code}: {description}"));
        }
        for (slot, range) in ["4XX", "5XX"].into_iter().enumerate() {
            let description = if described[slot].is_empty() {
                default_description
                    .clone()
                    .unwrap_or_else(|| format!("Any {range} error"))
            } else {
                described[slot].join("\n\n")
            };
            responses.insert(
                range.into(),
                json!({ "description": description, "content": error_content }),
            );
        }
    }

    let schema = json!({
        "type": "object",
        "description": "An error body as servers actually send it. Every field is optional and \
            loosely typed: APIs answer `{error, message}`, `{detail, status}`, FastAPI \
            validation lists in `detail`, or a non-JSON body, which the client wraps as \
            `{\"message\": <text>}`. Use `ApiError::text()` for the human-readable part. \
            Any other field is kept in `extra` (e.g. the `remaining_job_ids` of a timeout).",
        "additionalProperties": {},
        "properties": {
            "error": { "description": "Error code or short error text, when the server sends one." },
            "message": { "description": "Detailed error description, or the raw body of a non-JSON error response." },
            "detail": { "description": "Error detail: a string, or (FastAPI) a list of validation errors." },
            "status": { "description": "The HTTP status as the server repeated it in the body." }
        }
    });
    if let Some(root) = doc.as_object_mut() {
        let components = root
            .entry("components")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(components) = components {
            let schemas = components.entry("schemas").or_insert_with(|| json!({}));
            if let Some(schemas) = schemas.as_object_mut() {
                schemas.insert(ERROR_SCHEMA.into(), schema);
            }
        }
    }
}

const OPAQUE_KEYS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// Removes `additionalProperties: false` everywhere outside example values and vendor
/// extensions. Returns how many were removed.
pub fn tolerate_unknown_fields(doc: &mut Value) -> usize {
    fn walk(v: &mut Value) -> usize {
        match v {
            Value::Object(map) => {
                let mut n = 0;
                if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                    map.remove("additionalProperties");
                    n += 1;
                }
                for (k, child) in map.iter_mut() {
                    if OPAQUE_KEYS.contains(&k.as_str()) || k.starts_with("x-") {
                        continue;
                    }
                    n += walk(child);
                }
                n
            }
            Value::Array(items) => items.iter_mut().map(walk).sum(),
            _ => 0,
        }
    }
    walk(doc)
}

/// Gives every operation without an `operationId` one made of its method and path
/// (`get /v1/jobs/{id}` → `get_v1_jobs_id`), since progenitor names methods after it.
/// Returns one note per operation named.
pub fn ensure_operation_ids(doc: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return notes;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let has_id = op
                .get("operationId")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty());
            if has_id {
                continue;
            }
            let mut id = String::from(method);
            for c in path.chars() {
                if c.is_ascii_alphanumeric() {
                    id.push(c.to_ascii_lowercase());
                } else if !id.ends_with('_') {
                    id.push('_');
                }
            }
            let id = id.trim_end_matches('_').to_owned();
            notes.push(format!(
                "{} {path} has no operationId; named it `{id}`",
                method.to_uppercase()
            ));
            op.insert("operationId".into(), Value::String(id));
        }
    }
    notes
}

/// Extension on an operation: its request timeout in seconds, overriding the client's
/// (for long polls that the server holds open longer than an ordinary request).
pub const TIMEOUT_EXTENSION: &str = "x-sdk-timeout-seconds";

/// Returns `(operationId, seconds)` for every operation with `x-sdk-timeout-seconds`.
pub fn request_timeouts(doc: &Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for item in paths.values() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            if let (Some(id), Some(secs)) = (
                op.get("operationId").and_then(Value::as_str),
                op.get(TIMEOUT_EXTENSION).and_then(Value::as_u64),
            ) {
                out.push((id.to_owned(), secs));
            }
        }
    }
    out.sort();
    out
}

/// Extension that marks a query parameter to be sent as one JSON-encoded value.
pub const JSON_QUERY_EXTENSION: &str = "x-sdk-query-encoding";

/// Returns `(operationId, parameter name, required)` for every query parameter marked
/// `x-sdk-query-encoding: json`, sorted.
pub fn json_query_params(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for item in paths.values() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let op_id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for p in params {
                let marked = p.get(JSON_QUERY_EXTENSION).and_then(Value::as_str) == Some("json");
                let in_query = p.get("in").and_then(Value::as_str) == Some("query");
                if let (true, true, Some(name)) =
                    (marked, in_query, p.get("name").and_then(Value::as_str))
                {
                    let required = p.get("required").and_then(Value::as_bool) == Some(true);
                    out.push((op_id.to_owned(), name.to_owned(), required));
                }
            }
        }
    }
    out.sort();
    out
}

/// The repairs that run before the 3.1 lowering: [`two_part_version`],
/// [`crate::conform::local_refs`]. One note per change.
pub fn before_lowering(doc: &mut Value) -> Vec<String> {
    let mut notes = two_part_version(doc);
    notes.extend(crate::conform::local_refs(doc));
    notes
}

/// The operation repairs that run after operationIds are ensured: [`unique_operation_ids`],
/// [`path_parameters`], [`path_parameter_names`], [`colliding_parameters`],
/// [`sendable_parameters`], [`one_success_type`].
pub fn repair_operations(doc: &mut Value) -> Vec<String> {
    let mut notes = unique_operation_ids(doc);
    notes.extend(path_parameters(doc));
    notes.extend(path_parameter_names(doc));
    notes.extend(colliding_parameters(doc));
    notes.extend(sendable_parameters(doc));
    notes.extend(one_success_type(doc));
    notes
}

/// The repairs that run after [`crate::harden`]: [`crate::conform::values`] and
/// [`request_body_media_types`] (whose table is returned with the notes).
pub fn after_harden(doc: &mut Value) -> (Vec<(String, String)>, Vec<String>) {
    let mut notes = crate::conform::values(doc);
    notes.extend(crate::conform::shadowing_titles(doc));
    let (table, body_notes) = request_body_media_types(doc);
    notes.extend(body_notes);
    (table, notes)
}

/// `(path, method, operation)` of every operation, paths in the order the document is
/// held in (sorted), methods in [`METHODS`] order.
fn each_operation(doc: &mut Value, mut f: impl FnMut(&str, &str, &mut Map<String, Value>)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                f(path, method, op);
            }
        }
    }
}

mod bodies;
mod operations;
pub use bodies::*;
pub use operations::*;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
