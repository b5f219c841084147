//! Repairs for constructs real-world documents contain that progenitor (or typify) rejects
//! or panics on, applied after the 3.1 → 3.0 lowering. Each repair returns a note naming
//! the JSON pointer, printed as a warning, so that nothing changes silently. The schema
//! repairs run on every schema [`crate::visit::schemas`] finds (a property named `x-foo`
//! or `default` included).
//!
//! - `info.title`/`info.version` missing (both required by the OpenAPI parser);
//! - an operation without `responses` (optional in 3.1): given an empty `2XX`;
//! - several media types for one request or response body (progenitor handles one): the
//!   preferred one is kept (JSON, then form, then binary, then text);
//! - string enums whose values collide as Rust identifiers (`replace`/`Replace`, `.`/`X`;
//!   typify panics): kept as plain strings, the values listed in the description;
//! - `pattern`s that are not ECMAScript regexes (typify compiles them with `regress`):
//!   Python's `(?P<name>` is rewritten to `(?<name>`, anything else is dropped;
//! - `anyOf`/`oneOf` whose branches are all the same schema (`anyOf: [{type: string},
//!   {type: string}]`, typify asserts on it): the one branch, merged into the schema;
//! - a component schema that reaches itself through `allOf`/`anyOf`/`oneOf` and `$ref`
//!   alone (`S: {allOf: [{$ref: S}, ...]}`; typify recurses until the stack overflows):
//!   the `$ref` that closes the cycle becomes an unconstrained schema (a cycle through
//!   `properties` or `items` is an ordinary recursive type and is left alone);
//! - `default` values that do not conform to their schema (`null` on a non-nullable
//!   property, a number for a string, a value outside the `enum`) or sit on a composed
//!   schema (`allOf`/`anyOf`/`oneOf`, which typify checks wrongly): dropped. A client
//!   loses little: the server applies its defaults.

use crate::oas::{METHODS, escape};
use serde_json::{Map, Value, json};

/// Applies every repair; returns one note per change.
pub fn harden(doc: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    ensure_info(doc, &mut notes);
    composition_cycles(doc, &mut notes);
    operations(doc, &mut notes);
    schemas(doc, &mut notes);
    notes
}

fn ensure_info(doc: &mut Value, notes: &mut Vec<String>) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    let info = root.entry("info").or_insert_with(|| json!({}));
    let Some(info) = info.as_object_mut() else {
        return;
    };
    for (key, fallback) in [("title", "API"), ("version", "0")] {
        if !info.get(key).is_some_and(Value::is_string) {
            info.insert(key.into(), json!(fallback));
            notes.push(format!("/info/{key}: missing; set to {fallback:?}"));
        }
    }
}

