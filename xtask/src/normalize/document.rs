//! Document-level rewrites: the version, the 3.1-only top-level keys, `components.pathItems`
//! (inlined where a path item refers to it), `mutualTLS` security schemes, and Reference
//! Objects outside schemas (only their `$ref` kept); and the walk of the non-schema objects
//! (paths, operations, parameters, bodies, responses, callbacks, media types, encodings)
//! down to the schemas they hold, which [`super::schema`] lowers.

use super::{Lowerer, child, is_extension, keys, kind, unescape};
use crate::oas::{METHODS, escape};
use serde_json::{Map, Value, json};

/// Longest chain of `$ref`s between `components.pathItems` entries that is followed.
const MAX_PATH_ITEM_REFS: usize = 16;

const PATH_ITEMS_REF: &str = "#/components/pathItems/";

impl Lowerer {
    pub(super) fn document(&mut self, doc: &mut Value) {
        let Some(root) = doc.as_object_mut() else {
            let found = kind(doc);
            self.warn(
                "",
                format!("the document is {found}, not an object; nothing lowered"),
            );
            return;
        };
        let lowering = root
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1"));
        if lowering {
            root.insert("openapi".to_owned(), json!("3.0.3"));
        }
        root.remove("webhooks");
        root.remove("jsonSchemaDialect");
        if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
            info.remove("summary");
            if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
                license.remove("identifier");
            }
        }
        if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut)
            && let Some(Value::Object(items)) = components.remove("pathItems")
        {
            self.path_items = items;
        }
        if lowering && !root.contains_key("paths") {
            root.insert("paths".to_owned(), json!({}));
        }
        for key in keys(root) {
            let ptr = child("", &key);
            let Some(value) = root.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "paths" => self.entries(value, &ptr, "the Paths Object", true, Self::path_item),
                "components" => self.components(value, &ptr),
                _ => {}
            }
        }
    }

    fn components(&mut self, value: &mut Value, ptr: &str) {
        let Some(components) = self.object(value, ptr, "the Components Object") else {
            return;
        };
        for key in keys(components) {
            let p = child(ptr, &key);
            let Some(value) = components.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "schemas" => self.entries(value, &p, "a map of schemas", false, Self::schema),
                "parameters" => {
                    self.entries(value, &p, "a map of parameters", false, Self::parameter);
                }
                "headers" => self.entries(value, &p, "a map of headers", false, Self::parameter),
                "requestBodies" => {
                    let what = "a map of request bodies";
                    self.entries(value, &p, what, false, Self::request_body);
                }
                "responses" => {
                    self.entries(value, &p, "a map of responses", false, Self::response);
                }
                "callbacks" => {
                    self.entries(value, &p, "a map of callbacks", false, Self::callback);
                }
                "securitySchemes" => self.security_schemes(value, &p),
                _ => {}
            }
        }
    }

    fn security_schemes(&mut self, value: &mut Value, ptr: &str) {
        let Some(schemes) = self.object(value, ptr, "a map of security schemes") else {
            return;
        };
        let mutual_tls: Vec<String> = schemes
            .iter()
            .filter(|(_, scheme)| scheme.get("type").and_then(Value::as_str) == Some("mutualTLS"))
            .map(|(name, _)| name.clone())
            .collect();
        for name in mutual_tls {
            schemes.remove(&name);
            self.warn(
                &child(ptr, &name),
                "`mutualTLS` security scheme has no OpenAPI 3.0 equivalent; removed (the 3.0 \
                 parser rejects unknown scheme types); security requirements naming it were \
                 left as they are"
                    .to_owned(),
            );
        }
    }

    fn path_item(&mut self, value: &mut Value, ptr: &str) {
        self.nested(ptr, |this| {
            let Some(item) = this.object(value, ptr, "a Path Item Object") else {
                return;
            };
            this.inline_path_item_ref(item, ptr);
            for key in keys(item) {
                let p = child(ptr, &key);
                let Some(value) = item.get_mut(&key) else {
                    continue;
                };
                match key.as_str() {
                    "parameters" => this.parameters(value, &p),
                    method if METHODS.contains(&method) => this.operation(value, &p),
                    _ => {}
                }
            }
        });
    }

    /// Replaces a `$ref` to `components.pathItems` (3.1-only) by the referenced path item;
    /// fields next to the `$ref` win over the referenced ones.
    fn inline_path_item_ref(&mut self, item: &mut Map<String, Value>, ptr: &str) {
        for _ in 0..MAX_PATH_ITEM_REFS {
            let Some(name) = item
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|reference| reference.strip_prefix(PATH_ITEMS_REF))
                .map(unescape)
            else {
                return;
            };
            let Some(Value::Object(target)) = self.path_items.get(&name).cloned() else {
                self.warn(
                    &child(ptr, "$ref"),
                    format!(
                        "`$ref` to `{PATH_ITEMS_REF}{}` does not resolve (`components/pathItems` \
                         is 3.1-only and was removed); left in place",
                        escape(&name)
                    ),
                );
                return;
            };
            item.remove("$ref");
            let local = std::mem::replace(item, target);
            for (key, value) in local {
                item.insert(key, value);
            }
        }
        if item.contains_key("$ref") {
            self.warn(
                &child(ptr, "$ref"),
                format!(
                    "more than {MAX_PATH_ITEM_REFS} chained `$ref`s between \
                     `components/pathItems` (a cycle?); left in place"
                ),
            );
        }
    }

    fn operation(&mut self, value: &mut Value, ptr: &str) {
        let Some(operation) = self.object(value, ptr, "an Operation Object") else {
            return;
        };
        for key in keys(operation) {
            let p = child(ptr, &key);
            let Some(value) = operation.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "parameters" => self.parameters(value, &p),
                "requestBody" => self.request_body(value, &p),
                "responses" => self.entries(value, &p, "a Responses Object", true, Self::response),
                "callbacks" => {
                    self.entries(value, &p, "a map of callbacks", false, Self::callback);
                }
                _ => {}
            }
        }
    }

    fn parameters(&mut self, value: &mut Value, ptr: &str) {
        let Value::Array(parameters) = value else {
            let found = kind(value);
            self.warn(
                ptr,
                format!("expected a list of parameters, found {found}; left in place"),
            );
            return;
        };
        for (index, parameter) in parameters.iter_mut().enumerate() {
            self.parameter(parameter, &child(ptr, &index.to_string()));
        }
    }

    /// A Parameter Object or a Header Object (same shape for what matters here).
    fn parameter(&mut self, value: &mut Value, ptr: &str) {
        let Some(parameter) = self.object(value, ptr, "a Parameter or Header Object") else {
            return;
        };
        if strip_reference(parameter) {
            return;
        }
        for key in keys(parameter) {
            let p = child(ptr, &key);
            let Some(value) = parameter.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "schema" => self.schema(value, &p),
                "content" => self.content(value, &p),
                _ => {}
            }
        }
    }

    fn request_body(&mut self, value: &mut Value, ptr: &str) {
        let Some(body) = self.object(value, ptr, "a Request Body Object") else {
            return;
        };
        if strip_reference(body) {
            return;
        }
        if let Some(content) = body.get_mut("content") {
            self.content(content, &child(ptr, "content"));
        }
    }

    fn response(&mut self, value: &mut Value, ptr: &str) {
        let Some(response) = self.object(value, ptr, "a Response Object") else {
            return;
        };
        if strip_reference(response) {
            return;
        }
        for key in keys(response) {
            let p = child(ptr, &key);
            let Some(value) = response.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "headers" => self.entries(value, &p, "a map of headers", false, Self::parameter),
                "content" => self.content(value, &p),
                _ => {}
            }
        }
    }

    fn callback(&mut self, value: &mut Value, ptr: &str) {
        let Some(callback) = self.object(value, ptr, "a Callback Object") else {
            return;
        };
        if strip_reference(callback) {
            return;
        }
        for (expression, item) in callback.iter_mut() {
            if !is_extension(expression) {
                self.path_item(item, &child(ptr, expression));
            }
        }
    }

    fn content(&mut self, value: &mut Value, ptr: &str) {
        self.entries(value, ptr, "a map of media types", false, Self::media_type);
    }

    fn media_type(&mut self, value: &mut Value, ptr: &str) {
        let Some(media_type) = self.object(value, ptr, "a Media Type Object") else {
            return;
        };
        for key in keys(media_type) {
            let p = child(ptr, &key);
            let Some(value) = media_type.get_mut(&key) else {
                continue;
            };
            match key.as_str() {
                "schema" => self.schema(value, &p),
                "encoding" => self.entries(value, &p, "a map of encodings", false, Self::encoding),
                _ => {}
            }
        }
    }

    fn encoding(&mut self, value: &mut Value, ptr: &str) {
        let Some(encoding) = self.object(value, ptr, "an Encoding Object") else {
            return;
        };
        if let Some(headers) = encoding.get_mut("headers") {
            let p = child(ptr, "headers");
            self.entries(headers, &p, "a map of headers", false, Self::parameter);
        }
    }
}

