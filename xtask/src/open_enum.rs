//! Open string enums: a value the spec did not list is kept, not rejected.
//!
//! typify turns `enum: [RUNNING, COMPLETED, FAILED]` into a closed Rust enum whose derived
//! `Deserialize` fails on any other string, so the day a server adds a status every
//! deployed client breaks on every response that carries it. We rewrite each such enum
//! (all unit variants, serde-derived) into an open one:
//!
//! ```text
//! pub enum Status { Running, Completed, Failed, Unknown(String) }
//! ```
//!
//! with hand-rolled `Serialize`/`Deserialize` over the wire strings, `as_str()`,
//! `is_unknown()`, `Display`, infallible `FromStr`, and `From<&str>`/`From<String>` (so the
//! generated builders' `TryFrom` bounds still hold). Unit variants keep their names, so code
//! written against typify's enums keeps compiling except for exhaustive matches, which
//! now need an `Unknown(_)` arm: that is the point.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, Fields, Item, ItemEnum, LitStr, Meta};

/// Rewrites every closed string enum in the `types` module of `file`; returns their names.
pub fn open_string_enums(file: &mut syn::File) -> Vec<String> {
    let mut opened = Vec::new();
    for item in &mut file.items {
        if let Item::Mod(m) = item
            && m.ident == "types"
            && let Some((_, items)) = &mut m.content
        {
            opened = open_in(items);
        }
    }
    opened
}

fn open_in(items: &mut Vec<Item>) -> Vec<String> {
    let mut names = Vec::new();
    let mut extra = Vec::new();
    for item in items.iter_mut() {
        let Item::Enum(e) = item else { continue };
        let Some(wire) = string_enum_values(e) else {
            continue;
        };
        names.push(e.ident.to_string());
        extra.push(rewrite(e, &wire));
    }
    // Drop typify's conversions for the rewritten enums; ours replace them.
    items.retain(|item| match item {
        Item::Impl(imp) => {
            let self_name = match &*imp.self_ty {
                syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
                _ => None,
            };
            let is_ours = self_name.is_some_and(|n| names.contains(&n));
            let trait_name = imp
                .trait_
                .as_ref()
                .and_then(|(_, path, _)| path.segments.last())
                .map(|s| s.ident.to_string());
            !(is_ours
                && matches!(
                    trait_name.as_deref(),
                    Some("Display" | "FromStr" | "TryFrom")
                ))
        }
        _ => true,
    });
    for tokens in extra {
        if let Ok(file) = syn::parse2::<syn::File>(tokens) {
            items.extend(file.items);
        }
    }
    names
}

fn derives(attrs: &[Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("derive")
            && let Meta::List(list) = &attr.meta
        {
            let text = list.tokens.to_string();
            out.extend(
                text.split(',')
                    .map(|s| s.rsplit("::").next().unwrap_or("").trim().to_owned()),
            );
        }
    }
    out
}

/// `Some(wire strings, in variant order)` when `e` is a serde-derived enum of unit variants.
fn string_enum_values(e: &ItemEnum) -> Option<Vec<String>> {
    let d = derives(&e.attrs);
    if !(d.iter().any(|x| x == "Deserialize") && d.iter().any(|x| x == "Serialize")) {
        return None;
    }
    if e.variants.is_empty() || e.attrs.iter().any(|a| a.path().is_ident("serde")) {
        return None;
    }
    let mut wire = Vec::new();
    for v in &e.variants {
        if !matches!(v.fields, Fields::Unit) {
            return None;
        }
        let mut name = v.ident.to_string();
        for attr in &v.attrs {
            if !attr.path().is_ident("serde") {
                continue;
            }
            let mut renamed = None;
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    renamed = Some(meta.value()?.parse::<LitStr>()?.value());
                    Ok(())
                } else {
                    Err(meta.error("unsupported serde attribute"))
                }
            });
            match (parsed, renamed) {
                (Ok(()), Some(r)) => name = r,
                _ => return None,
            }
        }
        wire.push(name);
    }
    Some(wire)
}

