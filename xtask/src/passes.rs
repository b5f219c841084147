//! Every rewrite of the document between the overlays and progenitor, in order: [`PASSES`].
//!
//! The order, and why it is that order:
//!
//! 1. `normalize`: OpenAPI 3.1 → 3.0.3 ([`crate::normalize`]); everything after it sees
//!    3.0 only (`nullable`, no type arrays, no boolean schemas).
//! 2. `operation-ids`: an `operationId` for every operation ([`compat::ensure_operation_ids`]);
//!    later passes and the runtime tables key operations by it.
//! 3. `harden`: repairs of what progenitor or typify reject or panic on ([`crate::harden`]).
//! 4. `multipart`: `multipart/form-data` bodies taken off for [`multipart::augment`]
//!    ([`multipart::extract`]); after `harden`, which picks one media type per body.
//! 5. `nullable-composed-components`, 6. `colliding-schema-names`, 7. `colliding-properties`:
//!    names that would generate two Rust items or fields with one name ([`crate::names`]).
//! 8. `secret-properties`: properties whose values `Debug` must not print
//!    ([`redact::secret_properties`]; reads only).
//! 9. `tolerate-unknown-fields`: `additionalProperties: false` dropped
//!    ([`compat::tolerate_unknown_fields`]).
//! 10. `unify-error-responses`: one permissive error type for every 4xx/5xx
//!     ([`compat::unify_error_responses`]).
//! 11. `json-query-params`, 12. `request-timeouts`: read the overlays' `x-sdk-*`
//!     extensions off the final document for the runtime's tables (nothing is rewritten).
//!
//! [`run`] applies them and returns what later steps need ([`Outcome`]). The passes over
//! schemas find them with [`crate::visit`], except the normaliser (see why in
//! [`crate::normalize`]) and [`compat::tolerate_unknown_fields`], which still has a
//! walker of its own.

use std::collections::BTreeSet;
use std::fmt::Display;

use serde_json::Value;

use crate::{compat, harden, multipart, names, normalize, redact};

/// One rewrite of the document.
pub struct Pass {
    /// Its name, as in the module docs (and in `XTASK_SKIP_REPAIRS` where it may be
    /// skipped).
    pub name: &'static str,
    /// Why it is there, in one line.
    pub why: &'static str,
    /// Whether `XTASK_SKIP_REPAIRS=<name>` turns it off (for the test that shows
    /// verification catching what it would have prevented).
    pub skippable: bool,
    /// The rewrite; what it finds goes into the [`Outcome`].
    run: fn(&mut Value, &mut Outcome),
}

/// What the passes produced besides the rewritten document.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Notes and untranslatable constructs, each `<spec>: <pointer>: <message>`, in pass
    /// order.
    pub warnings: Vec<String>,
    /// The operations whose multipart body was taken off, for [`multipart::augment`] (its
    /// `warnings` are moved into [`Outcome::warnings`]).
    pub multipart: multipart::Extracted,
    /// Properties renamed for generation, for [`names::restore_wire_names`].
    pub wire_renames: Vec<names::WireRename>,
    /// Wire names of secret properties, for [`redact::redact_debug`].
    pub secrets: BTreeSet<String>,
    /// `(operation id, parameter, required)` of the JSON-encoded query parameters.
    pub json_params: Vec<(String, String, bool)>,
    /// `(operation id, seconds)` of the per-operation timeouts.
    pub timeouts: Vec<(String, u64)>,
    /// `(operation id, media type)` of bodies sent through a stand-in media type.
    pub body_media_types: Vec<(String, String)>,
}

impl Outcome {
    fn note<W: Display>(&mut self, notes: impl IntoIterator<Item = W>) {
        self.warnings
            .extend(notes.into_iter().map(|w| w.to_string()));
    }
}

