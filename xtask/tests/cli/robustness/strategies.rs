//! Generators of hostile input: arbitrary JSON, OpenAPI-shaped documents, YAML-looking
//! text, and the real specs to mutate.

use super::*;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

pub(crate) const WORDS: &[&str] = &[
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

pub(crate) fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_ /{}$#.:-]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

pub(crate) fn leaf() -> impl Strategy<Value = Value> {
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
pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
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
pub(crate) fn arb_schema() -> impl Strategy<Value = Value> {
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

pub(crate) fn arb_operation() -> impl Strategy<Value = Value> {
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
pub(crate) fn arb_openapi() -> impl Strategy<Value = Value> {
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
pub(crate) fn arb_yaml_text() -> impl Strategy<Value = String> {
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
pub(crate) static SPECS: LazyLock<[(Spec, Vec<u8>, Value); 2]> = LazyLock::new(|| {
    [Spec::Omni, Spec::Retailgrid].map(|spec| {
        let bytes = std::fs::read(repo().join(spec.path())).unwrap();
        let value: Value = serde_norway::from_slice(&bytes).unwrap();
        (spec, bytes, value)
    })
});

pub(crate) fn spec_bytes(spec: Spec) -> &'static [u8] {
    &SPECS.iter().find(|(s, _, _)| *s == spec).unwrap().1
}

pub(crate) fn spec_value(spec: Spec) -> &'static Value {
    &SPECS.iter().find(|(s, _, _)| *s == spec).unwrap().2
}

/// JSON pointers of every node of `value`; with `members_only`, only of object members.
pub(crate) fn pointers(value: &Value, at: String, members_only: bool, out: &mut Vec<String>) {
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
pub(crate) fn parent_and_key(pointer: &str) -> (&str, String) {
    let cut = pointer.rfind('/').unwrap();
    let key = pointer[cut + 1..].replace("~1", "/").replace("~0", "~");
    (&pointer[..cut], key)
}

pub(crate) fn kind(v: &Value) -> usize {
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
pub(crate) fn value_of_kind(kind: usize, seed: u8) -> Value {
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

pub(crate) fn to_yaml(value: &Value) -> Vec<u8> {
    serde_norway::to_string(value).unwrap().into_bytes()
}

pub(crate) fn config() -> Config {
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
