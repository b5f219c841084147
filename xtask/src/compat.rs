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

use crate::oas::{METHODS, escape};
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

/// `openapi: "3.0"` / `"3.1"` (a two-part version, which progenitor refuses: it wants
/// `3.0.x`): read as `3.0.3` / `3.1.0`. Returns one note when the version was rewritten.
pub fn two_part_version(doc: &mut Value) -> Vec<String> {
    let Some(root) = doc.as_object_mut() else {
        return Vec::new();
    };
    let full = match root.get("openapi").and_then(Value::as_str).map(str::trim) {
        Some("3.0") => "3.0.3",
        Some("3.1") => "3.1.0",
        _ => return Vec::new(),
    };
    let was = root.insert("openapi".into(), json!(full));
    vec![format!(
        "/openapi: two-part version {}; read as {full}",
        was.unwrap_or_default()
    )]
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

/// Makes operationIds unique (progenitor refuses a document with a duplicate): the first
/// operation with an id keeps it; each later one, in path order then method order, becomes
/// `{id}_{method}`, then `{id}_{method}_2`, `_3`... while that is taken too. One note per
/// renamed operation.
pub fn unique_operation_ids(doc: &mut Value) -> Vec<String> {
    let mut taken = std::collections::BTreeSet::new();
    each_operation(doc, |_, _, op| {
        if let Some(id) = op.get("operationId").and_then(Value::as_str) {
            taken.insert(id.to_owned());
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    let mut notes = Vec::new();
    each_operation(doc, |path, method, op| {
        let Some(id) = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        if seen.insert(id.clone()) {
            return;
        }
        let base = format!("{id}_{method}");
        let mut new = base.clone();
        let mut n = 2;
        while taken.contains(&new) {
            new = format!("{base}_{n}");
            n += 1;
        }
        taken.insert(new.clone());
        seen.insert(new.clone());
        notes.push(format!(
            "/paths/{}/{method}/operationId: {id} is used by an earlier operation; renamed {new}",
            escape(path)
        ));
        op.insert("operationId".into(), Value::String(new));
    });
    notes
}

/// The `{name}`s of a path template, in order.
fn template_names(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 1..start + len].to_owned());
        rest = &rest[start + len + 1..];
    }
    out
}

/// A parameter, through a `$ref` to `components/parameters` when it is one.
fn resolve_parameter<'a>(doc: &'a Value, p: &'a Value) -> &'a Value {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or(p),
        None => p,
    }
}

/// Path parameters the template names but neither the path item nor the operation declares
/// (progenitor panics): added to the operation as `{name, in: path, required: true,
/// schema: {type: string}}`. Declared path parameters are made `required` (progenitor
/// wants them so, and a path cannot lack one). One note per change.
pub fn path_parameters(doc: &mut Value) -> Vec<String> {
    let snapshot = doc.clone();
    let mut notes = Vec::new();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return notes;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let names = template_names(path);
        let declared_in = |params: Option<&Value>| -> Vec<String> {
            params
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| resolve_parameter(&snapshot, p))
                .filter(|p| p.get("in").and_then(Value::as_str) == Some("path"))
                .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        };
        let shared = declared_in(item.get("parameters"));
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let own = declared_in(op.get("parameters"));
            let at = format!("/paths/{}/{method}/parameters", escape(path));
            for name in &names {
                if shared.contains(name) || own.contains(name) {
                    continue;
                }
                let params = op.entry("parameters").or_insert_with(|| json!([]));
                if let Some(params) = params.as_array_mut() {
                    params.push(json!({"name": name, "in": "path", "required": true,
                                       "schema": {"type": "string"}}));
                    notes.push(format!(
                        "{at}: path parameter {name} is in the template but not declared; added as a required string"
                    ));
                }
            }
        }
    }
    notes
}

/// The Rust name progenitor gives a parameter: words in snake case.
fn rust_name(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_owned()
}

