//! One walker for every schema of an OpenAPI document held as JSON.
//!
//! Why one: passes that each decide for themselves where schemas live disagree at the
//! edges (a property *named* `example`, `default` or `x-foo` is a schema, not an example
//! value or an extension). This walker knows the document's structure — component
//! schemas, parameters, headers, request and response bodies, callbacks — and, inside a
//! schema, exactly the keywords that hold subschemas, so a property name is never taken
//! for a keyword.
//!
//! Visiting is pre-order: a schema is seen before its subschemas, so a pass may rewrite
//! a schema and have the walker descend into the result.

use crate::oas::{METHODS, escape};
use serde_json::{Map, Value};

/// Keywords whose value is one subschema.
const ONE: [&str; 8] = [
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "additionalItems",
    "unevaluatedItems",
    "unevaluatedProperties",
];
/// Keywords whose value is a list of subschemas.
const LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to subschemas.
const NAMED: [&str; 5] = [
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
];

/// Calls `f(schema, pointer)` for every schema object of `doc`, parents first.
pub fn schemas(doc: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        for (section, value) in components.iter_mut() {
            let Some(entries) = value.as_object_mut() else {
                continue;
            };
            for (name, entry) in entries.iter_mut() {
                let at = format!("/components/{}/{}", escape(section), escape(name));
                match section.as_str() {
                    "schemas" => schema(entry, &at, f),
                    "parameters" | "headers" => parameter(entry, &at, f),
                    "requestBodies" | "responses" => body(entry, &at, f),
                    "pathItems" => path_item(entry, &at, f),
                    "callbacks" => callback(entry, &at, f),
                    _ => {}
                }
            }
        }
    }
    for section in ["paths", "webhooks"] {
        if let Some(items) = root.get_mut(section).and_then(Value::as_object_mut) {
            for (path, item) in items.iter_mut() {
                path_item(item, &format!("/{section}/{}", escape(path)), f);
            }
        }
    }
}

/// Calls `f` for `value` (when it is a schema object) and each of its subschemas.
pub fn schema(value: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    f(map, at);
    for (key, child) in map.iter_mut() {
        let key = key.as_str();
        let child_at = format!("{at}/{}", escape(key));
        if ONE.contains(&key) {
            schema(child, &child_at, f);
        } else if LIST.contains(&key) || (key == "items" && child.is_array()) {
            if let Some(list) = child.as_array_mut() {
                for (i, member) in list.iter_mut().enumerate() {
                    schema(member, &format!("{child_at}/{i}"), f);
                }
            }
        } else if NAMED.contains(&key)
            && let Some(named) = child.as_object_mut()
        {
            for (name, member) in named.iter_mut() {
                schema(member, &format!("{child_at}/{}", escape(name)), f);
            }
        }
    }
}

fn parameter(value: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if let Some(s) = map.get_mut("schema") {
        schema(s, &format!("{at}/schema"), f);
    }
    if let Some(content) = map.get_mut("content") {
        media(content, &format!("{at}/content"), f);
    }
}

fn media(content: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(content) = content.as_object_mut() else {
        return;
    };
    for (media_type, entry) in content.iter_mut() {
        let entry_at = format!("{at}/{}", escape(media_type));
        let Some(entry) = entry.as_object_mut() else {
            continue;
        };
        if let Some(s) = entry.get_mut("schema") {
            schema(s, &format!("{entry_at}/schema"), f);
        }
        if let Some(encoding) = entry.get_mut("encoding").and_then(Value::as_object_mut) {
            for (name, enc) in encoding.iter_mut() {
                if let Some(headers) = enc.get_mut("headers").and_then(Value::as_object_mut) {
                    for (h, header) in headers.iter_mut() {
                        let h_at =
                            format!("{entry_at}/encoding/{}/headers/{}", escape(name), escape(h));
                        parameter(header, &h_at, f);
                    }
                }
            }
        }
    }
}

/// A request body or a response: its content and (responses) headers.
fn body(value: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if let Some(content) = map.get_mut("content") {
        media(content, &format!("{at}/content"), f);
    }
    if let Some(headers) = map.get_mut("headers").and_then(Value::as_object_mut) {
        for (h, header) in headers.iter_mut() {
            parameter(header, &format!("{at}/headers/{}", escape(h)), f);
        }
    }
}

fn path_item(value: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    let Some(item) = value.as_object_mut() else {
        return;
    };
    if let Some(params) = item.get_mut("parameters").and_then(Value::as_array_mut) {
        for (i, p) in params.iter_mut().enumerate() {
            parameter(p, &format!("{at}/parameters/{i}"), f);
        }
    }
    for method in METHODS {
        let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
            continue;
        };
        let op_at = format!("{at}/{method}");
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for (i, p) in params.iter_mut().enumerate() {
                parameter(p, &format!("{op_at}/parameters/{i}"), f);
            }
        }
        if let Some(rb) = op.get_mut("requestBody") {
            body(rb, &format!("{op_at}/requestBody"), f);
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (code, response) in responses.iter_mut() {
                body(response, &format!("{op_at}/responses/{}", escape(code)), f);
            }
        }
        if let Some(callbacks) = op.get_mut("callbacks").and_then(Value::as_object_mut) {
            for (name, cb) in callbacks.iter_mut() {
                callback(cb, &format!("{op_at}/callbacks/{}", escape(name)), f);
            }
        }
    }
}

fn callback(value: &mut Value, at: &str, f: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
    if let Some(items) = value.as_object_mut() {
        for (expr, item) in items.iter_mut() {
            path_item(item, &format!("{at}/{}", escape(expr)), f);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    #[test]
    fn property_names_that_look_like_keywords_are_schemas() {
        let mut doc = json!({
            "components": {"schemas": {"S": {"type": "object", "properties": {
                "example": {"type": "string"},
                "x-foo": {"type": "integer"},
                "default": {"items": {"type": "boolean"}}
            }, "example": {"properties": {"not": "a schema"}}}}},
            "paths": {"/a": {"get": {
                "parameters": [{"name": "p", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {"anyOf": [{"type": "string"}]}}}},
                "responses": {"200": {"description": "", "headers": {"H": {"schema": {"type": "string"}}}}}
            }}}
        });
        let mut seen = Vec::new();
        super::schemas(&mut doc, &mut |_, at| seen.push(at.to_owned()));
        assert_eq!(
            seen,
            [
                "/components/schemas/S",
                "/components/schemas/S/properties/default",
                "/components/schemas/S/properties/default/items",
                "/components/schemas/S/properties/example",
                "/components/schemas/S/properties/x-foo",
                "/paths/~1a/get/parameters/0/schema",
                "/paths/~1a/get/requestBody/content/application~1json/schema",
                "/paths/~1a/get/requestBody/content/application~1json/schema/anyOf/0",
                "/paths/~1a/get/responses/200/headers/H/schema",
            ]
        );
    }
}
