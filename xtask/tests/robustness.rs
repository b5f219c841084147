//! `cargo xtask codegen` on hostile input: arbitrary JSON/YAML documents and mutated
//! copies of the vendored specs never make it panic, it exits 0 or 1 (never 101), and when
//! it fails it names the file at fault and leaves every generated file byte-identical.
//!
//! Each case runs the real binary on a scratch copy of the workspace (specs, overlays and
//! the committed generated files), like `codegen_cli.rs`. A run on a retailgrid-sized
//! document takes 50–300 ms, on Omni's full document (590 kB) 1–3 s, so the properties run
//! 32 cases each by default (the file takes ~2.5 min on 2 cores).
//!
//! The cases come from a fixed seed, so that a CI run tests what the last one tested and
//! a failure reproduces; explore other cases with another seed and more of them:
//!
//! ```text
//! PROPTEST_RNG_SEED=12345 PROPTEST_CASES=1000 cargo test -p xtask --test robustness
//! ```
//!
//! Failing cases are printed (shrunk) but not persisted to `proptest-regressions/`: turn a
//! failure into a hand-picked test below.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Scratch workspaces and runs
// ---------------------------------------------------------------------------------------

const FILES: [&str; 8] = [
    "specs/sdks.toml",
    "specs/omni-openapi.json",
    "specs/omni.yaml",
    "specs/omni.overlay.yaml",
    "specs/retailgrid.yaml",
    "specs/retailgrid.overlay.yaml",
    "omni-sdk/src/generated.rs",
    "retailgrid-sdk/src/generated.rs",
];

const GENERATED: [&str; 2] = [
    "omni-sdk/src/generated.rs",
    "retailgrid-sdk/src/generated.rs",
];

/// Longest a single run may take before the case fails as a hang.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Which vendored spec a case replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Omni,
    Retailgrid,
}

impl Spec {
    fn path(self) -> &'static str {
        match self {
            Spec::Omni => "specs/omni-openapi.json",
            Spec::Retailgrid => "specs/retailgrid.yaml",
        }
    }

    /// The spec's `overlay = ...` line in `specs/sdks.toml`.
    fn overlay_line(self) -> &'static str {
        match self {
            Spec::Omni => "overlay = \"specs/omni.overlay.yaml\"\n",
            Spec::Retailgrid => "overlay = \"specs/retailgrid.overlay.yaml\"\n",
        }
    }

    /// Whether an error line names one of the spec's overlays.
    fn names_an_overlay(self, line: &str) -> bool {
        let overlays: &[&str] = match self {
            Spec::Omni => &["specs/omni.yaml", "specs/omni.overlay.yaml"],
            Spec::Retailgrid => &["specs/retailgrid.overlay.yaml"],
        };
        overlays.iter().any(|o| line.contains(o))
    }
}

fn any_spec() -> impl Strategy<Value = Spec> {
    prop_oneof![Just(Spec::Omni), Just(Spec::Retailgrid)]
}

/// A scratch workspace where `spec` holds `bytes`; with `overlay` false, `sdks.toml` no
/// longer applies that spec's overlay (so the document reaches the normaliser and
/// progenitor as it is, instead of failing on an overlay target first).
fn scratch(spec: Spec, bytes: &[u8], overlay: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in FILES {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(f), to).unwrap();
    }
    std::fs::write(dir.path().join(spec.path()), bytes).unwrap();
    if !overlay {
        let manifest = dir.path().join("specs/sdks.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let line = spec.overlay_line();
        assert!(text.contains(line), "{text}");
        std::fs::write(&manifest, text.replace(line, "")).unwrap();
    }
    dir
}

/// The committed generated files, as every scratch starts with them.
static COMMITTED: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    GENERATED
        .iter()
        .map(|f| std::fs::read(repo().join(f)).unwrap())
        .collect()
});

fn generated(root: &Path) -> Vec<Vec<u8>> {
    GENERATED
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap())
        .collect()
}

