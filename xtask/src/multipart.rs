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
//! 2. [`augment`], on progenitor's output: adds to that builder one field and one setter
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

/// An operation whose `multipart/form-data` body was taken off for [`augment`].
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
    /// Operations whose body was taken off, for [`augment`].
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
enum Case {
    Snake,
    Pascal,
}

/// An identifier as progenitor makes one (`progenitor_impl::util::sanitize`): method and
/// parameter names in snake case, builder names in Pascal case.
fn sanitize(input: &str, case: Case) -> String {
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

/// Adds the parts of each of `operations` to the builder progenitor generated for it (see
/// the module docs). Returns the operations augmented: those progenitor generated.
///
/// Fails, naming the operation, when progenitor's builder does not have the shape this
/// pass knows (progenitor 0.15): after a progenitor upgrade, adapt this module.
pub fn augment<'o>(
    file: &mut syn::File,
    operations: &'o [Operation],
) -> Result<Vec<&'o Operation>, String> {
    let mut done = Vec::new();
    for op in operations {
        let snake = sanitize(&op.operation_id, Case::Snake);
        let pascal = sanitize(&op.operation_id, Case::Pascal);
        let fail = |what: &str| {
            format!(
                "multipart operation {} ({} {}): progenitor's builder {pascal} {what}; adapt xtask/src/multipart.rs to this progenitor version",
                op.operation_id, op.method, op.path
            )
        };
        let Some(builder) = file.items.iter_mut().find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "builder" => m.content.as_mut().map(|(_, i)| i),
            _ => None,
        }) else {
            return Err(fail(
                "is missing: the generated file has no `builder` module",
            ));
        };
        let Some(strukt) = builder.iter_mut().find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == pascal => Some(s),
            _ => None,
        }) else {
            // Progenitor left the operation out (listed with its reason).
            continue;
        };
        augment_struct(strukt, op).map_err(|w| fail(&w))?;
        let Some(imp) = builder.iter_mut().find_map(|item| match item {
            syn::Item::Impl(i) if i.trait_.is_none() && type_is(&i.self_ty, &pascal) => Some(i),
            _ => None,
        }) else {
            return Err(fail("has no impl block"));
        };
        augment_impl(imp, op, &snake).map_err(|w| fail(&w))?;
        document_method(file, op, &snake);
        done.push(op);
    }
    Ok(done)
}

