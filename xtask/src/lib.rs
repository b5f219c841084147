//! The machinery behind `cargo xtask`: the code generation pipeline that turns the vendored
//! specs in `specs/` into the SDK crates, and `add-sdk`.
//!
//! A library so that the workspace's tests can look at exactly what the generator looks at:
//! [`effective_spec`] answers the document a crate is generated from (vendored spec, path
//! prefix stripped, overlays applied), and the tests check its examples against the
//! generated types. The modules are the binary's internals and not a stable API.
//!
//! ```
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
//! let spec = xtask::effective_spec(&root, "retailgrid-sdk")?;
//! assert!(spec["paths"]["/v1/jobs/{job_id}"]["get"].is_object());
//! # Ok::<(), String>(())
//! ```

// The modules are `pub` for the binary and this crate's tests only.
#![allow(unreachable_pub)]
// Their docs (hidden) link to their own private helpers, for readers of the source.
#![allow(rustdoc::private_intra_doc_links)]

#[doc(hidden)]
pub mod add_sdk;
#[doc(hidden)]
pub mod codegen;
#[doc(hidden)]
pub mod compat;
#[doc(hidden)]
pub mod conform;
#[doc(hidden)]
pub mod harden;
#[doc(hidden)]
pub mod multipart;
#[doc(hidden)]
pub mod names;
#[doc(hidden)]
pub mod normalize;
#[doc(hidden)]
pub mod oas;
#[doc(hidden)]
pub mod open_enum;
#[doc(hidden)]
pub mod pagination;
#[doc(hidden)]
pub mod partial;
#[doc(hidden)]
pub mod passes;
#[doc(hidden)]
pub mod redact;
#[doc(hidden)]
pub mod verify;
#[doc(hidden)]
pub mod visit;

use std::path::Path;

/// The document the crate `crate_name` of `specs/sdks.toml` (under the workspace `root`) is
/// generated from: see [`spec_input::effective_spec`], which this forwards to.
///
/// Fails with a message naming the file when the manifest, the spec or an overlay cannot
/// be read or applied, or when no SDK of that name is in the manifest.
pub fn effective_spec(root: &Path, crate_name: &str) -> Result<serde_json::Value, String> {
    spec_input::effective_spec(root, crate_name).map_err(|e| e.to_string())
}
