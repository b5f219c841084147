//! Schema repairs for values and references typify checks strictly, applied with the
//! [`crate::visit`] walker. Each change is a note naming its JSON pointer.
//!
//! - [`local_refs`] (before the 3.1 lowering): `$ref: '#/definitions/X'` (Swagger 2.0's
//!   place) where `X` is in `components/schemas` points there; a local `$ref` that
//!   resolves nowhere (Mistral's `#/$defs/...`, written for a nested `$defs`) becomes `{}`,
//!   an untyped value, instead of failing the document.
//! - [`values`] (after [`crate::harden`]): `enum` values, `default`s and `example`s that
//!   do not conform to their schema, `$ref`s followed (typify validates enum values and
//!   defaults, and fails every operation that reaches one with "value does not conform to
//!   the given schema"), are dropped; an `enum` on a composed schema (`allOf`/`anyOf`/
//!   `oneOf`/`$ref`, Discord's narrowing of an integer enum; typify panics) is dropped, the
//!   composed type is kept; `format` on an object, array or boolean (PayPal's
//!   `format: payer_v1`; typify panics) is dropped; a `required` that is not a list of
//!   names (InfluxDB's `required: true` on a property) is dropped; a `default` on a
//!   property that is a one-value `enum` (a constant: Mistral's `type: {enum: [function], default: function}`
//!   tags, which typify rejects inside an internally tagged enum) is dropped.
//! - [`shadowing_titles`]: a nested `title` that would name a type like a component schema
//!   is dropped (typify would define the name twice).

use crate::visit;
use serde_json::{Map, Value};

/// Rewrites `#/definitions/X` to `#/components/schemas/X` and replaces schemas whose local
/// `$ref` resolves nowhere by `{}`. Returns one note per change.
pub fn local_refs(doc: &mut Value) -> Vec<String> {
    let snapshot = doc.clone();
    let mut notes = Vec::new();
    visit::schemas(doc, &mut |schema, at| {
        let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let Some(pointer) = target.strip_prefix('#') else {
            return;
        };
        if snapshot.pointer(pointer).is_some() {
            return;
        }
        if let Some(name) = pointer.strip_prefix("/definitions/") {
            let moved = format!("/components/schemas/{name}");
            if snapshot.pointer(&moved).is_some() {
                schema.insert("$ref".into(), Value::String(format!("#{moved}")));
                notes.push(format!("{at}/$ref: {target} rewritten to #{moved}"));
                return;
            }
        }
        let description = schema.get("description").cloned();
        schema.clear();
        if let Some(d) = description {
            schema.insert("description".into(), d);
        }
        notes.push(format!(
            "{at}/$ref: {target} resolves nowhere; replaced by an untyped value"
        ));
    });
    notes
}

/// Letters and digits, lower case: how type names compare once made Rust identifiers.
fn type_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A `title` inside a schema, or on a nullable component, that would name its type like a
/// component schema (OpenAI's `WebSearchApproximateLocation: {anyOf: [{title: Web search
/// approximate location, ...}, null]}`, nullable once lowered; typify defines the name
/// twice) is dropped. One note per change.
pub fn shadowing_titles(doc: &mut Value) -> Vec<String> {
    let components: std::collections::BTreeSet<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| type_key(k)).collect())
        .unwrap_or_default();
    let mut notes = Vec::new();
    visit::schemas(doc, &mut |schema, at| {
        let top_level = at
            .strip_prefix("/components/schemas/")
            .is_some_and(|rest| !rest.contains('/'));
        // A component's own title only names a type of its own when the component is
        // nullable (typify wraps the titled inner type in a newtype of the component's name).
        if top_level && schema.get("nullable") != Some(&Value::Bool(true)) {
            return;
        }
        if let Some(title) = schema.get("title").and_then(Value::as_str)
            && components.contains(&type_key(title))
        {
            notes.push(format!(
                "{at}/title: {title:?} would name this type like a component schema; dropped"
            ));
            schema.remove("title");
        }
    });
    notes
}

