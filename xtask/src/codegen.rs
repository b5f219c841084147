//! `cargo xtask codegen [--check]`: specs/ → `<crate>/src/generated.rs`.
//!
//! Pipeline per SDK: read the vendored spec and its overlay → apply the overlay →
//! lower OpenAPI 3.1 to 3.0.3 ([`crate::normalize`]) → generic compatibility fixes
//! ([`crate::compat`]) → progenitor (builder interface, under `catch_unwind`) → open enums
//! ([`crate::open_enum`]) → prettyplease → header with the inputs' sha256. Multipart
//! request bodies are taken off before progenitor and added back after it
//! ([`crate::multipart`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::verify::{self, Fix};
use crate::{compat, names, open_enum, overlay, partial, passes, redact};
use std::collections::BTreeSet;

/// One generated SDK crate, as listed in `specs/sdks.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sdk {
    /// Crate directory (and package name), relative to the workspace root.
    #[serde(rename = "crate")]
    pub crate_dir: String,
    /// Vendored spec, relative to the workspace root.
    pub spec: String,
    /// Documents merged over the spec after `strip_path_prefix`, before the overlays, in
    /// order: each of their path items replaces the spec's item with the same path, and
    /// each of their components is added (a name the spec already uses for something else
    /// is an error). For operations another source documents better (Omni's docs site, for
    /// three of its full document's). In the manifest: one path or a list of paths.
    #[serde(default, deserialize_with = "one_or_many")]
    pub merge: Vec<String>,
    /// Overlays with our fixes, relative to the workspace root, applied in order after
    /// `strip_path_prefix` and `merge`. In the manifest: one path or a list of paths.
    #[serde(default, deserialize_with = "one_or_many")]
    pub overlay: Vec<String>,
    /// A prefix removed from every path key before anything else (e.g. `/api` when the
    /// document's paths carry what the configured base URL already ends with).
    #[serde(default)]
    pub strip_path_prefix: Option<String>,
}

/// `overlay = "a.yaml"` or `overlay = ["a.yaml", "b.yaml"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match <OneOrMany as serde::Deserialize>::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `specs/sdks.toml`: the list of generated crates.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The SDKs, in generation order.
    #[serde(default)]
    pub sdk: Vec<Sdk>,
}

/// Where the manifest lives, relative to the workspace root.
pub const MANIFEST: &str = "specs/sdks.toml";

/// Reads `specs/sdks.toml`.
pub fn read_manifest(root: &Path) -> Result<Manifest, CodegenError> {
    let bytes = read(root, MANIFEST)?;
    let text = String::from_utf8_lossy(&bytes);
    toml::from_str(&text).map_err(|e| CodegenError::Syntax {
        path: MANIFEST.to_owned(),
        message: e.to_string(),
    })
}

/// Why generation failed. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// YAML/JSON syntax error (the message carries line and column).
    #[error("{path}: invalid YAML/JSON: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// Parser message with line and column.
        message: String,
    },
    /// The overlay could not be applied.
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    /// A `merge` document clashes with the spec.
    #[error("{path}: cannot merge into the spec: {message}")]
    Merge {
        /// The merged document.
        path: String,
        /// What clashes.
        message: String,
    },
    /// The document is not OpenAPI 3.0 or 3.1.
    #[error("{path}: not an OpenAPI 3.0/3.1 document: {message}")]
    Version {
        /// The file.
        path: String,
        /// What it is instead.
        message: String,
    },
    /// Progenitor returned an error or panicked.
    #[error("{path}: progenitor cannot generate a client: {message}")]
    Generator {
        /// The spec file.
        path: String,
        /// Progenitor's error or panic message.
        message: String,
    },
    /// The generated crate does not compile and the errors map to no schema or
    /// operation that could be left out (or [`verify::MAX_ROUNDS`] rounds did not help).
    #[error("{crate_dir}: the generated code does not compile; nothing was written:\n{errors}")]
    DoesNotCompile {
        /// The crate.
        crate_dir: String,
        /// The compiler errors, one per line.
        errors: String,
    },
    /// The verification build could not run.
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    /// The generated tokens are not valid Rust.
    #[error("{path}: generated code does not parse: {message}")]
    Unparsable {
        /// The spec file.
        path: String,
        /// syn's message.
        message: String,
    },
}