/// Runs `xtask codegen --no-verify --root <root>` (the scratch copy has no crates to
/// compile), killing it (and failing) after [`RUN_LIMIT`].
fn codegen(root: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--no-verify"])
        .arg("--root")
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "xtask codegen did not finish within {RUN_LIMIT:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What one run did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stderr: String,
    stdout: String,
    /// The generated files after the run.
    files: Vec<Vec<u8>>,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The `error: ...` lines, except the closing "nothing was written".
    fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: ") && *l != "error: nothing was written")
            .collect()
    }
}

fn run_with(spec: Spec, bytes: &[u8], overlay: bool) -> Run {
    let dir = scratch(spec, bytes, overlay);
    let out = codegen(dir.path());
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        files: generated(dir.path()),
    }
}

/// The invariants every run must hold, whatever the input.
fn check_invariants(spec: Spec, overlay: bool, run: &Run) -> Result<(), TestCaseError> {
    let text = run.text();
    prop_assert!(!text.contains("panicked at"), "a panic leaked out:\n{text}");
    prop_assert!(
        matches!(run.code, Some(0 | 1)),
        "exit code {:?} (0 or 1 expected):\n{text}",
        run.code
    );
    if run.code == Some(1) {
        prop_assert!(
            run.files == *COMMITTED,
            "a failed run changed generated files:\n{text}"
        );
        prop_assert!(
            run.stderr.contains("error: nothing was written"),
            "a failed run must say nothing was written:\n{text}"
        );
        let errors = run.errors();
        prop_assert!(!errors.is_empty(), "exit 1 without an error line:\n{text}");
        for line in &errors {
            prop_assert!(
                line.contains("specs/"),
                "an error that names no file: {line}\n{text}"
            );
        }
        let named = errors
            .iter()
            .any(|l| l.contains(spec.path()) || (overlay && spec.names_an_overlay(l)));
        prop_assert!(
            named,
            "no error names {} (or its overlay):\n{text}",
            spec.path()
        );
    } else {
        for f in GENERATED {
            prop_assert!(
                run.stderr.contains(&format!("wrote: {f}"))
                    || run.stderr.contains(&format!("unchanged: {f}")),
                "{f} neither written nor unchanged:\n{text}"
            );
        }
    }
    Ok(())
}

fn check(spec: Spec, bytes: &[u8], overlay: bool) -> Result<Run, TestCaseError> {
    let run = run_with(spec, bytes, overlay);
    check_invariants(spec, overlay, &run)?;
    Ok(run)
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

const WORDS: &[&str] = &[
    "openapi",
    "swagger",
    "info",
    "title",
    "version",
    "paths",
    "components",
    "schemas",
    "$ref",
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "nullable",
    "format",
    "additionalProperties",
    "get",
    "post",
    "parameters",
    "name",
    "in",
    "path",
    "query",
    "responses",
    "200",
    "default",
    "content",
    "application/json",
    "schema",
    "operationId",
    "requestBody",
    "servers",
    "url",
    "description",
    "x-sdk-timeout-seconds",
    "x-sdk-query-encoding",
    "/v1/jobs/{job_id}",
    "#/components/schemas/JobStatusResponse",
    "#/components/schemas/Missing",
    "#/components/schemas",
    "#/",
    "3.0.3",
    "3.1.0",
    "2.0",
    "object",
    "string",
    "array",
    "integer",
    "number",
    "boolean",
    "null",
    "uuid",
    "date-time",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_ /{}$#.:-]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        word().prop_map(Value::from),
    ]
}

