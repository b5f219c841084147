//! Lowers an OpenAPI 3.1 document to OpenAPI 3.0.3, in place, on a [`serde_json::Value`].
//!
//! # Why
//!
//! Progenitor 0.15 reads specs through the `openapiv3` crate, which only models OpenAPI
//! 3.0.x. A 3.1 document either fails to parse there (type arrays, numeric
//! `exclusiveMinimum`, boolean schemas, `mutualTLS` schemes) or parses into something
//! progenitor panics on (`type: "null"` and unknown type names hit a `todo!`, so does a
//! boolean `exclusiveMinimum` without `minimum`). FastAPI/pydantic, utoipa and many
//! hand-written specs are 3.1, so every spec goes through [`normalize`] before generation.
//!
//! The rewrites are general (nothing is specific to one spec), never panic on odd input,
//! are idempotent, and are harmless on a document that already is 3.0.x. What cannot be
//! lowered is reported as a [`Warning`] (in document order) and, unless stated otherwise
//! in the warning, left in place: the `openapiv3` parser ignores keys it does not know.
//!
//! # Document-level rewrites
//!
//! - `openapi: 3.1.x` becomes `3.0.3`; a missing `paths` (optional in 3.1) becomes `{}`.
//! - `webhooks`, `jsonSchemaDialect`, `info.summary` and `info.license.identifier` are
//!   dropped without a warning: none of them can change a generated client.
//! - `components.pathItems` is dropped after every `$ref` to it from a path item (in
//!   `paths` or in callbacks) was inlined; a `$ref` that cannot be resolved is a warning.
//! - `mutualTLS` security schemes are removed with a warning (3.0 has no such type and the
//!   3.0 parser rejects the whole document on it).
//! - A Reference Object outside schemas (parameters, responses, request bodies, headers,
//!   callbacks) keeps only its `$ref`: 3.1 allows `summary`/`description` next to it.
//!
//! # Schema rewrites
//!
//! 1. `type: [T, "null"]` → `type: T, nullable: true`; `type: [T]` → `type: T`;
//!    `type: ["null"]` and `type: "null"` → `nullable: true, enum: [null]`; several
//!    non-null types → `anyOf` with one branch per type, moving the keywords that
//!    obviously belong to one type (`items`, `properties`, `minLength`, `format: date`,
//!    `minimum` when only one numeric type is listed, enum values…) into its branch.
//!    Unknown type names are removed with a warning (progenitor panics on them); the
//!    Swagger 2 `type: file` becomes `type: string, format: binary`.
//! 2. `anyOf`/`oneOf` with a null member (`{type: "null"}`, `{type: ["null"]}`,
//!    `{enum: [null]}`, `{const: null}`, or anything that lowers to one of those): the
//!    member is removed and `nullable: true` set; a single remaining member is merged
//!    into the parent (a `$ref` ends up as `allOf: [{$ref}]`, see 6), or appended to
//!    `allOf` if its keywords clash with the parent's; the parent's annotations (`title`,
//!    `description`, `default`…) win. An `enum` of the merged member gets `null` added.
//! 3. `const: V` → `enum: [V]`. An `enum` holding `null` gets `nullable: true` and, when
//!    the schema has no `type`, the type shared by its other values (progenitor reads an
//!    untyped nullable enum as "only null").
//! 4. `examples: [..]` → `example: <first>` (only in schemas, only when an array).
//! 5. Numeric `exclusiveMinimum: N` → `minimum: N, exclusiveMinimum: true` (keeping a
//!    tighter `minimum` if there is one); same for the maximum. A boolean exclusive bound
//!    without its `minimum`/`maximum` means nothing in 3.0 and is dropped.
//! 6. `$ref` with sibling keywords → `allOf: [{$ref}]` plus the siblings.
//! 7. `contentEncoding: base64` → `format: byte`; a non-textual `contentMediaType` →
//!    `format: binary`; the keywords and `contentSchema` are dropped. `$schema`, `$id`,
//!    `$anchor` and `$comment` are dropped silently.
//! 8. Boolean schemas: `true` → `{}`, `false` → `{not: {}}`, except where 3.0 already
//!    allows a boolean (`additionalProperties`).
//! 9. The array form of `items` (older drafts; invalid in 3.0 and 3.1) is removed with a
//!    warning, since the 3.0 parser would reject the document.
//!
//! Left in place with a warning: `prefixItems`, `$defs`, `if`/`then`/`else`,
//! `patternProperties`, `unevaluatedProperties`, `unevaluatedItems`, `dependentSchemas`,
//! `dependentRequired`, `propertyNames`, `contains`/`minContains`/`maxContains`,
//! `$dynamicRef`/`$dynamicAnchor`. Their subschemas are still lowered.
//!
//! # Where schemas are looked for
//!
//! Only in real schema positions: `components.schemas`, the `schema` of parameters,
//! headers and media types (reached through paths, operations, callbacks and the
//! `components` maps), and the subschema keywords of a schema. Nothing inside `example`,
//! `examples`, `default`, `enum`, `const` or a vendor extension (`x-…` key of an object
//! that allows extensions) is ever rewritten. Keys of name maps (`properties`, header
//! names, media types, component names) are names, not extensions, so a property called
//! `x-id` is lowered like any other.