/// The passes, in the order they run.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "before-lowering",
        why: "two-part versions and refs to `#/definitions/` or nowhere, before anything reads them",
        skippable: false,
        run: |doc, out| out.note(compat::before_lowering(doc)),
    },
    Pass {
        name: "normalize",
        why: "progenitor reads OpenAPI 3.0 only: lower 3.1 to 3.0.3",
        skippable: false,
        run: |doc, out| out.note(normalize::normalize(doc)),
    },
    Pass {
        name: "operation-ids",
        why: "progenitor names methods after operationId; name the operations without one",
        skippable: false,
        run: |doc, out| out.note(compat::ensure_operation_ids(doc)),
    },
    Pass {
        name: "repair-operations",
        why: "duplicate operationIds, undeclared path parameters, parameters progenitor cannot send",
        skippable: true,
        run: |doc, out| out.note(compat::repair_operations(doc)),
    },
    Pass {
        name: "harden",
        why: "repair what progenitor/typify reject or panic on (colliding enums, patterns, …)",
        skippable: false,
        run: |doc, out| out.note(harden::harden(doc)),
    },
    Pass {
        name: "multipart",
        why: "progenitor cannot generate multipart bodies: take them off, added back after it",
        skippable: false,
        run: |doc, out| {
            out.multipart = multipart::extract(doc);
            let notes = std::mem::take(&mut out.multipart.warnings);
            out.note(notes);
        },
    },
    Pass {
        name: "conform-values",
        why: "defaults, examples and enum values that do not conform are dropped, never the operation; bodies of other media types get a stand-in",
        skippable: false,
        run: |doc, out| {
            let (table, notes) = compat::after_harden(doc);
            out.body_media_types = table;
            out.note(notes);
        },
    },
    Pass {
        name: "nullable-composed-components",
        why: "a nullable composed component generates two types with one name",
        skippable: false,
        run: |doc, out| {
            let mut notes = Vec::new();
            names::nullable_composed_components(doc, &mut notes);
            out.note(notes);
        },
    },
    Pass {
        name: "colliding-schema-names",
        why: "component schemas whose Rust type names collide (`Input`, `input`) are renamed",
        skippable: false,
        run: |doc, out| {
            let mut notes = Vec::new();
            names::colliding_schema_names(doc, &mut notes);
            out.note(notes);
        },
    },
    Pass {
        name: "colliding-inline-types",
        why: "an inline property type named `{Component}{Property}` like another component is retitled",
        skippable: false,
        run: |doc, out| {
            let mut notes = Vec::new();
            names::colliding_inline_types(doc, &mut notes);
            out.note(notes);
        },
    },
    Pass {
        name: "colliding-properties",
        why: "properties whose Rust field names collide (`fieldName`, `field_name`) are renamed",
        skippable: true,
        run: |doc, out| {
            let mut notes = Vec::new();
            out.wire_renames = names::colliding_properties(doc, &mut notes);
            out.note(notes);
        },
    },
    Pass {
        name: "secret-properties",
        why: "the generated Debug must not print secrets: find the properties holding them",
        skippable: false,
        run: |doc, out| out.secrets = redact::secret_properties(doc),
    },
    Pass {
        name: "tolerate-unknown-fields",
        why: "a server adding a field must not break deployed clients",
        skippable: false,
        run: |doc, _| {
            compat::tolerate_unknown_fields(doc);
        },
    },
    Pass {
        name: "unify-error-responses",
        why: "progenitor wants one error type per operation; servers send many error shapes",
        skippable: false,
        run: |doc, _| compat::unify_error_responses(doc),
    },
    Pass {
        name: "json-query-params",
        why: "the runtime sends x-sdk-query-encoding: json parameters as one JSON value",
        skippable: false,
        run: |doc, out| out.json_params = compat::json_query_params(doc),
    },
    Pass {
        name: "request-timeouts",
        why: "the runtime applies x-sdk-timeout-seconds per operation",
        skippable: false,
        run: |doc, out| out.timeouts = compat::request_timeouts(doc),
    },
];

/// Runs [`PASSES`] in order on `doc` (the effective document of the spec at `spec_path`);
/// its warnings are prefixed with `spec_path`. A skippable pass named in the
/// comma-separated `XTASK_SKIP_REPAIRS` does not run.
pub fn run(doc: &mut Value, spec_path: &str) -> Outcome {
    let skip = std::env::var("XTASK_SKIP_REPAIRS").unwrap_or_default();
    let skipped = |pass: &Pass| pass.skippable && skip.split(',').any(|r| r.trim() == pass.name);
    let mut out = Outcome::default();
    for pass in PASSES.iter().filter(|pass| !skipped(pass)) {
        (pass.run)(doc, &mut out);
    }
    for warning in &mut out.warnings {
        *warning = format!("{spec_path}: {warning}");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_pass_says_why() {
        let mut seen = BTreeSet::new();
        for pass in PASSES {
            assert!(seen.insert(pass.name), "{} listed twice", pass.name);
            assert!(!pass.why.is_empty(), "{}", pass.name);
            assert!(!pass.why.contains('\n'), "{}: one line", pass.name);
        }
        // The order the module docs describe.
        let names: Vec<&str> = PASSES.iter().map(|p| p.name).collect();
        assert_eq!(names.first(), Some(&"before-lowering"));
        assert_eq!(names.get(1), Some(&"normalize"));
        let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
        assert!(at("harden") < at("multipart"));
        assert!(at("colliding-properties") < at("secret-properties"));
    }

    #[test]
    fn warnings_carry_the_spec_path_in_pass_order() {
        let mut doc = serde_json::json!({"openapi": "3.1.0", "paths": {"/a": {"get": {}}}});
        let out = run(&mut doc, "specs/x.yaml");
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(!out.warnings.is_empty());
        assert!(
            out.warnings.iter().all(|w| w.starts_with("specs/x.yaml: ")),
            "{:?}",
            out.warnings
        );
        // operation-ids (2) before harden (3).
        assert_eq!(
            out.warnings[0],
            "specs/x.yaml: GET /a has no operationId; named it `get_a`"
        );
    }
}
