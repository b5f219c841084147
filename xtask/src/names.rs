//! Rust names that collide: repairs before generation, and their completion after it.
//!
//! typify derives a Rust name from every JSON name (property → `snake_case` field,
//! component schema → `PascalCase` type) and does not check that the results are
//! distinct. A document that has `field_name` and `fieldName` in one object, or component
//! schemas `Input` and `input`, generates code that does not compile (E0124 "field is
//! already declared", E0428 "defined multiple times"). The repairs here make the names
//! distinct before progenitor runs, deterministically and with a warning each:
//!
//! - **properties**: in each group of properties whose Rust names collide, the one whose
//!   name already is its Rust name (else the first in JSON-pointer order) keeps it; each
//!   other gets the Rust name `{field}_2`, `{field}_3`, …. The document carries a
//!   placeholder property name until the code is generated; [`restore_wire_names`] then
//!   puts the real name back into the field's `#[serde(rename)]`, so the wire is
//!   unchanged.
//! - **component schemas**: in each group whose Rust type names collide, the first in
//!   JSON-pointer order keeps its name; the others get the suffix `Schema`, then
//!   `Schema2`, `Schema3`, … (every `$ref` follows).
//! - **nullable composed components** (`JsonValue: {anyOf: [...], nullable: true}`):
//!   typify names the `Option` wrapper and the composed type alike, defining the name
//!   twice; the component loses `nullable` (a referencing property that may be absent or
//!   null stays an `Option`).

use crate::visit;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// typify's Rust name for a property (`sanitize(name, Case::Snake)` in typify-impl).
pub fn field_name(name: &str) -> String {
    sanitize(name, heck::ToSnakeCase::to_snake_case)
}

/// typify's Rust name for a component schema (`sanitize(name, Case::Pascal)`).
pub fn type_name(name: &str) -> String {
    sanitize(name, heck::ToPascalCase::to_pascal_case)
}

fn sanitize(input: &str, to_case: fn(&str) -> String) -> String {
    let out = match input {
        "+1" => "plus1".to_owned(),
        "-1" => "minus1".to_owned(),
        _ => to_case(
            &input
                .replace('\'', "")
                .replace(|c: char| !unicode_ident::is_xid_continue(c), "-"),
        ),
    };
    let out = match out.chars().next() {
        None => to_case("x"),
        Some(c) if unicode_ident::is_xid_start(c) => out,
        Some(_) => format!("{}{out}", to_case("x")),
    };
    if syn::parse_str::<syn::Ident>(&out).is_ok() && out != "gen" {
        out
    } else {
        format!("{out}_")
    }
}

/// A property renamed in the document for generation: `placeholder` is the name the
/// generator saw, `wire` the name on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRename {
    /// The temporary property name (unique in the document).
    pub placeholder: String,
    /// The property name the API uses.
    pub wire: String,
}

/// Gives colliding properties distinct Rust names (see the module docs). Returns the
/// renames for [`restore_wire_names`]; one note per renamed property. A placeholder is
/// never a property name the document uses, and always stands for the same wire name, so
/// one rename map serves the whole generated file.
pub fn colliding_properties(doc: &mut Value, notes: &mut Vec<String>) -> Vec<WireRename> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    visit::schemas(doc, &mut |schema, _| {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            taken.extend(props.keys().cloned());
        }
    });
    let mut renames = Vec::new();
    visit::schemas(doc, &mut |schema, at| {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in props.keys() {
            groups.entry(field_name(key)).or_default().push(key.clone());
        }
        let mut changes = Vec::new();
        for (rust, mut keys) in groups {
            if keys.len() < 2 {
                continue;
            }
            // The one that needs no serde rename keeps the name; else the first.
            let keeper = keys.iter().position(|k| *k == rust).unwrap_or(0);
            keys.remove(keeper);
            for (n, wire) in (2..).zip(keys) {
                let mut suffix = n;
                let placeholder = loop {
                    let candidate = format!("{wire}_{suffix}");
                    let fresh = !taken.contains(&candidate)
                        && field_name(&candidate) != candidate
                        && !groups_contain(props, &field_name(&candidate));
                    if fresh {
                        break candidate;
                    }
                    suffix += 1;
                };
                notes.push(format!(
                    "{at}/properties/{}: Rust name `{rust}` already taken by another property; this one is `{}` (serde keeps the wire name {wire:?})",
                    crate::oas::escape(&wire),
                    field_name(&placeholder)
                ));
                changes.push((wire, placeholder));
            }
        }
        for (wire, placeholder) in changes {
            rename_property(schema, &wire, &placeholder);
            renames.push(WireRename { placeholder, wire });
        }
    });
    renames
}

