//! `cargo xtask add-sdk <crate> --spec <file> [--strict]` and `remove-sdk <crate>`: a new
//! client crate from any OpenAPI 3.0/3.1 document, shaped like `omni-sdk`.
//!
//! Everything is built in a staging directory under `target/` and moved in only when it
//! succeeded; a failure after that point is rolled back, so the workspace is never left
//! with half a crate.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::codegen::{self, CodegenError, MANIFEST, Sdk};

const CARGO_TOML: &str = include_str!("../templates/sdk_Cargo.toml");
const BUILD_RS: &str = include_str!("../templates/sdk_build.rs");
const LIB_RS: &str = include_str!("../templates/sdk_lib.rs");

/// Crate names that exist in every workspace of this shape, or would confuse cargo.
const RESERVED: [&str; 12] = [
    "xtask",
    "tests",
    "sdk-tests",
    "specs",
    "target",
    "poll-helpers",
    "test",
    "std",
    "core",
    "alloc",
    "proc-macro",
    "self",
];

/// Why `add-sdk`/`remove-sdk` refused or failed. Nothing was changed in the workspace.
#[derive(Debug, thiserror::Error)]
pub enum AddSdkError {
    /// The crate name is not usable.
    #[error("invalid crate name {name:?}: {reason}")]
    Name {
        /// The name given.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The spec file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Generation failed or, with `--strict`, warned.
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    /// `--strict` and something was dropped or lowered with a warning.
    #[error("--strict: {count} warning(s) (listed above); nothing was changed")]
    Strict {
        /// How many warnings.
        count: usize,
    },
    /// A workspace file could not be updated.
    #[error("cannot update {path}: {reason}")]
    Workspace {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// What `add-sdk` made.
#[derive(Debug)]
pub struct Added {
    /// Operations in the document.
    pub operations: usize,
    /// Operations left out, with reasons.
    pub dropped: Vec<crate::partial::Dropped>,
    /// Normaliser and other warnings.
    pub warnings: Vec<String>,
}

/// Checks a package name: cargo's rules, plus not one of ours and not taken.
pub fn validate_name(root: &Path, name: &str) -> Result<(), AddSdkError> {
    let fail = |reason: &str| AddSdkError::Name {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() || name.len() > 64 {
        return Err(fail("must be 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(fail("must start with a letter"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(fail("may only contain letters, digits, `-` and `_`"));
    }
    if name.ends_with('-') || name.ends_with('_') {
        return Err(fail("must not end with `-` or `_`"));
    }
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(fail("is reserved in this workspace"));
    }
    if root.join(name).exists() {
        return Err(fail("a directory of that name already exists"));
    }
    let manifest = codegen::read_manifest(root)?;
    if manifest
        .sdk
        .iter()
        .any(|s| s.crate_dir.eq_ignore_ascii_case(name))
    {
        return Err(fail("already listed in specs/sdks.toml"));
    }
    Ok(())
}

/// Adds a crate generated from `spec_file`.
pub fn add_sdk(
    root: &Path,
    name: &str,
    spec_file: &Path,
    strict: bool,
    verify: bool,
) -> Result<Added, AddSdkError> {
    validate_name(root, name)?;
    let bytes = std::fs::read(spec_file).map_err(|source| AddSdkError::Read {
        path: spec_file.display().to_string(),
        source,
    })?;
    let ext = extension(spec_file, &bytes);
    let spec_rel = format!("specs/{name}.{ext}");
    if root.join(&spec_rel).exists() {
        return Err(AddSdkError::Name {
            name: name.to_owned(),
            reason: format!("{spec_rel} already exists"),
        });
    }
    let shown = spec_file.display().to_string();
    let doc = codegen::parse_document(&bytes, &shown)?;
    codegen::check_version(&doc, &shown).map_err(CodegenError::from)?;

    // Stage: a copy of the spec and the whole crate, generated there.
    let staging = root
        .join("target")
        .join("xtask-add-sdk")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = stage(root, &staging, name, &spec_rel, &bytes, &doc, verify);
    let staged = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if staged.operations == 0 {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(AddSdkError::Codegen(CodegenError::Generator {
            path: shown,
            message: "the document has no operations under `paths` (webhooks are calls the API \
                      makes, not ones a client sends): nothing to generate"
                .to_owned(),
        }));
    }
    let warning_count = staged.dropped.len() + staged.warnings.len();
    if strict && warning_count > 0 {
        for w in &staged.warnings {
            eprintln!("warning: {w}");
        }
        for d in &staged.dropped {
            eprintln!("warning: dropped operation {d}");
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(AddSdkError::Strict {
            count: warning_count,
        });
    }

    // Move in, rolling back on any failure.
    let moved = move_in(root, &staging, name, &spec_rel);
    let _ = std::fs::remove_dir_all(&staging);
    moved?;
    Ok(staged)
}

fn extension(path: &Path, bytes: &[u8]) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => "json",
        Some("yaml" | "yml") => "yaml",
        _ if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => "json",
        _ => "yaml",
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AddSdkError + '_ {
    move |e| AddSdkError::Workspace {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn stage(
    root: &Path,
    staging: &Path,
    name: &str,
    spec_rel: &str,
    bytes: &[u8],
    doc: &Value,
    verify: bool,
) -> Result<Added, AddSdkError> {
    let spec_path = staging.join(spec_rel);
    let crate_dir = staging.join(name);
    std::fs::create_dir_all(crate_dir.join("src")).map_err(io_err(&crate_dir))?;
    if let Some(parent) = spec_path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&spec_path, bytes).map_err(io_err(&spec_path))?;
    // The manifest codegen would read is the new crate alone.
    let sdk = Sdk {
        crate_dir: name.to_owned(),
        spec: spec_rel.to_owned(),
        merge: Vec::new(),
        overlay: Vec::new(),
        strip_path_prefix: None,
    };
    // The crate's own files first: verification compiles the staged crate.
    let files = crate_files(name, spec_rel, doc);
    for (rel, contents) in files {
        let path = crate_dir.join(rel);
        std::fs::write(&path, contents).map_err(io_err(&path))?;
    }
    let output = codegen::generate_verified(root, staging, std::slice::from_ref(&sdk), verify)?
        .pop()
        .ok_or_else(|| AddSdkError::Workspace {
            path: staging.display().to_string(),
            reason: "generation produced nothing".to_owned(),
        })?;
    for (path, contents) in &output.files {
        std::fs::write(path, contents).map_err(io_err(path))?;
    }
    Ok(Added {
        operations: crate::partial::list_operations(doc).len(),
        dropped: output.dropped,
        warnings: output.warnings,
    })
}

/// Cargo.toml, build.rs and lib.rs of a new crate.
fn crate_files(name: &str, spec_rel: &str, doc: &Value) -> Vec<(&'static str, String)> {
    let ident = name.replace('-', "_");
    let prefix = name
        .trim_end_matches("-sdk")
        .trim_end_matches("_sdk")
        .to_ascii_uppercase()
        .replace('-', "_");
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .replace(['"', '\\', '\n'], " ");
    let spec_file = spec_rel.trim_start_matches("specs/");
    let security = Security::from_doc(doc);
    let mut env_docs = vec![
        format!(
            "//! - `{prefix}_BASE_URL`: the API's base URL{}",
            match &security.default_base_url {
                Some(url) => format!(" (default `{url}`, the spec's first server)"),
                None => String::new(),
            }
        ),
        format!(
            "//! - `{prefix}_API_TOKEN`: a bearer token, sent as `Authorization: Bearer` when set"
        ),
    ];
    let api_key = match &security.api_key {
        Some((location, header_or_query)) => {
            env_docs.push(format!(
                "//! - `{prefix}_API_KEY`: the API key, sent in the {location} `{header_or_query}`"
            ));
            let variant = if *location == "header" {
                "Header"
            } else {
                "Query"
            };
            let key_name = if *location == "header" {
                header_or_query.to_ascii_lowercase()
            } else {
                header_or_query.clone()
            };
            format!("Some((sdk_runtime::ApiKeyIn::{variant}({key_name:?}), \"{prefix}_API_KEY\"))")
        }
        None => "None".to_owned(),
    };
    let basic = if security.basic {
        env_docs.push(format!(
            "//! - `{prefix}_USERNAME` and `{prefix}_PASSWORD`: HTTP basic credentials"
        ));
        format!("Some((\"{prefix}_USERNAME\", \"{prefix}_PASSWORD\"))")
    } else {
        "None".to_owned()
    };
    let default_base_url = match &security.default_base_url {
        Some(url) => format!("Some({url:?})"),
        None => "None".to_owned(),
    };
    let fill = |template: &str| {
        template
            .replace("__CRATE_IDENT__", &ident)
            .replace("__CRATE__", name)
            .replace("__TITLE__", &title)
            .replace("__SPEC_FILE__", spec_file)
            .replace("__SPEC__", spec_rel)
            .replace("__PREFIX__", &prefix)
            .replace("//! __ENV_DOCS__", &env_docs.join("\n"))
            .replace("__DEFAULT_BASE_URL__", &default_base_url)
            .replace("__API_KEY__", &api_key)
            .replace("__BASIC__", &basic)
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("build.rs", fill(BUILD_RS)),
        ("src/lib.rs", fill(LIB_RS)),
    ]
}

/// What the document's `servers` and `securitySchemes` ask of a client.
#[derive(Debug, Default, PartialEq)]
struct Security {
    default_base_url: Option<String>,
    /// ("header" | "query", name)
    api_key: Option<(&'static str, String)>,
    basic: bool,
}

impl Security {
    fn from_doc(doc: &Value) -> Self {
        let mut out = Security::default();
        let url = doc
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .unwrap_or("");
        if (url.starts_with("https://") || url.starts_with("http://")) && !url.contains('{') {
            out.default_base_url = Some(url.trim_end_matches('/').to_owned());
        }
        let schemes = doc
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object);
        for scheme in schemes.into_iter().flat_map(|m| m.values()) {
            let kind = scheme.get("type").and_then(Value::as_str).unwrap_or("");
            let http_scheme = scheme
                .get("scheme")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            match (kind, http_scheme.as_str()) {
                ("http", "basic") => out.basic = true,
                ("apiKey", _) if out.api_key.is_none() => {
                    let name = scheme
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let valid_header = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                    match scheme.get("in").and_then(Value::as_str) {
                        Some("header") if valid_header => out.api_key = Some(("header", name)),
                        Some("query") if !name.is_empty() => out.api_key = Some(("query", name)),
                        _ => {} // cookie keys: not supported, configure a header by hand
                    }
                }
                _ => {} // bearer, oauth2, openIdConnect: the bearer token covers them
            }
        }
        out
    }
}

fn move_in(root: &Path, staging: &Path, name: &str, spec_rel: &str) -> Result<(), AddSdkError> {
    let cargo_path = root.join("Cargo.toml");
    let manifest_path = root.join(MANIFEST);
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| AddSdkError::Workspace {
            path: p.display().to_string(),
            reason: e.to_string(),
        })
    };
    let cargo_before = read(&cargo_path)?;
    let manifest_before = read(&manifest_path)?;
    let cargo_after = add_member(&cargo_before, name).map_err(|reason| AddSdkError::Workspace {
        path: "Cargo.toml".into(),
        reason,
    })?;
    let manifest_after = format!(
        "{}\n[[sdk]]\ncrate = \"{name}\"\nspec = \"{spec_rel}\"\n",
        manifest_before.trim_end()
    );

    let crate_dest = root.join(name);
    let spec_dest = root.join(spec_rel);
    let rollback = |e: AddSdkError| {
        let _ = std::fs::remove_dir_all(&crate_dest);
        let _ = std::fs::remove_file(&spec_dest);
        let _ = std::fs::write(&cargo_path, &cargo_before);
        let _ = std::fs::write(&manifest_path, &manifest_before);
        e
    };
    std::fs::rename(staging.join(name), &crate_dest)
        .map_err(|e| rollback(io_err(&crate_dest)(e)))?;
    std::fs::copy(staging.join(spec_rel), &spec_dest)
        .map_err(|e| rollback(io_err(&spec_dest)(e)))?;
    std::fs::write(&manifest_path, manifest_after)
        .map_err(|e| rollback(io_err(&manifest_path)(e)))?;
    std::fs::write(&cargo_path, cargo_after).map_err(|e| rollback(io_err(&cargo_path)(e)))?;
    Ok(())
}

/// Adds `"name"` to `[workspace] members = [...]`, keeping the rest of the file as is.
fn add_member(cargo_toml: &str, name: &str) -> Result<String, String> {
    let (start, end) = members_span(cargo_toml)?;
    let list = &cargo_toml[start..end];
    let trimmed = list.trim_end();
    let sep = if trimmed.trim().is_empty() || trimmed.ends_with(',') {
        ""
    } else {
        ","
    };
    let out = format!(
        "{}{sep} \"{name}\"{}",
        &cargo_toml[..start + trimmed.len()],
        &cargo_toml[start + trimmed.len()..]
    );
    check_members(&out, name, true)?;
    Ok(out)
}

/// Removes `"name"` from the members list.
fn remove_member(cargo_toml: &str, name: &str) -> Result<String, String> {
    let (start, end) = members_span(cargo_toml)?;
    let items: Vec<String> = cargo_toml[start..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.trim_matches('"') != name)
        .map(str::to_owned)
        .collect();
    let out = format!(
        "{}{}{}",
        &cargo_toml[..start],
        items.join(", "),
        &cargo_toml[end..]
    );
    check_members(&out, name, false)?;
    Ok(out)
}

/// Byte range of the inside of `members = [ ... ]`.
fn members_span(cargo_toml: &str) -> Result<(usize, usize), String> {
    let key = cargo_toml
        .find("members")
        .ok_or("no `members` list in [workspace]")?;
    let open = cargo_toml[key..]
        .find('[')
        .map(|i| key + i + 1)
        .ok_or("malformed `members`")?;
    let close = cargo_toml[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or("malformed `members`")?;
    Ok((open, close))
}

fn check_members(cargo_toml: &str, name: &str, present: bool) -> Result<(), String> {
    let parsed: toml::Table =
        toml::from_str(cargo_toml).map_err(|e| format!("edit broke Cargo.toml: {e}"))?;
    let has = parsed
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some(name)));
    if has == present {
        Ok(())
    } else {
        Err("could not edit the members list".into())
    }
}

/// Removes a crate that `add-sdk` made. Refuses crates other workspace crates depend on.
pub fn remove_sdk(root: &Path, name: &str) -> Result<(), AddSdkError> {
    let fail = |reason: String| AddSdkError::Name {
        name: name.to_owned(),
        reason,
    };
    let manifest = codegen::read_manifest(root)?;
    let sdk = manifest
        .sdk
        .iter()
        .find(|s| s.crate_dir == name)
        .ok_or_else(|| fail("not listed in specs/sdks.toml".into()))?;
    for member in ["poll-helpers", "tests", "xtask"] {
        let text =
            std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap_or_default();
        if text.contains(&format!("path = \"../{name}\"")) {
            return Err(fail(format!(
                "{member} depends on it; remove that dependency first"
            )));
        }
    }
    let cargo_path = root.join("Cargo.toml");
    let manifest_path = root.join(MANIFEST);
    let cargo_before = std::fs::read_to_string(&cargo_path).map_err(io_err(&cargo_path))?;
    let manifest_before =
        std::fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
    let cargo_after =
        remove_member(&cargo_before, name).map_err(|reason| AddSdkError::Workspace {
            path: "Cargo.toml".into(),
            reason,
        })?;
    let manifest_after = remove_manifest_entry(&manifest_before, name);
    std::fs::write(&manifest_path, manifest_after).map_err(io_err(&manifest_path))?;
    std::fs::write(&cargo_path, cargo_after).map_err(io_err(&cargo_path))?;
    let _ = std::fs::remove_file(root.join(&sdk.spec));
    for overlay in sdk.overlay.iter().chain(&sdk.merge) {
        let _ = std::fs::remove_file(root.join(overlay));
    }
    std::fs::remove_dir_all(root.join(name)).map_err(io_err(&root.join(name)))?;
    Ok(())
}

/// Drops the `[[sdk]]` block whose `crate` is `name`, keeping comments and other blocks.
fn remove_manifest_entry(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut blocks = text.split("[[sdk]]");
    if let Some(head) = blocks.next() {
        out.push_str(head);
    }
    for block in blocks {
        let is_target = block.lines().any(|l| {
            l.split_once('=')
                .is_some_and(|(k, v)| k.trim() == "crate" && v.trim().trim_matches('"') == name)
        });
        if !is_target {
            out.push_str("[[sdk]]");
            out.push_str(block);
        }
    }
    let trimmed = out.trim_end();
    format!("{trimmed}\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_added_and_removed_textually() {
        let cargo = "[workspace]\nresolver = \"3\"\nmembers = [\"a\", \"b\"]\n\n[workspace.package]\nedition = \"2024\"\n";
        let added = add_member(cargo, "new-sdk").unwrap();
        assert!(
            added.contains("members = [\"a\", \"b\", \"new-sdk\"]"),
            "{added}"
        );
        assert!(added.ends_with("edition = \"2024\"\n"));
        let removed = remove_member(&added, "new-sdk").unwrap();
        assert!(removed.contains("members = [\"a\", \"b\"]"), "{removed}");
        let first = add_member("[workspace]\nmembers = []\n", "x").unwrap();
        assert!(first.contains("members = [ \"x\"]"), "{first}");
    }

    #[test]
    fn manifest_entries_are_removed_by_crate_name() {
        let text = "# comment\n\n[[sdk]]\ncrate = \"a\"\nspec = \"specs/a.yaml\"\n\n[[sdk]]\ncrate = \"b\"\nspec = \"specs/b.json\"\n";
        let out = remove_manifest_entry(text, "a");
        assert_eq!(
            out,
            "# comment\n\n[[sdk]]\ncrate = \"b\"\nspec = \"specs/b.json\"\n"
        );
    }

    #[test]
    fn security_schemes_pick_credentials_and_default_server() {
        let doc = json!({
            "servers": [{"url": "https://api.example.com/v2/"}],
            "components": {"securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "basic": {"type": "http", "scheme": "basic"}
            }}
        });
        let s = Security::from_doc(&doc);
        assert_eq!(
            s.default_base_url.as_deref(),
            Some("https://api.example.com/v2")
        );
        assert_eq!(s.api_key, Some(("header", "X-API-Key".to_owned())));
        assert!(s.basic);
        let templated = json!({"servers": [{"url": "https://{region}.example.com"}]});
        assert_eq!(Security::from_doc(&templated).default_base_url, None);
    }

    #[test]
    fn extension_follows_the_file_name_then_the_content() {
        assert_eq!(extension(Path::new("a.yml"), b""), "yaml");
        assert_eq!(extension(Path::new("a.JSON"), b""), "json");
        assert_eq!(
            extension(Path::new("spec"), b"  {\"openapi\": \"3.1.0\"}"),
            "json"
        );
        assert_eq!(extension(Path::new("spec"), b"openapi: 3.1.0"), "yaml");
    }
}