/// What generating one SDK produced.
#[derive(Debug)]
pub struct Output {
    /// The generated files: where each goes and its full contents.
    pub files: Vec<(PathBuf, String)>,
    /// Constructs the normaliser could not lower, and other notes.
    pub warnings: Vec<String>,
    /// Operations left out of the client.
    pub dropped: Vec<partial::Dropped>,
    /// The repairs verification found, applied to this output.
    pub fixes: BTreeSet<Fix>,
    /// The document progenitor saw (after every pass, before `fixes`): compiler errors in
    /// the generated file are mapped back to it.
    pub lowered: serde_json::Value,
}

impl Output {
    /// The generated `src/generated.rs`.
    pub fn generated(&self) -> &str {
        self.files
            .iter()
            .find(|(p, _)| p.ends_with("src/generated.rs"))
            .map_or("", |(_, c)| c.as_str())
    }
}

fn header(source: &str, inputs: &[(String, String)]) -> String {
    let mut header = format!(
        "// @generated by `cargo xtask codegen` from {source}. DO NOT EDIT.\n\
         // Change the source and run `cargo xtask codegen`; CI runs\n\
         // `cargo xtask codegen --check` and the crate's build.rs compares these hashes.\n"
    );
    for (path, hash) in inputs {
        header.push_str(&format!("// sha256 {hash} {path}\n"));
    }
    header.push('\n');
    header
}

fn read(root: &Path, rel: &str) -> Result<Vec<u8>, CodegenError> {
    std::fs::read(root.join(rel)).map_err(|source| CodegenError::Io {
        action: "read",
        path: rel.to_owned(),
        source,
    })
}

/// Parses YAML or JSON (JSON is YAML) into a JSON value.
pub fn parse_document(bytes: &[u8], path: &str) -> Result<serde_json::Value, CodegenError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CodegenError::Syntax {
        path: path.to_owned(),
        message: format!("not UTF-8: {e}"),
    })?;
    crate::load::parse(text).map_err(|message| CodegenError::Syntax {
        path: path.to_owned(),
        message,
    })
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The document an SDK is generated from, as its authors wrote it: the vendored spec with
/// its path prefix stripped and its overlays applied, before any of xtask's own passes
/// (still OpenAPI 3.1, examples and all). Also returns each input file with its sha256.
pub fn effective_document(
    root: &Path,
    sdk: &Sdk,
) -> Result<(serde_json::Value, Vec<(String, String)>), CodegenError> {
    let spec_path = sdk.spec.as_str();
    let spec_bytes = read(root, spec_path)?;
    let mut doc = parse_document(&spec_bytes, spec_path)?;
    let mut inputs = vec![(spec_path.to_owned(), sha256_hex(&spec_bytes))];
    // Before the overlay: an overlay on a document that is not OpenAPI 3 would only say
    // that its targets select nothing.
    check_version(&doc, spec_path)?;
    if let Some(prefix) = &sdk.strip_path_prefix {
        strip_path_prefix(&mut doc, prefix);
    }
    for merge_path in &sdk.merge {
        let bytes = read(root, merge_path)?;
        let other = parse_document(&bytes, merge_path)?;
        check_version(&other, merge_path)?;
        merge_document(&mut doc, &other, merge_path)?;
        inputs.push((merge_path.clone(), sha256_hex(&bytes)));
    }
    for overlay_path in &sdk.overlay {
        let overlay_bytes = read(root, overlay_path)?;
        let overlay_doc = parse_document(&overlay_bytes, overlay_path)?;
        overlay::apply(&mut doc, &overlay_doc, overlay_path)?;
        inputs.push((overlay_path.clone(), sha256_hex(&overlay_bytes)));
    }
    check_version(&doc, spec_path)?;
    Ok((doc, inputs))
}

/// Runs the whole pipeline for one SDK without touching the disk (except reading inputs),
/// replaying the verification fixes recorded in its current `generated.rs` while the
/// inputs are unchanged (see [`crate::verify`]).
pub fn generate(root: &Path, sdk: &Sdk) -> Result<Output, CodegenError> {
    let (doc, inputs) = effective_document(root, sdk)?;
    let current = std::fs::read_to_string(root.join(&sdk.crate_dir).join("src/generated.rs"))
        .unwrap_or_default();
    let fixes = verify::recorded(&current, &inputs);
    generate_from(root, sdk, doc, inputs, &fixes)
}