/// Breaks cycles of component schemas made of composition edges only (see the module
/// docs): a depth-first search over the components, each edge a `$ref` reached from the
/// schema through `allOf`/`anyOf`/`oneOf` alone; an edge back to a component still on the
/// search path is replaced by `{}`. Linear in the document, whatever its shape.
fn composition_cycles(doc: &mut Value, notes: &mut Vec<String>) {
    const PREFIX: &str = "#/components/schemas/";
    fn edges(node: &Value, at: String, out: &mut Vec<(String, String)>) {
        let Some(map) = node.as_object() else {
            return;
        };
        if let Some(target) = map
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(PREFIX))
        {
            let name = target.replace("~1", "/").replace("~0", "~");
            out.push((name, at));
            return;
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(items)) = map.get(key) {
                for (i, item) in items.iter().enumerate() {
                    edges(item, format!("{at}/{key}/{i}"), out);
                }
            }
        }
    }
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let graph: std::collections::BTreeMap<String, Vec<(String, String)>> = schemas
        .iter()
        .map(|(name, schema)| {
            let mut out = Vec::new();
            edges(
                schema,
                format!("/components/schemas/{}", escape(name)),
                &mut out,
            );
            (name.clone(), out)
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: std::collections::BTreeMap<&str, Mark> = std::collections::BTreeMap::new();
    let mut back_edges: Vec<(String, String)> = Vec::new();
    for start in graph.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // Iterative DFS: (node, index of the next edge to follow).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::OnPath);
        while let Some((node, next)) = stack.last().copied() {
            let out = graph.get(node).map(Vec::as_slice).unwrap_or_default();
            let Some((target, at)) = out.get(next) else {
                marks.insert(node, Mark::Done);
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match marks.get(target.as_str()) {
                Some(Mark::OnPath) => back_edges.push((at.clone(), target.clone())),
                Some(Mark::Done) => {}
                None => {
                    if let Some((name, _)) = graph.get_key_value(target.as_str()) {
                        marks.insert(name.as_str(), Mark::OnPath);
                        stack.push((name.as_str(), 0));
                    }
                }
            }
        }
    }
    for (at, target) in back_edges {
        if let Some(node) = doc.pointer_mut(&at) {
            *node = json!({});
            notes.push(format!(
                "{at}: $ref to {target} closes a cycle of allOf/anyOf/oneOf; replaced by an unconstrained schema"
            ));
        }
    }
}

fn media_rank(media: &str) -> u8 {
    let m = media.to_ascii_lowercase();
    if m == "application/json" {
        0
    } else if m.starts_with("application/") && m.ends_with("+json") {
        1
    } else if m == "application/x-www-form-urlencoded" {
        2
    } else if m == "application/octet-stream" {
        3
    } else if m.starts_with("text/plain") {
        4
    } else if m.contains("json") {
        5
    } else {
        6
    }
}

/// Keeps the best-ranked media type of a `content` map.
fn one_media_type(content: &mut Map<String, Value>, pointer: &str, notes: &mut Vec<String>) {
    if content.len() <= 1 {
        return;
    }
    let Some(best) = content
        .keys()
        .min_by_key(|k| (media_rank(k), (*k).clone()))
        .cloned()
    else {
        return;
    };
    let dropped: Vec<String> = content.keys().filter(|k| **k != best).cloned().collect();
    content.retain(|k, _| *k == best);
    notes.push(format!(
        "{pointer}: several media types; kept {best}, dropped {}",
        dropped.join(", ")
    ));
}

/// A parameter is present or absent; `nullable` on its schema makes progenitor emit an
/// `Option` that it then formats with `Display`, which does not compile. Neither do lists
/// or objects in header and path parameters: those are taken as their serialised text.
fn fix_parameter(p: &mut Value, at: &str, notes: &mut Vec<String>) {
    let location = p.get("in").and_then(Value::as_str).unwrap_or("").to_owned();
    let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) else {
        return;
    };
    if schema.remove("nullable").is_some() {
        notes.push(format!(
            "{at}/schema/nullable: dropped (a parameter is present or absent)"
        ));
    }
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if matches!(location.as_str(), "header" | "path") && matches!(kind.as_str(), "array" | "object")
    {
        let description = format!(
            "Serialised {kind} ({location} parameters are sent as text, e.g. comma-separated)."
        );
        *schema = Map::new();
        schema.insert("type".into(), json!("string"));
        schema.insert("description".into(), Value::String(description));
        notes.push(format!(
            "{at}/schema: a {kind} in a {location} parameter; taken as a string"
        ));
    }
}

fn non_nullable_parameters(params: &mut Value, at: &str, notes: &mut Vec<String>) {
    let Some(params) = params.as_array_mut() else {
        return;
    };
    for (i, p) in params.iter_mut().enumerate() {
        fix_parameter(p, &format!("{at}/parameters/{i}"), notes);
    }
}

