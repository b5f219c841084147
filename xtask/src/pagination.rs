//! Pagination streams: `.stream()` on the builders of cursor-paginated list operations.
//!
//! Why: progenitor generates streams only for Dropshot's `x-dropshot-pagination` (fields
//! `page_token`, `items`, `next_page`); real documents paginate with other names (Omni:
//! a `cursor` query parameter and an answer `{pageInfo: {nextCursor, hasNextPage}, records}`).
//!
//! 1. [`detect`], on the document progenitor sees: an operation is paginated when it takes
//!    a `cursor` query parameter and its success answer is an object with an array
//!    `records` and an object `pageInfo` holding `nextCursor`. Where a document uses other
//!    names, an `x-sdk-pagination` extension on the operation (in an overlay) names them:
//!    `{cursor, items, pageInfo, nextCursor, hasNextPage}` (each optional, these defaults;
//!    `hasNextPage: null` when the document has none).
//! 2. [`add_streams`], on progenitor's output: for each, an `impl` on the operation's
//!    builder with `stream()` (`into_stream()` when the operation has a parameter named
//!    `stream`), built on `sdk_runtime::pagination::stream`. The record and error types are
//!    read from the generated `send()` and answer struct; the page information is read by
//!    its wire names through `serde_json`, whatever Rust type typify gave it.

use serde_json::{Map, Value};

use crate::multipart::{Case, sanitize};
use crate::oas::METHODS;

/// What one paginated operation calls its parts, by wire name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paginated {
    /// The operationId.
    pub operation_id: String,
    /// The query parameter that takes the cursor.
    pub cursor: String,
    /// The answer's array of records.
    pub items: String,
    /// The answer's page information object.
    pub page_info: String,
    /// The page information's next cursor.
    pub next_cursor: String,
    /// The page information's "there is more" flag, when the document has one.
    pub has_next_page: Option<String>,
}

fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let Some(target) = r.strip_prefix('#').and_then(|p| doc.pointer(p)) else {
            return v;
        };
        v = target;
    }
    v
}

/// The properties of an object schema, through `$ref` and `allOf`.
fn properties<'a>(doc: &'a Value, schema: &'a Value, depth: usize) -> Map<String, Value> {
    let schema = resolve(doc, schema);
    let mut out = Map::new();
    if depth > 16 {
        return out;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.insert(k.clone(), resolve(doc, v).clone());
        }
    }
    for branch in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(properties(doc, branch, depth + 1));
    }
    out
}

fn is_array(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    schema.get("type").and_then(Value::as_str) == Some("array")
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(|s| is_array(doc, s)))
}

fn success_schema<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let responses = op.get("responses")?.as_object()?;
    let (_, response) = responses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .min_by_key(|(code, _)| code.as_str())?;
    let content = resolve(doc, response).get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| media.contains("json"))
        .and_then(|(_, m)| m.get("schema"))
}

fn query_parameter_names(doc: &Value, item: &Value, op: &Value) -> Vec<String> {
    [item, op]
        .iter()
        .filter_map(|v| v.get("parameters").and_then(Value::as_array))
        .flatten()
        .map(|p| resolve(doc, p))
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The paginated operations of `doc` (see the module docs), in path and method order.
pub fn detect(doc: &Value) -> Vec<Paginated> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for item in paths.values() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let Some(operation_id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let ext = op.get("x-sdk-pagination");
            if ext.is_some_and(|e| e == &Value::Bool(false)) {
                continue;
            }
            let name = |key: &str, default: &str| -> String {
                ext.and_then(|e| e.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or(default)
                    .to_owned()
            };
            let cursor = name("cursor", "cursor");
            let items = name("items", "records");
            let page_info = name("pageInfo", "pageInfo");
            let next_cursor = name("nextCursor", "nextCursor");
            let has_next_page = match ext.and_then(|e| e.get("hasNextPage")) {
                Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                _ => Some("hasNextPage".to_owned()),
            };
            if !query_parameter_names(doc, item, op).contains(&cursor) {
                continue;
            }
            let Some(schema) = success_schema(doc, op) else {
                continue;
            };
            let props = properties(doc, schema, 0);
            let Some(records) = props.get(&items) else {
                continue;
            };
            let Some(info) = props.get(&page_info) else {
                continue;
            };
            let info_props = properties(doc, info, 0);
            if !is_array(doc, records) || !info_props.contains_key(&next_cursor) {
                continue;
            }
            let has_next_page = has_next_page.filter(|h| info_props.contains_key(h));
            out.push(Paginated {
                operation_id: operation_id.to_owned(),
                cursor,
                items,
                page_info,
                next_cursor,
                has_next_page,
            });
        }
    }
    out
}