/// Generates and, with `verify`, compiles the result in the scratch workspace of
/// `workspace_root`, repairing what does not compile (at most [`verify::MAX_ROUNDS`]
/// rounds). Every SDK must generate and compile, or this fails and nothing is written.
pub fn generate_verified(
    workspace_root: &Path,
    source_root: &Path,
    sdks: &[Sdk],
    verify: bool,
) -> Result<Vec<Output>, CodegenError> {
    let mut outputs = sdks
        .iter()
        .map(|sdk| generate(source_root, sdk))
        .collect::<Result<Vec<_>, _>>()?;
    if !verify {
        return Ok(outputs);
    }
    for round in 1..=verify::MAX_ROUNDS + 1 {
        let crate_roots: Vec<PathBuf> = sdks
            .iter()
            .map(|sdk| source_root.join(&sdk.crate_dir))
            .collect();
        let candidates: Vec<verify::Candidate<'_>> = sdks
            .iter()
            .zip(&outputs)
            .zip(&crate_roots)
            .map(|((sdk, out), crate_root)| verify::Candidate {
                crate_dir: &sdk.crate_dir,
                source_root,
                files: out
                    .files
                    .iter()
                    .map(|(p, c)| {
                        (
                            p.strip_prefix(crate_root).unwrap_or(p).to_path_buf(),
                            c.as_str(),
                        )
                    })
                    .collect(),
            })
            .collect();
        let errors = verify::check(workspace_root, &candidates)?;
        if errors.is_empty() {
            return Ok(outputs);
        }
        let mut progress = false;
        for (i, sdk) in sdks.iter().enumerate() {
            let mine: Vec<&verify::CompileError> = errors
                .iter()
                .filter(|e| e.crate_dir == sdk.crate_dir)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let listed = || {
                mine.iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let (new, unmapped) = verify::map_errors(
                &outputs[i].lowered,
                outputs[i].generated(),
                &mine,
                &op_snake_case,
            );
            let mut fixes = outputs[i].fixes.clone();
            let before = fixes.len();
            fixes.extend(new);
            if !unmapped.is_empty() || fixes.len() == before || round > verify::MAX_ROUNDS {
                return Err(CodegenError::DoesNotCompile {
                    crate_dir: sdk.crate_dir.clone(),
                    errors: listed(),
                });
            }
            outputs[i] = generate_with(source_root, sdk, &fixes)?;
            progress = true;
        }
        if !progress {
            return Err(CodegenError::DoesNotCompile {
                crate_dir: errors[0].crate_dir.clone(),
                errors: errors
                    .iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
    }
    Err(CodegenError::DoesNotCompile {
        crate_dir: sdks
            .first()
            .map(|s| s.crate_dir.clone())
            .unwrap_or_default(),
        errors: format!("still failing after {} repair rounds", verify::MAX_ROUNDS),
    })
}

/// [`generate`] with the given verification fixes.
pub fn generate_with(
    root: &Path,
    sdk: &Sdk,
    fixes: &BTreeSet<Fix>,
) -> Result<Output, CodegenError> {
    let (doc, inputs) = effective_document(root, sdk)?;
    generate_from(root, sdk, doc, inputs, fixes)
}

fn generate_from(
    root: &Path,
    sdk: &Sdk,
    mut doc: serde_json::Value,
    header_inputs: Vec<(String, String)>,
    fixes: &BTreeSet<Fix>,
) -> Result<Output, CodegenError> {
    let spec_path = sdk.spec.as_str();

    // Every rewrite between the overlays and progenitor, in order: see `passes::PASSES`.
    let passes::Outcome {
        mut warnings,
        multipart,
        wire_renames,
        secrets,
        json_params,
        timeouts,
        body_media_types,
    } = passes::run(&mut doc, spec_path);

    let lowered = doc.clone();
    let verify_dropped = verify::apply(&mut doc, fixes);
    for fix in fixes {
        if let Fix::UntypedSchema { schema, reason } = fix {
            warnings.push(format!(
                "{spec_path}: /components/schemas/{}: generated as an untyped JSON value (its type did not compile: {reason})",
                crate::oas::escape(schema)
            ));
        }
    }
    let (tokens, mut dropped) =
        partial::generate(&doc, &run_progenitor).map_err(|message| CodegenError::Generator {
            path: spec_path.to_owned(),
            message,
        })?;
    for (path, method, reason) in verify_dropped {
        dropped.push(partial::dropped_op(
            &lowered,
            &path,
            &method,
            format!("does not compile: {reason}"),
        ));
    }
    dropped.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| CodegenError::Unparsable {
        path: spec_path.to_owned(),
        message: e.to_string(),
    })?;
    open_enum::open_string_enums(&mut file);
    let multipart_ops =
        crate::multipart::augment(&mut file, &multipart.operations).map_err(|message| {
            CodegenError::Generator {
                path: spec_path.to_owned(),
                message,
            }
        })?;
    names::restore_wire_names(&mut file, &wire_renames);
    redact::redact_debug(&mut file, &secrets);
    file.items.push(json_params_item(&json_params));
    file.items.push(timeouts_item(&timeouts));
    file.items.push(body_types_item(&body_media_types));
    file.items.extend(runtime_glue());
    reexport_error_body(&mut file);
    let mut head = header(spec_path, &header_inputs);
    if !fixes.is_empty() {
        head.push_str(
            "// Repairs found by compiling (replayed while the inputs above are unchanged):\n",
        );
        head.push_str(&verify::header_lines(fixes));
        head.push('\n');
    }
    if !dropped.is_empty() {
        head.push_str(&format!(
            "// Operations left out ({}), each with the reason:\n",
            dropped.len()
        ));
        for d in &dropped {
            head.push_str(&format!("// - {d}\n"));
        }
        head.push('\n');
    }
    if !multipart_ops.is_empty() {
        head.push_str(&format!(
            "// Operations with a multipart/form-data body ({}): progenitor generates them without\n\
             // the body; xtask/src/multipart.rs adds a setter per part to their builders:\n",
            multipart_ops.len()
        ));
        for op in &multipart_ops {
            head.push_str(&format!("// - {op}\n"));
        }
        head.push('\n');
    }
    let generated = head + &prettyplease::unparse(&file);

    let src = root.join(&sdk.crate_dir).join("src");
    Ok(Output {
        files: vec![(src.join("generated.rs"), generated)],
        warnings,
        dropped,
        fixes: fixes.clone(),
        lowered,
    })
}

/// Removes `prefix` from the start of every path key (`/api/v1/x` → `/v1/x` for `/api`).
/// Keys without the prefix are kept as they are.
pub fn strip_path_prefix(doc: &mut serde_json::Value, prefix: &str) {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return;
    }
    if let Some(paths) = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        let entries = std::mem::take(paths);
        for (key, item) in entries {
            let stripped = match key.strip_prefix(prefix) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => key,
            };
            paths.insert(stripped, item);
        }
    }
}

