//! Hand-picked cases: inputs the properties found or that are worth pinning.

use super::*;

// ---------------------------------------------------------------------------------------
// Hand-picked cases
// ---------------------------------------------------------------------------------------

/// Runs a hand-picked case (the invariants included) and returns the run.
fn case(spec: Spec, bytes: &[u8], overlay: bool) -> Run {
    check(spec, bytes, overlay).unwrap_or_else(|e| panic!("{e}"))
}

/// Exit 1 with an error line that starts with `error: <file>: ` and contains every one
/// of `phrases` (phrases rather than whole lines, so that rewording a message elsewhere in
/// the line does not break the test).
fn assert_fails_with(run: &Run, file: &str, phrases: &[&str]) {
    assert_eq!(run.code, Some(1), "{}", run.text());
    let prefix = format!("error: {file}: ");
    assert!(
        run.errors()
            .iter()
            .any(|l| l.starts_with(&prefix) && phrases.iter().all(|p| l.contains(p))),
        "expected an error line starting with {prefix:?} containing {phrases:?}:\n{}",
        run.text()
    );
}

const MINIMAL_PATHS: &str = r##"
  /x:
    get:
      operationId: getX
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
"##;

#[test]
fn empty_file() {
    let run = case(Spec::Retailgrid, b"", false);
    assert_fails_with(
        &run,
        "specs/retailgrid.yaml",
        &["no `openapi` version field", "not an OpenAPI document"],
    );
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let run = case(Spec::Omni, &garbage, true);
    assert_fails_with(
        &run,
        "specs/omni-openapi.json",
        &["invalid YAML/JSON: not UTF-8"],
    );
}

#[test]
fn text_that_is_not_yaml() {
    let run = case(
        Spec::Omni,
        b"openapi: 3.1.0\npaths: {a: [1, 2\n  b: }}}\n",
        true,
    );
    assert_fails_with(&run, "specs/omni-openapi.json", &["invalid YAML/JSON"]);
    assert!(
        run.stderr.contains("line ") && run.stderr.contains("column "),
        "{}",
        run.text()
    );
}

#[test]
fn yaml_that_is_not_openapi() {
    let run = case(Spec::Retailgrid, b"a: 1\n", false);
    assert_fails_with(
        &run,
        "specs/retailgrid.yaml",
        &["no `openapi` version field", "not an OpenAPI document"],
    );
}

#[test]
fn openapi_2_0() {
    let doc = b"swagger: \"2.0\"\ninfo: {title: x, version: \"1\"}\npaths: {}\n";
    let run = case(Spec::Retailgrid, doc, false);
    assert_fails_with(
        &run,
        "specs/retailgrid.yaml",
        &["a Swagger 2.0 document; convert it to OpenAPI 3 first"],
    );
}

/// With the overlay configured (as in the real `sdks.toml`), the overlay is applied before
/// the version is checked: a Swagger 2.0 spec is reported as an overlay target that
/// "selects nothing ... (did upstream change? review the fix)", naming only the overlay
/// file, instead of "specs/retailgrid.yaml: a Swagger 2.0 document".
#[test]
fn openapi_2_0_with_the_overlay_configured_names_the_spec() {
    let doc = b"swagger: \"2.0\"\ninfo: {title: x, version: \"1\"}\npaths: {}\n";
    let run = case(Spec::Retailgrid, doc, true);
    assert_fails_with(&run, "specs/retailgrid.yaml", &["Swagger 2.0"]);
}

#[test]
fn unknown_ref_target() {
    let doc = format!(
        "openapi: 3.0.3\ninfo: {{title: x, version: \"1\"}}\npaths:{}components:\n  schemas:\n    Thing:\n      type: object\n      properties:\n        other: {{$ref: \"#/components/schemas/Nope\"}}\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    // Repaired, not refused: the dangling reference becomes an untyped value, with a
    // warning naming the file and the pointer.
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.stderr.contains("specs/retailgrid.yaml")
            && run
                .stderr
                .contains("#/components/schemas/Nope resolves nowhere"),
        "{}",
        run.text()
    );
    let generated = String::from_utf8_lossy(&run.files[1]);
    assert!(generated.contains("pub struct Thing"), "{generated}");
}

#[test]
fn unknown_ref_target_in_one_operation_is_untyped_and_the_operation_kept() {
    let doc = format!(
        "openapi: 3.0.3\ninfo: {{title: x, version: \"1\"}}\npaths:{}  /y:\n    get:\n      operationId: getY\n      responses:\n        \"200\":\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: \"#/components/schemas/Nope\"}}\ncomponents:\n  schemas:\n    Thing: {{type: object, properties: {{a: {{type: string}}}}}}\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.stderr
            .contains("#/components/schemas/Nope resolves nowhere; replaced by an untyped value"),
        "{}",
        run.text()
    );
    let generated = String::from_utf8_lossy(&run.files[1]);
    assert!(generated.contains("pub fn get_x("), "{generated}");
    assert!(generated.contains("pub fn get_y("), "{generated}");
    assert!(!generated.contains("// Operations left out"), "{generated}");
}