fn type_is(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// The type arguments of the last segment of a path type (`Result<A, B>` → `[A, B]`).
fn type_args(ty: &syn::Type) -> Vec<syn::Type> {
    let syn::Type::Path(p) = ty else {
        return Vec::new();
    };
    let Some(last) = p.path.segments.last() else {
        return Vec::new();
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return Vec::new();
    };
    args.args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The wire name of a struct field: its `#[serde(rename = "...")]`, else its identifier.
fn wire_name(field: &syn::Field) -> Option<String> {
    let mut name = field.ident.as_ref()?.to_string();
    for attr in &field.attrs {
        if !attr.path().is_ident("serde") {
            continue;
        }
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                name = lit.value();
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    Some(name.trim_start_matches("r#").to_owned())
}

fn items_mut<'f>(file: &'f mut syn::File, module: &str) -> Option<&'f mut Vec<syn::Item>> {
    file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == module => m.content.as_mut().map(|(_, i)| i),
        _ => None,
    })
}

fn items<'f>(file: &'f syn::File, module: &str) -> Option<&'f Vec<syn::Item>> {
    file.items.iter().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == module => m.content.as_ref().map(|(_, i)| i),
        _ => None,
    })
}

/// `Option<T>` → `(T, true)`, anything else → `(T, false)`.
fn unwrap_option(ty: &syn::Type) -> (syn::Type, bool) {
    if last_ident(ty).as_deref() == Some("Option")
        && let [inner] = type_args(ty).as_slice()
    {
        return (inner.clone(), true);
    }
    (ty.clone(), false)
}

/// Adds `stream()` to the builders of `operations` (see the module docs). Returns the
/// operationIds that got one; an operation progenitor left out, or whose generated shape
/// is not the one expected, is skipped with a warning in the second list.
pub fn add_streams(file: &mut syn::File, operations: &[Paginated]) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut warnings = Vec::new();
    let mut impls = Vec::new();
    for op in operations {
        let pascal = sanitize(&op.operation_id, Case::Pascal);
        match stream_impl(file, op, &pascal) {
            Ok(Some(item)) => {
                impls.push(item);
                done.push(op.operation_id.clone());
            }
            Ok(None) => {}
            Err(why) => warnings.push(format!(
                "operation {}: no pagination stream: {why}",
                op.operation_id
            )),
        }
    }
    if let Some(builder) = items_mut(file, "builder") {
        builder.extend(impls);
    }
    (done, warnings)
}

