//! `anyOf`/`oneOf` with null members (rewrite 2: the member removed, `nullable: true` set,
//! a single remaining member merged into the parent) and `$ref` with sibling keywords
//! (rewrite 6: `allOf: [{$ref}]` plus the siblings).

use super::keywords::DROPPED_KEYWORDS;
use super::schema::boolean_schema;
use super::types::KNOWN_TYPES;
use super::{Lowerer, MAX_DEPTH, is_extension};
use serde_json::{Map, Value, json};

/// Rounds of null-member removal on one schema (each round may merge a member that itself
/// has a nullable combinator).
const MAX_COLLAPSE_ROUNDS: usize = 16;

/// Keywords of a schema that only describe it; when a member of a nullable combinator is
/// merged into its parent, the parent's value wins for these.
const ANNOTATIONS: [&str; 9] = [
    "title",
    "description",
    "default",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "externalDocs",
];

impl Lowerer {
    /// Rewrite 2: null members of `anyOf`/`oneOf` become `nullable: true`.
    pub(super) fn collapse_null_members(&mut self, schema: &mut Map<String, Value>) {
        for _ in 0..MAX_COLLAPSE_ROUNDS {
            let mut changed = false;
            for key in ["anyOf", "oneOf"] {
                let Some(Value::Array(members)) = schema.get_mut(key) else {
                    continue;
                };
                let before = members.len();
                let depth = self.depth;
                members.retain(|member| !lowers_to_null(member, depth));
                if members.len() == before {
                    continue;
                }
                changed = true;
                let single = if members.len() == 1 {
                    members.pop()
                } else {
                    None
                };
                let now_empty = members.is_empty();
                schema.insert("nullable".to_owned(), Value::Bool(true));
                if now_empty {
                    schema.remove(key);
                }
                if let Some(member) = single {
                    merge_member(schema, member);
                } else if now_empty && !schema.contains_key("enum") {
                    // Only null was allowed.
                    schema.insert("enum".to_owned(), json!([null]));
                }
            }
            if !changed {
                return;
            }
        }
    }
}

/// Adds `member` to the schema's `allOf` (first if `front`), creating it if needed.
pub(super) fn add_all_of(schema: &mut Map<String, Value>, member: Value, front: bool) {
    match schema.get_mut("allOf") {
        Some(Value::Array(members)) => {
            if front {
                members.insert(0, member);
            } else {
                members.push(member);
            }
        }
        Some(other) => {
            // Invalid `allOf`: keep it as a member, it is reported when walked.
            let old = other.take();
            *other = if front {
                json!([member, old])
            } else {
                json!([old, member])
            };
        }
        None => {
            schema.insert("allOf".to_owned(), json!([member]));
        }
    }
}

/// Whether a member of `anyOf`/`oneOf` only allows null (annotations aside).
fn is_null_schema(member: &Value) -> bool {
    let Some(member) = member.as_object() else {
        return false;
    };
    let mut null_only = false;
    for (key, value) in member {
        let says_null = match key.as_str() {
            "type" => match value {
                Value::String(name) => name == "null",
                Value::Array(names) => {
                    !names.is_empty() && names.iter().all(|name| name.as_str() == Some("null"))
                }
                _ => false,
            },
            "enum" => value
                .as_array()
                .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_null)),
            "const" => value.is_null(),
            other if ignored_by_null(other) => continue,
            _ => return false,
        };
        if !says_null {
            return false;
        }
        null_only = true;
    }
    null_only
}

/// Whether `member` only allows null once lowered: decided on a lowered copy (warnings
/// discarded), so that `{anyOf: [{type: "null"}]}` or `{type: ["null"], const: null}` count,
/// and a member kept by one pass is never removed by the next.
fn lowers_to_null(member: &Value, depth: usize) -> bool {
    if is_null_schema(member) {
        return true;
    }
    if depth >= MAX_DEPTH {
        return false;
    }
    let Value::Object(member) = member else {
        return false;
    };
    // Cheap exits before copying: lowering never removes any other keyword, and keeps a
    // non-null type name.
    let could_be_null = member.iter().all(|(key, value)| match key.as_str() {
        "type" => value
            .as_str()
            .is_none_or(|name| !KNOWN_TYPES.contains(&name)),
        "enum" | "const" | "anyOf" | "oneOf" => true,
        other => ignored_by_null(other),
    });
    if !could_be_null {
        return false;
    }
    let mut copy = member.clone();
    let mut scratch = Lowerer {
        depth: depth + 1,
        ..Lowerer::default()
    };
    scratch.collapse_null_members(&mut copy);
    scratch.lower_keywords(&mut copy, "");
    is_null_schema(&Value::Object(copy))
}

