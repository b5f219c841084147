//! Rewrite 1: `type` arrays and `type: "null"` (→ `nullable`), several types (→ one
//! `anyOf` branch per type, with the keywords and enum values that belong to it), unknown
//! type names (removed with a warning) and Swagger 2's `file`.

use super::composition::add_all_of;
use super::{Lowerer, child, keys, kind};
use serde_json::{Map, Value, json};

pub(super) const KNOWN_TYPES: [&str; 6] =
    ["string", "number", "integer", "boolean", "array", "object"];

impl Lowerer {
    /// Rewrite 1: `type` arrays and `type: "null"`.
    pub(super) fn lower_type(&mut self, schema: &mut Map<String, Value>, ptr: &str) {
        let p = child(ptr, "type");
        let types = match schema.get("type") {
            None => return,
            Some(Value::String(name)) => {
                let name = name.clone();
                match name.as_str() {
                    "null" => {
                        schema.remove("type");
                        make_null_only(schema);
                    }
                    "file" => {
                        schema.insert("type".to_owned(), json!("string"));
                        if !schema.contains_key("format") {
                            schema.insert("format".to_owned(), json!("binary"));
                        }
                    }
                    known if KNOWN_TYPES.contains(&known) => {}
                    unknown => {
                        schema.remove("type");
                        self.warn(&p, unknown_type_message(unknown));
                    }
                }
                return;
            }
            Some(Value::Array(types))
                if !types.is_empty() && types.iter().all(Value::is_string) =>
            {
                types
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            }
            Some(other) => {
                let found = match other {
                    Value::Array(types) if types.is_empty() => "an empty array",
                    Value::Array(_) => "an array holding a non-string",
                    other => kind(other),
                };
                self.warn(
                    &p,
                    format!(
                        "`type` is {found}, not a type name or a list of them (invalid in 3.1 \
                         too); left in place"
                    ),
                );
                return;
            }
        };

        let has_null = types.iter().any(|name| name == "null");
        let mut known: Vec<&str> = Vec::new();
        let mut dropped_unknown = false;
        for name in &types {
            let name = if name == "file" {
                "string"
            } else {
                name.as_str()
            };
            if name == "null" || known.contains(&name) {
                continue;
            }
            if KNOWN_TYPES.contains(&name) {
                known.push(name);
            } else {
                dropped_unknown = true;
                self.warn(&p, unknown_type_message(name));
            }
        }
        if has_null {
            schema.insert("nullable".to_owned(), Value::Bool(true));
        }
        match known.as_slice() {
            [] => {
                schema.remove("type");
                if has_null && !dropped_unknown {
                    make_null_only(schema);
                }
            }
            [single] => {
                schema.insert("type".to_owned(), json!(single));
            }
            several => {
                schema.remove("type");
                split_types(schema, several);
            }
        }
    }
}

fn unknown_type_message(name: &str) -> String {
    format!(
        "unknown type `{name}`; removed (the generator panics on unknown types), so the schema \
         no longer restricts the type"
    )
}

/// `nullable: true, enum: [null]`: the 3.0 way of saying "only null".
fn make_null_only(schema: &mut Map<String, Value>) {
    schema.insert("nullable".to_owned(), Value::Bool(true));
    if !schema.contains_key("enum") {
        schema.insert("enum".to_owned(), json!([null]));
    }
}

/// Types a keyword applies to; empty if it applies to all (or it is not obvious).
fn keyword_types(key: &str, value: &Value) -> &'static [&'static str] {
    match key {
        "minLength" | "maxLength" | "pattern" => &["string"],
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => {
            &["integer", "number"]
        }
        "items" | "minItems" | "maxItems" | "uniqueItems" | "prefixItems" | "contains"
        | "minContains" | "maxContains" | "unevaluatedItems" => &["array"],
        "properties"
        | "required"
        | "additionalProperties"
        | "minProperties"
        | "maxProperties"
        | "patternProperties"
        | "propertyNames"
        | "dependentRequired"
        | "dependentSchemas"
        | "unevaluatedProperties" => &["object"],
        "format" => match value.as_str() {
            Some(format) if format.starts_with("int") || format.starts_with("uint") => {
                &["integer", "number"]
            }
            Some("float" | "double") => &["number"],
            Some("decimal") | None => &[],
            Some(_) => &["string"],
        },
        _ => &[],
    }
}

