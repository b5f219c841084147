//! Helpers shared by the integration tests in `tests/tests/`.
//!
//! - [`load_spec`] reads a vendored OpenAPI document (`specs/*.yaml`) as JSON;
//!   [`effective_spec`] gives the document an SDK is generated from (overlays applied).
//! - [`json_equivalent`] / [`assert_json_equivalent`] compare a JSON document with its
//!   re-serialisation through a generated type, tolerating the differences a round trip
//!   legitimately introduces (date-time formatting, omitted empty optional fields).
//! - [`redis`] starts a real `redis-server` per test (the shared rate budget's tests).
//! - [`sim`] is a stateful simulator of the Omni and Retailgrid job endpoints (jobs, auth,
//!   rate limit, long poll, faults, request recording) for tests and demos.

// Test support: its assertion helpers fail tests by panicking, on purpose.
#![allow(clippy::panic)]

pub mod redis;
pub mod sim;

use serde_json::Value;

/// Reads `specs/<file_name>` (YAML) of this workspace as a JSON value.
///
/// Panics with the path and the parser's message if the file cannot be read or parsed.
pub fn load_spec(file_name: &str) -> Value {
    let path = format!("{}/../specs/{file_name}", env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read spec {path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("cannot parse spec {path}: {e}"))
}

/// The document the SDK crate `crate_name` (`"omni-sdk"`, `"retailgrid-sdk"`) is generated
/// from: its vendored spec with the path prefix stripped and the overlays of
/// `specs/sdks.toml` applied, as `cargo xtask codegen` sees it before its own passes
/// (OpenAPI 3.1, every example kept).
///
/// Panics with the generator's message if the manifest, the spec or an overlay cannot be
/// read or applied.
///
/// ```
/// let spec = sdk_tests::effective_spec("omni-sdk");
/// // Omni's full document serves `/api/v1/...`; the SDK's base URL already ends in `/api`.
/// assert!(spec["paths"]["/v1/query/wait"]["get"].is_object());
/// ```
pub fn effective_spec(crate_name: &str) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    spec_input::effective_spec(&root, crate_name)
        .unwrap_or_else(|e| panic!("cannot build the effective spec of {crate_name}: {e}"))
}

/// Compares two JSON documents, typically an original document (`expected`) and what a
/// generated type re-serialises it into (`actual`), and describes the first difference.
///
/// Two values are equivalent when they are equal, except that:
/// - two strings that both parse as RFC 3339 date-times are compared as instants, so
///   `2025-01-15T10:00:00.000Z`, `2025-01-15T10:00:00Z` and `2025-01-15T12:00:00+02:00`
///   are equivalent;
/// - in an object, a field that is `null`, an empty object or an empty array is equivalent
///   to the field being absent (optional fields that serialisers skip when empty).
///
/// Everything else is strict: numbers and strings must be equal (`"1"` is not `1`, `1` is
/// not `1.0`), arrays must have the same length and equivalent elements in order, and a
/// field present with a non-empty value on one side only is a difference.
///
/// Returns `Err` with the JSON path of the first difference (e.g. `$.summary.total_rows`)
/// and both values.
///
/// ```
/// use serde_json::json;
/// use sdk_tests::json_equivalent;
///
/// let original = json!({"at": "2025-01-15T10:00:00.000Z", "branch": null});
/// assert!(json_equivalent(&original, &json!({"at": "2025-01-15T10:00:00Z"})).is_ok());
/// assert!(json_equivalent(&original, &json!({"at": "2025-01-15T10:00:01Z"})).is_err());
/// ```
pub fn json_equivalent(expected: &Value, actual: &Value) -> Result<(), String> {
    compare(expected, actual, "$")
}

/// Panics with the first difference found by [`json_equivalent`] and both documents.
///
/// ```should_panic
/// sdk_tests::assert_json_equivalent(&serde_json::json!({"a": 1}), &serde_json::json!({"a": 2}));
/// ```
pub fn assert_json_equivalent(expected: &Value, actual: &Value) {
    if let Err(difference) = json_equivalent(expected, actual) {
        panic!("JSON documents differ: {difference}\n expected: {expected}\n   actual: {actual}");
    }
}