fn groups_contain(props: &Map<String, Value>, rust: &str) -> bool {
    props.keys().any(|k| field_name(k) == rust)
}

fn rename_property(schema: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut)
        && let Some(value) = props.remove(from)
    {
        props.insert(to.to_owned(), value);
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        for name in required.iter_mut() {
            if name.as_str() == Some(from) {
                *name = Value::String(to.to_owned());
            }
        }
    }
}

/// Renames component schemas whose Rust type names collide (see the module docs) and
/// rewrites every `$ref` to them. One note per renamed schema.
pub fn colliding_schema_names(doc: &mut Value, notes: &mut Vec<String>) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    let mut used: BTreeSet<String> = names.iter().map(|n| type_name(n)).collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &names {
        groups
            .entry(type_name(name))
            .or_default()
            .push(name.clone());
    }
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    for (rust, group) in groups {
        for name in group.into_iter().skip(1) {
            let mut n = 1;
            let new = loop {
                let candidate = if n == 1 {
                    format!("{name}Schema")
                } else {
                    format!("{name}Schema{n}")
                };
                if !used.contains(&type_name(&candidate)) && !names.contains(&candidate) {
                    break candidate;
                }
                n += 1;
            };
            used.insert(type_name(&new));
            notes.push(format!(
                "/components/schemas/{}: Rust type name `{rust}` already taken by another schema; renamed {new}",
                crate::oas::escape(&name)
            ));
            renames.insert(name, new);
        }
    }
    rename_schemas(doc, &renames);
}

/// Renames component schemas (`old → new`) and every `$ref` (and discriminator mapping)
/// that points at them.
pub fn rename_schemas(doc: &mut Value, renames: &BTreeMap<String, String>) {
    if renames.is_empty() {
        return;
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (old, new) in renames {
            if let Some(schema) = schemas.remove(old) {
                schemas.insert(new.clone(), schema);
            }
        }
    }
    let target = |s: &str| -> Option<String> {
        let name = s.strip_prefix("#/components/schemas/")?;
        let new = renames.get(&name.replace("~1", "/").replace("~0", "~"))?;
        Some(format!("#/components/schemas/{}", crate::oas::escape(new)))
    };
    fn walk(v: &mut Value, target: &dyn Fn(&str) -> Option<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if let Value::String(s) = child
                        && (k == "$ref" || k == "mapping")
                        && let Some(new) = target(s)
                    {
                        *s = new;
                    } else if k == "mapping"
                        && let Some(mapping) = child.as_object_mut()
                    {
                        for value in mapping.values_mut() {
                            if let Value::String(s) = value
                                && let Some(new) = target(s)
                            {
                                *s = new;
                            }
                        }
                    } else {
                        walk(child, target);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, target)),
            _ => {}
        }
    }
    walk(doc, &target);
}