/// The value checks of the module docs. Returns one note per change.
pub fn values(doc: &mut Value) -> Vec<String> {
    let snapshot = doc.clone();
    let mut notes = Vec::new();
    visit::schemas(doc, &mut |schema, at| {
        if schema
            .get("required")
            .is_some_and(|r| !r.as_array().is_some_and(|l| l.iter().all(Value::is_string)))
        {
            let was = schema.remove("required").unwrap_or_default();
            notes.push(format!(
                "{at}/required: {was} is not a list of property names; dropped"
            ));
        }
        if let Some(kind @ ("object" | "array" | "boolean")) =
            schema.get("type").and_then(Value::as_str)
            && let Some(format) = schema.get("format").cloned()
        {
            let kind = kind.to_owned();
            schema.remove("format");
            notes.push(format!(
                "{at}/format: {format} on a {kind} schema has no meaning to the generator; dropped"
            ));
        }
        enum_values(schema, at, &snapshot, &mut notes);
        let property = at
            .rsplit_once('/')
            .is_some_and(|(parent, _)| parent.ends_with("/properties"));
        if let (Some(Value::Array(one)), Some(default)) =
            (schema.get("enum"), schema.get("default"))
            && property
            && one.len() == 1
            && one.first() == Some(default)
        {
            let shown = short(default);
            schema.remove("default");
            notes.push(format!(
                "{at}/default: {shown} on a one-value enum (a constant, typify rejects it on a tagged variant); dropped"
            ));
        }
        for key in ["default", "example"] {
            let Some(value) = schema.get(key) else {
                continue;
            };
            let bare = Value::Object(without(schema, key));
            if !conforms(&snapshot, &bare, value, 0) {
                let shown = short(value);
                schema.remove(key);
                notes.push(format!(
                    "{at}/{key}: {shown} does not conform to the schema; dropped"
                ));
            }
        }
    });
    notes
}