/// Whether an object field with this value counts as absent.
fn is_empty_field(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn compare(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) => {
            if e == a {
                return Ok(());
            }
            match (
                chrono::DateTime::parse_from_rfc3339(e),
                chrono::DateTime::parse_from_rfc3339(a),
            ) {
                (Ok(e_at), Ok(a_at)) if e_at == a_at => Ok(()),
                (Ok(_), Ok(_)) => Err(format!("{path}: different instants {e:?} and {a:?}")),
                _ => Err(format!("{path}: expected {e:?}, got {a:?}")),
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = Value::Null;
            for key in keys {
                let field_path = format!("{path}.{key}");
                let (ev, av) = (e.get(key), a.get(key));
                // `null`, `{}`, `[]` and an absent field all mean "no value".
                if is_empty_field(ev.unwrap_or(&null)) && is_empty_field(av.unwrap_or(&null)) {
                    continue;
                }
                match (ev, av) {
                    (Some(v), None) => {
                        return Err(format!("{field_path}: expected {v}, but it is absent"));
                    }
                    (None, Some(v)) => {
                        return Err(format!("{field_path}: unexpected field with value {v}"));
                    }
                    (ev, av) => compare(ev.unwrap_or(&null), av.unwrap_or(&null), &field_path)?,
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} elements, got {}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (ev, av))| compare(ev, av, &format!("{path}[{i}]")))
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn identical_documents_are_equivalent() {
        let doc = json!({"a": [1, "x", {"b": true}], "c": 1.5});
        assert_eq!(json_equivalent(&doc, &doc.clone()), Ok(()));
    }

    #[test]
    fn date_times_compare_as_instants() {
        let e = json!({"at": "2025-01-15T10:00:00.000Z"});
        assert!(json_equivalent(&e, &json!({"at": "2025-01-15T10:00:00Z"})).is_ok());
        assert!(json_equivalent(&e, &json!({"at": "2025-01-15T12:00:00+02:00"})).is_ok());
        // A real difference of one millisecond is caught.
        let err = json_equivalent(&e, &json!({"at": "2025-01-15T10:00:00.001Z"})).unwrap_err();
        assert!(err.contains("$.at"), "{err}");
        assert!(err.contains("different instants"), "{err}");
    }

    #[test]
    fn non_date_strings_are_compared_exactly() {
        let err = json_equivalent(&json!("RUNNING"), &json!("running")).unwrap_err();
        assert!(err.contains("RUNNING"), "{err}");
        // A date-time and a non-date string are never equivalent.
        assert!(json_equivalent(&json!("2025-01-15T10:00:00Z"), &json!("2025-01-15")).is_err());
    }

    #[test]
    fn null_and_empty_fields_equal_absent_ones() {
        let expected = json!({"id": 1, "branch": null, "summary": {}, "ids": []});
        assert!(json_equivalent(&expected, &json!({"id": 1})).is_ok());
        assert!(json_equivalent(&json!({"id": 1}), &expected).is_ok());
        assert!(json_equivalent(&json!({"x": null}), &json!({"x": []})).is_ok());
    }

    #[test]
    fn a_missing_or_extra_non_empty_field_is_a_difference() {
        let err = json_equivalent(&json!({"id": 1, "name": "a"}), &json!({"id": 1})).unwrap_err();
        assert!(err.contains("$.name"), "{err}");
        let err = json_equivalent(&json!({"id": 1}), &json!({"id": 1, "extra": 0})).unwrap_err();
        assert!(err.contains("$.extra"), "{err}");
        // `null` is only equivalent to absent/empty, not to a value.
        assert!(json_equivalent(&json!({"id": null}), &json!({"id": 0})).is_err());
    }

    #[test]
    fn scalar_types_are_strict() {
        assert!(json_equivalent(&json!(1), &json!("1")).is_err());
        assert!(json_equivalent(&json!(1), &json!(1.0)).is_err());
        assert!(json_equivalent(&json!(true), &json!(false)).is_err());
    }

    #[test]
    fn nested_differences_report_their_path() {
        let expected = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
        let actual = json!({"a": {"b": [{"c": 1}, {"c": 3}]}});
        let err = json_equivalent(&expected, &actual).unwrap_err();
        assert!(err.starts_with("$.a.b[1].c:"), "{err}");
        let err = json_equivalent(&json!([1, 2]), &json!([1])).unwrap_err();
        assert!(err.contains("expected 2 elements, got 1"), "{err}");
        // Empty arrays are only "absent" as object fields; array elements are strict.
        assert!(json_equivalent(&json!([null]), &json!([[]])).is_err());
    }

    #[test]
    #[should_panic(expected = "JSON documents differ: $.status")]
    fn assert_json_equivalent_panics_on_a_difference() {
        assert_json_equivalent(&json!({"status": "RUNNING"}), &json!({"status": "FAILED"}));
    }

    #[test]
    fn load_spec_reads_the_vendored_yaml() {
        let spec = load_spec("retailgrid.yaml");
        assert_eq!(spec["openapi"], json!("3.1.0"));
        assert!(spec["paths"]["/v1/jobs/{job_id}"].is_object());
        let docs = load_spec("omni.yaml");
        assert_eq!(docs["openapi"], json!("3.1.0"));
        assert!(docs["paths"]["/v1/query/wait"].is_object());
    }

    #[test]
    fn the_effective_omni_spec_has_the_docs_operations_in_place_of_the_full_documents() {
        let spec = effective_spec("omni-sdk");
        let wait = &spec["paths"]["/v1/query/wait"]["get"];
        assert_eq!(wait["operationId"], json!("waitForQuery"));
        assert_eq!(wait["parameters"][0]["name"], json!("job_ids"));
        assert!(spec["paths"].get("/api/v1/query/wait").is_none());
        assert_eq!(
            spec["paths"]["/v1/query/run"]["post"]["operationId"],
            json!("queryRun")
        );
    }
}

/// The README's code examples, compiled as doc tests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
