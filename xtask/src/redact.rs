//! Secrets stay out of `Debug`: generated types that hold one print `<redacted>` instead.
//!
//! typify derives `Debug` on every type, so a request body with `deployPrivateKey` or a
//! response with `webhookSigningSecret` would print the secret in any `{:?}` — a log line,
//! a panic message, a test failure. A field is secret when its schema says so
//! (`format: password`, `writeOnly: true`) or its name does: one of its `snake_case` words
//! is `secret`, `token`, `password` or `passwd`, or it contains `private_key` or
//! `api_key`. Such a struct gets a hand-written `Debug` that prints every other field as
//! the derive would and the secret ones as `<redacted>` (whether set or not). The rule
//! errs on the side of hiding: `token_type` is hidden too; `max_tokens` is not.

use crate::visit;
use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;
use std::collections::BTreeSet;
use syn::punctuated::Punctuated;
use syn::{Fields, Item, ItemStruct, Token};

/// The property names whose schemas say `format: password` or `writeOnly: true`.
pub fn secret_properties(doc: &mut Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    visit::schemas(doc, &mut |schema, _| {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, prop) in props {
            let secret = prop.get("format").and_then(Value::as_str) == Some("password")
                || prop.get("writeOnly") == Some(&Value::Bool(true));
            if secret {
                out.insert(name.clone());
            }
        }
    });
    out
}

/// Whether a field name says it holds a secret (see the module docs).
pub fn is_secret_name(ident: &str) -> bool {
    let ident = ident.trim_end_matches('_').to_ascii_lowercase();
    let words: Vec<&str> = ident.split('_').collect();
    words
        .iter()
        .any(|w| matches!(*w, "secret" | "token" | "password" | "passwd"))
        || words
            .windows(2)
            .any(|w| matches!(w, ["private", "key"] | ["api", "key"]))
        || matches!(ident.as_str(), "privatekey" | "apikey")
}

/// Replaces the derived `Debug` of every struct (in any module of `file`) that has a
/// secret field; returns the names of the structs changed.
pub fn redact_debug(file: &mut syn::File, secret_wire_names: &BTreeSet<String>) -> Vec<String> {
    let mut changed = Vec::new();
    redact_items(&mut file.items, secret_wire_names, &mut changed);
    changed
}

fn redact_items(items: &mut Vec<Item>, wire: &BTreeSet<String>, changed: &mut Vec<String>) {
    let mut extra = Vec::new();
    for item in items.iter_mut() {
        match item {
            Item::Mod(m) => {
                if let Some((_, inner)) = &mut m.content {
                    redact_items(inner, wire, changed);
                }
            }
            Item::Struct(s) => {
                if let Some(debug_impl) = redact_struct(s, wire) {
                    changed.push(s.ident.to_string());
                    extra.push(debug_impl);
                }
            }
            _ => {}
        }
    }
    items.extend(extra);
}

fn field_is_secret(field: &syn::Field, wire: &BTreeSet<String>) -> bool {
    let Some(ident) = &field.ident else {
        return false;
    };
    let ident = ident.to_string();
    if is_secret_name(&ident) {
        return true;
    }
    let renamed = field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .filter_map(|a| a.meta.require_list().ok())
        .filter_map(|list| {
            list.parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated)
                .ok()
        })
        .flatten()
        .find_map(|meta| match meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("rename") => match nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        });
    match renamed {
        Some(name) => wire.contains(&name),
        None => wire.iter().any(|w| crate::names::field_name(w) == ident),
    }
}

fn redact_struct(s: &mut ItemStruct, wire: &BTreeSet<String>) -> Option<Item> {
    let Fields::Named(fields) = &s.fields else {
        return None;
    };
    let secret: Vec<bool> = fields
        .named
        .iter()
        .map(|f| field_is_secret(f, wire))
        .collect();
    if !secret.contains(&true) || !remove_derived_debug(&mut s.attrs) {
        return None;
    }
    let name = &s.ident;
    let label = name.to_string();
    let (impl_generics, ty_generics, where_clause) = s.generics.split_for_impl();
    let entries: Vec<TokenStream> = fields
        .named
        .iter()
        .zip(&secret)
        .filter_map(|(f, secret)| {
            let ident = f.ident.as_ref()?;
            let key = ident.to_string();
            Some(if *secret {
                quote!(.field(#key, &"<redacted>"))
            } else {
                quote!(.field(#key, &self.#ident))
            })
        })
        .collect();
    let tokens = quote! {
        impl #impl_generics ::std::fmt::Debug for #name #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#label) #(#entries)* .finish()
            }
        }
    };
    syn::parse2(tokens).ok()
}

/// Removes `Debug` from the struct's `#[derive(...)]`; false when it derives none.
fn remove_derived_debug(attrs: &mut [syn::Attribute]) -> bool {
    for attr in attrs.iter_mut() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(list) = attr.meta.require_list() else {
            continue;
        };
        let Ok(paths) = list.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        let is_debug = |p: &syn::Path| p.segments.last().is_some_and(|s| s.ident == "Debug");
        if !paths.iter().any(is_debug) {
            continue;
        }
        let kept: Vec<&syn::Path> = paths.iter().filter(|p| !is_debug(p)).collect();
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
        return true;
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_say_secret() {
        for name in [
            "token",
            "deploy_private_key",
            "password_unencrypted",
            "webhook_signing_secret",
            "api_key",
            "type_token",
            "access_token",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "max_tokens",
            "keyboard",
            "private",
            "name",
            "secretary",
            "key",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_fields_are_redacted_in_debug_and_the_rest_printed() {
        let mut doc = json!({"components": {"schemas": {"S": {"properties": {
            "hidden": {"type": "string", "writeOnly": true},
            "pin": {"type": "string", "format": "password"},
            "name": {"type": "string"}}}}}});
        let wire = secret_properties(&mut doc);
        assert_eq!(wire, ["hidden".to_owned(), "pin".to_owned()].into());
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug, ::serde::Serialize)]
                pub struct S {
                    pub hidden: Option<String>,
                    #[serde(rename = "pin")]
                    pub pin_code: Option<String>,
                    pub webhook_signing_secret: String,
                    pub name: String,
                }
                #[derive(Clone, Debug)]
                pub struct Plain { pub name: String }
            }
        };
        let changed = redact_debug(&mut file, &wire);
        assert_eq!(changed, ["S"]);
        let text = prettyplease::unparse(&file);
        assert!(
            text.contains("#[derive(Clone, ::serde::Serialize)]"),
            "{text}"
        );
        assert!(text.contains("impl ::std::fmt::Debug for S"), "{text}");
        assert!(
            text.contains(".field(\"hidden\", &\"<redacted>\")"),
            "{text}"
        );
        assert!(
            text.contains(".field(\"pin_code\", &\"<redacted>\")"),
            "{text}"
        );
        assert!(
            text.contains(".field(\"webhook_signing_secret\", &\"<redacted>\")"),
            "{text}"
        );
        assert!(text.contains(".field(\"name\", &self.name)"), "{text}");
        assert!(
            text.contains("#[derive(Clone, Debug)]\n    pub struct Plain"),
            "{text}"
        );
    }
}
