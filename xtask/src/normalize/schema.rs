//! One schema: boolean schemas (rewrite 8), the order of the rewrites on a schema object
//! (null members of combinators first, see [`super::composition`], then the schema's own
//! keywords, see [`super::keywords`]), and the walk into its subschemas, which reports
//! the keywords that have no 3.0 equivalent (see [`super::warnings`]).

use super::warnings::untranslatable;
use super::{Lowerer, child, keys, kind};
use serde_json::{Map, Value, json};

impl Lowerer {
    pub(super) fn schema(&mut self, value: &mut Value, ptr: &str) {
        self.nested(ptr, |this| this.schema_here(value, ptr));
    }

    fn schema_here(&mut self, value: &mut Value, ptr: &str) {
        let schema = match value {
            Value::Bool(accept) => {
                *value = boolean_schema(*accept);
                return;
            }
            Value::Object(schema) => schema,
            other => {
                let found = kind(other);
                self.warn(
                    ptr,
                    format!("expected a schema, found {found}; left in place"),
                );
                return;
            }
        };
        self.collapse_null_members(schema);
        self.lower_keywords(schema, ptr);
        self.walk_subschemas(schema, ptr);
    }

    /// Walks the subschemas and reports the keywords without a 3.0 equivalent, key by key.
    fn walk_subschemas(&mut self, schema: &mut Map<String, Value>, ptr: &str) {
        for key in keys(schema) {
            let p = child(ptr, &key);
            if let Some(what) = untranslatable(&key) {
                let hint = if key == "$defs" {
                    " (a `$ref` into it will not resolve: move its schemas to \
                     `components/schemas`)"
                } else {
                    ""
                };
                self.warn(
                    &p,
                    format!(
                        "`{key}` ({what}) has no OpenAPI 3.0 equivalent; left in place, ignored \
                         by the generator{hint}"
                    ),
                );
            }
            let Some(value) = schema.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "properties" | "$defs" | "patternProperties" | "dependentSchemas" => {
                    self.entries(value, &p, "a map of schemas", false, Self::schema);
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => self.schema_list(value, &p),
                "items" | "not" | "if" | "then" | "else" | "contains" | "propertyNames" => {
                    self.schema(value, &p);
                }
                // 3.0 allows booleans for `additionalProperties`; the other two stay as they
                // are anyway.
                "additionalProperties" | "unevaluatedProperties" | "unevaluatedItems"
                    if !value.is_boolean() =>
                {
                    self.schema(value, &p);
                }
                _ => {}
            }
        }
    }

    fn schema_list(&mut self, value: &mut Value, ptr: &str) {
        let Value::Array(schemas) = value else {
            let found = kind(value);
            self.warn(
                ptr,
                format!("expected a list of schemas, found {found}; left in place"),
            );
            return;
        };
        for (index, schema) in schemas.iter_mut().enumerate() {
            self.schema(schema, &child(ptr, &index.to_string()));
        }
    }
}

pub(super) fn boolean_schema(accept: bool) -> Value {
    if accept {
        json!({})
    } else {
        json!({ "not": {} })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::normalize;
    use crate::normalize::tests::lower_quiet;
    use serde_json::json;

    // ---- rewrite 8: boolean schemas ----

    #[test]
    fn boolean_schemas_become_objects_except_additional_properties() {
        let schema = lower_quiet(json!({
            "type": "object",
            "properties": { "any": true, "never": false, "list": { "type": "array", "items": true } },
            "additionalProperties": false
        }));
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": { "any": {}, "never": { "not": {} }, "list": { "type": "array", "items": {} } },
                "additionalProperties": false
            })
        );
        assert_eq!(lower_quiet(json!(true)), json!({}));
        assert_eq!(lower_quiet(json!(false)), json!({ "not": {} }));
        assert_eq!(
            lower_quiet(json!({ "additionalProperties": true })),
            json!({ "additionalProperties": true })
        );
    }

    // ---- never rewrite inside values ----

    #[test]
    fn example_default_enum_and_extensions_are_never_rewritten() {
        let odd = json!({
            "type": ["string", "null"],
            "const": 1,
            "examples": [1, 2],
            "exclusiveMinimum": 3,
            "$ref": "#/x",
            "description": "d",
            "anyOf": [{ "type": "null" }, { "type": "string" }],
            "items": true,
            "prefixItems": []
        });
        let schema = json!({
            "type": "object",
            "example": odd.clone(),
            "default": odd.clone(),
            "enum": [odd.clone()],
            "x-odd": odd.clone(),
            "properties": { "p": { "type": "string", "x-schema": odd.clone() } }
        });
        let mut doc = json!({
            "openapi": "3.1.0",
            "x-top": odd.clone(),
            "paths": {
                "x-paths": odd.clone(),
                "/p": {
                    "x-item": odd.clone(),
                    "get": {
                        "x-op": odd.clone(),
                        "parameters": [{ "name": "q", "in": "query", "schema": { "type": "string" }, "example": odd.clone() }],
                        "responses": {
                            "x-responses": odd.clone(),
                            "200": { "description": "ok", "x-resp": odd.clone(), "content": {
                                "application/json": { "schema": { "type": "string" }, "example": odd.clone() }
                            } }
                        }
                    }
                }
            },
            "components": { "x-comp": odd.clone(), "schemas": { "S": schema.clone() } }
        });
        let mut expected = doc.clone();
        expected["openapi"] = json!("3.0.3");
        assert_eq!(normalize(&mut doc), []);
        assert_eq!(doc, expected);
    }
}
