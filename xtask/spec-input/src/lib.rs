//! The document an SDK crate is generated from, and nothing else of the generator.
//!
//! Why a crate of its own: the workspace's tests check the generated clients against the
//! examples of the documents they come from, and must see exactly what `cargo xtask codegen`
//! sees. Linking the whole generator for that (progenitor, syn, typify) made every test
//! build compile it; this crate holds only the inputs' side: `specs/sdks.toml`
//! ([`Manifest`]), reading YAML/JSON as published documents are written ([`parse_document`]),
//! the path-prefix strip, `merge` documents and OpenAPI Overlays ([`overlay`]).
//!
//! ```
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
//! let spec = spec_input::effective_spec(&root, "retailgrid-sdk")?;
//! assert!(spec["paths"]["/v1/jobs/{job_id}"]["get"].is_object());
//! # Ok::<(), spec_input::InputError>(())
//! ```

use std::path::Path;

use sha2::{Digest, Sha256};

mod load;
pub mod overlay;

pub use load::parse;

/// Why an input of generation could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file, relative to the workspace root.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// YAML/JSON/TOML syntax error (the message carries line and column).
    #[error("{path}: invalid YAML/JSON: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// Parser message with line and column.
        message: String,
    },
    /// An overlay could not be applied.
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
    /// No `[[sdk]]` of that crate name in the manifest.
    #[error("no [[sdk]] with crate = {crate_name:?} in {MANIFEST}")]
    UnknownSdk {
        /// The crate name asked for.
        crate_name: String,
    },
}

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
pub fn read_manifest(root: &Path) -> Result<Manifest, InputError> {
    let bytes = read(root, MANIFEST)?;
    let text = String::from_utf8_lossy(&bytes);
    toml::from_str(&text).map_err(|e| InputError::Syntax {
        path: MANIFEST.to_owned(),
        message: e.to_string(),
    })
}

/// The document the crate `crate_name` of `specs/sdks.toml` (under the workspace `root`) is
/// generated from, as its authors wrote it: see [`effective_document`].
///
/// Fails with an error naming the file when the manifest, the spec or an overlay cannot be
/// read or applied, or when no SDK of that name is in the manifest.
///
/// ```
/// let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
/// let err = spec_input::effective_spec(&root, "no-such-sdk").unwrap_err();
/// assert!(err.to_string().contains("no-such-sdk"), "{err}");
/// ```
pub fn effective_spec(root: &Path, crate_name: &str) -> Result<serde_json::Value, InputError> {
    let manifest = read_manifest(root)?;
    let sdk = manifest
        .sdk
        .iter()
        .find(|sdk| sdk.crate_dir == crate_name)
        .ok_or_else(|| InputError::UnknownSdk {
            crate_name: crate_name.to_owned(),
        })?;
    effective_document(root, sdk).map(|(doc, _)| doc)
}

fn read(root: &Path, rel: &str) -> Result<Vec<u8>, InputError> {
    std::fs::read(root.join(rel)).map_err(|source| InputError::Io {
        path: rel.to_owned(),
        source,
    })
}

/// Parses YAML or JSON (JSON is YAML) into a JSON value.
pub fn parse_document(bytes: &[u8], path: &str) -> Result<serde_json::Value, InputError> {
    let text = std::str::from_utf8(bytes).map_err(|e| InputError::Syntax {
        path: path.to_owned(),
        message: format!("not UTF-8: {e}"),
    })?;
    load::parse(text).map_err(|message| InputError::Syntax {
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
) -> Result<(serde_json::Value, Vec<(String, String)>), InputError> {
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
) -> Result<(), InputError> {
    use serde_json::{Map, Value};
    let fail = |message: String| InputError::Merge {
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
pub fn check_version(doc: &serde_json::Value, path: &str) -> Result<(), InputError> {
    match doc.get("openapi").and_then(serde_json::Value::as_str) {
        Some(v) if v.starts_with("3.0") || v.starts_with("3.1") => Ok(()),
        Some(v) => Err(InputError::Version {
            path: path.to_owned(),
            message: format!("OpenAPI version {v} is not supported (3.0 and 3.1 are)"),
        }),
        None => Err(InputError::Version {
            path: path.to_owned(),
            message: match doc.get("swagger") {
                Some(_) => "a Swagger 2.0 document; convert it to OpenAPI 3 first".to_owned(),
                None => "no `openapi` version field: not an OpenAPI document".to_owned(),
            },
        }),
    }
}
