//! `multipart/form-data` request bodies, which progenitor cannot generate (its issue #1240;
//! PR #609 was closed): instead of dropping such operations, xtask generates them itself,
//! in two steps around progenitor.
//!
//! 1. [`extract`], on the lowered document before progenitor runs: takes the multipart
//!    body off each such operation and records its parts (one per property of the body's
//!    object schema, through `$ref`s and `allOf`). Progenitor then generates the
//!    operation as if it had no body: the `Client` method, a builder with the
//!    path/query/header parameters, and a `send()` that goes through the client hooks
//!    and decodes the responses like every other operation's.
//! 2. [`augment()`], on progenitor's output: adds to that builder one field and one setter
//!    per part, and to its `send()` the form, built from the parts and attached to the
//!    request just before it is built (`.multipart(form)`).
//!
//! How each part is typed:
//! - `type: string, format: binary` (or `byte`; 3.1's `contentMediaType` and
//!   `contentEncoding` are lowered to those), or a property whose `encoding.<name>.contentType`
//!   is not a text type: a file, taking the runtime's `FilePart`; arrays of those: one part
//!   per file, from any iterator of `FilePart`s;
//! - a string (`Uuid` for `format: uuid`), integer (`i64`), number (`f64`) or boolean: a
//!   text part, with progenitor's `TryInto` setter style; enums are strings, their values
//!   listed in the setter's docs (unknown values pass, like the open enums elsewhere);
//!   arrays of those: one text part per item;
//! - an object, an array of objects: a JSON text part (`application/json`), from any
//!   `Serialize` value, with a warning naming the JSON pointer;
//! - anything without one type (`anyOf`, `oneOf`, `{}`): a text part from a `String`,
//!   with a warning.
//!
//! A required part missing at `send()` is an `Error::InvalidRequest` naming it, like a
//! missing required parameter. An operation whose multipart schema names no properties is
//! left out with that reason.

use std::collections::BTreeSet;

use crate::oas::escape;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

/// An operation whose `multipart/form-data` body was taken off for [`augment()`].
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The operationId as in the document.
    pub operation_id: String,
    /// HTTP method, upper case.
    pub method: String,
    /// The path template.
    pub path: String,
    /// The parts: each schema's properties in key order, `allOf` members in order.
    pub parts: Vec<Part>,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} {}): parts ",
            self.operation_id, self.method, self.path
        )?;
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({}", part.name, part.kind.describe())?;
            if part.required {
                f.write_str(", required")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One part of a multipart body: a property of its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The part's name on the wire (the property name).
    pub name: String,
    /// The setter's name: the property in snake case, as progenitor names parameters
    /// (`_part` appended when a parameter or another part already has that name).
    pub setter: String,
    /// How the part is typed and sent.
    pub kind: Kind,
    /// Listed in the schema's `required`.
    pub required: bool,
    /// The property's description, for the setter's docs.
    pub description: Option<String>,
    /// The content type the document declares for the part (`encoding.<name>.contentType`),
    /// when it is one concrete type.
    pub content_type: Option<String>,
    /// The values of a string enum, for the setter's docs.
    pub values: Vec<String>,
}

/// How a part is typed and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One text part.
    Text(Scalar),
    /// One text part per item.
    TextList(Scalar),
    /// One file part.
    File,
    /// One file part per file.
    Files,
    /// One `application/json` text part.
    Json,
}

/// The Rust type of a text part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// `String`.
    String,
    /// `uuid::Uuid` (`format: uuid`).
    Uuid,
    /// `i64`.
    Integer,
    /// `f64`.
    Number,
    /// `bool`.
    Boolean,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Text(_) => "text",
            Kind::TextList(_) => "text, repeated",
            Kind::File => "file",
            Kind::Files => "files",
            Kind::Json => "JSON",
        }
    }
}

impl Scalar {
    fn rust_type(self) -> TokenStream {
        match self {
            Scalar::String => quote!(::std::string::String),
            Scalar::Uuid => quote!(::uuid::Uuid),
            Scalar::Integer => quote!(i64),
            Scalar::Number => quote!(f64),
            Scalar::Boolean => quote!(bool),
        }
    }
}

/// What [`extract`] found.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Operations whose body was taken off, for [`augment()`].
    pub operations: Vec<Operation>,
    /// Parts typed loosely (JSON or `String`), each with its JSON pointer.
    pub warnings: Vec<String>,
}

/// Extension marking an operation whose multipart body cannot be generated, with the
/// reason; `partial` drops the operation with it.
pub const UNSUPPORTED: &str = "x-sdk-multipart-unsupported";

/// Request body media types progenitor generates; a body offering one of them is left to
/// progenitor (the same list as `partial`'s check).
const SUPPORTED: [&str; 4] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/plain",
];