/// Reduces a Reference Object outside schemas to its `$ref`; true if it was one.
fn strip_reference(object: &mut Map<String, Value>) -> bool {
    if object.get("$ref").is_some_and(Value::is_string) {
        object.retain(|key, _| key == "$ref");
        true
    } else {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::normalize::normalize;
    use crate::normalize::tests::pointers;
    use serde_json::json;

    // ---- document level ----

    #[test]
    fn version_31_becomes_303() {
        for version in ["3.1.0", "3.1.1"] {
            let mut doc = json!({ "openapi": version, "info": {}, "paths": {} });
            assert_eq!(normalize(&mut doc), []);
            assert_eq!(doc["openapi"], "3.0.3");
        }
    }

    #[test]
    fn version_30_is_kept() {
        let mut doc = json!({ "openapi": "3.0.1", "info": {}, "paths": {} });
        let before = doc.clone();
        assert_eq!(normalize(&mut doc), []);
        assert_eq!(doc, before);
    }

    #[test]
    fn drops_31_only_document_keys_silently() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": {
                "title": "t", "version": "1", "summary": "s",
                "license": { "name": "MIT", "identifier": "MIT" }
            },
            "paths": {},
            "webhooks": { "ping": { "post": { "responses": { "200": { "description": "ok" } } } } },
            "components": { "pathItems": { "P": { "get": {} } }, "schemas": {} }
        });
        assert_eq!(normalize(&mut doc), []);
        assert_eq!(
            doc,
            json!({
                "openapi": "3.0.3",
                "info": { "title": "t", "version": "1", "license": { "name": "MIT" } },
                "paths": {},
                "components": { "schemas": {} }
            })
        );
    }

    #[test]
    fn missing_paths_are_added_to_31_documents_only() {
        let mut doc = json!({ "openapi": "3.1.0", "info": {}, "webhooks": {} });
        normalize(&mut doc);
        assert_eq!(doc, json!({ "openapi": "3.0.3", "info": {}, "paths": {} }));
        let mut doc = json!({ "openapi": "3.0.3", "info": {} });
        normalize(&mut doc);
        assert_eq!(doc, json!({ "openapi": "3.0.3", "info": {} }));
    }

    #[test]
    fn path_item_refs_to_components_are_inlined_and_lowered() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/a": { "$ref": "#/components/pathItems/A", "summary": "local" },
                "/b": { "$ref": "#/components/pathItems/B" }
            },
            "components": { "pathItems": {
                "A": {
                    "summary": "shared",
                    "get": { "parameters": [{ "name": "q", "in": "query", "schema": { "type": ["string", "null"] } }] }
                },
                "B": { "$ref": "#/components/pathItems/A" }
            } }
        });
        assert_eq!(normalize(&mut doc), []);
        let expected = json!({
            "summary": "local",
            "get": { "parameters": [{ "name": "q", "in": "query", "schema": { "type": "string", "nullable": true } }] }
        });
        assert_eq!(doc["paths"]["/a"], expected);
        assert_eq!(doc["paths"]["/b"]["get"], expected["get"]);
        assert_eq!(doc["paths"]["/b"]["summary"], "shared");
        assert_eq!(doc.pointer("/components/pathItems"), None);
    }

    #[test]
    fn unresolved_or_cyclic_path_item_refs_warn() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/cycle": { "$ref": "#/components/pathItems/C" },
                "/external": { "$ref": "other.yaml#/paths/~1x" },
                "/missing": { "$ref": "#/components/pathItems/Nope" }
            },
            "components": { "pathItems": { "C": { "$ref": "#/components/pathItems/C" } } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(
            pointers(&warnings),
            ["/paths/~1cycle/$ref", "/paths/~1missing/$ref"]
        );
        assert!(
            warnings[1].message.contains("does not resolve"),
            "{}",
            warnings[1]
        );
        assert!(warnings[0].message.contains("cycle"), "{}", warnings[0]);
        assert_eq!(
            doc["paths"]["/external"],
            json!({ "$ref": "other.yaml#/paths/~1x" })
        );
    }

    #[test]
    fn mutual_tls_security_schemes_are_removed_with_a_warning() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": {},
            "components": { "securitySchemes": {
                "key": { "type": "apiKey", "in": "header", "name": "X-Key" },
                "mtls": { "type": "mutualTLS" }
            } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(pointers(&warnings), ["/components/securitySchemes/mtls"]);
        assert!(warnings[0].message.contains("removed"));
        assert_eq!(
            doc["components"]["securitySchemes"],
            json!({ "key": { "type": "apiKey", "in": "header", "name": "X-Key" } })
        );
    }

    #[test]
    fn reference_objects_outside_schemas_keep_only_ref() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/p": {
                "parameters": [{ "$ref": "#/components/parameters/P", "description": "d" }],
                "get": {
                    "requestBody": { "$ref": "#/components/requestBodies/B", "summary": "s" },
                    "responses": {
                        "200": { "$ref": "#/components/responses/R", "summary": "s", "description": "d" },
                        "400": { "description": "bad", "headers": {
                            "X-Rate": { "$ref": "#/components/headers/H", "description": "d" }
                        } }
                    },
                    "callbacks": { "cb": { "$ref": "#/components/callbacks/C", "description": "d" } }
                }
            } }
        });
        assert_eq!(normalize(&mut doc), []);
        let op = &doc["paths"]["/p"];
        assert_eq!(
            op["parameters"][0],
            json!({ "$ref": "#/components/parameters/P" })
        );
        assert_eq!(
            op["get"]["requestBody"],
            json!({ "$ref": "#/components/requestBodies/B" })
        );
        assert_eq!(
            op["get"]["responses"]["200"],
            json!({ "$ref": "#/components/responses/R" })
        );
        assert_eq!(
            op["get"]["responses"]["400"]["headers"]["X-Rate"],
            json!({ "$ref": "#/components/headers/H" })
        );
        assert_eq!(
            op["get"]["callbacks"]["cb"],
            json!({ "$ref": "#/components/callbacks/C" })
        );
    }

    #[test]
    fn every_schema_position_is_lowered() {
        let s = || json!({ "type": ["integer", "null"] });
        let lowered = json!({ "type": "integer", "nullable": true });
        let media = || json!({ "application/json": { "schema": s() } });
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/p/{id}": {
                "parameters": [{ "name": "id", "in": "path", "schema": s() }],
                "post": {
                    "parameters": [{ "name": "f", "in": "query", "content": media() }],
                    "requestBody": { "content": {
                        "multipart/form-data": {
                            "schema": s(),
                            "encoding": { "file": { "headers": { "X-E": { "schema": s() } } } }
                        }
                    } },
                    "responses": { "200": {
                        "description": "ok",
                        "headers": { "x-request-id": { "schema": s() } },
                        "content": media()
                    } },
                    "callbacks": { "done": { "{$request.body#/url}": {
                        "post": { "requestBody": { "content": media() } }
                    } } }
                }
            } },
            "components": {
                "schemas": { "S": s() },
                "parameters": { "P": { "name": "p", "in": "query", "schema": s() } },
                "headers": { "H": { "schema": s() } },
                "requestBodies": { "B": { "content": media() } },
                "responses": { "R": { "description": "r", "content": media() } },
                "callbacks": { "C": { "{$url}": { "get": { "responses": {
                    "200": { "description": "ok", "content": media() }
                } } } } }
            }
        });
        assert_eq!(normalize(&mut doc), []);
        let positions = [
            "/paths/~1p~1{id}/parameters/0/schema",
            "/paths/~1p~1{id}/post/parameters/0/content/application~1json/schema",
            "/paths/~1p~1{id}/post/requestBody/content/multipart~1form-data/schema",
            "/paths/~1p~1{id}/post/requestBody/content/multipart~1form-data/encoding/file/headers/X-E/schema",
            "/paths/~1p~1{id}/post/responses/200/headers/x-request-id/schema",
            "/paths/~1p~1{id}/post/responses/200/content/application~1json/schema",
            "/paths/~1p~1{id}/post/callbacks/done/{$request.body#~1url}/post/requestBody/content/application~1json/schema",
            "/components/schemas/S",
            "/components/parameters/P/schema",
            "/components/headers/H/schema",
            "/components/requestBodies/B/content/application~1json/schema",
            "/components/responses/R/content/application~1json/schema",
            "/components/callbacks/C/{$url}/get/responses/200/content/application~1json/schema",
        ];
        for position in positions {
            assert_eq!(doc.pointer(position), Some(&lowered), "{position}");
        }
    }
}