pub(super) fn value_has_type(value: &Value, name: &str) -> bool {
    match (value, name) {
        (Value::String(_), "string")
        | (Value::Bool(_), "boolean")
        | (Value::Array(_), "array")
        | (Value::Object(_), "object")
        | (Value::Number(_), "number") => true,
        (Value::Number(number), "integer") => {
            number.is_i64()
                || number.is_u64()
                || number.as_f64().is_some_and(|float| float.fract() == 0.0)
        }
        _ => false,
    }
}

/// Rewrite 1, several non-null types: one `anyOf` branch per type.
fn split_types(schema: &mut Map<String, Value>, types: &[&str]) {
    let mut branches: Vec<Map<String, Value>> = types
        .iter()
        .map(|name| {
            let mut branch = Map::new();
            branch.insert("type".to_owned(), json!(name));
            branch
        })
        .collect();

    for key in keys(schema) {
        let Some(value) = schema.get(&key) else {
            continue;
        };
        let applies_to = keyword_types(&key, value);
        let matching: Vec<usize> = (0..types.len())
            .filter(|&index| {
                types
                    .get(index)
                    .is_some_and(|name| applies_to.contains(name))
            })
            .collect();
        if let [only] = matching[..]
            && let Some(value) = schema.remove(&key)
            && let Some(branch) = branches.get_mut(only)
        {
            branch.insert(key, value);
        }
    }

    // Enum values go to the branch of their type when that is unambiguous; branches left
    // without values cannot match and are dropped. Nulls are covered by `nullable`.
    let enum_has_null = schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| values.iter().any(Value::is_null));
    let split_enum = match schema.get("enum") {
        Some(Value::Array(values)) if values.iter().any(|value| !value.is_null()) => {
            let mut per_branch: Vec<Vec<Value>> = vec![Vec::new(); types.len()];
            let mut unambiguous = true;
            for value in values.iter().filter(|value| !value.is_null()) {
                let matching: Vec<usize> = (0..types.len())
                    .filter(|&index| {
                        types
                            .get(index)
                            .is_some_and(|name| value_has_type(value, name))
                    })
                    .collect();
                if let [only] = matching[..]
                    && let Some(bucket) = per_branch.get_mut(only)
                {
                    bucket.push(value.clone());
                } else {
                    unambiguous = false;
                    break;
                }
            }
            unambiguous.then_some(per_branch)
        }
        _ => None,
    };
    if let Some(per_branch) = split_enum {
        schema.remove("enum");
        branches = branches
            .into_iter()
            .zip(per_branch)
            .filter(|(_, values)| !values.is_empty())
            .map(|(mut branch, values)| {
                branch.insert("enum".to_owned(), Value::Array(values));
                branch
            })
            .collect();
    }

    if branches.len() == 1 {
        for branch in branches {
            for (key, mut value) in branch {
                // One type left: the enum is the schema's own again and must keep null.
                if key == "enum"
                    && enum_has_null
                    && let Value::Array(values) = &mut value
                {
                    values.push(Value::Null);
                }
                schema.insert(key, value);
            }
        }
        return;
    }
    let any_of = Value::Array(branches.into_iter().map(Value::Object).collect());
    if schema.contains_key("anyOf") {
        add_all_of(schema, json!({ "anyOf": any_of }), false);
    } else {
        schema.insert("anyOf".to_owned(), any_of);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::tests::{lower, lower_quiet, pointers};
    use serde_json::json;

    // ---- rewrite 1: type ----

    #[test]
    fn type_array_with_null_becomes_nullable() {
        let schema = lower_quiet(json!({ "type": ["string", "null"], "format": "date-time" }));
        assert_eq!(
            schema,
            json!({ "type": "string", "format": "date-time", "nullable": true })
        );
        let schema = lower_quiet(json!({ "type": ["null", "object"], "properties": {} }));
        assert_eq!(
            schema,
            json!({ "type": "object", "nullable": true, "properties": {} })
        );
    }

    #[test]
    fn single_element_type_array_becomes_a_string() {
        assert_eq!(
            lower_quiet(json!({ "type": ["integer"] })),
            json!({ "type": "integer" })
        );
    }

    #[test]
    fn null_only_types_become_nullable_enum_null() {
        let expected = json!({ "nullable": true, "enum": [null] });
        assert_eq!(lower_quiet(json!({ "type": ["null"] })), expected);
        assert_eq!(lower_quiet(json!({ "type": "null" })), expected);
        assert_eq!(lower_quiet(json!({ "type": ["null", "null"] })), expected);
    }

    #[test]
    fn several_types_become_any_of_with_keywords_in_their_branch() {
        let schema = lower_quiet(json!({
            "type": ["string", "array", "integer", "null"],
            "description": "d",
            "format": "uuid",
            "maxLength": 36,
            "items": { "type": "string" },
            "minItems": 1,
            "minimum": 0,
            "default": "x"
        }));
        assert_eq!(
            schema,
            json!({
                "description": "d",
                "default": "x",
                "nullable": true,
                "anyOf": [
                    { "type": "string", "format": "uuid", "maxLength": 36 },
                    { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                    { "type": "integer", "minimum": 0 }
                ]
            })
        );
    }

    #[test]
    fn ambiguous_keywords_stay_on_the_parent() {
        let schema = lower_quiet(json!({
            "type": ["integer", "number"], "minimum": 1, "format": "int64"
        }));
        assert_eq!(
            schema,
            json!({
                "minimum": 1,
                "format": "int64",
                "anyOf": [{ "type": "integer" }, { "type": "number" }]
            })
        );
    }

    #[test]
    fn several_types_next_to_an_existing_any_of_go_to_all_of() {
        let schema = lower_quiet(json!({
            "type": ["string", "boolean"],
            "anyOf": [{ "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" }]
        }));
        assert_eq!(
            schema,
            json!({
                "anyOf": [{ "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" }],
                "allOf": [{ "anyOf": [{ "type": "string" }, { "type": "boolean" }] }]
            })
        );
    }

    #[test]
    fn enum_values_are_split_between_type_branches() {
        let schema = lower_quiet(json!({
            "type": ["string", "integer", "boolean", "null"],
            "enum": ["a", 1, "b", null]
        }));
        assert_eq!(
            schema,
            json!({
                "nullable": true,
                "anyOf": [
                    { "type": "string", "enum": ["a", "b"] },
                    { "type": "integer", "enum": [1] }
                ]
            })
        );
        // One branch left: no anyOf at all, and null stays allowed.
        let schema = lower_quiet(json!({ "type": ["string", "integer"], "enum": ["a", "b"] }));
        assert_eq!(schema, json!({ "type": "string", "enum": ["a", "b"] }));
        let schema =
            lower_quiet(json!({ "type": ["string", "integer", "null"], "enum": ["a", null] }));
        assert_eq!(
            schema,
            json!({ "type": "string", "enum": ["a", null], "nullable": true })
        );
        // 1 fits integer and number: kept on the parent.
        let schema = lower_quiet(json!({ "type": ["integer", "number"], "enum": [1] }));
        assert_eq!(
            schema,
            json!({ "enum": [1], "anyOf": [{ "type": "integer" }, { "type": "number" }] })
        );
    }

    #[test]
    fn unknown_type_names_are_removed_with_a_warning() {
        let (schema, warnings) = lower(json!({ "type": "date", "description": "d" }));
        assert_eq!(schema, json!({ "description": "d" }));
        assert_eq!(pointers(&warnings), ["/components/schemas/S/type"]);
        let (schema, warnings) = lower(json!({ "type": ["foo", "string", "null"] }));
        assert_eq!(schema, json!({ "type": "string", "nullable": true }));
        assert_eq!(pointers(&warnings), ["/components/schemas/S/type"]);
        let (schema, warnings) = lower(json!({ "type": ["foo", "null"] }));
        assert_eq!(schema, json!({ "nullable": true }));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn swagger2_file_type_becomes_binary_string() {
        assert_eq!(
            lower_quiet(json!({ "type": "file" })),
            json!({ "type": "string", "format": "binary" })
        );
    }

    #[test]
    fn invalid_type_values_are_left_with_a_warning() {
        for odd in [
            json!(5),
            json!([]),
            json!(["string", 5]),
            json!(null),
            json!({}),
        ] {
            let (schema, warnings) = lower(json!({ "type": odd.clone() }));
            assert_eq!(schema, json!({ "type": odd }));
            assert_eq!(pointers(&warnings), ["/components/schemas/S/type"], "{odd}");
        }
    }
}