fn stream_impl(
    file: &syn::File,
    op: &Paginated,
    pascal: &str,
) -> Result<Option<syn::Item>, String> {
    let Some(builder) = items(file, "builder") else {
        return Ok(None);
    };
    let methods: Vec<&syn::ImplItemFn> = builder
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(i) if i.trait_.is_none() && type_is(&i.self_ty, pascal) => Some(i),
            _ => None,
        })
        .flat_map(|i| i.items.iter())
        .filter_map(|item| match item {
            syn::ImplItem::Fn(f) => Some(f),
            _ => None,
        })
        .collect();
    // Progenitor left the operation out (it is listed with its reason).
    let Some(send) = methods.iter().find(|f| f.sig.ident == "send") else {
        return Ok(None);
    };
    let cursor_setter = sanitize(&op.cursor, Case::Snake);
    if !methods.iter().any(|f| f.sig.ident == cursor_setter) {
        return Err(format!("its builder has no setter `{cursor_setter}`"));
    }
    let name = if methods.iter().any(|f| f.sig.ident == "stream") {
        "into_stream"
    } else {
        "stream"
    };
    let syn::ReturnType::Type(_, output) = &send.sig.output else {
        return Err("`send()` returns nothing".into());
    };
    let [ok, err] = type_args(output)
        .try_into()
        .map_err(|_| "`send()` does not return `Result<ResponseValue<T>, Error<E>>`".to_owned())?;
    let [answer] = type_args(&ok)
        .try_into()
        .map_err(|_| "`send()` does not answer a `ResponseValue<T>`".to_owned())?;
    let answer_name = last_ident(&answer).ok_or("the answer is not a named type")?;
    let types = items(file, "types").ok_or("the generated file has no `types` module")?;
    let strukt = types
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == answer_name => Some(s),
            _ => None,
        })
        .ok_or_else(|| format!("its answer `{answer_name}` is not a struct"))?;
    let field = |wire: &str| {
        strukt
            .fields
            .iter()
            .find(|f| wire_name(f).as_deref() == Some(wire))
            .ok_or_else(|| format!("its answer `{answer_name}` has no field `{wire}`"))
    };
    let records = field(&op.items)?;
    let info = field(&op.page_info)?;
    let (records_ty, records_optional) = unwrap_option(&records.ty);
    let [record] = type_args(&records_ty)
        .try_into()
        .map_err(|_| format!("`{}` is not a list", op.items))?;
    // Inside `mod builder`, the answer's types are `types::X`.
    let record = qualify(&record);
    let records_ident = records.ident.clone().ok_or("a tuple struct")?;
    let info_ident = info.ident.clone().ok_or("a tuple struct")?;
    let take_records = if records_optional {
        quote::quote!(page.#records_ident.unwrap_or_default())
    } else {
        quote::quote!(page.#records_ident)
    };
    let next_cursor = &op.next_cursor;
    let has_next = match &op.has_next_page {
        Some(h) => quote::quote!(::std::option::Option::Some(#h)),
        None => quote::quote!(::std::option::Option::None),
    };
    let pascal_ident = syn::Ident::new(pascal, proc_macro2::Span::call_site());
    let name_ident = syn::Ident::new(name, proc_macro2::Span::call_site());
    let setter = syn::Ident::new(&cursor_setter, proc_macro2::Span::call_site());
    let items_wire = &op.items;
    let info_wire = &op.page_info;
    let doc = format!(
        "Every record of every page: sends this request, then asks for the next page with \
         `{cursor}` set to `{info_wire}.{next_cursor}` (the other parameters kept) until a page \
         says there is no next one; `{items_wire}` of each page in order. An error is yielded \
         and ends the stream.",
        cursor = op.cursor,
    );
    let item: syn::Item = syn::parse_quote! {
        impl<'a> #pascal_ident<'a> {
            #[doc = #doc]
            pub fn #name_ident(
                self,
            ) -> impl ::futures::Stream<Item = Result<#record, #err>> + ::std::marker::Unpin + 'a {
                ::sdk_runtime::pagination::stream(
                    self,
                    |builder, cursor| builder.#setter(cursor),
                    |builder: Self| async move {
                        let page = match builder.send().await {
                            Ok(answer) => answer.into_inner(),
                            Err(e) => return Err(e),
                        };
                        let info = ::serde_json::to_value(&page.#info_ident)
                            .unwrap_or(::serde_json::Value::Null);
                        Ok(::sdk_runtime::pagination::Page::new(
                            #take_records,
                            &info,
                            #next_cursor,
                            #has_next,
                        ))
                    },
                )
            }
        }
    };
    Ok(Some(item))
}

/// A type named in `mod types` as seen from `mod builder`: `Document` → `types::Document`
/// (paths that already have a prefix, and std types, are kept).
fn qualify(ty: &syn::Type) -> syn::Type {
    if let syn::Type::Path(p) = ty
        && p.qself.is_none()
        && p.path.leading_colon.is_none()
        && p.path.segments.len() == 1
    {
        let seg = &p.path.segments[0];
        return syn::parse_quote!(types::#seg);
    }
    ty.clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(op_extra: Value, info: Value) -> Value {
        json!({
            "paths": {"/v1/things": {"get": {
                "operationId": "thingsList",
                "parameters": [{"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Things"}}}}},
            }}},
            "components": {"schemas": {
                "Things": {"type": "object", "properties": {
                    "pageInfo": {"allOf": [{"$ref": "#/components/schemas/PageInfo"}, {"description": "d"}]},
                    "records": {"type": "array", "items": {"type": "string"}},
                    "principals": {"type": "array", "items": {"type": "string"}},
                }},
                "PageInfo": info,
            }},
        })
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            if let Some(extra) = op_extra.as_object() {
                let op = o["paths"]["/v1/things"]["get"].as_object_mut().unwrap();
                op.extend(extra.clone());
            }
            Value::Object(o)
        })
        .unwrap()
    }

    fn page_info() -> Value {
        json!({"type": "object", "properties": {"nextCursor": {"type": "string", "nullable": true}, "hasNextPage": {"type": "boolean"}}})
    }

    #[test]
    fn records_and_page_info_through_ref_and_all_of_are_detected() {
        let found = detect(&doc(json!({}), page_info()));
        assert_eq!(
            found,
            [Paginated {
                operation_id: "thingsList".into(),
                cursor: "cursor".into(),
                items: "records".into(),
                page_info: "pageInfo".into(),
                next_cursor: "nextCursor".into(),
                has_next_page: Some("hasNextPage".into()),
            }]
        );
    }

    #[test]
    fn no_next_cursor_no_stream_and_no_has_next_page_is_optional() {
        assert!(detect(&doc(json!({}), json!({"type": "object"}))).is_empty());
        let only_cursor =
            json!({"type": "object", "properties": {"nextCursor": {"type": "string"}}});
        assert_eq!(detect(&doc(json!({}), only_cursor))[0].has_next_page, None);
    }

    #[test]
    fn the_extension_names_other_fields_or_turns_detection_off() {
        let named = detect(&doc(
            json!({"x-sdk-pagination": {"items": "principals"}}),
            page_info(),
        ));
        assert_eq!(named[0].items, "principals");
        assert!(detect(&doc(json!({"x-sdk-pagination": false}), page_info())).is_empty());
        let missing = detect(&doc(
            json!({"x-sdk-pagination": {"items": "nothing"}}),
            page_info(),
        ));
        assert!(missing.is_empty());
    }
}