/// Path parameters whose names are not identifiers (Temporal's `{execution.workflow_id}`)
/// and whose Rust name another parameter of the same operation has too (its query
/// parameter `execution.workflowId`; the generated code binds the name twice): the
/// template variable and the parameter are renamed together, to `{rust_name}_path`. A
/// path parameter's name is never sent, so nothing changes on the wire. One note per
/// renamed parameter.
pub fn path_parameter_names(doc: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return notes;
    };
    let keys: Vec<String> = paths.keys().cloned().collect();
    for key in keys {
        let Some(item) = paths.get(&key) else {
            continue;
        };
        let mut others: Vec<(String, String)> = Vec::new();
        let lists = std::iter::once(item.get("parameters")).chain(
            METHODS
                .iter()
                .map(|m| item.get(*m).and_then(|op| op.get("parameters"))),
        );
        for list in lists.flatten().filter_map(Value::as_array) {
            for p in list {
                if let (Some(name), Some(location)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("in").and_then(Value::as_str),
                ) {
                    others.push((name.to_owned(), location.to_owned()));
                }
            }
        }
        let mut renames: Vec<(String, String)> = Vec::new();
        for name in template_names(&key) {
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rust = rust_name(&name);
            let clash = others
                .iter()
                .any(|(n, l)| !(n == &name && l == "path") && rust_name(n) == rust);
            if clash {
                renames.push((name, format!("{rust}_path")));
            }
        }
        if renames.is_empty() {
            continue;
        }
        let mut new_key = key.clone();
        for (old, new) in &renames {
            new_key = new_key.replace(&format!("{{{old}}}"), &format!("{{{new}}}"));
        }
        if paths.contains_key(&new_key) {
            continue;
        }
        let Some(mut item) = paths.remove(&key) else {
            continue;
        };
        let rename_in = |list: Option<&mut Value>| {
            for p in list.and_then(Value::as_array_mut).into_iter().flatten() {
                if p.get("in").and_then(Value::as_str) != Some("path") {
                    continue;
                }
                let Some(name) = p.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if let Some((_, new)) = renames.iter().find(|(old, _)| old == name) {
                    p["name"] = Value::String(new.clone());
                }
            }
        };
        rename_in(item.get_mut("parameters"));
        for method in METHODS {
            rename_in(item.get_mut(method).and_then(|op| op.get_mut("parameters")));
        }
        for (old, new) in &renames {
            notes.push(format!(
                "/paths/{}: path parameter {old} has the Rust name of another parameter; renamed {new} (template and parameter)",
                escape(&key)
            ));
        }
        paths.insert(new_key, item);
    }
    notes
}

/// Parameters of one operation whose Rust names collide and that cannot be renamed
/// because their names go on the wire (Mistral's query `sort.direction` and
/// `sort_direction`, query `last_event_id` and header `Last-Event-ID`; the generated code
/// binds the name twice): the first, path-level then operation parameters in order, is
/// kept and the later ones are removed. One note per removed parameter.
pub fn colliding_parameters(doc: &mut Value) -> Vec<String> {
    let snapshot = doc.clone();
    let mut notes = Vec::new();
    each_operation_with_item(doc, |path, method, shared, op| {
        let mut seen: std::collections::BTreeMap<String, String> = shared
            .iter()
            .map(|p| resolve_parameter(&snapshot, p))
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .map(|n| (rust_name(n), n.to_owned()))
            .collect();
        let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            return;
        };
        let mut index = 0;
        list.retain(|p| {
            let at = format!("/paths/{}/{method}/parameters/{index}", escape(path));
            index += 1;
            let p = resolve_parameter(&snapshot, p);
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                return true;
            };
            match seen.get(&rust_name(name)) {
                Some(first) if first != name => {
                    notes.push(format!(
                        "{at}: parameter {name} has the Rust name of parameter {first}; removed (the generated client cannot send both)"
                    ));
                    false
                }
                _ => {
                    seen.insert(rust_name(name), name.to_owned());
                    true
                }
            }
        });
    });
    notes
}

