//! Repairs of operations: versions, operationIds, path parameters, colliding names, one
//! success type.

use super::each_operation;
use crate::oas::{METHODS, escape};
use serde_json::{Map, Value, json};

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