/// Takes the `multipart/form-data` body off every operation that has one (and no body
/// progenitor supports) and records its parts; see the module docs. Run on the lowered
/// document, before progenitor.
pub fn extract(doc: &mut Value) -> Extracted {
    let mut out = Extracted::default();
    for (path, method) in crate::partial::list_operations(doc) {
        let op_ptr = format!("/paths/{}/{method}", escape(&path));
        let Some(op) = doc.pointer(&op_ptr) else {
            continue;
        };
        let Some((body, body_ptr)) = op
            .get("requestBody")
            .map(|b| resolve(doc, b, format!("{op_ptr}/requestBody")))
        else {
            continue;
        };
        let Some(content) = body.get("content").and_then(Value::as_object) else {
            continue;
        };
        let lower = |k: &str| k.to_ascii_lowercase();
        if content
            .keys()
            .any(|k| SUPPORTED.iter().any(|s| lower(k).starts_with(s)))
        {
            continue;
        }
        let Some((media, media_obj)) = content
            .iter()
            .find(|(k, _)| lower(k).starts_with("multipart/form-data"))
        else {
            continue;
        };
        let operation_id = op.get("operationId").and_then(Value::as_str).map_or_else(
            || format!("{} {path}", method.to_uppercase()),
            str::to_owned,
        );
        let media_ptr = format!("{body_ptr}/content/{}", escape(media));
        let reserved = parameter_names(doc, &path, &method);
        let parts = parts(doc, media_obj, &media_ptr, &reserved, &mut out.warnings);
        let Some(op) = doc.pointer_mut(&op_ptr).and_then(Value::as_object_mut) else {
            continue;
        };
        match parts {
            Ok(parts) => {
                op.remove("requestBody");
                out.operations.push(Operation {
                    operation_id,
                    method: method.to_uppercase(),
                    path,
                    parts,
                });
            }
            Err(reason) => {
                // Left for `partial`'s check, which drops it with this reason (and fails
                // the document when no operation is left).
                op.insert(UNSUPPORTED.to_owned(), Value::String(reason));
            }
        }
    }
    out
}

/// Follows `$ref`s (to a depth of 32): the value and its JSON pointer.
fn resolve(doc: &Value, value: &Value, mut ptr: String) -> (Value, String) {
    let mut value = value.clone();
    for _ in 0..32 {
        let Some(target) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(pointer) = target.strip_prefix('#') else {
            break;
        };
        let Some(next) = doc.pointer(pointer) else {
            break;
        };
        ptr = pointer.to_owned();
        value = next.clone();
    }
    (value, ptr)
}

/// The setter names progenitor gives the operation's parameters, and the builder's own
/// method names: a part's setter must not take one of them.
fn parameter_names(doc: &Value, path: &str, method: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["new", "send", "client"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let item_ptr = format!("/paths/{}", escape(path));
    for ptr in [
        format!("{item_ptr}/parameters"),
        format!("{item_ptr}/{method}/parameters"),
    ] {
        for param in doc
            .pointer(&ptr)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (param, _) = resolve(doc, param, String::new());
            if let Some(name) = param.get("name").and_then(Value::as_str) {
                names.insert(sanitize(name, Case::Snake));
            }
        }
    }
    names
}

/// The parts of a multipart media type object, or why there are none.
fn parts(
    doc: &Value,
    media: &Value,
    media_ptr: &str,
    reserved: &BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Part>, String> {
    let Some(schema) = media.get("schema") else {
        return Err("its multipart/form-data body has no schema to name the parts after".into());
    };
    let mut properties: Vec<(String, Value, String)> = Vec::new();
    let mut required = BTreeSet::new();
    collect(
        doc,
        schema,
        format!("{media_ptr}/schema"),
        &mut properties,
        &mut required,
        0,
    );
    if properties.is_empty() {
        return Err(format!(
            "its multipart/form-data schema ({media_ptr}/schema) declares no properties to name the parts after"
        ));
    }
    let encoding = media.get("encoding").and_then(Value::as_object);
    let mut taken = reserved.clone();
    let mut out = Vec::new();
    for (name, schema, ptr) in properties {
        let content_type = encoding
            .and_then(|e| e.get(&name))
            .and_then(|e| e.get("contentType"))
            .and_then(Value::as_str)
            .map(str::trim);
        let (mut kind, values, warning) = classify(doc, &schema, &ptr, 0);
        // The document says the part is not text (`image/png`, `application/pdf`): a file.
        if content_type.is_some_and(|ct| !is_textual(ct)) {
            kind = match kind {
                Kind::Text(_) => Kind::File,
                Kind::TextList(_) => Kind::Files,
                other => other,
            };
        }
        if let Some(warning) = warning
            && !matches!(kind, Kind::File | Kind::Files)
        {
            warnings.push(warning);
        }
        let base = sanitize(&name, Case::Snake);
        let mut setter = base.clone();
        let mut n = 1;
        while taken.contains(&setter) || taken.contains(&field_name(&setter)) {
            setter = if n == 1 {
                format!("{base}_part")
            } else {
                format!("{base}_part_{n}")
            };
            n += 1;
        }
        taken.insert(setter.clone());
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                resolve(doc, &schema, String::new())
                    .0
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        out.push(Part {
            required: required.contains(&name),
            name,
            setter,
            kind,
            description,
            // Only one concrete type can label a part (`image/*` or `a, b` cannot).
            content_type: content_type
                .filter(|ct| !ct.contains(['*', ',']) && !ct.is_empty())
                .map(str::to_owned),
            values,
        });
    }
    Ok(out)
}

/// The properties and `required` names of an object schema, through `$ref` and `allOf`
/// (a later definition of a property replaces an earlier one).
fn collect(
    doc: &Value,
    schema: &Value,
    ptr: String,
    properties: &mut Vec<(String, Value, String)>,
    required: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let (schema, ptr) = resolve(doc, schema, ptr);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for (i, member) in all.iter().enumerate() {
            collect(
                doc,
                member,
                format!("{ptr}/allOf/{i}"),
                properties,
                required,
                depth + 1,
            );
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let prop_ptr = format!("{ptr}/properties/{}", escape(name));
            match properties.iter_mut().find(|(n, _, _)| n == name) {
                Some(existing) => *existing = (name.clone(), prop.clone(), prop_ptr),
                None => properties.push((name.clone(), prop.clone(), prop_ptr)),
            }
        }
    }
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        required.insert(name.to_owned());
    }
}