/// Keywords that cannot reject a null instance (annotations, keywords of other types,
/// `nullable` itself), so a schema saying "null" stays null-only with them. Lowering a
/// schema never turns one of its other keywords into one of these, which keeps
/// [`is_null_schema`] stable across passes.
fn ignored_by_null(key: &str) -> bool {
    const OTHER_TYPES: [&str; 31] = [
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "unevaluatedItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
    ];
    key == "nullable"
        || key == "$comment"
        || DROPPED_KEYWORDS.contains(&key)
        || ANNOTATIONS.contains(&key)
        || OTHER_TYPES.contains(&key)
        || is_extension(key)
}

/// Merges the only non-null member of a nullable combinator into its parent, or appends it
/// to the parent's `allOf` if some keyword clashes.
fn merge_member(schema: &mut Map<String, Value>, member: Value) {
    let member = match member {
        Value::Bool(true) => return,
        Value::Bool(false) => boolean_schema(false),
        other => other,
    };
    let Value::Object(member) = member else {
        add_all_of(schema, member, false);
        return;
    };
    let clash = member.iter().any(|(key, value)| {
        schema
            .get(key)
            .is_some_and(|own| own != value && !ANNOTATIONS.contains(&key.as_str()))
    });
    if clash {
        add_all_of(schema, Value::Object(member), false);
        return;
    }
    let mut member = member;
    // Null was allowed by the removed member: an `enum` coming from this member must list it,
    // since 3.0 checks `enum` even on a nullable schema.
    if !schema.contains_key("enum") && !schema.contains_key("const") {
        if let Some(value) = member.remove("const") {
            member.insert("enum".to_owned(), Value::Array(vec![value]));
        }
        if let Some(Value::Array(values)) = member.get_mut("enum")
            && !values.iter().any(Value::is_null)
        {
            values.push(Value::Null);
        }
    }
    for (key, value) in member {
        schema.entry(key).or_insert(value);
    }
}