use crate::oas::{METHODS, escape};
use std::fmt;

use serde_json::{Map, Value, json};

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

/// Lowers `doc` from OpenAPI 3.1 to 3.0.3 in place. A 3.0.x document is left as is except
/// that the same schema rewrites are harmless on it. Returns warnings in document order
/// (deterministic: same input, same output, same warnings).
pub(crate) fn normalize(doc: &mut Value) -> Vec<Warning> {
    let mut lowerer = Lowerer::default();
    lowerer.document(doc);
    lowerer.warnings
}

/// Deeper nesting (schemas or callbacks) is reported and not lowered, so that hostile
/// input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// Longest chain of `$ref`s between `components.pathItems` entries that is followed.
const MAX_PATH_ITEM_REFS: usize = 16;

/// Rounds of null-member removal on one schema (each round may merge a member that itself
/// has a nullable combinator).
const MAX_COLLAPSE_ROUNDS: usize = 16;

const PATH_ITEMS_REF: &str = "#/components/pathItems/";

const KNOWN_TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "array", "object"];

/// Schema keywords dropped silently: they carry no meaning for a 3.0 client generator.
const DROPPED_KEYWORDS: [&str; 4] = ["$schema", "$id", "$anchor", "$comment"];

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

#[derive(Default)]
struct Lowerer {
    warnings: Vec<Warning>,
    /// `components.pathItems`, removed from the document, kept to inline `$ref`s to it.
    path_items: Map<String, Value>,
    depth: usize,
}

/// A walker of one kind of non-schema object, e.g. [`Lowerer::parameter`].
type Walk = fn(&mut Lowerer, &mut Value, &str);

impl Lowerer {
    fn warn(&mut self, pointer: &str, message: String) {
        self.warnings.push(Warning {
            pointer: pointer.to_owned(),
            message,
        });
    }