/// How a property is sent, the values of a string enum, and a warning when it is typed
/// loosely.
fn classify(
    doc: &Value,
    schema: &Value,
    ptr: &str,
    depth: usize,
) -> (Kind, Vec<String>, Option<String>) {
    let (mut schema, mut ptr) = resolve(doc, schema, ptr.to_owned());
    // `allOf: [{$ref}]` with siblings (how the lowering keeps a `$ref`'s description).
    while let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if depth > 16 {
            break;
        }
        let inner_ptr = format!("{ptr}/allOf/0");
        (schema, ptr) = resolve(doc, only, inner_ptr);
    }
    let values: Vec<String> = schema
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let format = schema.get("format").and_then(Value::as_str);
    let loose = |what: &str| Some(format!("{ptr}: multipart part {what}"));
    match schema.get("type").and_then(Value::as_str) {
        Some("string") if matches!(format, Some("binary" | "byte")) => (Kind::File, values, None),
        Some("string") if format == Some("uuid") => (Kind::Text(Scalar::Uuid), values, None),
        Some("string") => (Kind::Text(Scalar::String), values, None),
        Some("integer") => (Kind::Text(Scalar::Integer), values, None),
        Some("number") => (Kind::Text(Scalar::Number), values, None),
        Some("boolean") => (Kind::Text(Scalar::Boolean), values, None),
        Some("array") => {
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            let (kind, values, _) = classify(doc, &items, &format!("{ptr}/items"), depth + 1);
            match kind {
                Kind::File => (Kind::Files, values, None),
                Kind::Text(scalar) if items.is_object() => (Kind::TextList(scalar), values, None),
                _ => (
                    Kind::Json,
                    Vec::new(),
                    loose(
                        "is an array of objects or arrays: sent as one JSON text part, set from any Serialize value",
                    ),
                ),
            }
        }
        Some("object") => (
            Kind::Json,
            Vec::new(),
            loose("is an object: sent as a JSON text part, set from any Serialize value"),
        ),
        None if schema.get("properties").is_some() => (
            Kind::Json,
            Vec::new(),
            loose("is an object: sent as a JSON text part, set from any Serialize value"),
        ),
        None if !values.is_empty() => (Kind::Text(Scalar::String), values, None),
        _ => (
            Kind::Text(Scalar::String),
            Vec::new(),
            loose("has no single type: sent as a text part, set from a String"),
        ),
    }
}

/// Whether a part of this content type holds text (so a string property stays text).
fn is_textual(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.starts_with("application/x-www-form-urlencoded")
}

/// The builder field holding a part.
fn field_name(setter: &str) -> String {
    format!("multipart_{setter}")
}

#[derive(Clone, Copy)]
pub(crate) enum Case {
    Snake,
    Pascal,
}

/// An identifier as progenitor makes one (`progenitor_impl::util::sanitize`): method and
/// parameter names in snake case, builder names in Pascal case.
pub(crate) fn sanitize(input: &str, case: Case) -> String {
    use heck::{ToPascalCase, ToSnakeCase};
    let to_case = |s: &str| match case {
        Case::Snake => s.to_snake_case(),
        Case::Pascal => s.to_pascal_case(),
    };
    let out = match input {
        "+1" => "plus1".to_owned(),
        "-1" => "minus1".to_owned(),
        _ => to_case(
            &input
                .replace('\'', "")
                .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-"),
        ),
    };
    let out = match out.chars().next() {
        None => to_case("x"),
        Some(c) if c.is_alphabetic() || c == '_' => out,
        Some(_) => format!("_{out}"),
    };
    if syn::parse_str::<syn::Ident>(&out).is_ok() {
        out
    } else {
        format!("{out}_")
    }
}

mod augment;
pub use augment::augment;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