fn operations(doc: &mut Value, notes: &mut Vec<String>) {
    if let Some(params) = doc
        .pointer_mut("/components/parameters")
        .and_then(Value::as_object_mut)
    {
        for (name, p) in params.iter_mut() {
            fix_parameter(
                p,
                &format!("/components/parameters/{}", escape(name)),
                notes,
            );
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        if let Some(params) = item.get_mut("parameters") {
            non_nullable_parameters(params, &format!("/paths/{}", escape(path)), notes);
        }
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let at = format!("/paths/{}/{method}", escape(path));
            if let Some(params) = op.get_mut("parameters") {
                non_nullable_parameters(params, &at, notes);
            }
            let has_responses = op
                .get("responses")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty());
            if !has_responses {
                op.insert(
                    "responses".into(),
                    json!({"2XX": {"description": "Success (the document declares no responses)"}}),
                );
                notes.push(format!("{at}: no responses; assumed an empty 2XX"));
            }
            if let Some(content) = op
                .get_mut("requestBody")
                .and_then(|b| b.get_mut("content"))
                .and_then(Value::as_object_mut)
            {
                one_media_type(content, &format!("{at}/requestBody/content"), notes);
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                for (code, response) in responses.iter_mut() {
                    if let Some(content) =
                        response.get_mut("content").and_then(Value::as_object_mut)
                    {
                        one_media_type(content, &format!("{at}/responses/{code}/content"), notes);
                    }
                }
            }
        }
    }
}

/// Repairs every schema of the document where [`crate::visit`] finds them: a property
/// *named* `example`, `default`, `enum` or `x-foo` is a schema like any other, while
/// example values, defaults, enum values and vendor extensions are never taken for one.
fn schemas(doc: &mut Value, notes: &mut Vec<String>) {
    crate::visit::schemas(doc, &mut |map, pointer| repair_schema(map, pointer, notes));
}

/// Whether a schema has one of the keywords a repair looks at (or that types it); an
/// untyped schema such as `{default: null}` is left alone.
fn looks_like_schema(map: &Map<String, Value>) -> bool {
    [
        "type",
        "enum",
        "properties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "format",
        "pattern",
    ]
    .iter()
    .any(|k| map.contains_key(*k))
}

fn repair_schema(map: &mut Map<String, Value>, pointer: &str, notes: &mut Vec<String>) {
    if !looks_like_schema(map) {
        return;
    }
    colliding_enum(map, pointer, notes);
    identical_branches(map, pointer, notes);
    if let Some(Value::String(pattern)) = map.get("pattern").cloned()
        && regress::Regex::new(&pattern).is_err()
    {
        let python = pattern.replace("(?P<", "(?<");
        if python != pattern && regress::Regex::new(&python).is_ok() {
            map.insert("pattern".into(), Value::String(python));
            notes.push(format!(
                "{pointer}/pattern: Python named groups `(?P<` rewritten as `(?<`"
            ));
        } else {
            map.remove("pattern");
            notes.push(format!(
                "{pointer}/pattern: not an ECMAScript regex; dropped"
            ));
        }
    }
    if let Some(default) = map.get("default")
        && let Some(reason) = nonconforming(map, default)
    {
        map.remove("default");
        notes.push(format!("{pointer}/default: {reason}; dropped"));
    }
}

/// `anyOf`/`oneOf` with two or more branches that are all equal: the same as that branch.
fn identical_branches(map: &mut Map<String, Value>, pointer: &str, notes: &mut Vec<String>) {
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = map.get(key) else {
            continue;
        };
        let [first, rest @ ..] = branches.as_slice() else {
            continue;
        };
        let Some(branch) = first.as_object().cloned() else {
            continue;
        };
        if rest.is_empty() || rest.iter().any(|b| b != first) {
            continue;
        }
        // Only when merging loses nothing: the branch's keys are not on the schema too.
        if branch.keys().any(|k| map.contains_key(k)) {
            continue;
        }
        let count = rest.len() + 1;
        map.remove(key);
        map.extend(branch);
        notes.push(format!(
            "{pointer}/{key}: {count} identical branches; replaced by the one schema"
        ));
    }
}

fn colliding_enum(map: &mut Map<String, Value>, pointer: &str, notes: &mut Vec<String>) {
    let Some(values) = map.get("enum").and_then(Value::as_array) else {
        return;
    };
    let strings: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
    if strings.is_empty()
        || strings.len() + values.iter().filter(|v| v.is_null()).count() != values.len()
    {
        return;
    }
    // A conservative stand-in for typify's naming: letters and digits, case folded.
    let mut seen = std::collections::BTreeSet::new();
    let collides = strings.iter().any(|s| {
        let key: String = s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        key.is_empty() || !seen.insert(key)
    });
    if !collides {
        return;
    }
    let listed = strings.join(", ");
    map.remove("enum");
    map.insert("type".into(), json!("string"));
    let description = match map.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d}\n\nValues: {listed}"),
        None => format!("Values: {listed}"),
    };
    map.insert("description".into(), Value::String(description));
    notes.push(format!(
        "{pointer}/enum: values [{listed}] collide as Rust names; kept as a plain string"
    ));
}