/// Merges `other` into `doc` (see [`Sdk::merge`]): path items replace the ones with the same
/// path, components are added. A component name `doc` already uses for a different value is
/// an error naming it (but for security schemes, where the spec's is kept), so that a re-vendored spec cannot silently lose or change a schema
/// the merged operations rely on.
pub fn merge_document(
    doc: &mut serde_json::Value,
    other: &serde_json::Value,
    path: &str,
) -> Result<(), CodegenError> {
    use serde_json::{Map, Value};
    let fail = |message: String| CodegenError::Merge {
        path: path.to_owned(),
        message,
    };
    let Some(root) = doc.as_object_mut() else {
        return Err(fail("the spec is not a JSON object".into()));
    };
    if let Some(items) = other.get("paths").and_then(Value::as_object) {
        let paths = root
            .entry("paths")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| fail("the spec's `paths` is not an object".into()))?;
        for (key, item) in items {
            paths.insert(key.clone(), item.clone());
        }
    }
    if let Some(sections) = other.get("components").and_then(Value::as_object) {
        let components = root
            .entry("components")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| fail("the spec's `components` is not an object".into()))?;
        for (section, entries) in sections {
            let Some(entries) = entries.as_object() else {
                continue;
            };
            let target = components
                .entry(section.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| {
                    fail(format!(
                        "the spec's `components.{section}` is not an object"
                    ))
                })?;
            for (name, value) in entries {
                match target.get(name) {
                    // Two descriptions of one scheme (how a token is sent): the spec's is
                    // kept; nothing generated depends on the wording.
                    Some(_) if section == "securitySchemes" => {}
                    Some(existing) if existing != value => {
                        return Err(fail(format!(
                            "components.{section}.{name} is defined differently in both documents; rename it in one of them"
                        )));
                    }
                    _ => {
                        target.insert(name.clone(), value.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Refuses documents that are not OpenAPI 3.0 or 3.1 (Swagger 2.0, AsyncAPI, ...).
pub fn check_version(doc: &serde_json::Value, path: &str) -> Result<(), CodegenError> {
    match doc.get("openapi").and_then(serde_json::Value::as_str) {
        Some(v) if v.starts_with("3.0") || v.starts_with("3.1") => Ok(()),
        Some(v) => Err(CodegenError::Version {
            path: path.to_owned(),
            message: format!("OpenAPI version {v} is not supported (3.0 and 3.1 are)"),
        }),
        None => Err(CodegenError::Version {
            path: path.to_owned(),
            message: match doc.get("swagger") {
                Some(_) => "a Swagger 2.0 document; convert it to OpenAPI 3 first".to_owned(),
                None => "no `openapi` version field: not an OpenAPI document".to_owned(),
            },
        }),
    }
}

/// What ties a generated client to the shared runtime (`sdk-runtime`): its hooks delegate
/// to `sdk_runtime::hooks` with this crate's per-operation tables, and its credential key.
fn runtime_glue() -> Vec<syn::Item> {
    let tokens = quote::quote! {
        impl ::progenitor_client::ClientHooks<::sdk_runtime::Inner> for Client {
            async fn pre<E>(
                &self,
                request: &mut ::reqwest::Request,
                info: &::progenitor_client::OperationInfo,
            ) -> ::std::result::Result<(), Error<E>> {
                let tables = ::sdk_runtime::OperationTables {
                    json_query_params: JSON_QUERY_PARAMS,
                    request_timeouts: REQUEST_TIMEOUTS,
                    request_body_media_types: REQUEST_BODY_MEDIA_TYPES,
                };
                ::sdk_runtime::hooks::pre(
                    ::progenitor_client::ClientInfo::inner(self),
                    request,
                    info,
                    &tables,
                );
                Ok(())
            }

            async fn exec(
                &self,
                request: ::reqwest::Request,
                _info: &::progenitor_client::OperationInfo,
            ) -> ::reqwest::Result<::reqwest::Response> {
                ::sdk_runtime::hooks::exec(
                    ::progenitor_client::ClientInfo::inner(self),
                    ::progenitor_client::ClientInfo::client(self),
                    request,
                )
                .await
            }
        }

        impl Client {
            /// A number that is the same for every client of this process that sends the
            /// same credentials to the same base URL, and differs otherwise; rate limits
            /// are per credential, and code that paces requests (`poll-helpers`' shared
            /// budgets) keys on it. See `sdk_runtime::Inner::credential_key`.
            pub fn credential_key(&self) -> u64 {
                ::progenitor_client::ClientInfo::inner(self).credential_key()
            }
        }
    };
    syn::parse2::<syn::File>(tokens)
        .map(|f| f.items)
        .unwrap_or_default()
}

/// `types::ApiError` stays a name of every generated crate: a re-export of the shared
/// runtime's error body, which replaced the generated one.
fn reexport_error_body(file: &mut syn::File) {
    for item in &mut file.items {
        if let syn::Item::Mod(m) = item
            && m.ident == "types"
            && let Some((_, items)) = &mut m.content
        {
            items.insert(
                0,
                syn::parse_quote!(
                    pub use ::sdk_runtime::ApiError;
                ),
            );
        }
    }
}

fn json_params_item(params: &[(String, String, bool)]) -> syn::Item {
    let entries = params.iter().map(|(op, name, required)| {
        let op = op_snake_case(op);
        quote::quote! { (#op, #name, #required) }
    });
    let tokens = quote::quote! {
        /// Query parameters sent as one JSON-encoded value (`x-sdk-query-encoding: json`):
        /// `(operation id, parameter name, required)`. Read by the runtime's request hook.
        pub(crate) const JSON_QUERY_PARAMS: &[(&str, &str, bool)] = &[#(#entries),*];
    };
    // A constant built from string literals always parses.
    syn::parse2(tokens).unwrap_or_else(|_| syn::Item::Verbatim(proc_macro2::TokenStream::new()))
}

fn timeouts_item(timeouts: &[(String, u64)]) -> syn::Item {
    let entries = timeouts.iter().map(|(op, secs)| {
        let op = op_snake_case(op);
        quote::quote! { (#op, #secs) }
    });
    let tokens = quote::quote! {
        /// Per-operation request timeouts in seconds (`x-sdk-timeout-seconds`), overriding
        /// the client's: `(operation id, seconds)`. Read by the runtime's request hook.
        pub(crate) const REQUEST_TIMEOUTS: &[(&str, u64)] = &[#(#entries),*];
    };
    syn::parse2(tokens).unwrap_or_else(|_| syn::Item::Verbatim(proc_macro2::TokenStream::new()))
}

fn body_types_item(types: &[(String, String)]) -> syn::Item {
    let entries = types.iter().map(|(op, media)| {
        let op = op_snake_case(op);
        quote::quote! { (#op, #media) }
    });
    let tokens = quote::quote! {
        /// Request bodies sent as a stand-in type the generator supports (JSON, text or
        /// bytes) but declared with another media type: `(operation id, Content-Type)`. The
        /// runtime's request hook sets that Content-Type.
        pub(crate) const REQUEST_BODY_MEDIA_TYPES: &[(&str, &str)] = &[#(#entries),*];
    };
    syn::parse2(tokens).unwrap_or_else(|_| syn::Item::Verbatim(proc_macro2::TokenStream::new()))
}

/// The method name progenitor derives from an operationId (what `OperationInfo` carries).
fn op_snake_case(op: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in op.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if c.is_alphanumeric() {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out
}

/// Progenitor on a lowered document (a JSON value), panics caught.
fn run_progenitor(doc: &serde_json::Value) -> Result<proc_macro2::TokenStream, String> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc.clone())
        .map_err(|e| format!("not a usable OpenAPI 3.0 document after lowering: {e}"))?;
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_hooks(progenitor::HooksMode::Expected)
        .with_inner_type(quote::quote!(::sdk_runtime::Inner))
        // Every error response decodes into the shared runtime's error body (compat.rs
        // points them all at this schema), so error handling works for any client.
        .with_replacement(
            compat::ERROR_SCHEMA,
            "::sdk_runtime::ApiError",
            std::iter::empty(),
        );
    partial::catching(|| {
        let mut generator = progenitor::Generator::new(&settings);
        generator.generate_tokens(&spec).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn merge_replaces_path_items_and_adds_components() {
        use serde_json::json;
        let mut doc = json!({
            "paths": {"/a": {"get": {"operationId": "upstreamA"}}, "/b": {"get": {}}},
            "components": {"schemas": {"S": {"type": "string"}}}
        });
        let other = json!({
            "paths": {"/a": {"get": {"operationId": "docsA"}}},
            "components": {"schemas": {"S": {"type": "string"}, "T": {"type": "integer"}},
                           "responses": {"R": {"description": "r"}}}
        });
        super::merge_document(&mut doc, &other, "docs.yaml").unwrap();
        assert_eq!(doc["paths"]["/a"]["get"]["operationId"], "docsA");
        assert!(doc["paths"]["/b"].is_object());
        assert_eq!(doc["components"]["schemas"]["T"]["type"], "integer");
        assert_eq!(doc["components"]["responses"]["R"]["description"], "r");

        let clash = json!({"components": {"schemas": {"S": {"type": "integer"}}}});
        let err = super::merge_document(&mut doc, &clash, "docs.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "docs.yaml: cannot merge into the spec: components.schemas.S is defined differently in both documents; rename it in one of them"
        );
    }

    use super::*;

    #[test]
    fn snake_case_matches_progenitor_names() {
        assert_eq!(op_snake_case("waitForQuery"), "wait_for_query");
        assert_eq!(op_snake_case("get_job"), "get_job");
        assert_eq!(op_snake_case("getAiJob"), "get_ai_job");
    }

    #[test]
    fn path_prefixes_are_stripped_only_where_they_are_a_whole_segment() {
        let mut doc = serde_json::json!({"paths": {"/api/v1/a": {}, "/apiary": {}, "/v1/b": {}}});
        strip_path_prefix(&mut doc, "/api/");
        let keys: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["/apiary", "/v1/a", "/v1/b"]);
    }

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let err = parse_document(b"a: [1, 2\nb: 3\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.yaml: invalid YAML/JSON"), "{err}");
        assert!(err.contains("line"), "{err}");
    }
}