/// Any JSON value, keys and strings biased towards OpenAPI vocabulary.
fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(word(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON Schema as OpenAPI 3.0/3.1 documents write them, with refs that may dangle or
/// loop.
fn arb_schema() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        prop::sample::select(&["string", "integer", "number", "boolean", "object", "null"][..])
            .prop_map(|t| json!({"type": t})),
        prop::sample::select(&["uuid", "date-time", "int64", "binary", "weird"][..])
            .prop_map(|f| json!({"type": "string", "format": f})),
        (0..4u8).prop_map(|i| json!({"$ref": format!("#/components/schemas/S{i}")})),
        prop::collection::vec(word(), 0..4).prop_map(|e| json!({"type": "string", "enum": e})),
        leaf().prop_map(|c| json!({"const": c})),
        Just(json!({})),
        Just(json!(true)),
    ];
    scalar.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|i| json!({"type": "array", "items": i})),
            (
                prop::collection::btree_map(word(), inner.clone(), 0..4),
                prop::collection::vec(word(), 0..3),
                prop::option::of(inner.clone()),
            )
                .prop_map(|(props, required, extra)| {
                    let mut s =
                        json!({"type": "object", "properties": props, "required": required});
                    if let Some(extra) = extra {
                        s["additionalProperties"] = extra;
                    }
                    s
                }),
            (
                prop::sample::select(&["oneOf", "anyOf", "allOf"][..]),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(k, v)| json!({k: v})),
            inner
                .clone()
                .prop_map(|i| json!({"anyOf": [i, {"type": "null"}]})),
            inner.clone().prop_map(|mut i| {
                if let Some(o) = i.as_object_mut() {
                    o.insert("nullable".into(), json!(true));
                }
                i
            }),
            Just(json!({"type": ["string", "null"]})),
            inner.prop_map(|i| json!({"not": i})),
        ]
    })
}

fn arb_operation() -> impl Strategy<Value = Value> {
    (
        prop::option::of(word()),
        prop::collection::vec(
            (
                word(),
                prop::sample::select(&["path", "query", "header", "cookie", "body"][..]),
                any::<bool>(),
                arb_schema(),
            ),
            0..3,
        ),
        prop::collection::btree_map(
            prop::sample::select(&["200", "201", "204", "400", "404", "default", "2XX"][..]),
            prop::option::of(arb_schema()),
            0..3,
        ),
        prop::option::of(arb_schema()),
    )
        .prop_map(|(id, params, responses, body)| {
            let mut op = json!({});
            if let Some(id) = id {
                op["operationId"] = json!(id);
            }
            op["parameters"] = params
                .into_iter()
                .map(|(name, at, required, schema)| {
                    json!({"name": name, "in": at, "required": required, "schema": schema})
                })
                .collect();
            op["responses"] = responses
                .into_iter()
                .map(|(status, schema)| {
                    let mut r = json!({"description": "r"});
                    if let Some(schema) = schema {
                        r["content"] = json!({"application/json": {"schema": schema}});
                    }
                    (status.to_owned(), r)
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
            if let Some(body) = body {
                op["requestBody"] = json!({"content": {"application/json": {"schema": body}}});
            }
            op
        })
}

/// Documents that look like OpenAPI 3.0/3.1 and go deep into the pipeline.
fn arb_openapi() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["3.0.0", "3.0.3", "3.1.0", "3.1.1"][..]),
        prop::collection::btree_map(
            prop::sample::select(&["/a", "/a/{id}", "/b/{id}/c", "/{x}", "/v1/jobs/{job_id}"][..]),
            prop::collection::btree_map(
                prop::sample::select(&["get", "post", "put", "delete", "patch"][..]),
                arb_operation(),
                1..3,
            ),
            0..4,
        ),
        prop::collection::btree_map((0..5u8).prop_map(|i| format!("S{i}")), arb_schema(), 0..5),
    )
        .prop_map(|(version, paths, schemas)| {
            json!({
                "openapi": version,
                "info": {"title": "generated", "version": "1"},
                "paths": paths,
                "components": {"schemas": schemas},
            })
        })
}

/// YAML-looking text: indentation, flow collections, anchors and aliases, tags, block
/// scalars, quotes.
fn arb_yaml_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => word(),
        2 => Just(": ".to_owned()),
        2 => Just("\n".to_owned()),
        2 => Just("  ".to_owned()),
        1 => Just("- ".to_owned()),
        1 => Just("{".to_owned()),
        1 => Just("}".to_owned()),
        1 => Just("[".to_owned()),
        1 => Just("]".to_owned()),
        1 => Just(", ".to_owned()),
        1 => Just("&a ".to_owned()),
        1 => Just("*a".to_owned()),
        1 => Just("<<: *a\n".to_owned()),
        1 => Just("!!binary ".to_owned()),
        1 => Just("!custom ".to_owned()),
        1 => Just("? ".to_owned()),
        1 => Just("|\n".to_owned()),
        1 => Just(">-\n".to_owned()),
        1 => Just("'".to_owned()),
        1 => Just("\"".to_owned()),
        1 => Just("# c\n".to_owned()),
        1 => Just("---\n".to_owned()),
        1 => Just("...\n".to_owned()),
        1 => Just("openapi: 3.1.0\n".to_owned()),
        1 => Just("paths:\n".to_owned()),
        1 => Just("\t".to_owned()),
    ];
    prop::collection::vec(token, 0..80).prop_map(|t| t.concat())
}