#[test]
fn recursive_schemas_generate() {
    let doc = format!(
        "openapi: 3.0.3\ninfo: {{title: x, version: \"1\"}}\npaths:{}components:\n  schemas:\n    Thing:\n      type: object\n      required: [name]\n      properties:\n        name: {{type: string}}\n        children: {{type: array, items: {{$ref: \"#/components/schemas/Thing\"}}}}\n        parent: {{$ref: \"#/components/schemas/Thing\"}}\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    let generated = String::from_utf8_lossy(&run.files[1]);
    assert!(generated.contains("pub struct Thing"), "{generated}");
    assert!(
        generated.contains("::std::vec::Vec<Thing>")
            && generated.contains("::std::boxed::Box<Thing>"),
        "recursion goes through Vec and Box:\n{generated}"
    );
}

#[test]
fn mutually_recursive_schemas_generate() {
    let doc = format!(
        "openapi: 3.1.0\ninfo: {{title: x, version: \"1\"}}\npaths:{}components:\n  schemas:\n    Thing:\n      type: object\n      properties:\n        other: {{$ref: \"#/components/schemas/Other\"}}\n    Other:\n      type: object\n      properties:\n        thing:\n          anyOf: [{{$ref: \"#/components/schemas/Thing\"}}, {{type: 'null'}}]\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    let generated = String::from_utf8_lossy(&run.files[1]);
    assert!(
        generated.contains("pub struct Thing") && generated.contains("pub struct Other"),
        "{generated}"
    );
}

#[test]
fn two_operations_with_the_same_id() {
    let doc = b"openapi: 3.0.3
info: {title: x, version: '1'}
paths:
  /a:
    get:
      operationId: getThing
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: string}}}}
  /b:
    get:
      operationId: getThing
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: integer}}}}
";
    let run = case(Spec::Retailgrid, doc, false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    // The second is renamed (with a warning), and both are generated.
    assert!(
        run.stderr
            .contains("getThing is used by an earlier operation; renamed"),
        "{}",
        run.text()
    );
    let generated = String::from_utf8_lossy(&run.files[1]);
    assert_eq!(
        generated.matches("pub fn get_thing").count(),
        2,
        "{generated}"
    );
    assert!(!generated.contains("// Operations left out"), "{generated}");
}

#[test]
fn non_utf8_bytes_in_a_real_spec() {
    // A Latin-1 "é" in the first description, as a badly converted file would have it.
    let text = std::str::from_utf8(spec_bytes(Spec::Omni)).unwrap();
    let key = "\"description\": \"";
    let at = text.find(key).unwrap() + key.len();
    let mut bytes = text.as_bytes()[..at].to_vec();
    bytes.extend_from_slice(b"caf\xe9 ");
    bytes.extend_from_slice(&text.as_bytes()[at..]);
    let run = case(Spec::Omni, &bytes, true);
    assert_fails_with(
        &run,
        "specs/omni-openapi.json",
        &[
            "invalid YAML/JSON: not UTF-8",
            &format!("invalid utf-8 sequence of 1 bytes from index {}", at + 3),
        ],
    );
}

#[test]
fn deeply_nested_document_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let run = case(Spec::Omni, text.as_bytes(), false);
    assert_fails_with(&run, "specs/omni-openapi.json", &[]);
}

/// Found by `arbitrary_openapi_documents` in CI: a schema that is its own `allOf` member
/// (through an `anyOf` with null) sent typify into unbounded recursion.
#[test]
fn a_schema_that_contains_itself_through_all_of_is_repaired_not_a_stack_overflow() {
    let text = r##"{"openapi": "3.0.0", "info": {"title": "g", "version": "1"},
     "paths": {"/v1/jobs/{job_id}": {"get": {"operationId": "get_job",
       "parameters": [{"name": "job_id", "in": "path", "required": true, "schema": {"type": "string"}}],
       "responses": {"200": {"description": "ok", "content": {"application/json":
         {"schema": {"$ref": "#/components/schemas/S1"}}}}}}}},
     "components": {"schemas": {
       "S0": {"type": "array", "items": {"type": "string", "format": "date-time"}},
       "S1": {"allOf": [{"anyOf": [{"$ref": "#/components/schemas/S1"}, {"type": "null"}]},
                        {"$ref": "#/components/schemas/S0"}]}}}}"##;
    let run = case(Spec::Retailgrid, text.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.stderr
            .contains("$ref to S1 closes a cycle of allOf/anyOf/oneOf"),
        "{}",
        run.text()
    );
}

#[test]
fn alias_bomb_is_refused_quickly() {
    // The "billion laughs": nine levels of nine aliases each.
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ('a'..='h').zip('b'..='i') {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let started = Instant::now();
    let run = case(Spec::Omni, text.as_bytes(), false);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_committed_specs_still_pass_the_invariants() {
    for spec in [Spec::Omni, Spec::Retailgrid] {
        let run = case(spec, spec_bytes(spec), true);
        assert_eq!(run.code, Some(0), "{}", run.text());
        assert_eq!(run.files, *COMMITTED, "the committed files are up to date");
    }
}