/// Why `default` does not conform to the schema in `map`, if it does not.
fn nonconforming(map: &Map<String, Value>, default: &Value) -> Option<String> {
    let nullable = map.get("nullable") == Some(&Value::Bool(true));
    if ["allOf", "anyOf", "oneOf", "$ref"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        // typify checks defaults against composed schemas strictly and often wrongly.
        return Some(
            "a default on a composed schema (allOf/anyOf/oneOf) cannot be checked".to_owned(),
        );
    }
    if default.is_null() {
        return (!nullable).then(|| "null on a schema that is not nullable".to_owned());
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array)
        && !values.contains(default)
    {
        return Some(format!("{default} is not one of the enum values"));
    }
    let ok = match map.get("type").and_then(Value::as_str) {
        Some("string") => default.is_string(),
        Some("integer") => default.is_i64() || default.is_u64(),
        Some("number") => default.is_number(),
        Some("boolean") => default.is_boolean(),
        Some("array") => default.is_array(),
        Some("object") => default.is_object(),
        _ => true,
    };
    (!ok).then(|| {
        format!(
            "{default} is not of type {}",
            map.get("type").and_then(Value::as_str).unwrap_or("?")
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn composition_cycles_are_broken_and_recursive_types_kept() {
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "paths": {},
        "components": {"schemas": {
            "S0": {"type": "array", "items": {"type": "string"}},
            "S1": {"allOf": [{"anyOf": [{"$ref": "#/components/schemas/S1"}, {"nullable": true}]},
                             {"$ref": "#/components/schemas/S0"}]},
            "A": {"oneOf": [{"$ref": "#/components/schemas/B"}]},
            "B": {"allOf": [{"$ref": "#/components/schemas/A"}]},
            "Tree": {"type": "object", "properties": {"children": {"type": "array",
                     "items": {"$ref": "#/components/schemas/Tree"}}}}
        }}});
        let before_tree = doc["components"]["schemas"]["Tree"].clone();
        let notes = harden(&mut doc);
        let s = &doc["components"]["schemas"];
        assert_eq!(s["S1"]["allOf"][0]["anyOf"][0], json!({}));
        assert_eq!(
            s["S1"]["allOf"][1],
            json!({"$ref": "#/components/schemas/S0"})
        );
        // One edge of the A -> B -> A cycle is cut, not both.
        let cut = [&s["A"]["oneOf"][0], &s["B"]["allOf"][0]]
            .iter()
            .filter(|v| ***v == json!({}))
            .count();
        assert_eq!(cut, 1, "{s}");
        assert_eq!(
            s["Tree"], before_tree,
            "recursion through items is a real type"
        );
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.contains("closes a cycle"))
                .count(),
            2,
            "{notes:?}"
        );
    }

    #[test]
    fn missing_info_fields_and_responses_are_filled() {
        let mut doc = json!({"info": {}, "paths": {"/a": {"get": {"operationId": "a"}}}});
        let notes = harden(&mut doc);
        assert_eq!(doc["info"], json!({"title": "API", "version": "0"}));
        assert!(doc["paths"]["/a"]["get"]["responses"]["2XX"].is_object());
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes[2].starts_with("/paths/~1a/get: no responses"),
            "{notes:?}"
        );
    }

    #[test]
    fn one_media_type_is_kept_preferring_json() {
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "paths": {"/a": {"post": {"responses": {"200": {"description": ""}},
            "requestBody": {"content": {"application/x-www-form-urlencoded": {}, "application/json": {}}}}}}});
        let notes = harden(&mut doc);
        let content = doc["paths"]["/a"]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap();
        assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"]);
        assert!(
            notes[0].contains("kept application/json, dropped application/x-www-form-urlencoded"),
            "{notes:?}"
        );
    }

    #[test]
    fn colliding_enums_become_strings_and_others_stay() {
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "components": {"schemas": {
            "Op": {"type": "string", "enum": ["replace", "Replace", "add"]},
            "Mark": {"type": "string", "enum": [".", "X", "O"]},
            "Fine": {"type": "string", "enum": ["a", "b"]}
        }}});
        let notes = harden(&mut doc);
        let s = &doc["components"]["schemas"];
        assert!(s["Op"].get("enum").is_none() && s["Mark"].get("enum").is_none());
        assert_eq!(s["Op"]["description"], "Values: replace, Replace, add");
        assert_eq!(s["Fine"]["enum"], json!(["a", "b"]));
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn patterns_are_repaired_or_dropped() {
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "components": {"schemas": {
            "Py": {"type": "string", "pattern": "^(?P<x>a+)$"},
            "Bad": {"type": "string", "pattern": "([a"},
            "Ok": {"type": "string", "pattern": "^[a-z]+$"}
        }}});
        let notes = harden(&mut doc);
        let s = &doc["components"]["schemas"];
        assert_eq!(s["Py"]["pattern"], "^(?<x>a+)$");
        assert!(s["Bad"].get("pattern").is_none());
        assert_eq!(s["Ok"]["pattern"], "^[a-z]+$");
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn properties_named_like_keywords_or_extensions_are_repaired_like_any_other() {
        let colliding = || json!({"type": "string", "enum": ["replace", "Replace"]});
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "components": {"schemas": {
            "S": {"type": "object", "properties": {
                "x-foo": colliding(),
                "example": colliding(),
                "default": {"type": "string", "pattern": "^(?P<x>a+)$"},
                "enum": {"type": "string", "default": 5}
            }, "x-ext": colliding(), "example": {"x-foo": colliding()}}
        }}});
        let notes = harden(&mut doc);
        let s = &doc["components"]["schemas"]["S"];
        let p = &s["properties"];
        assert!(p["x-foo"].get("enum").is_none(), "{p}");
        assert_eq!(p["x-foo"]["description"], "Values: replace, Replace");
        assert!(p["example"].get("enum").is_none(), "{p}");
        assert_eq!(p["default"]["pattern"], "^(?<x>a+)$");
        assert!(p["enum"].get("default").is_none(), "{p}");
        // Extensions and example values are not schemas.
        assert_eq!(s["x-ext"], colliding());
        assert_eq!(s["example"]["x-foo"], colliding());
        assert_eq!(
            notes[0],
            "/components/schemas/S/properties/default/pattern: Python named groups `(?P<` rewritten as `(?<`"
        );
        assert_eq!(
            notes[1],
            "/components/schemas/S/properties/enum/default: 5 is not of type string; dropped"
        );
        assert!(
            notes[3].starts_with(
                "/components/schemas/S/properties/x-foo/enum: values [replace, Replace] collide"
            ),
            "{notes:?}"
        );
        assert_eq!(notes.len(), 4, "{notes:?}");
    }

    #[test]
    fn nonconforming_defaults_are_dropped_but_not_examples() {
        let mut doc = json!({"info": {"title": "t", "version": "1"}, "components": {"schemas": {"S": {"type": "object", "properties": {
            "a": {"type": "string", "default": null},
            "b": {"type": "string", "default": 5},
            "c": {"type": "string", "enum": ["x"], "default": "y"},
            "d": {"type": "string", "nullable": true, "default": null},
            "e": {"type": "integer", "default": 3}
        }, "example": {"a": {"type": "string", "default": null}}}}}});
        let notes = harden(&mut doc);
        let p = &doc["components"]["schemas"]["S"]["properties"];
        for k in ["a", "b", "c"] {
            assert!(p[k].get("default").is_none(), "{k}");
        }
        assert_eq!(p["d"]["default"], Value::Null);
        assert_eq!(p["e"]["default"], 3);
        assert_eq!(
            doc["components"]["schemas"]["S"]["example"]["a"]["default"],
            Value::Null
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
    }
}
