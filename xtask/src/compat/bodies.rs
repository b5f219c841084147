//! Repairs of what an operation sends: parameters progenitor cannot send and request
//! bodies of media types it cannot take.

use super::each_operation;
use crate::oas::{METHODS, escape};
use serde_json::{Map, Value, json};

/// Parameters progenitor cannot send, and their schemas:
/// - `in: cookie` (unsupported): removed;
/// - `style: deepObject` (unsupported): removed;
/// - a schema that is an `anyOf`/`oneOf` of scalars of one type (`uuid` or `string`):
///   that type (progenitor panics on a parameter of a generated struct type);
/// - `content` instead of `schema` (a JSON-encoded value; progenitor refuses it), or an
///   object schema (progenitor panics on an optional one): a string, which the caller
///   passes serialised.
///
/// One note per change.
pub fn sendable_parameters(doc: &mut Value) -> Vec<String> {
    let snapshot = doc.clone();
    fn fix(params: &mut Value, at: &str, snapshot: &Value, notes: &mut Vec<String>) {
        let Some(list) = params.as_array_mut() else {
            return;
        };
        let mut index = 0;
        list.retain_mut(|p| {
            let p_at = format!("{at}/parameters/{index}");
            index += 1;
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
            if p.get("in").and_then(Value::as_str) == Some("cookie") {
                notes.push(format!("{p_at}: cookie parameter {name} cannot be sent by the generated client; removed"));
                return false;
            }
            if p.get("style").and_then(Value::as_str) == Some("deepObject") {
                notes.push(format!("{p_at}: deepObject parameter {name} cannot be sent by the generated client; removed"));
                return false;
            }
            if let Some(p) = p.as_object_mut() {
                text_parameter(p, &p_at, snapshot, notes);
            }
            if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) {
                one_scalar_type(schema, &format!("{p_at}/schema"), notes);
            }
            true
        });
    }
    let mut notes = Vec::new();
    if let Some(params) = doc
        .pointer_mut("/components/parameters")
        .and_then(Value::as_object_mut)
    {
        for (name, p) in params.iter_mut() {
            if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) {
                one_scalar_type(
                    schema,
                    &format!("/components/parameters/{}/schema", escape(name)),
                    &mut notes,
                );
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return notes;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let at = format!("/paths/{}", escape(path));
        if let Some(params) = item.get_mut("parameters") {
            fix(params, &at, &snapshot, &mut notes);
        }
        for method in METHODS {
            if let Some(params) = item.get_mut(method).and_then(|op| op.get_mut("parameters")) {
                fix(params, &format!("{at}/{method}"), &snapshot, &mut notes);
            }
        }
    }
    notes
}

/// Whether `schema` (a `$ref` followed) describes an object, or may be one.
fn is_structured(doc: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| doc.pointer(p))
    {
        return is_structured(doc, target, depth + 1);
    }
    schema.get("type").and_then(Value::as_str) == Some("object")
        || schema.get("properties").is_some()
        || ["allOf", "anyOf", "oneOf"].iter().any(|k| {
            schema
                .get(*k)
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|b| is_structured(doc, b, depth + 1)))
        })
}

/// A parameter with `content`, or with an object schema: a string (see
/// [`sendable_parameters`]).
fn text_parameter(p: &mut Map<String, Value>, at: &str, doc: &Value, notes: &mut Vec<String>) {
    let description = "Serialised value (the document describes a structured value; pass it \
                       as its JSON or form text)."
        .to_owned();
    if let Some(content) = p.remove("content") {
        let media = content
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        p.insert(
            "schema".into(),
            json!({"type": "string", "description": description}),
        );
        notes.push(format!(
            "{at}/content: a {media} parameter value is not supported by the generator; taken as a string"
        ));
        return;
    }
    if p.get("in").and_then(Value::as_str) != Some("query") {
        return;
    }
    if p.get("schema").is_some_and(|s| is_structured(doc, s, 0)) {
        p.insert(
            "schema".into(),
            json!({"type": "string", "description": description}),
        );
        notes.push(format!(
            "{at}/schema: an object in a query parameter; taken as a string"
        ));
    }
}

/// `anyOf`/`oneOf` whose branches are all scalars of one type: that type.
fn one_scalar_type(schema: &mut Map<String, Value>, at: &str, notes: &mut Vec<String>) {
    for key in ["anyOf", "oneOf"] {
        let Some(branches) = schema.get(key).and_then(Value::as_array) else {
            continue;
        };
        let types: std::collections::BTreeSet<Option<&str>> = branches
            .iter()
            .map(|b| b.get("type").and_then(Value::as_str))
            .collect();
        let [Some(t)] = types.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        if !matches!(t, "string" | "integer" | "number" | "boolean") {
            continue;
        }
        let t = t.to_owned();
        schema.remove(key);
        schema.insert("type".into(), Value::String(t.clone()));
        notes.push(format!(
            "{at}/{key}: branches of one scalar type in a parameter; taken as a {t}"
        ));
    }
}