/// [`each_operation`], with the path item's own parameters.
fn each_operation_with_item(
    doc: &mut Value,
    mut f: impl FnMut(&str, &str, &[Value], &mut Map<String, Value>),
) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                f(path, method, &shared, op);
            }
        }
    }
}

/// What a success response decodes into, as progenitor tells them apart.
fn success_type(response: &Value) -> String {
    let content = response.get("content").and_then(Value::as_object);
    match content {
        Some(c) if !c.is_empty() => c
            .get("application/json")
            .and_then(|m| m.get("schema"))
            .map_or_else(|| "raw".to_owned(), Value::to_string),
        _ => "none".to_owned(),
    }
}

/// Operations whose 2xx responses decode into different types (progenitor allows one
/// success type; `200` with a body and `204` without is the common case): the first
/// response with a body (by status code, JSON first) is kept, and the other 2xx responses
/// of another type are removed: the client answers them with `Error::UnexpectedResponse`
/// (status and body kept). One note per removed response.
pub fn one_success_type(doc: &mut Value) -> Vec<String> {
    let components = doc.pointer("/components/responses").cloned();
    let resolve = |r: &Value| -> Value {
        match r.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/components/responses/")
                .and_then(|name| components.as_ref()?.get(name).cloned())
                .unwrap_or_else(|| r.clone()),
            None => r.clone(),
        }
    };
    let mut notes = Vec::new();
    each_operation(doc, |path, method, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        let success: Vec<(String, String, bool)> = responses
            .iter()
            .filter(|(code, _)| code.starts_with('2'))
            .map(|(code, r)| {
                let r = resolve(r);
                let typ = success_type(&r);
                let json = r.pointer("/content/application~1json").is_some();
                (code.clone(), typ, json)
            })
            .collect();
        let types: std::collections::BTreeSet<&String> = success.iter().map(|s| &s.1).collect();
        if types.len() <= 1 {
            return;
        }
        let Some(keep) = success
            .iter()
            .min_by_key(|(code, typ, json)| (!json, typ == "none", code.clone()))
            .map(|s| s.1.clone())
        else {
            return;
        };
        for (code, typ, _) in &success {
            if *typ != keep {
                responses.remove(code);
                notes.push(format!(
                    "/paths/{}/{method}/responses/{code}: a second success type (one is allowed); removed, so the client answers it with Error::UnexpectedResponse",
                    escape(path)
                ));
            }
        }
    });
    notes
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_share_one_schema_and_keep_descriptions() {
        let mut doc = json!({
            "paths": {"/a": {"get": {"responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}},
                "401": {"description": "nope"},
                "422": {"description": "bad", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V"}}}},
                "429": {"$ref": "#/components/responses/TooMany"},
                "default": {"description": "other"}
            }}}},
            "components": {"responses": {"TooMany": {"description": "slow down", "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}}
        });
        unify_error_responses(&mut doc);
        let r = &doc["paths"]["/a"]["get"]["responses"];
        let want = json!({"$ref": "#/components/schemas/ApiError"});
        let codes: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(codes, ["200", "4XX", "5XX"]);
        for code in ["4XX", "5XX"] {
            assert_eq!(
                r[code]["content"]["application/json"]["schema"], want,
                "{code}"
            );
        }
        let d4 = r["4XX"]["description"].as_str().unwrap();
        assert!(
            d4.contains("401: nope") && d4.contains("429: slow down"),
            "{d4}"
        );
        assert_eq!(r["5XX"]["description"], "other");
        assert_eq!(
            r["200"]["content"]["application/json"]["schema"]["type"],
            "string"
        );
        assert!(doc["components"]["schemas"]["ApiError"]["properties"]["detail"].is_object());
    }

    #[test]
    fn additional_properties_false_is_dropped_but_not_inside_examples() {
        let mut doc = json!({"components": {"schemas": {"J": {
            "type": "object", "additionalProperties": false,
            "properties": {"n": {"type": "object", "additionalProperties": false}},
            "example": {"additionalProperties": false}
        }}}});
        assert_eq!(tolerate_unknown_fields(&mut doc), 2);
        let j = &doc["components"]["schemas"]["J"];
        assert!(j.get("additionalProperties").is_none());
        assert!(j["properties"]["n"].get("additionalProperties").is_none());
        assert_eq!(j["example"]["additionalProperties"], false);
    }

    #[test]
    fn two_part_versions_are_completed() {
        let mut doc = json!({"openapi": "3.0"});
        assert_eq!(two_part_version(&mut doc).len(), 1);
        assert_eq!(doc["openapi"], "3.0.3");
        let mut doc = json!({"openapi": "3.1.1"});
        assert!(two_part_version(&mut doc).is_empty());
    }

    #[test]
    fn duplicate_operation_ids_get_the_method_then_a_number() {
        let mut doc = json!({"paths": {
            "/a": {"get": {"operationId": "Get"}},
            "/b": {"get": {"operationId": "Get"}, "post": {"operationId": "Get"}},
            "/c": {"get": {"operationId": "Get"}, "put": {"operationId": "Get_get"}}
        }});
        let notes = unique_operation_ids(&mut doc);
        let id = |p: &str, m: &str| doc["paths"][p][m]["operationId"].clone();
        assert_eq!(id("/a", "get"), "Get");
        assert_eq!(id("/b", "get"), "Get_get_2");
        assert_eq!(id("/b", "post"), "Get_post");
        assert_eq!(id("/c", "get"), "Get_get_3");
        assert_eq!(id("/c", "put"), "Get_get");
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("/paths/~1b/get/operationId: Get is used"));
    }

    #[test]
    fn undeclared_path_parameters_are_added_and_clashing_names_renamed() {
        let mut doc = json!({"paths": {
            "/w/{ns}/{execution.workflow_id}": {
                "parameters": [{"name": "ns", "in": "path", "required": true}],
                "get": {"parameters": [
                    {"name": "execution.workflow_id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "execution.workflowId", "in": "query", "schema": {"type": "string"}}
                ]},
                "post": {}
            }
        }});
        let notes = path_parameters(&mut doc);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let post = &doc["paths"]["/w/{ns}/{execution.workflow_id}"]["post"]["parameters"][0];
        assert_eq!(post["name"], "execution.workflow_id");
        assert_eq!(post["required"], true);
        let notes = path_parameter_names(&mut doc);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let item = &doc["paths"]["/w/{ns}/{execution_workflow_id_path}"];
        assert_eq!(
            item["get"]["parameters"][0]["name"],
            "execution_workflow_id_path"
        );
        assert_eq!(item["get"]["parameters"][1]["name"], "execution.workflowId");
        assert_eq!(
            item["post"]["parameters"][0]["name"],
            "execution_workflow_id_path"
        );
    }

    #[test]
    fn parameters_with_one_rust_name_keep_the_first() {
        let mut doc = json!({"paths": {"/a": {"get": {"parameters": [
            {"name": "sort.direction", "in": "query"},
            {"name": "sort_direction", "in": "query"},
            {"name": "last_event_id", "in": "query"},
            {"name": "Last-Event-ID", "in": "header"}
        ]}}}});
        let notes = colliding_parameters(&mut doc);
        let names: Vec<&str> = doc["paths"]["/a"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sort.direction", "last_event_id"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn one_success_type_keeps_the_json_body() {
        let mut doc = json!({"paths": {"/a": {"post": {"responses": {
            "200": {"description": "", "content": {"application/json": {"schema": {"type": "string"}}}},
            "201": {"description": "", "content": {"application/json": {"schema": {"type": "string"}}}},
            "204": {"description": "none"}
        }}}}});
        let notes = one_success_type(&mut doc);
        let codes: Vec<&String> = doc["paths"]["/a"]["post"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(codes, ["200", "201"]);
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn unsendable_parameters_are_removed_or_taken_as_strings() {
        let mut doc = json!({"components": {"schemas": {"F": {"type": "object"}}},
            "paths": {"/a": {"get": {"parameters": [
            {"name": "session", "in": "cookie"},
            {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
            {"name": "id", "in": "path", "schema": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string"}]}},
            {"name": "q", "in": "query", "content": {"application/json": {"schema": {"type": "object"}}}},
            {"name": "f", "in": "query", "schema": {"$ref": "#/components/schemas/F"}}
        ]}}}});
        let notes = sendable_parameters(&mut doc);
        let params = doc["paths"]["/a"]["get"]["parameters"].as_array().unwrap();
        assert_eq!(params.len(), 3);
        assert_eq!(params[0]["schema"], json!({"type": "string"}));
        assert_eq!(params[1]["schema"]["type"], "string");
        assert!(params[1].get("content").is_none());
        assert_eq!(params[2]["schema"]["type"], "string");
        assert_eq!(notes.len(), 5, "{notes:?}");
    }

    #[test]
    fn body_media_types_get_stand_ins_and_the_table_keeps_the_declared_one() {
        let mut doc = json!({"paths": {
            "/p": {"patch": {"operationId": "patchIt", "requestBody": {"content": {
                "application/json-patch+json": {"schema": {"type": "array"}}}}}},
            "/q": {"post": {"operationId": "query", "requestBody": {"content": {
                "application/vnd.flux": {"schema": {"type": "string"}}}}}},
            "/i": {"post": {"operationId": "img", "requestBody": {"content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}}}}}},
            "/x": {"post": {"operationId": "attach", "requestBody": {"content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "byte"}}}}}},
            "/j": {"post": {"operationId": "plain", "requestBody": {"content": {
                "application/json": {"schema": {"type": "object"}}}}}},
            "/m": {"post": {"operationId": "multi", "requestBody": {"content": {
                "multipart/form-data": {"schema": {"type": "object"}}}}}}
        }});
        let (table, notes) = request_body_media_types(&mut doc);
        let content = |p: &str, m: &str| doc["paths"][p][m]["requestBody"]["content"].clone();
        assert!(content("/p", "patch")["application/json"]["schema"]["type"] == "array");
        assert_eq!(
            content("/q", "post")["text/plain"]["schema"],
            json!({"type": "string"})
        );
        assert!(content("/i", "post")["application/octet-stream"].is_object());
        assert_eq!(
            content("/x", "post")["application/octet-stream"]["schema"]["format"],
            "binary"
        );
        assert!(content("/m", "post")["multipart/form-data"].is_object());
        assert_eq!(
            table,
            vec![
                ("img".to_owned(), "image/png".to_owned()),
                (
                    "patchIt".to_owned(),
                    "application/json-patch+json".to_owned()
                ),
                ("query".to_owned(), "application/vnd.flux".to_owned()),
            ]
        );
        assert_eq!(notes.len(), 4, "{notes:?}");
    }

    #[test]
    fn request_timeouts_are_collected() {
        let doc = json!({"paths": {"/w": {"get": {"operationId": "wait", "x-sdk-timeout-seconds": 120}, "post": {"operationId": "p"}}}});
        assert_eq!(request_timeouts(&doc), vec![("wait".to_owned(), 120)]);
    }

    #[test]
    fn json_query_params_are_collected() {
        let doc = json!({"paths": {"/w": {"get": {"operationId": "wait", "parameters": [
            {"name": "ids", "in": "query", "required": true, "x-sdk-query-encoding": "json"},
            {"name": "other", "in": "query"}
        ]}}}});
        assert_eq!(
            json_query_params(&doc),
            vec![("wait".to_owned(), "ids".to_owned(), true)]
        );
    }
}