fn type_is(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// The field's type: `Result<T, String>` for a required part, `Result<Option<T>, String>`
/// otherwise, `T` as the part's kind says.
fn value_type(part: &Part) -> TokenStream {
    match part.kind {
        Kind::Text(s) => s.rust_type(),
        Kind::TextList(s) => {
            let t = s.rust_type();
            quote!(::std::vec::Vec<#t>)
        }
        Kind::File => quote!(::sdk_runtime::FilePart),
        Kind::Files => quote!(::std::vec::Vec<::sdk_runtime::FilePart>),
        Kind::Json => quote!(::serde_json::Value),
    }
}

fn augment_struct(strukt: &mut syn::ItemStruct, op: &Operation) -> Result<(), String> {
    let syn::Fields::Named(fields) = &mut strukt.fields else {
        return Err("has no named fields".into());
    };
    for part in &op.parts {
        let field = format_ident!("{}", field_name(&part.setter));
        let ty = value_type(part);
        let tokens = if part.required {
            quote!(#field: Result<#ty, String>)
        } else {
            quote!(#field: Result<Option<#ty>, String>)
        };
        let field = syn::parse::Parser::parse2(syn::Field::parse_named, tokens)
            .map_err(|e| format!("field for part {}: {e}", part.name))?;
        fields.named.push(field);
    }
    // A file may be a stream, which cannot be cloned: such builders are not `Clone`
    // (`FilePart::try_clone` copies what can be copied).
    if op
        .parts
        .iter()
        .any(|p| matches!(p.kind, Kind::File | Kind::Files))
    {
        for attr in &mut strukt.attrs {
            if attr.path().is_ident("derive") {
                *attr = syn::parse_quote!(#[derive(Debug)]);
            }
        }
    }
    Ok(())
}

fn augment_impl(imp: &mut syn::ItemImpl, op: &Operation, snake: &str) -> Result<(), String> {
    // `new`: the fields' initial values.
    let new = impl_fn(imp, "new").ok_or("has no `new`")?;
    let Some(syn::Stmt::Expr(syn::Expr::Struct(init), _)) = new.block.stmts.last_mut() else {
        return Err("`new` does not end in a struct expression".into());
    };
    for part in &op.parts {
        let field = format_ident!("{}", field_name(&part.setter));
        let value: syn::FieldValue = if part.required {
            let message = format!(
                "multipart part `{}` was not set (call .{}(..) on the {snake} builder)",
                part.name, part.setter
            );
            syn::parse_quote!(#field: Err(#message.to_string()))
        } else {
            syn::parse_quote!(#field: Ok(None))
        };
        init.fields.push(value);
    }

    // `send`: take the fields, build the form, attach it to the request.
    let send = impl_fn(imp, "send").ok_or("has no `send`")?;
    let stmts = &mut send.block.stmts;
    let Some(syn::Stmt::Local(destructure)) = stmts.first_mut() else {
        return Err("`send` does not start with `let Self { .. } = self;`".into());
    };
    let syn::Pat::Struct(pattern) = &mut destructure.pat else {
        return Err("`send` does not start with `let Self { .. } = self;`".into());
    };
    for part in &op.parts {
        let ident = format_ident!("{}", field_name(&part.setter));
        pattern.fields.push(syn::FieldPat {
            attrs: Vec::new(),
            member: syn::Member::Named(ident.clone()),
            colon_token: None,
            pat: Box::new(syn::Pat::Ident(syn::PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident,
                subpat: None,
            })),
        });
    }
    let at = stmts
        .iter()
        .position(|s| matches!(s, syn::Stmt::Local(l) if local_is(l, "request")))
        .ok_or("`send` has no `let mut request = ...`")?;
    let form = form_statements(op);
    let block: syn::Block =
        syn::parse2(quote!({ #form })).map_err(|e| format!("form statements: {e}"))?;
    let Some(syn::Stmt::Local(request)) = stmts.get_mut(at) else {
        return Err("`send` has no `let mut request = ...`".into());
    };
    let Some(init) = request.init.as_mut() else {
        return Err("`let mut request` has no value".into());
    };
    let syn::Expr::Try(built) = init.expr.as_mut() else {
        return Err("`let mut request` is not `... .build()?`".into());
    };
    let syn::Expr::MethodCall(build) = built.expr.as_mut() else {
        return Err("`let mut request` is not `... .build()?`".into());
    };
    if build.method != "build" {
        return Err("`let mut request` is not `... .build()?`".into());
    }
    let receiver = &build.receiver;
    *build.receiver = syn::parse_quote!(#receiver.multipart(multipart_body));
    stmts.splice(at..at, block.stmts);
    let doc = "\n\nThe request body is `multipart/form-data`, one part per setter \
               (generated by xtask: progenitor has no multipart support).";
    send.attrs.push(syn::parse_quote!(#[doc = #doc]));

    // The setters, before `send`.
    let setters = op
        .parts
        .iter()
        .map(|part| setter(part, snake))
        .collect::<Result<Vec<_>, _>>()?;
    let at = imp
        .items
        .iter()
        .position(|i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == "send"))
        .unwrap_or(imp.items.len());
    imp.items.splice(at..at, setters);
    Ok(())
}

fn impl_fn<'i>(imp: &'i mut syn::ItemImpl, name: &str) -> Option<&'i mut syn::ImplItemFn> {
    imp.items.iter_mut().find_map(|item| match item {
        syn::ImplItem::Fn(f) if f.sig.ident == name => Some(f),
        _ => None,
    })
}

fn local_is(local: &syn::Local, name: &str) -> bool {
    matches!(&local.pat, syn::Pat::Ident(p) if p.ident == name)
}

/// The statements building `multipart_body` from the part fields (inserted in `send`
/// before the request is built).
fn form_statements(op: &Operation) -> TokenStream {
    let mut out = TokenStream::new();
    for part in &op.parts {
        let field = format_ident!("{}", field_name(&part.setter));
        out.extend(quote!(let #field = #field.map_err(Error::InvalidRequest)?;));
    }
    out.extend(quote!(let mut multipart_body = ::reqwest::multipart::Form::new();));
    for part in &op.parts {
        let field = format_ident!("{}", field_name(&part.setter));
        let name = &part.name;
        let content_type = match &part.content_type {
            Some(ct) => quote!(Some(#ct)),
            None => quote!(None),
        };
        let add_one = |value: TokenStream| match part.kind {
            Kind::Text(Scalar::String) | Kind::TextList(Scalar::String) => {
                quote!(multipart_body = multipart_body.text(#name, #value);)
            }
            Kind::Text(_) | Kind::TextList(_) => {
                quote!(multipart_body = multipart_body.text(#name, #value.to_string());)
            }
            Kind::File | Kind::Files => quote! {
                multipart_body = multipart_body.part(
                    #name,
                    #value.into_part(#name, #content_type).map_err(Error::InvalidRequest)?,
                );
            },
            Kind::Json => quote! {
                multipart_body = multipart_body.part(
                    #name,
                    ::sdk_runtime::json_part(#name, &#value, #content_type)
                        .map_err(Error::InvalidRequest)?,
                );
            },
        };
        let one = add_one(quote!(value));
        let statement = match (part.kind, part.required) {
            (Kind::TextList(_) | Kind::Files, true) => quote!(for value in #field { #one }),
            (Kind::TextList(_) | Kind::Files, false) => {
                quote!(for value in #field.into_iter().flatten() { #one })
            }
            (_, true) => add_one(quote!(#field)),
            (_, false) => quote!(if let Some(value) = #field { #one }),
        };
        out.extend(statement);
    }
    out
}

/// The setter of one part, in progenitor's style (`TryInto`, errors kept until `send`).
fn setter(part: &Part, snake: &str) -> Result<syn::ImplItem, String> {
    let setter = format_ident!("{}", part.setter);
    let field = format_ident!("{}", field_name(&part.setter));
    let mut doc = format!(
        "Multipart part `{}` ({}{})",
        part.name,
        part.kind.describe(),
        if part.required { ", required" } else { "" }
    );
    if let Some(description) = &part.description {
        doc.push_str(": ");
        doc.push_str(description);
    }
    if !part.values.is_empty() {
        let values: Vec<String> = part.values.iter().map(|v| format!("`{v}`")).collect();
        doc.push_str(&format!("\n\nValues: {}.", values.join(", ")));
    }
    if let Some(ct) = &part.content_type {
        doc.push_str(&format!("\n\nSent as `{ct}` unless set otherwise."));
    }
    let wrap = |value: TokenStream| {
        if part.required {
            value
        } else {
            quote!(#value.map(Some))
        }
    };
    let item = match part.kind {
        Kind::File => {
            let value = if part.required {
                quote!(Ok(value))
            } else {
                quote!(Ok(Some(value)))
            };
            quote! {
                #[doc = #doc]
                pub fn #setter(mut self, value: ::sdk_runtime::FilePart) -> Self {
                    self.#field = #value;
                    self
                }
            }
        }
        Kind::Files => {
            let collected = quote!(value.into_iter().collect::<::std::vec::Vec<_>>());
            let value = if part.required {
                quote!(Ok(#collected))
            } else {
                quote!(Ok(Some(#collected)))
            };
            quote! {
                #[doc = #doc]
                pub fn #setter<V>(mut self, value: V) -> Self
                where
                    V: ::std::iter::IntoIterator<Item = ::sdk_runtime::FilePart>,
                {
                    self.#field = #value;
                    self
                }
            }
        }
        Kind::Json => {
            let message = format!("serializing multipart part `{}` as JSON failed", part.name);
            let converted = wrap(quote!(::serde_json::to_value(value)));
            quote! {
                #[doc = #doc]
                pub fn #setter<V>(mut self, value: V) -> Self
                where
                    V: ::serde::Serialize,
                {
                    self.#field = #converted.map_err(|e| format!("{}: {}", #message, e));
                    self
                }
            }
        }
        Kind::Text(_) | Kind::TextList(_) => {
            let ty = value_type(part);
            let message = format!(
                "conversion to `{}` for {} failed (multipart part `{}` of {snake})",
                ty.to_string().replace(' ', ""),
                part.setter,
                part.name
            );
            let converted = wrap(quote!(value.try_into()));
            quote! {
                #[doc = #doc]
                pub fn #setter<V>(mut self, value: V) -> Self
                where
                    V: std::convert::TryInto<#ty>,
                {
                    self.#field = #converted.map_err(|_| #message.to_string());
                    self
                }
            }
        }
    };
    syn::parse2(item).map_err(|e| format!("setter for part {}: {e}", part.name))
}

/// Lists the parts in the docs of the operation's `Client` method.
fn document_method(file: &mut syn::File, op: &Operation, snake: &str) {
    let mut doc = String::from(
        "\n\nMultipart body (`multipart/form-data`, generated by xtask), one setter per part:",
    );
    for part in &op.parts {
        doc.push_str(&format!(
            "\n- `.{}(..)`: part `{}` ({}{})",
            part.setter,
            part.name,
            part.kind.describe(),
            if part.required { ", required" } else { "" }
        ));
    }
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else {
            continue;
        };
        if imp.trait_.is_some() || !type_is(&imp.self_ty, "Client") {
            continue;
        }
        for item in &mut imp.items {
            if let syn::ImplItem::Fn(f) = item
                && f.sig.ident == snake
            {
                f.attrs.push(syn::parse_quote!(#[doc = #doc]));
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/files/{id}": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "post": {
                        "operationId": "uploadFile",
                        "parameters": [{"$ref": "#/components/parameters/File"}],
                        "requestBody": {"$ref": "#/components/requestBodies/Upload"},
                        "responses": {"204": {"description": "ok"}}
                    }
                },
                "/json-too": {"post": {
                    "operationId": "both",
                    "requestBody": {"content": {
                        "multipart/form-data": {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                        "application/json": {"schema": {"type": "object"}}
                    }},
                    "responses": {"204": {"description": "ok"}}
                }},
                "/opaque": {"put": {
                    "operationId": "opaque",
                    "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
                    "responses": {"204": {"description": "ok"}}
                }}
            },
            "components": {
                "parameters": {"File": {"name": "file", "in": "query", "schema": {"type": "string"}}},
                "requestBodies": {"Upload": {"required": true, "content": {"multipart/form-data": {
                    "schema": {"allOf": [
                        {"$ref": "#/components/schemas/Base"},
                        {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary", "description": "The file"},
                            "pictures": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "tags": {"type": "array", "items": {"type": "integer"}},
                            "meta": {"type": "object", "properties": {"k": {"type": "string"}}},
                            "anything": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            "type": {"allOf": [{"$ref": "#/components/schemas/Kind"}], "description": "Kind of file"},
                            "avatar": {"type": "string"}
                        }}
                    ]},
                    "encoding": {"avatar": {"contentType": "image/png"}, "meta": {"contentType": "application/json"}}
                }}}},
                "schemas": {
                    "Base": {"type": "object", "required": ["ownerId"], "properties": {
                        "ownerId": {"type": "string", "format": "uuid"},
                        "public": {"type": "boolean"},
                        "ratio": {"type": "number"}
                    }},
                    "Kind": {"type": "string", "enum": ["csv", "xlsx"]}
                }
            }
        })
    }

    fn summary(op: &Operation) -> Vec<(String, String, Kind, bool)> {
        op.parts
            .iter()
            .map(|p| (p.name.clone(), p.setter.clone(), p.kind, p.required))
            .collect()
    }

    #[test]
    fn parts_are_read_through_refs_and_all_of_and_the_body_taken_off() {
        let mut d = doc();
        let out = extract(&mut d);
        assert_eq!(out.operations.len(), 1, "{out:?}");
        let op = &out.operations[0];
        assert_eq!(
            (
                op.operation_id.as_str(),
                op.method.as_str(),
                op.path.as_str()
            ),
            ("uploadFile", "POST", "/files/{id}")
        );
        let s = |x: &str| x.to_owned();
        assert_eq!(
            summary(op),
            [
                (s("ownerId"), s("owner_id"), Kind::Text(Scalar::Uuid), true),
                (s("public"), s("public"), Kind::Text(Scalar::Boolean), false),
                (s("ratio"), s("ratio"), Kind::Text(Scalar::Number), false),
                // Each `properties` in key order (`allOf` members in order).
                (
                    s("anything"),
                    s("anything"),
                    Kind::Text(Scalar::String),
                    false
                ),
                // `encoding.avatar.contentType: image/png`: a file, whatever the schema.
                (s("avatar"), s("avatar"), Kind::File, false),
                // The query parameter `file` has the setter `file`.
                (s("file"), s("file_part"), Kind::File, true),
                (s("meta"), s("meta"), Kind::Json, false),
                (s("pictures"), s("pictures"), Kind::Files, false),
                (s("tags"), s("tags"), Kind::TextList(Scalar::Integer), false),
                (s("type"), s("type_"), Kind::Text(Scalar::String), false),
            ]
        );
        let by_name = |n: &str| op.parts.iter().find(|p| p.name == n).unwrap();
        assert_eq!(by_name("type").values, ["csv", "xlsx"]);
        assert_eq!(by_name("type").description.as_deref(), Some("Kind of file"));
        assert_eq!(by_name("file").description.as_deref(), Some("The file"));
        assert_eq!(by_name("avatar").content_type.as_deref(), Some("image/png"));
        assert_eq!(
            by_name("meta").content_type.as_deref(),
            Some("application/json")
        );
        assert!(d.pointer("/paths/~1files~1{id}/post/requestBody").is_none());
        assert!(d.pointer("/paths/~1files~1{id}/post/responses").is_some());
        // A body progenitor supports too is left alone.
        assert!(d.pointer("/paths/~1json-too/post/requestBody").is_some());
        assert_eq!(
            out.warnings,
            [
                "/components/requestBodies/Upload/content/multipart~1form-data/schema/allOf/1/properties/anything: multipart part has no single type: sent as a text part, set from a String",
                "/components/requestBodies/Upload/content/multipart~1form-data/schema/allOf/1/properties/meta: multipart part is an object: sent as a JSON text part, set from any Serialize value",
            ]
        );
        assert_eq!(
            op.to_string(),
            "uploadFile (POST /files/{id}): parts ownerId (text, required), public (text), ratio (text), anything (text), avatar (file), file (file, required), meta (JSON), pictures (files), tags (text, repeated), type (text)"
        );
    }

    #[test]
    fn a_schema_without_properties_is_marked_with_the_reason() {
        let mut d = doc();
        extract(&mut d);
        assert_eq!(
            d.pointer("/paths/~1opaque/put/x-sdk-multipart-unsupported"),
            Some(&json!(
                "its multipart/form-data schema (/paths/~1opaque/put/requestBody/content/multipart~1form-data/schema) declares no properties to name the parts after"
            ))
        );
        assert!(d.pointer("/paths/~1opaque/put/requestBody").is_some());
    }

    /// marimo's `POST /api/files/create`: 3.1's nullable file, lowered first.
    #[test]
    fn a_nullable_file_from_3_1_is_a_file() {
        let mut d = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {"/f": {"post": {
                "operationId": "create",
                "requestBody": {"content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "properties": {
                        "file": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "format": "binary"},
                        "image": {"type": ["string", "null"], "contentMediaType": "image/png"},
                        "name": {"type": "string"}
                    }
                }}}},
                "responses": {"204": {"description": "ok"}}
            }}}
        });
        crate::normalize::normalize(&mut d);
        let out = extract(&mut d);
        let kinds: Vec<(&str, Kind)> = out.operations[0]
            .parts
            .iter()
            .map(|p| (p.name.as_str(), p.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("file", Kind::File),
                ("image", Kind::File),
                ("name", Kind::Text(Scalar::String))
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn names_are_progenitors() {
        assert_eq!(sanitize("uploadsCreate", Case::Snake), "uploads_create");
        assert_eq!(sanitize("uploadsCreate", Case::Pascal), "UploadsCreate");
        assert_eq!(
            sanitize("post_api_files_create", Case::Pascal),
            "PostApiFilesCreate"
        );
        assert_eq!(sanitize("type", Case::Snake), "type_");
        assert_eq!(sanitize("file-name", Case::Snake), "file_name");
        assert_eq!(sanitize("2fa", Case::Snake), "_2fa");
    }

    /// The whole pipeline on a small document, with progenitor.
    #[test]
    fn generated_builders_get_a_setter_per_part_and_send_the_form() {
        let root = tempfile::tempdir().unwrap();
        let spec = json!({
            "openapi": "3.1.0",
            "info": {"title": "Files", "version": "1"},
            "paths": {"/files/{id}": {"post": {
                "operationId": "uploadFile",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {"type": "string", "contentMediaType": "text/csv; charset=utf-8"},
                        "image": {"type": "string", "contentMediaType": "image/png"},
                        "labels": {"type": "array", "items": {"type": "string"}}
                    }
                }}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}}}
            }}}
        });
        std::fs::write(root.path().join("files.json"), spec.to_string()).unwrap();
        let sdk = crate::codegen::Sdk {
            crate_dir: "files-sdk".into(),
            spec: "files.json".into(),
            merge: Vec::new(),
            overlay: Vec::new(),
            strip_path_prefix: None,
        };
        let output = crate::codegen::generate(root.path(), &sdk).unwrap();
        assert!(output.dropped.is_empty(), "{:?}", output.dropped);
        let generated = &output.files[0].1;
        let has = |needle: &str| {
            assert!(generated.contains(needle), "missing {needle:?}");
        };
        has(
            "// - uploadFile (POST /files/{id}): parts data (text, required), image (file), labels (text, repeated)",
        );
        has("pub fn data<V>(mut self, value: V) -> Self");
        has("pub fn image(mut self, value: ::sdk_runtime::FilePart) -> Self");
        has("V: std::convert::TryInto<::std::vec::Vec<::std::string::String>>");
        has(".multipart(multipart_body)");
        has("value.into_part(\"image\", None)");
        has("for value in multipart_labels.into_iter().flatten()");
        has("multipart part `data` was not set (call .data(..) on the upload_file builder)");
        has("- `.image(..)`: part `image` (file)");
        // The path parameter keeps progenitor's setter and encoding.
        has("pub fn id<V>(mut self, value: V) -> Self");
        has("encode_path(& id.to_string())");
    }

    #[test]
    fn an_unknown_builder_shape_is_an_error_naming_the_operation() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod builder {
                pub struct UploadFile<'a> { client: &'a super::Client }
                impl<'a> UploadFile<'a> {
                    pub fn new(client: &'a super::Client) -> Self { Self { client: client } }
                }
            }
        };
        let mut d = doc();
        let ops = extract(&mut d).operations;
        let err = augment(&mut file, &ops).unwrap_err();
        assert_eq!(
            err,
            "multipart operation uploadFile (POST /files/{id}): progenitor's builder UploadFile has no `send`; adapt xtask/src/multipart.rs to this progenitor version"
        );
        // An operation progenitor left out is not an error.
        let mut empty: syn::File = syn::parse_quote!(
            pub mod builder {}
        );
        assert!(augment(&mut empty, &ops).unwrap().is_empty());
    }
}