fn without(schema: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut m = schema.clone();
    m.remove(key);
    m
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

fn enum_values(schema: &mut Map<String, Value>, at: &str, doc: &Value, notes: &mut Vec<String>) {
    let Some(values) = schema.get("enum").and_then(Value::as_array).cloned() else {
        return;
    };
    if ["allOf", "anyOf", "oneOf", "$ref"]
        .iter()
        .any(|k| schema.contains_key(*k))
    {
        schema.remove("enum");
        notes.push(format!(
            "{at}/enum: an enum on a composed schema (allOf/anyOf/oneOf) cannot be checked; dropped, the composed type kept"
        ));
        return;
    }
    let bare = Value::Object(without(schema, "enum"));
    let (kept, dropped): (Vec<Value>, Vec<Value>) =
        values.into_iter().partition(|v| conforms(doc, &bare, v, 0));
    if dropped.is_empty() {
        return;
    }
    let shown: Vec<String> = dropped.iter().map(short).collect();
    if kept.is_empty() {
        schema.remove("enum");
        notes.push(format!(
            "{at}/enum: no value conforms to the schema ({}); enum dropped",
            shown.join(", ")
        ));
    } else {
        schema.insert("enum".into(), Value::Array(kept));
        notes.push(format!(
            "{at}/enum: values {} do not conform to the schema; dropped",
            shown.join(", ")
        ));
    }
}

/// Whether `value` is an instance of `schema` as far as typify checks it: `$ref`s
/// followed, `type`, `nullable`, `enum`, `allOf`/`anyOf`/`oneOf`, required and declared
/// properties, items. Anything it cannot tell (deep nesting, unknown keywords) conforms.
pub fn conforms(doc: &Value, schema: &Value, value: &Value, depth: usize) -> bool {
    if depth > 24 {
        return true;
    }
    let Some(map) = schema.as_object() else {
        return true;
    };
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        return match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => conforms(doc, target, value, depth + 1),
            None => true,
        };
    }
    if value.is_null() && map.get("nullable") == Some(&Value::Bool(true)) {
        return true;
    }
    if let Some(all) = map.get("allOf").and_then(Value::as_array)
        && !all.iter().all(|s| conforms(doc, s, value, depth + 1))
    {
        return false;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(any) = map.get(key).and_then(Value::as_array)
            && !any.is_empty()
            && !any.iter().any(|s| conforms(doc, s, value, depth + 1))
        {
            return false;
        }
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        return false;
    }
    let typed = match map.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if !typed {
        return false;
    }
    if let Some(object) = value.as_object() {
        if let Some(required) = map.get("required").and_then(Value::as_array)
            && required
                .iter()
                .filter_map(Value::as_str)
                .any(|name| !object.contains_key(name))
        {
            return false;
        }
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            for (name, v) in object {
                if let Some(s) = props.get(name)
                    && !conforms(doc, s, v, depth + 1)
                {
                    return false;
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (map.get("items"), value.as_array())
        && !list.iter().all(|v| conforms(doc, items, v, depth + 1))
    {
        return false;
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_refs_move_and_dangling_refs_become_untyped() {
        let mut doc = json!({"components": {"schemas": {
            "X": {"type": "string"},
            "A": {"type": "object", "properties": {
                "x": {"$ref": "#/definitions/X"},
                "d": {"$ref": "#/$defs/Gone", "description": "kept"},
                "ok": {"$ref": "#/components/schemas/X"}
            }}
        }}});
        let notes = local_refs(&mut doc);
        let p = &doc["components"]["schemas"]["A"]["properties"];
        assert_eq!(p["x"], json!({"$ref": "#/components/schemas/X"}));
        assert_eq!(p["d"], json!({"description": "kept"}));
        assert_eq!(p["ok"], json!({"$ref": "#/components/schemas/X"}));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("/properties/d/$ref: #/$defs/Gone resolves nowhere"));
    }

    #[test]
    fn titles_that_shadow_component_names_are_dropped() {
        let mut doc = json!({"components": {"schemas": {
            "WebLocation": {"type": "object", "nullable": true, "title": "Web location"},
            "Plain": {"type": "object", "title": "Plain"},
            "Outer": {"type": "object", "properties": {"p": {"type": "object", "title": "plain"}}}
        }}});
        let notes = shadowing_titles(&mut doc);
        let s = &doc["components"]["schemas"];
        assert!(s["WebLocation"].get("title").is_none());
        assert_eq!(s["Plain"]["title"], "Plain");
        assert!(s["Outer"]["properties"]["p"].get("title").is_none());
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn nonconforming_values_are_dropped() {
        let mut doc = json!({"components": {"schemas": {
            "Range": {"type": "object", "required": ["start", "end"],
                      "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}},
            "S": {"type": "object", "properties": {
                "ranges": {"type": "array", "items": {"$ref": "#/components/schemas/Range"},
                           "default": [{"start": 0}]},
                "fine": {"type": "array", "items": {"$ref": "#/components/schemas/Range"},
                         "default": [{"start": 0, "end": 1}]},
                "kind": {"type": "integer", "enum": [1, "two", 3]},
                "narrow": {"type": "integer", "enum": [1], "allOf": [{"$ref": "#/components/schemas/Range"}]},
                "n": {"type": "integer", "example": "many"},
                "payer": {"type": "object", "format": "payer_v1"},
                "flag": {"type": "string", "required": true},
                "tag": {"type": "string", "enum": ["api-key"], "default": "api-key"}
            }}
        }}});
        let notes = values(&mut doc);
        let p = &doc["components"]["schemas"]["S"]["properties"];
        assert!(p["ranges"].get("default").is_none());
        assert_eq!(p["fine"]["default"], json!([{"start": 0, "end": 1}]));
        assert_eq!(p["kind"]["enum"], json!([1, 3]));
        assert!(p["narrow"].get("enum").is_none() && p["narrow"]["allOf"].is_array());
        assert!(p["n"].get("example").is_none());
        assert!(p["payer"].get("format").is_none());
        assert!(p["flag"].get("required").is_none());
        assert!(p["tag"].get("default").is_none() && p["tag"]["enum"].is_array());
        assert_eq!(notes.len(), 7, "{notes:#?}");
    }
}