/// The vendored specs: text and parsed value.
static SPECS: LazyLock<[(Spec, Vec<u8>, Value); 2]> = LazyLock::new(|| {
    [Spec::Omni, Spec::Retailgrid].map(|spec| {
        let bytes = std::fs::read(repo().join(spec.path())).unwrap();
        let value: Value = serde_norway::from_slice(&bytes).unwrap();
        (spec, bytes, value)
    })
});

fn spec_bytes(spec: Spec) -> &'static [u8] {
    &SPECS.iter().find(|(s, _, _)| *s == spec).unwrap().1
}

fn spec_value(spec: Spec) -> &'static Value {
    &SPECS.iter().find(|(s, _, _)| *s == spec).unwrap().2
}

/// JSON pointers of every node of `value`; with `members_only`, only of object members.
fn pointers(value: &Value, at: String, members_only: bool, out: &mut Vec<String>) {
    if !members_only {
        out.push(at.clone());
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                if members_only {
                    out.push(child.clone());
                }
                pointers(v, child, members_only, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), members_only, out);
            }
        }
        _ => {}
    }
}

/// Splits a pointer into its parent and its last (unescaped) token.
fn parent_and_key(pointer: &str) -> (&str, String) {
    let cut = pointer.rfind('/').unwrap();
    let key = pointer[cut + 1..].replace("~1", "/").replace("~0", "~");
    (&pointer[..cut], key)
}

fn kind(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A value of JSON type `kind` (0 null, 1 bool, 2 number, 3 string, 4 array, 5 object).
fn value_of_kind(kind: usize, seed: u8) -> Value {
    match kind {
        0 => Value::Null,
        1 => json!(seed.is_multiple_of(2)),
        2 => [json!(0), json!(-1), json!(1.5), json!(u64::MAX)][usize::from(seed % 4)].clone(),
        3 => [
            json!(""),
            json!("x"),
            json!("#/components/schemas/Missing"),
            json!("3.1.0"),
        ][usize::from(seed % 4)]
        .clone(),
        4 => [json!([]), json!([null]), json!(["string"])][usize::from(seed % 3)].clone(),
        _ => [json!({}), json!({"type": "object"}), json!({"$ref": "#/"})][usize::from(seed % 3)]
            .clone(),
    }
}

fn to_yaml(value: &Value) -> Vec<u8> {
    serde_norway::to_string(value).unwrap().into_bytes()
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let default = Config::default(); // reads PROPTEST_RNG_SEED when it is set
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => default.rng_seed,
        None => proptest::test_runner::RngSeed::Fixed(0x5eed_c0de),
    };
    Config {
        cases,
        rng_seed,
        // Each shrinking step is a binary run: keep a failure's report bounded.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..default
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Any JSON value (written as JSON, which is YAML) in place of a spec.
    #[test]
    fn arbitrary_json_documents(spec in any_spec(), doc in arb_json(), overlay in any::<bool>()) {
        check(spec, doc.to_string().as_bytes(), overlay)?;
    }

    /// OpenAPI-shaped documents with arbitrary schemas, refs and operations.
    #[test]
    fn arbitrary_openapi_documents(spec in any_spec(), doc in arb_openapi(), overlay in any::<bool>()) {
        check(spec, &to_yaml(&doc), overlay)?;
    }

    /// YAML-looking text: anchors, aliases, merges, tags, block scalars, broken flows.
    #[test]
    fn arbitrary_yaml_text(spec in any_spec(), text in arb_yaml_text(), overlay in any::<bool>()) {
        check(spec, text.as_bytes(), overlay)?;
    }

    /// A real spec with one object member (anywhere) deleted.
    #[test]
    fn real_spec_with_a_key_deleted(
        spec in any_spec(),
        pick in any::<prop::sample::Index>(),
        overlay in any::<bool>(),
    ) {
        let mut doc = spec_value(spec).clone();
        let mut members = Vec::new();
        pointers(&doc, String::new(), true, &mut members);
        let target = pick.get(&members);
        let (parent, key) = parent_and_key(target);
        doc.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(&key);
        check(spec, &to_yaml(&doc), overlay)?;
    }

    /// A real spec with one value (anywhere, the root included) replaced by a value of
    /// another JSON type.
    #[test]
    fn real_spec_with_a_value_of_another_type(
        spec in any_spec(),
        pick in any::<prop::sample::Index>(),
        shift in 1..6usize,
        seed in any::<u8>(),
        overlay in any::<bool>(),
    ) {
        let mut doc = spec_value(spec).clone();
        let mut nodes = Vec::new();
        pointers(&doc, String::new(), false, &mut nodes);
        let target = pick.get(&nodes).clone();
        let node = doc.pointer_mut(&target).unwrap();
        *node = value_of_kind((kind(node) + shift) % 6, seed);
        check(spec, &to_yaml(&doc), overlay)?;
    }

    /// A real spec cut short at any byte (possibly inside a UTF-8 sequence).
    #[test]
    fn real_spec_truncated(spec in any_spec(), cut in any::<prop::sample::Index>(), overlay in any::<bool>()) {
        let bytes = spec_bytes(spec);
        let end = cut.index(bytes.len());
        check(spec, &bytes[..end], overlay)?;
    }

    /// A real spec with 1–8 bytes flipped. Masks below 0x80 keep an ASCII byte ASCII (so
    /// most cases still parse as UTF-8 and reach the YAML parser and beyond); the others
    /// usually make the text invalid UTF-8.
    #[test]
    fn real_spec_with_bytes_flipped(
        spec in any_spec(),
        flips in prop::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![3 => 1..0x80u8, 1 => 0x80..=0xffu8]),
            1..=8,
        ),
        overlay in any::<bool>(),
    ) {
        let mut bytes = spec_bytes(spec).to_vec();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        check(spec, &bytes, overlay)?;
    }
}

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
    // The error names the file and the dangling pointer.
    assert_fails_with(
        &run,
        "specs/retailgrid.yaml",
        &["#/components/schemas/Nope"],
    );
}