    /// Runs `f` one level deeper, unless that is too deep.
    fn nested(&mut self, ptr: &str, f: impl FnOnce(&mut Self)) {
        if self.depth >= MAX_DEPTH {
            self.warn(
                ptr,
                format!("nested more than {MAX_DEPTH} levels deep; not lowered further"),
            );
            return;
        }
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    /// The object in `value`, or a warning that `what` should have been one.
    fn object<'v>(
        &mut self,
        value: &'v mut Value,
        ptr: &str,
        what: &str,
    ) -> Option<&'v mut Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                let found = kind(other);
                self.warn(
                    ptr,
                    format!("expected {what} (an object), found {found}; left in place"),
                );
                None
            }
        }
    }

    /// Walks every entry of the map in `value` with `walk` (skipping vendor extensions if
    /// `skip_extensions`, for objects whose other keys are patterned fields).
    fn entries(
        &mut self,
        value: &mut Value,
        ptr: &str,
        what: &str,
        skip_extensions: bool,
        walk: Walk,
    ) {
        let Some(map) = self.object(value, ptr, what) else {
            return;
        };
        for (key, entry) in map.iter_mut() {
            if !(skip_extensions && is_extension(key)) {
                walk(self, entry, &child(ptr, key));
            }
        }
    }

    // ---- document level -------------------------------------------------------------

    fn document(&mut self, doc: &mut Value) {
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

    // ---- schemas --------------------------------------------------------------------

    fn schema(&mut self, value: &mut Value, ptr: &str) {
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

    /// Rewrite 2: null members of `anyOf`/`oneOf` become `nullable: true`.
    fn collapse_null_members(&mut self, schema: &mut Map<String, Value>) {
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

    /// Rewrites of the schema's own keywords (not of its subschemas).
    fn lower_keywords(&mut self, schema: &mut Map<String, Value>, ptr: &str) {
        for key in DROPPED_KEYWORDS {
            schema.remove(key);
        }
        if let Some(value) = schema.remove("const") {
            schema.insert("enum".to_owned(), Value::Array(vec![value]));
        }
        if schema.get("examples").is_some_and(Value::is_array)
            && let Some(Value::Array(examples)) = schema.remove("examples")
            && !schema.contains_key("example")
            && let Some(first) = examples.into_iter().next()
        {
            schema.insert("example".to_owned(), first);
        }
        lower_exclusive_bound(schema, "exclusiveMinimum", "minimum", true);
        lower_exclusive_bound(schema, "exclusiveMaximum", "maximum", false);
        lower_content_keywords(schema);
        if schema.get("items").is_some_and(Value::is_array) {
            schema.remove("items");
            self.warn(
                &child(ptr, "items"),
                "array-form `items` (tuple validation of older JSON Schema drafts, invalid in \
                 OpenAPI 3.0 and 3.1) has no OpenAPI 3.0 equivalent; removed, since the 3.0 \
                 parser rejects it"
                    .to_owned(),
            );
        }
        self.lower_type(schema, ptr);
        lower_nullable_enum(schema);
        if schema.len() > 1
            && schema.get("$ref").is_some_and(Value::is_string)
            && let Some(reference) = schema.remove("$ref")
        {
            let mut wrapper = Map::new();
            wrapper.insert("$ref".to_owned(), reference);
            add_all_of(schema, Value::Object(wrapper), true);
        }
    }

    /// Rewrite 1: `type` arrays and `type: "null"`.
    fn lower_type(&mut self, schema: &mut Map<String, Value>, ptr: &str) {
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

// ---- helpers ----------------------------------------------------------------------------

fn keys(map: &Map<String, Value>) -> Vec<String> {
    map.keys().cloned().collect()
}

fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", escape(token))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn boolean_schema(accept: bool) -> Value {
    if accept {
        json!({})
    } else {
        json!({ "not": {} })
    }
}

fn unknown_type_message(name: &str) -> String {
    format!(
        "unknown type `{name}`; removed (the generator panics on unknown types), so the schema \
         no longer restricts the type"
    )
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

/// `nullable: true, enum: [null]`: the 3.0 way of saying "only null".
fn make_null_only(schema: &mut Map<String, Value>) {
    schema.insert("nullable".to_owned(), Value::Bool(true));
    if !schema.contains_key("enum") {
        schema.insert("enum".to_owned(), json!([null]));
    }
}

/// Rewrite 3, second half: an `enum` listing `null` needs `nullable: true` in 3.0. On a
/// schema without `type`, the type all other values share is added too: progenitor reads
/// an untyped `nullable` schema with an `enum` as "only null" and then rejects the values.
fn lower_nullable_enum(schema: &mut Map<String, Value>) {
    let Some(Value::Array(values)) = schema.get("enum") else {
        return;
    };
    if !values.iter().any(Value::is_null) {
        return;
    }
    let non_null: Vec<&Value> = values.iter().filter(|value| !value.is_null()).collect();
    let untyped = !["type", "$ref", "allOf", "anyOf", "oneOf", "not"]
        .iter()
        .any(|key| schema.contains_key(*key));
    let inferred = ["string", "boolean", "integer", "number"]
        .into_iter()
        .find(|name| {
            untyped
                && !non_null.is_empty()
                && non_null.iter().all(|value| value_has_type(value, name))
        });
    schema.insert("nullable".to_owned(), Value::Bool(true));
    if let Some(name) = inferred {
        schema.insert("type".to_owned(), json!(name));
    }
}

/// Adds `member` to the schema's `allOf` (first if `front`), creating it if needed.
fn add_all_of(schema: &mut Map<String, Value>, member: Value, front: bool) {
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

/// Rewrite 5: numeric `exclusiveMinimum`/`exclusiveMaximum`.
fn lower_exclusive_bound(
    schema: &mut Map<String, Value>,
    exclusive: &str,
    bound: &str,
    lower: bool,
) {
    match schema.get(exclusive) {
        Some(Value::Number(limit)) => {
            let limit = limit.clone();
            let tighter = match (schema.get(bound).and_then(Value::as_f64), limit.as_f64()) {
                (Some(own), Some(new)) => {
                    if lower {
                        new >= own
                    } else {
                        new <= own
                    }
                }
                _ => true,
            };
            if tighter {
                schema.insert(bound.to_owned(), Value::Number(limit));
                schema.insert(exclusive.to_owned(), Value::Bool(true));
            } else {
                schema.remove(exclusive);
            }
        }
        Some(Value::Bool(_)) if !schema.contains_key(bound) => {
            schema.remove(exclusive);
        }
        _ => {}
    }
}

/// Rewrite 7: `contentEncoding`/`contentMediaType` become a string `format`.
fn lower_content_keywords(schema: &mut Map<String, Value>) {
    let encoding = schema.remove("contentEncoding");
    let media_type = schema.remove("contentMediaType");
    schema.remove("contentSchema");
    let encoding = encoding.as_ref().and_then(Value::as_str);
    let media_type = media_type.as_ref().and_then(Value::as_str);
    let format = match (encoding, media_type) {
        (Some(encoding), _)
            if encoding.eq_ignore_ascii_case("base64")
                || encoding.eq_ignore_ascii_case("base64url") =>
        {
            "byte"
        }
        (_, Some(media_type)) if !is_textual(media_type) => "binary",
        _ => return,
    };
    let is_string = match schema.get("type") {
        None => true,
        Some(Value::String(name)) => name == "string",
        Some(Value::Array(names)) => names.iter().any(|name| name.as_str() == Some("string")),
        Some(_) => false,
    };
    if !is_string {
        return;
    }
    if !schema.contains_key("format") {
        schema.insert("format".to_owned(), json!(format));
    }
    let typed_elsewhere = ["type", "$ref", "allOf", "anyOf", "oneOf", "not", "enum"]
        .iter()
        .any(|key| schema.contains_key(*key));
    if !typed_elsewhere {
        schema.insert("type".to_owned(), json!("string"));
    }
}

/// Media types whose content is text, so a string holding it stays a plain string.
fn is_textual(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || ["/json", "+json", "/xml", "+xml", "/yaml", "+yaml"]
            .iter()
            .any(|suffix| essence.ends_with(suffix))
        || essence == "application/x-www-form-urlencoded"
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

fn value_has_type(value: &Value, name: &str) -> bool {
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

/// Keywords without an OpenAPI 3.0 equivalent, with a short explanation.
fn untranslatable(key: &str) -> Option<&'static str> {
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
    use super::*;

    /// Wraps a schema in a minimal 3.1 document as `components.schemas.S`.
    fn doc_with_schema(schema: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {},
            "components": { "schemas": { "S": schema } }
        })
    }

    /// Lowers `schema` as `components.schemas.S`; returns it and the warnings.
    fn lower(schema: Value) -> (Value, Vec<Warning>) {
        let mut doc = doc_with_schema(schema);
        let warnings = normalize(&mut doc);
        let schema = doc.pointer("/components/schemas/S").cloned().unwrap();
        (schema, warnings)
    }

    fn lower_quiet(schema: Value) -> Value {
        let (schema, warnings) = lower(schema);
        assert_eq!(warnings, [], "unexpected warnings");
        schema
    }

    fn pointers(warnings: &[Warning]) -> Vec<&str> {
        warnings.iter().map(|w| w.pointer.as_str()).collect()
    }

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

    // ---- rewrite 3: const ----

    #[test]
    fn const_becomes_a_one_value_enum() {
        assert_eq!(
            lower_quiet(json!({ "type": "string", "const": "fixed" })),
            json!({ "type": "string", "enum": ["fixed"] })
        );
        assert_eq!(
            lower_quiet(json!({ "const": { "type": ["x", "null"] } })),
            json!({ "enum": [{ "type": ["x", "null"] }] })
        );
    }

    #[test]
    fn null_in_enum_sets_nullable() {
        assert_eq!(
            lower_quiet(json!({ "const": null })),
            json!({ "enum": [null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "string", "enum": ["a", null] })),
            json!({ "type": "string", "enum": ["a", null], "nullable": true })
        );
    }

    #[test]
    fn nullable_enum_without_type_gets_the_type_of_its_values() {
        assert_eq!(
            lower_quiet(json!({ "enum": ["a", null] })),
            json!({ "type": "string", "enum": ["a", null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "enum": [1, 2.5, null] })),
            json!({ "type": "number", "enum": [1, 2.5, null], "nullable": true })
        );
        assert_eq!(
            lower_quiet(json!({ "enum": ["a", 1, null] })),
            json!({ "enum": ["a", 1, null], "nullable": true })
        );
        // Only when null is listed; never next to a reference or combinator.
        assert_eq!(
            lower_quiet(json!({ "enum": ["a"] })),
            json!({ "enum": ["a"] })
        );
        assert_eq!(
            lower_quiet(
                json!({ "enum": ["a", null], "allOf": [{ "$ref": "#/components/schemas/E" }] })
            ),
            json!({ "enum": ["a", null], "nullable": true, "allOf": [{ "$ref": "#/components/schemas/E" }] })
        );
    }

    // ---- rewrite 4: examples ----

    #[test]
    fn schema_examples_array_becomes_example() {
        assert_eq!(
            lower_quiet(json!({ "type": "integer", "examples": [3, 4] })),
            json!({ "type": "integer", "example": 3 })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "integer", "example": 1, "examples": [3] })),
            json!({ "type": "integer", "example": 1 })
        );
        assert_eq!(lower_quiet(json!({ "examples": [] })), json!({}));
        // Not an array: not the JSON Schema keyword, left alone.
        assert_eq!(
            lower_quiet(json!({ "examples": { "a": 1 } })),
            json!({ "examples": { "a": 1 } })
        );
    }

    #[test]
    fn openapi_examples_maps_are_not_touched() {
        let examples = json!({ "one": { "value": { "type": ["string", "null"], "const": 1 } } });
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/p": { "get": {
                "parameters": [{ "name": "q", "in": "query", "schema": { "type": "string" }, "examples": examples.clone() }],
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "type": "string" }, "examples": examples.clone()
                } } } }
            } } },
            "components": { "examples": { "E": { "value": [1, 2] } } }
        });
        assert_eq!(normalize(&mut doc), []);
        let op = &doc["paths"]["/p"]["get"];
        assert_eq!(op["parameters"][0]["examples"], examples);
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["examples"],
            examples
        );
        assert_eq!(
            doc["components"]["examples"],
            json!({ "E": { "value": [1, 2] } })
        );
    }

    // ---- rewrite 5: exclusive bounds ----

    #[test]
    fn numeric_exclusive_bounds_become_boolean_ones() {
        assert_eq!(
            lower_quiet(
                json!({ "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5 })
            ),
            json!({
                "type": "number",
                "minimum": 0, "exclusiveMinimum": true,
                "maximum": 1.5, "exclusiveMaximum": true
            })
        );
    }

    #[test]
    fn the_tighter_of_inclusive_and_exclusive_bounds_is_kept() {
        assert_eq!(
            lower_quiet(
                json!({ "minimum": 5, "exclusiveMinimum": 0, "maximum": 5, "exclusiveMaximum": 9 })
            ),
            json!({ "minimum": 5, "maximum": 5 })
        );
        assert_eq!(
            lower_quiet(
                json!({ "minimum": 0, "exclusiveMinimum": 0, "maximum": 9, "exclusiveMaximum": 5 })
            ),
            json!({ "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true })
        );
    }

    #[test]
    fn boolean_exclusive_bounds_stay_unless_meaningless() {
        let schema = json!({ "minimum": 1, "exclusiveMinimum": true, "maximum": 2, "exclusiveMaximum": false });
        assert_eq!(lower_quiet(schema.clone()), schema);
        assert_eq!(
            lower_quiet(
                json!({ "type": "integer", "exclusiveMinimum": true, "exclusiveMaximum": false })
            ),
            json!({ "type": "integer" })
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

    // ---- rewrite 7: content keywords and dropped keywords ----

    #[test]
    fn content_encoding_and_media_type_become_formats() {
        assert_eq!(
            lower_quiet(json!({ "type": "string", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "byte" })
        );
        assert_eq!(
            lower_quiet(
                json!({ "type": "string", "contentMediaType": "application/octet-stream" })
            ),
            json!({ "type": "string", "format": "binary" })
        );
        assert_eq!(
            lower_quiet(json!({ "contentMediaType": "image/png", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "byte" })
        );
        assert_eq!(
            lower_quiet(json!({ "contentMediaType": "image/png" })),
            json!({ "type": "string", "format": "binary" })
        );
        assert_eq!(
            lower_quiet(
                json!({ "type": ["string", "null"], "contentMediaType": "application/pdf" })
            ),
            json!({ "type": "string", "format": "binary", "nullable": true })
        );
    }

    #[test]
    fn textual_or_foreign_content_keywords_are_just_dropped() {
        assert_eq!(
            lower_quiet(json!({
                "type": "string",
                "contentMediaType": "application/json; charset=utf-8",
                "contentSchema": { "type": "object" }
            })),
            json!({ "type": "string" })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "string", "format": "uuid", "contentEncoding": "base64" })),
            json!({ "type": "string", "format": "uuid" })
        );
        assert_eq!(
            lower_quiet(json!({ "type": "object", "contentMediaType": "image/png" })),
            json!({ "type": "object" })
        );
    }

    #[test]
    fn json_schema_identifiers_are_dropped_silently() {
        assert_eq!(
            lower_quiet(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.com/s",
                "$anchor": "s",
                "$comment": "c",
                "type": "string"
            })),
            json!({ "type": "string" })
        );
    }

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

    #[test]
    fn array_form_items_is_removed_with_a_warning() {
        let (schema, warnings) = lower(json!({ "type": "array", "items": [{ "type": "string" }] }));
        assert_eq!(schema, json!({ "type": "array" }));
        assert_eq!(pointers(&warnings), ["/components/schemas/S/items"]);
        assert!(warnings[0].message.contains("removed"));
    }

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

    // ---- real-world shapes ----

    #[test]
    fn fastapi_style_document() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": { "title": "FastAPI", "version": "0.1.0" },
            "paths": { "/jobs/{job_id}": { "get": {
                "operationId": "get_job",
                "parameters": [{
                    "name": "job_id", "in": "path", "required": true,
                    "schema": { "type": "string", "format": "uuid", "title": "Job Id" }
                }, {
                    "name": "since", "in": "query", "required": false,
                    "schema": { "anyOf": [{ "type": "string", "format": "date-time" }, { "type": "null" }], "title": "Since" }
                }],
                "responses": {
                    "200": { "description": "Successful Response", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Job" }
                    } } },
                    "422": { "description": "Validation Error", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/HTTPValidationError" }
                    } } }
                }
            } } },
            "components": { "schemas": {
                "Job": {
                    "properties": {
                        "progress": { "anyOf": [{ "type": "integer" }, { "type": "null" }], "title": "Progress" },
                        "owner": { "anyOf": [{ "$ref": "#/components/schemas/User" }, { "type": "null" }] },
                        "tags": { "items": { "type": "string" }, "type": "array", "title": "Tags", "default": [] },
                        "kind": { "type": "string", "const": "job", "title": "Kind" }
                    },
                    "type": "object",
                    "required": ["progress"],
                    "title": "Job"
                },
                "User": { "properties": { "name": { "type": "string" } }, "type": "object" },
                "HTTPValidationError": {
                    "properties": { "detail": {
                        "items": { "$ref": "#/components/schemas/ValidationError" },
                        "type": "array", "title": "Detail"
                    } },
                    "type": "object"
                },
                "ValidationError": {
                    "properties": { "loc": {
                        "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
                        "type": "array"
                    } },
                    "type": "object"
                }
            } }
        });
        assert_eq!(normalize(&mut doc), []);
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(
            doc["paths"]["/jobs/{job_id}"]["get"]["parameters"][1]["schema"],
            json!({ "type": "string", "format": "date-time", "nullable": true, "title": "Since" })
        );
        let job = &doc["components"]["schemas"]["Job"]["properties"];
        assert_eq!(
            job["progress"],
            json!({ "type": "integer", "nullable": true, "title": "Progress" })
        );
        assert_eq!(
            job["owner"],
            json!({ "allOf": [{ "$ref": "#/components/schemas/User" }], "nullable": true })
        );
        assert_eq!(
            job["kind"],
            json!({ "type": "string", "enum": ["job"], "title": "Kind" })
        );
        assert_eq!(
            job["tags"],
            json!({ "items": { "type": "string" }, "type": "array", "title": "Tags", "default": [] })
        );
        assert_eq!(
            doc["components"]["schemas"]["ValidationError"]["properties"]["loc"]["items"],
            json!({ "anyOf": [{ "type": "string" }, { "type": "integer" }] })
        );
    }

    #[test]
    fn deep_nesting_is_lowered_recursively() {
        let (schema, warnings) = lower(json!({
            "type": "object",
            "properties": { "rows": {
                "type": "array",
                "items": { "type": "object", "properties": { "cell": {
                    "anyOf": [
                        { "type": "array", "items": { "type": ["number", "null"], "exclusiveMinimum": 0 } },
                        { "type": "null" }
                    ]
                } } }
            } }
        }));
        assert_eq!(warnings, []);
        assert_eq!(
            schema.pointer("/properties/rows/items/properties/cell"),
            Some(&json!({
                "type": "array",
                "nullable": true,
                "items": { "type": "number", "nullable": true, "minimum": 0, "exclusiveMinimum": true }
            }))
        );
    }

    // ---- properties of the whole pass ----

    fn sample_31() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1", "summary": "s" },
            "webhooks": {},
            "paths": { "/p": { "post": {
                "requestBody": { "content": { "application/json": { "schema": {
                    "type": ["object", "null"],
                    "properties": {
                        "a": { "anyOf": [{ "$ref": "#/components/schemas/A" }, { "type": "null" }] },
                        "b": { "type": ["string", "integer"], "examples": ["x"] },
                        "c": { "prefixItems": [{ "const": 1 }] }
                    }
                } } } },
                "responses": { "204": { "description": "none" } }
            } } },
            "components": {
                "securitySchemes": { "m": { "type": "mutualTLS" } },
                "schemas": {
                    "A": { "$defs": {}, "type": "object", "if": { "required": ["x"] }, "then": {} },
                    "B": { "exclusiveMaximum": 10, "contentEncoding": "base64", "type": "string" }
                }
            }
        })
    }

    #[test]
    fn normalizing_twice_equals_normalizing_once() {
        let mut once = sample_31();
        let first = normalize(&mut once);
        let mut twice = once.clone();
        let second = normalize(&mut twice);
        assert_eq!(twice, once);
        // The second pass reports exactly what was left in place, nothing else.
        let left_in_place: Vec<Warning> = first
            .iter()
            .filter(|w| w.message.contains("left in place"))
            .cloned()
            .collect();
        assert_eq!(second, left_in_place);
        assert_eq!(first.len(), left_in_place.len() + 1, "{first:#?}");
    }

    #[test]
    fn already_30_documents_keep_their_warnings_and_content() {
        let mut doc = json!({
            "openapi": "3.0.3",
            "paths": { "/p": { "get": { "responses": { "200": {
                "description": "ok",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "nullable": true,
                    "properties": {
                        "n": { "type": "integer", "minimum": 0, "exclusiveMinimum": true, "example": 1 },
                        "r": { "allOf": [{ "$ref": "#/components/schemas/R" }], "nullable": true },
                        "u": { "anyOf": [{ "type": "string" }, { "type": "integer" }] }
                    },
                    "patternProperties": { "^x": {} }
                } } }
            } } } } },
            "components": { "schemas": { "R": { "type": "string", "enum": ["a", null], "nullable": true } } }
        });
        let original = doc.clone();
        let first = normalize(&mut doc);
        assert_eq!(doc, original);
        let second = normalize(&mut doc);
        assert_eq!(doc, original);
        assert_eq!(first, second);
        assert_eq!(
            pointers(&first),
            ["/paths/~1p/get/responses/200/content/application~1json/schema/patternProperties"]
        );
    }

    #[test]
    fn warnings_are_deterministic_and_in_document_order() {
        let runs: Vec<Vec<Warning>> = (0..3).map(|_| normalize(&mut sample_31())).collect();
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[1], runs[2]);
        let mut doc = json!({
            "openapi": "3.1.0",
            "components": { "schemas": {
                "A": { "$defs": {}, "contains": {}, "properties": { "p": { "if": {}, "prefixItems": [] } } },
                "B": { "dependentRequired": {} }
            } },
            "paths": { "/z": { "get": { "parameters": [{ "name": "q", "in": "query", "schema": { "propertyNames": {} } }] } } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(
            pointers(&warnings),
            [
                "/components/schemas/A/$defs",
                "/components/schemas/A/contains",
                "/components/schemas/A/properties/p/if",
                "/components/schemas/A/properties/p/prefixItems",
                "/components/schemas/B/dependentRequired",
                "/paths/~1z/get/parameters/0/schema/propertyNames",
            ]
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let odd_documents = [
            json!(null),
            json!([]),
            json!("openapi"),
            json!({ "openapi": 3.1, "paths": [] }),
            json!({ "openapi": "3.1.0", "paths": { "/p": [] } }),
            json!({ "openapi": "3.1.0", "paths": { "/p": { "get": [], "parameters": {} } } }),
            json!({ "openapi": "3.1.0", "paths": { "/p": { "get": {
                "parameters": [5, { "schema": "s" }, { "content": [] }],
                "requestBody": { "content": { "a/b": { "schema": null, "encoding": [] } } },
                "responses": 5,
                "callbacks": { "c": { "e": 5 } }
            } } } }),
            json!({ "openapi": "3.1.0", "info": 5, "components": 3 }),
            json!({ "openapi": "3.1.0", "components": {
                "schemas": [], "parameters": 1, "responses": { "R": [] }, "securitySchemes": [],
                "pathItems": 5, "headers": { "H": { "content": 1 } }
            } }),
            json!({ "openapi": "3.1.0", "components": { "pathItems": { "A": 5 } }, "paths": {
                "/a": { "$ref": "#/components/pathItems/A" }, "/b": { "$ref": 5 }
            } }),
            doc_with_schema(json!({
                "type": 5,
                "anyOf": "x",
                "oneOf": [5, { "type": "null" }],
                "allOf": { "a": 1 },
                "properties": [],
                "items": "i",
                "not": null,
                "enum": "e",
                "const": [],
                "examples": [],
                "exclusiveMinimum": "0",
                "exclusiveMaximum": null,
                "minimum": "x",
                "contentEncoding": 5,
                "contentMediaType": [],
                "additionalProperties": 5,
                "$ref": 7,
                "$defs": 5
            })),
            doc_with_schema(json!({ "anyOf": [{ "type": "null" }, 5], "allOf": 5 })),
            doc_with_schema(
                json!({ "type": ["integer", "number", "string"], "enum": [1.5, "a", 2] }),
            ),
            doc_with_schema(json!({ "minimum": 1e308, "exclusiveMinimum": -1e308 })),
        ];
        for mut doc in odd_documents {
            let input = doc.clone();
            let first = normalize(&mut doc);
            let mut again = doc.clone();
            let second = normalize(&mut again);
            assert_eq!(again, doc, "not idempotent on {input}");
            assert!(second.len() <= first.len() + 1, "{input}");
        }
    }

    #[test]
    fn wrong_shapes_are_reported_where_they_are() {
        let (_, warnings) = lower(json!({ "anyOf": "x", "properties": { "p": 5 } }));
        assert_eq!(
            pointers(&warnings),
            [
                "/components/schemas/S/anyOf",
                "/components/schemas/S/properties/p"
            ]
        );
        let mut doc = json!({ "openapi": "3.1.0", "paths": [] });
        let warnings = normalize(&mut doc);
        assert_eq!(pointers(&warnings), ["/paths"]);
        assert_eq!(doc["paths"], json!([]));
        let warnings = normalize(&mut json!(null));
        assert_eq!(pointers(&warnings), [""]);
    }

    #[test]
    fn very_deep_nesting_stops_with_a_warning() {
        let mut schema = json!({ "type": ["string", "null"] });
        for _ in 0..(MAX_DEPTH + 10) {
            schema = json!({ "type": "array", "items": schema });
        }
        let (lowered, warnings) = lower(schema);
        assert_eq!(warnings.len(), 1);
        let too_deep = "/items".repeat(MAX_DEPTH);
        assert_eq!(
            warnings[0].pointer,
            format!("/components/schemas/S{too_deep}")
        );
        assert!(warnings[0].message.contains("not lowered further"));
        let innermost = "/items".repeat(MAX_DEPTH + 10);
        assert_eq!(
            lowered.pointer(&innermost),
            Some(&json!({ "type": ["string", "null"] }))
        );
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": { "/a~b/{id}": { "get": { "responses": { "200": {
                "description": "ok",
                "content": { "application/json": { "schema": { "prefixItems": [] } } }
            } } } } }
        });
        let warnings = normalize(&mut doc);
        assert_eq!(
            pointers(&warnings),
            ["/paths/~1a~0b~1{id}/get/responses/200/content/application~1json/schema/prefixItems"]
        );
    }

    #[test]
    fn warning_display_is_pointer_colon_message() {
        let warning = Warning {
            pointer: "/a/b".to_owned(),
            message: "m".to_owned(),
        };
        assert_eq!(warning.to_string(), "/a/b: m");
    }
}
