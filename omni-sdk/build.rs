//! Fails the build when the vendored spec (or its overlay) changed after `src/generated.rs`
//! was generated, so that nobody ships a client that disagrees with its spec. When the spec
//! is absent (the crate was built from a package), there is nothing to compare and this
//! does nothing.

use std::path::Path;

use sha2::{Digest, Sha256};

const CRATE: &str = "omni-sdk";
const INPUTS: [&str; 3] = [
    "specs/omni-openapi.json",
    "specs/omni.yaml",
    "specs/omni.overlay.yaml",
];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let crate_dir = Path::new(&manifest);
    let root = crate_dir.join("..");
    let generated_path = crate_dir.join("src/generated.rs");
    println!("cargo:rerun-if-changed=src/generated.rs");
    let generated = std::fs::read_to_string(&generated_path).unwrap_or_default();
    for input in INPUTS {
        let path = root.join(input);
        println!("cargo:rerun-if-changed={}", path.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue; // built from a package: no spec to compare with
        };
        let hash: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !generated.contains(&format!("// sha256 {hash} {input}\n")) {
            eprintln!(
                "error: {input} changed since {CRATE} was generated; run `cargo xtask codegen`"
            );
            std::process::exit(1);
        }
    }
}