/// Inline property schemas whose generated type name (`{Component}{Property}`, typify's
/// rule) is the name of another component schema (Box: component `Collaboration`,
/// property `item`, and component `CollaborationItem`) get a `title` that names their
/// type `{Component}{Property}Inline` instead, so the two types do not collide. typify
/// drops a property name the component's name already ends with (`AuthorizationStatus` +
/// `status`), which names the inline type like the component itself (PayPal).
pub fn colliding_inline_types(doc: &mut Value, notes: &mut Vec<String>) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let taken: BTreeSet<String> = schemas.keys().map(|n| type_name(n)).collect();
    for (name, schema) in schemas.iter_mut() {
        let parent = type_name(name);
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, prop) in props.iter_mut() {
            let Some(map) = prop.as_object_mut() else {
                continue;
            };
            let makes_type = ["properties", "enum", "oneOf", "anyOf", "allOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            if map.contains_key("$ref") || map.contains_key("title") || !makes_type {
                continue;
            }
            let prop = type_name(key);
            // typify does not stutter: `AuthorizationStatus` + `status` is named
            // `AuthorizationStatus`, the parent's own name.
            let inline = if parent.ends_with(&prop) {
                parent.clone()
            } else {
                format!("{parent}{prop}")
            };
            if !taken.contains(&inline) {
                continue;
            }
            let title = format!("{parent}{prop}Inline");
            notes.push(format!(
                "/components/schemas/{}/properties/{}: its type would be named `{inline}` like a component schema; titled `{title}`",
                crate::oas::escape(name),
                crate::oas::escape(key)
            ));
            map.insert("title".into(), Value::String(title));
        }
    }
}

/// Drops `nullable` from component schemas that are compositions (see the module docs).
pub fn nullable_composed_components(doc: &mut Value, notes: &mut Vec<String>) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        let Some(map) = schema.as_object_mut() else {
            continue;
        };
        let composed = ["anyOf", "oneOf", "allOf"]
            .iter()
            .any(|k| map.contains_key(*k));
        if composed && map.get("nullable") == Some(&Value::Bool(true)) {
            map.remove("nullable");
            notes.push(format!(
                "/components/schemas/{}/nullable: a nullable composed component generates two types named `{}`; dropped (where it is referenced, an absent or null value is still `None`)",
                crate::oas::escape(name),
                type_name(name)
            ));
        }
    }
}

/// Puts the wire names of renamed properties back into the generated code: every
/// `#[serde(rename = "<placeholder>")]` becomes `#[serde(rename = "<wire>")]`.
pub fn restore_wire_names(file: &mut syn::File, renames: &[WireRename]) {
    use syn::visit_mut::VisitMut;
    struct Restore<'a>(&'a BTreeMap<&'a str, &'a str>);
    impl VisitMut for Restore<'_> {
        fn visit_field_mut(&mut self, field: &mut syn::Field) {
            for attr in &mut field.attrs {
                if !attr.path().is_ident("serde") {
                    continue;
                }
                if let syn::Meta::List(list) = &mut attr.meta {
                    list.tokens = replace_literals(list.tokens.clone(), self.0);
                }
            }
        }
    }
    if renames.is_empty() {
        return;
    }
    let map: BTreeMap<&str, &str> = renames
        .iter()
        .map(|r| (r.placeholder.as_str(), r.wire.as_str()))
        .collect();
    Restore(&map).visit_file_mut(file);
}

