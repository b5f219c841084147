//! What the normaliser reports: [`Warning`]; and the schema keywords without an OpenAPI 3.0
//! equivalent, left in place with a warning (their subschemas are still lowered, see
//! [`super::schema`]).

use std::fmt;

/// One construct that could not be lowered to OpenAPI 3.0.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    /// RFC 6901 JSON pointer to the schema/node holding the construct, e.g.
    /// `/components/schemas/Foo/prefixItems`.
    pub(crate) pointer: String,
    /// What was found and what was done with it.
    pub(crate) message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// Keywords without an OpenAPI 3.0 equivalent, with a short explanation.
pub(super) fn untranslatable(key: &str) -> Option<&'static str> {
    Some(match key {
        "prefixItems" => "tuple validation",
        "$defs" => "local schema definitions",
        "if" | "then" | "else" => "conditional subschema",
        "patternProperties" => "properties matched by a pattern",
        "unevaluatedProperties" => "constraint on unevaluated properties",
        "unevaluatedItems" => "constraint on unevaluated items",
        "dependentSchemas" => "subschemas depending on present properties",
        "dependentRequired" => "properties required by present properties",
        "propertyNames" => "schema for property names",
        "contains" | "minContains" | "maxContains" => "constraint on matching array items",
        "$dynamicRef" | "$dynamicAnchor" => "dynamic reference",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::tests::{lower, pointers};
    use serde_json::{Value, json};

    // ---- untranslatable constructs ----

    macro_rules! warns_and_keeps {
        ($name:ident, $key:literal, $value:expr) => {
            #[test]
            fn $name() {
                let value: Value = $value;
                let (schema, warnings) = lower(json!({ "type": "object", $key: value.clone() }));
                assert_eq!(pointers(&warnings), [concat!("/components/schemas/S/", $key)]);
                assert!(warnings[0].message.starts_with(concat!("`", $key, "`")), "{}", warnings[0]);
                assert!(warnings[0].message.contains("left in place"), "{}", warnings[0]);
                assert_eq!(schema, json!({ "type": "object", $key: value }));
            }
        };
    }

    warns_and_keeps!(
        warns_prefix_items,
        "prefixItems",
        json!([{ "type": "string" }])
    );
    warns_and_keeps!(warns_defs, "$defs", json!({ "D": { "type": "string" } }));
    warns_and_keeps!(warns_if, "if", json!({ "required": ["a"] }));
    warns_and_keeps!(warns_then, "then", json!({ "required": ["b"] }));
    warns_and_keeps!(warns_else, "else", json!({ "required": ["c"] }));
    warns_and_keeps!(
        warns_pattern_properties,
        "patternProperties",
        json!({ "^x": { "type": "string" } })
    );
    warns_and_keeps!(
        warns_unevaluated_properties,
        "unevaluatedProperties",
        json!(false)
    );
    warns_and_keeps!(
        warns_unevaluated_items,
        "unevaluatedItems",
        json!({ "type": "string" })
    );
    warns_and_keeps!(
        warns_dependent_schemas,
        "dependentSchemas",
        json!({ "a": { "required": ["b"] } })
    );
    warns_and_keeps!(
        warns_dependent_required,
        "dependentRequired",
        json!({ "a": ["b"] })
    );
    warns_and_keeps!(
        warns_property_names,
        "propertyNames",
        json!({ "pattern": "^[a-z]+$" })
    );
    warns_and_keeps!(warns_contains, "contains", json!({ "type": "integer" }));
    warns_and_keeps!(warns_min_contains, "minContains", json!(1));
    warns_and_keeps!(warns_max_contains, "maxContains", json!(2));
    warns_and_keeps!(warns_dynamic_ref, "$dynamicRef", json!("#node"));
    warns_and_keeps!(warns_dynamic_anchor, "$dynamicAnchor", json!("node"));

    #[test]
    fn subschemas_of_untranslatable_keywords_are_still_lowered() {
        let (schema, warnings) = lower(json!({
            "prefixItems": [{ "type": ["string", "null"] }, true],
            "$defs": { "D": { "const": 1 } }
        }));
        assert_eq!(
            schema,
            json!({
                "prefixItems": [{ "type": "string", "nullable": true }, {}],
                "$defs": { "D": { "enum": [1] } }
            })
        );
        assert_eq!(warnings.len(), 2);
    }
}