/// Request-body media types progenitor 0.15 generates.
const SUPPORTED_BODIES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/plain",
    "text/x-markdown",
];

/// How a request body of `media` is sent when progenitor cannot send it as declared:
/// JSON-like types as JSON, textual types as text, anything else as bytes. `None` when
/// progenitor supports it (or when another pass owns it: `multipart/form-data`).
fn body_stand_in(media: &str) -> Option<&'static str> {
    let m = media.trim().to_ascii_lowercase();
    if SUPPORTED_BODIES.contains(&m.as_str()) || m.starts_with("multipart/") {
        return None;
    }
    let base = m.split(';').next().unwrap_or("").trim();
    let json_like = base == "application/json"
        || base.ends_with("+json")
        || base.ends_with("-json")
        || base.ends_with("/json");
    let textual = base.starts_with("text/")
        || base.ends_with("+xml")
        || [
            "application/xml",
            "application/x-yaml",
            "application/yaml",
            "application/vnd.flux",
            "application/x-jsonnet",
            "application/sdp",
            "application/sql",
            "application/graphql",
            "application/javascript",
            "application/x-ndjson",
            "application/jsonl",
        ]
        .contains(&base);
    Some(if json_like {
        "application/json"
    } else if textual {
        "text/plain"
    } else {
        "application/octet-stream"
    })
}

/// The schema progenitor requires for a raw body: `{type: string}` for text,
/// `{type: string, format: binary}` for bytes (the description kept).
fn raw_body_schema(media: &str, old: Option<&Value>) -> Option<Value> {
    let format = match media {
        "application/octet-stream" => Some("binary"),
        "text/plain" | "text/x-markdown" => None,
        _ => return None,
    };
    let mut want = json!({"type": "string"});
    if let Some(f) = format {
        want["format"] = json!(f);
    }
    let described = old.and_then(|s| s.get("description")).cloned().map(|d| {
        let mut w = want.clone();
        w["description"] = d;
        w
    });
    let fits = old.is_some_and(|s| {
        s.get("type") == want.get("type")
            && s.get("format") == want.get("format")
            && s.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| matches!(k.as_str(), "type" | "format" | "description" | "title"))
            })
    });
    (!fits).then(|| described.unwrap_or(want))
}

/// Request bodies progenitor cannot generate as declared (run after `harden`, which leaves
/// one media type per body):
/// - a media type it does not support becomes a stand-in it does (see [`body_stand_in`]):
///   `(operationId, declared media type)` is returned for each, so that the runtime's
///   request hook puts the declared type back in `Content-Type`;
/// - a text or bytes body whose schema is not the plain string progenitor wants gets that
///   schema (Xero's `format: byte`, InfluxDB's line protocol with a `$ref`);
/// - `encoding` on a JSON or form body (progenitor panics) is removed.
///
/// Returns the table and one note per change.
pub fn request_body_media_types(doc: &mut Value) -> (Vec<(String, String)>, Vec<String>) {
    let bodies = doc.pointer("/components/requestBodies").cloned();
    let mut table = Vec::new();
    let mut notes = Vec::new();
    each_operation(doc, |path, method, op| {
        let op_id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(body) = op.get_mut("requestBody") else {
            return;
        };
        // A `$ref`'d body is copied in, so that this operation's change stays its own.
        if let Some(target) = body
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/requestBodies/"))
            .and_then(|name| bodies.as_ref()?.get(name))
        {
            let needs = target
                .get("content")
                .and_then(Value::as_object)
                .is_some_and(|c| {
                    c.iter().any(|(m, v)| {
                        body_stand_in(m).is_some()
                            || raw_body_schema(m, v.get("schema")).is_some()
                            || v.get("encoding").is_some()
                    })
                });
            if needs {
                *body = target.clone();
            }
        }
        let at = format!("/paths/{}/{method}/requestBody/content", escape(path));
        let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
            return;
        };
        let declared: Vec<String> = content.keys().cloned().collect();
        for media in declared {
            let Some(mut entry) = content.remove(&media) else {
                continue;
            };
            let mut key = media.clone();
            if let Some(stand_in) = body_stand_in(&media) {
                notes.push(format!(
                    "{at}/{}: not a body type the generator supports; sent as {stand_in}, with Content-Type: {media}",
                    escape(&media)
                ));
                table.push((op_id.clone(), media.clone()));
                key = stand_in.to_owned();
            }
            if let Some(entry) = entry.as_object_mut() {
                if let Some(schema) = raw_body_schema(&key, entry.get("schema")) {
                    notes.push(format!(
                        "{at}/{}/schema: a {key} body is sent as {}; schema replaced",
                        escape(&media),
                        if key == "application/octet-stream" {
                            "bytes"
                        } else {
                            "text"
                        }
                    ));
                    entry.insert("schema".into(), schema);
                }
                if entry.remove("encoding").is_some() {
                    notes.push(format!(
                        "{at}/{}/encoding: not supported by the generator; removed",
                        escape(&media)
                    ));
                }
            }
            content.insert(key, entry);
        }
    });
    table.sort();
    (table, notes)
}
