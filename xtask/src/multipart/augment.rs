//! Step 2, on progenitor's output: a field and a setter per part on the operation's
//! builder, and the form attached in its `send()`.

use super::*;

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