fn replace_literals(
    tokens: proc_macro2::TokenStream,
    map: &BTreeMap<&str, &str>,
) -> proc_macro2::TokenStream {
    use proc_macro2::TokenTree;
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Literal(lit) => {
                let replaced = syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
                    .ok()
                    .and_then(|s| map.get(s.value().as_str()).copied());
                match replaced {
                    Some(wire) => {
                        let mut new = proc_macro2::Literal::string(wire);
                        new.set_span(lit.span());
                        TokenTree::Literal(new)
                    }
                    None => TokenTree::Literal(lit),
                }
            }
            TokenTree::Group(g) => {
                let mut new =
                    proc_macro2::Group::new(g.delimiter(), replace_literals(g.stream(), map));
                new.set_span(g.span());
                TokenTree::Group(new)
            }
            other => other,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_typify() {
        assert_eq!(field_name("fieldName"), "field_name");
        assert_eq!(field_name("field_name"), "field_name");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("$ref"), "ref_");
        assert_eq!(field_name("1st"), "x1st");
        assert_eq!(type_name("input"), "Input");
        assert_eq!(type_name("my-type"), "MyType");
    }

    #[test]
    fn colliding_properties_get_distinct_rust_names_and_keep_the_wire() {
        let mut doc = json!({"components": {"schemas": {"S": {"type": "object",
            "required": ["fieldName"],
            "properties": {"fieldName": {"type": "string"}, "field_name": {"type": "string"},
                           "other": {"type": "string"}}}}}});
        let mut notes = Vec::new();
        let renames = colliding_properties(&mut doc, &mut notes);
        assert_eq!(
            renames,
            [WireRename {
                placeholder: "fieldName_2".into(),
                wire: "fieldName".into()
            }]
        );
        let s = &doc["components"]["schemas"]["S"];
        assert!(s["properties"]["fieldName_2"].is_object());
        assert!(s["properties"]["field_name"].is_object());
        assert_eq!(s["required"], json!(["fieldName_2"]));
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("/components/schemas/S/properties/fieldName"),
            "{notes:?}"
        );

        let mut file: syn::File = syn::parse_quote! {
            pub struct S {
                #[serde(rename = "fieldName_2")]
                pub field_name_2: String,
                pub field_name: String,
            }
        };
        restore_wire_names(&mut file, &renames);
        let text = quote::quote!(#file).to_string();
        assert!(text.contains("rename = \"fieldName\""), "{text}");
        assert!(!text.contains("fieldName_2"), "{text}");
    }

    #[test]
    fn colliding_schema_names_get_a_suffix_in_pointer_order_and_refs_follow() {
        let mut doc = json!({"components": {"schemas": {
            "Input": {"type": "string"},
            "input": {"type": "integer"},
            "INPUT": {"$ref": "#/components/schemas/input"},
            "User": {"properties": {"a": {"$ref": "#/components/schemas/input"}}}
        }}});
        let mut notes = Vec::new();
        colliding_schema_names(&mut doc, &mut notes);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let names: Vec<&String> = schemas.keys().collect();
        // JSON-pointer order: INPUT < Input < input.
        assert_eq!(names, ["INPUT", "InputSchema", "User", "inputSchema2"]);
        assert_eq!(
            schemas["INPUT"]["$ref"],
            "#/components/schemas/inputSchema2"
        );
        assert_eq!(
            schemas["User"]["properties"]["a"]["$ref"],
            "#/components/schemas/inputSchema2"
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn inline_types_named_like_a_component_get_a_title() {
        let mut doc = json!({"components": {"schemas": {
            "Collaboration": {"properties": {
                "item": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "other": {"type": "string"}}},
            "CollaborationItem": {"type": "object"}
        }}});
        let mut notes = Vec::new();
        colliding_inline_types(&mut doc, &mut notes);
        let props = &doc["components"]["schemas"]["Collaboration"]["properties"];
        assert_eq!(props["item"]["title"], "CollaborationItemInline");
        assert!(props["other"].get("title").is_none());
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn nullable_compositions_lose_nullable_at_the_component_only() {
        let mut doc = json!({"components": {"schemas": {
            "JsonValue": {"anyOf": [{"type": "string"}, {"type": "number"}], "nullable": true},
            "Plain": {"type": "string", "nullable": true}
        }}});
        let mut notes = Vec::new();
        nullable_composed_components(&mut doc, &mut notes);
        assert!(
            doc["components"]["schemas"]["JsonValue"]
                .get("nullable")
                .is_none()
        );
        assert_eq!(doc["components"]["schemas"]["Plain"]["nullable"], true);
        assert_eq!(notes.len(), 1);
    }
}