#[test]
fn unknown_ref_target_in_one_operation_drops_only_that_operation() {
    let doc = format!(
        "openapi: 3.0.3\ninfo: {{title: x, version: \"1\"}}\npaths:{}  /y:\n    get:\n      operationId: getY\n      responses:\n        \"200\":\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: \"#/components/schemas/Nope\"}}\ncomponents:\n  schemas:\n    Thing: {{type: object, properties: {{a: {{type: string}}}}}}\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(
        run.stderr
            .contains("warning: dropped operation getY (GET /y)")
            && run.stderr.contains("#/components/schemas/Nope"),
        "{}",
        run.text()
    );
    let generated = String::from_utf8_lossy(&run.files[2]);
    assert!(generated.contains("pub fn get_x("), "{generated}");
    assert!(!generated.contains("pub fn get_y("), "{generated}");
}

#[test]
fn recursive_schemas_generate() {
    let doc = format!(
        "openapi: 3.0.3\ninfo: {{title: x, version: \"1\"}}\npaths:{}components:\n  schemas:\n    Thing:\n      type: object\n      required: [name]\n      properties:\n        name: {{type: string}}\n        children: {{type: array, items: {{$ref: \"#/components/schemas/Thing\"}}}}\n        parent: {{$ref: \"#/components/schemas/Thing\"}}\n",
        MINIMAL_PATHS
    );
    let run = case(Spec::Retailgrid, doc.as_bytes(), false);
    assert_eq!(run.code, Some(0), "{}", run.text());
    let generated = String::from_utf8_lossy(&run.files[2]);
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
    let generated = String::from_utf8_lossy(&run.files[2]);
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
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: dropped operation getThing (GET /"))
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one is dropped:\n{}", run.text());
    let generated = String::from_utf8_lossy(&run.files[2]);
    assert_eq!(
        generated.matches("pub fn get_thing(").count(),
        1,
        "{generated}"
    );
    assert!(
        generated.contains("// Operations left out (1)"),
        "{generated}"
    );
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