/// Rewrite 6: a `$ref` with sibling keywords becomes `allOf: [{$ref}]` next to them (a 3.0
/// `$ref` replaces its object, siblings and all).
pub(super) fn wrap_ref_with_siblings(schema: &mut Map<String, Value>) {
    if schema.len() > 1
        && schema.get("$ref").is_some_and(Value::is_string)
        && let Some(reference) = schema.remove("$ref")
    {
        let mut wrapper = Map::new();
        wrapper.insert("$ref".to_owned(), reference);
        add_all_of(schema, Value::Object(wrapper), true);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::tests::lower_quiet;
    use serde_json::json;

    // ---- rewrite 2: null members of anyOf/oneOf ----

    #[test]
    fn any_of_with_null_and_one_inline_member_is_merged() {
        let schema = lower_quiet(json!({
            "anyOf": [{ "type": "integer" }, { "type": "null" }],
            "title": "Progress"
        }));
        assert_eq!(
            schema,
            json!({ "type": "integer", "nullable": true, "title": "Progress" })
        );
    }

    #[test]
    fn any_of_with_null_and_a_ref_becomes_all_of() {
        let schema = lower_quiet(json!({
            "anyOf": [{ "$ref": "#/components/schemas/X" }, { "type": "null" }],
            "description": "d",
            "default": null
        }));
        assert_eq!(
            schema,
            json!({
                "allOf": [{ "$ref": "#/components/schemas/X" }],
                "nullable": true,
                "description": "d",
                "default": null
            })
        );
    }

    #[test]
    fn one_of_with_null_and_several_members_keeps_the_combinator() {
        let schema = lower_quiet(json!({
            "oneOf": [
                { "$ref": "#/components/schemas/A" },
                { "type": "null" },
                { "$ref": "#/components/schemas/B" }
            ],
            "discriminator": { "propertyName": "kind" }
        }));
        assert_eq!(
            schema,
            json!({
                "oneOf": [{ "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" }],
                "discriminator": { "propertyName": "kind" },
                "nullable": true
            })
        );
    }

    #[test]
    fn every_null_member_form_is_recognised() {
        for member in [
            json!({ "type": "null" }),
            json!({ "type": ["null"] }),
            json!({ "enum": [null] }),
            json!({ "const": null }),
            json!({ "nullable": true, "enum": [null] }),
            json!({ "type": "null", "description": "nothing", "title": "None" }),
        ] {
            let schema = lower_quiet(json!({ "oneOf": [{ "type": "string" }, member.clone()] }));
            assert_eq!(
                schema,
                json!({ "type": "string", "nullable": true }),
                "{member}"
            );
        }
        // Not null-only: left alone.
        let schema = lower_quiet(json!({ "anyOf": [{ "type": "string" }, { "enum": [null, 1] }] }));
        assert_eq!(
            schema,
            json!({
                "anyOf": [
                    { "type": "string" },
                    { "enum": [null, 1], "nullable": true, "type": "integer" }
                ]
            })
        );
    }

    #[test]
    fn clashing_member_goes_to_all_of_and_annotations_of_the_parent_win() {
        let schema = lower_quiet(json!({
            "type": "object",
            "description": "outer",
            "anyOf": [{ "type": "string", "description": "inner" }, { "type": "null" }]
        }));
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "description": "outer",
                "nullable": true,
                "allOf": [{ "type": "string", "description": "inner" }]
            })
        );
        let schema = lower_quiet(json!({
            "description": "outer",
            "anyOf": [{ "type": "string", "description": "inner" }, { "type": "null" }]
        }));
        assert_eq!(
            schema,
            json!({ "description": "outer", "nullable": true, "type": "string" })
        );
    }

    #[test]
    fn only_null_members_mean_only_null() {
        let schema = lower_quiet(json!({ "anyOf": [{ "type": "null" }], "title": "t" }));
        assert_eq!(
            schema,
            json!({ "title": "t", "nullable": true, "enum": [null] })
        );
    }

    #[test]
    fn nested_nullable_combinators_collapse() {
        let schema = lower_quiet(json!({
            "anyOf": [
                { "anyOf": [{ "type": ["string", "null"] }, { "type": "null" }] },
                { "type": "null" }
            ]
        }));
        assert_eq!(schema, json!({ "type": "string", "nullable": true }));
    }

    #[test]
    fn merged_member_is_lowered_too() {
        let schema = lower_quiet(json!({
            "anyOf": [{ "const": "a", "examples": ["a"] }, { "type": "null" }]
        }));
        assert_eq!(
            schema,
            json!({ "enum": ["a", null], "nullable": true, "example": "a", "type": "string" })
        );
        let schema = lower_quiet(json!({
            "anyOf": [{ "type": "string", "enum": ["a", "b"] }, { "type": "null" }],
            "default": null
        }));
        assert_eq!(
            schema,
            json!({ "type": "string", "enum": ["a", "b", null], "nullable": true, "default": null })
        );
    }

    // ---- rewrite 6: $ref siblings ----

    #[test]
    fn ref_with_siblings_is_wrapped_in_all_of() {
        assert_eq!(
            lower_quiet(
                json!({ "$ref": "#/components/schemas/X", "description": "d", "readOnly": true })
            ),
            json!({ "allOf": [{ "$ref": "#/components/schemas/X" }], "description": "d", "readOnly": true })
        );
        assert_eq!(
            lower_quiet(
                json!({ "$ref": "#/components/schemas/X", "allOf": [{ "required": ["a"] }] })
            ),
            json!({ "allOf": [{ "$ref": "#/components/schemas/X" }, { "required": ["a"] }] })
        );
        assert_eq!(
            lower_quiet(json!({ "$ref": "#/components/schemas/X", "$comment": "c" })),
            json!({ "$ref": "#/components/schemas/X" })
        );
        let plain = json!({ "$ref": "#/components/schemas/X" });
        assert_eq!(lower_quiet(plain.clone()), plain);
    }
}