fn rewrite(e: &mut ItemEnum, wire: &[String]) -> TokenStream {
    // Derives: no serde (hand-written below), no Copy (Unknown holds a String).
    e.attrs.retain(|a| !a.path().is_ident("derive"));
    e.attrs
        .push(syn::parse_quote!(#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]));
    for v in e.variants.iter_mut() {
        v.attrs.retain(|a| !a.path().is_ident("serde"));
    }
    for (v, w) in e.variants.iter_mut().zip(wire) {
        let doc = format!("`{w}`");
        if !v.attrs.iter().any(|a| a.path().is_ident("doc")) {
            v.attrs.push(syn::parse_quote!(#[doc = #doc]));
        }
    }
    // `Unknown`, unless the spec already has a value named so.
    let taken: Vec<String> = e.variants.iter().map(|v| v.ident.to_string()).collect();
    let unknown = ["Unknown", "UnknownValue", "Unrecognized", "OtherValue"]
        .into_iter()
        .find(|n| !taken.iter().any(|t| t == n))
        .unwrap_or("UnlistedValue");
    let unknown = syn::Ident::new(unknown, Span::call_site());
    e.variants.push(syn::parse_quote! {
        /// A value the spec did not list (a newer server), kept verbatim.
        #unknown(::std::string::String)
    });

    let name = &e.ident;
    let idents: Vec<_> = e
        .variants
        .iter()
        .filter(|v| matches!(v.fields, Fields::Unit))
        .map(|v| v.ident.clone())
        .collect();
    let lits: Vec<_> = wire
        .iter()
        .map(|w| LitStr::new(w, Span::call_site()))
        .collect();
    quote! {
        impl #name {
            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    #(Self::#idents => #lits,)*
                    Self::#unknown(value) => value.as_str(),
                }
            }
            /// Whether the server sent a value the spec did not list.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::#unknown(_))
            }
        }
        impl ::std::convert::From<&str> for #name {
            fn from(value: &str) -> Self {
                match value {
                    #(#lits => Self::#idents,)*
                    other => Self::#unknown(other.to_owned()),
                }
            }
        }
        impl ::std::convert::From<::std::string::String> for #name {
            fn from(value: ::std::string::String) -> Self {
                match Self::from(value.as_str()) {
                    Self::#unknown(_) => Self::#unknown(value),
                    known => known,
                }
            }
        }
        impl ::std::str::FromStr for #name {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }
        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let value = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(value))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn types_mod(body: TokenStream) -> syn::File {
        syn::parse2(quote! { pub mod types { #body } }).unwrap()
    }

    #[test]
    fn closed_string_enums_gain_an_unknown_variant_and_lose_typify_conversions() {
        let mut file = types_mod(quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Copy, Debug)]
            pub enum Status {
                #[serde(rename = "RUNNING")]
                Running,
                Done,
            }
            impl ::std::fmt::Display for Status { fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { Ok(()) } }
            impl ::std::str::FromStr for Status { type Err = (); fn from_str(v: &str) -> Result<Self, ()> { Err(()) } }
            impl ::std::convert::TryFrom<&str> for Status { type Error = (); fn try_from(v: &str) -> Result<Self, ()> { Err(()) } }
            impl Default for Status { fn default() -> Self { Status::Done } }
        });
        assert_eq!(open_string_enums(&mut file), vec!["Status".to_owned()]);
        let out = prettyplease::unparse(&file);
        assert!(out.contains("Unknown(::std::string::String)"), "{out}");
        assert!(out.contains("Self::Running => \"RUNNING\""), "{out}");
        assert!(out.contains("Self::Done => \"Done\""), "{out}");
        assert!(!out.contains("Copy"), "{out}");
        assert!(!out.contains("#[serde"), "{out}");
        assert!(!out.contains("TryFrom<&str>"), "{out}");
        assert_eq!(
            out.matches("impl ::std::fmt::Display for Status").count(),
            1,
            "{out}"
        );
        assert!(out.contains("impl Default for Status"), "{out}");
    }

    #[test]
    fn a_listed_unknown_value_keeps_its_name_and_the_catch_all_gets_another() {
        let mut file = types_mod(quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Copy, Debug)]
            pub enum Kind {
                #[serde(rename = "unknown")]
                Unknown,
                #[serde(rename = "known")]
                Known,
            }
        });
        open_string_enums(&mut file);
        let out = prettyplease::unparse(&file);
        assert!(out.contains("UnknownValue(::std::string::String)"), "{out}");
        assert!(out.contains("Self::Unknown => \"unknown\""), "{out}");
        syn::parse_str::<syn::File>(&out).unwrap();
    }

    #[test]
    fn enums_with_data_or_without_serde_are_left_alone() {
        let src = quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            #[serde(untagged)]
            pub enum Either { A(String), B(i64) }
            #[derive(Debug)]
            pub enum Plain { X, Y }
        };
        let mut file = types_mod(src);
        let before = prettyplease::unparse(&file);
        assert!(open_string_enums(&mut file).is_empty());
        assert_eq!(prettyplease::unparse(&file), before);
    }
}
