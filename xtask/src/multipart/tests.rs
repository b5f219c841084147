//! Tests of the multipart pass: parts read through the document, naming, and the whole
//! pipeline on small documents.

use super::*;
use serde_json::json;

fn doc() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/files/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "post": {
                    "operationId": "uploadFile",
                    "parameters": [{"$ref": "#/components/parameters/File"}],
                    "requestBody": {"$ref": "#/components/requestBodies/Upload"},
                    "responses": {"204": {"description": "ok"}}
                }
            },
            "/json-too": {"post": {
                "operationId": "both",
                "requestBody": {"content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                    "application/json": {"schema": {"type": "object"}}
                }},
                "responses": {"204": {"description": "ok"}}
            }},
            "/opaque": {"put": {
                "operationId": "opaque",
                "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
                "responses": {"204": {"description": "ok"}}
            }}
        },
        "components": {
            "parameters": {"File": {"name": "file", "in": "query", "schema": {"type": "string"}}},
            "requestBodies": {"Upload": {"required": true, "content": {"multipart/form-data": {
                "schema": {"allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The file"},
                        "pictures": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "tags": {"type": "array", "items": {"type": "integer"}},
                        "meta": {"type": "object", "properties": {"k": {"type": "string"}}},
                        "anything": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        "type": {"allOf": [{"$ref": "#/components/schemas/Kind"}], "description": "Kind of file"},
                        "avatar": {"type": "string"}
                    }}
                ]},
                "encoding": {"avatar": {"contentType": "image/png"}, "meta": {"contentType": "application/json"}}
            }}}},
            "schemas": {
                "Base": {"type": "object", "required": ["ownerId"], "properties": {
                    "ownerId": {"type": "string", "format": "uuid"},
                    "public": {"type": "boolean"},
                    "ratio": {"type": "number"}
                }},
                "Kind": {"type": "string", "enum": ["csv", "xlsx"]}
            }
        }
    })
}

fn summary(op: &Operation) -> Vec<(String, String, Kind, bool)> {
    op.parts
        .iter()
        .map(|p| (p.name.clone(), p.setter.clone(), p.kind, p.required))
        .collect()
}

#[test]
fn parts_are_read_through_refs_and_all_of_and_the_body_taken_off() {
    let mut d = doc();
    let out = extract(&mut d);
    assert_eq!(out.operations.len(), 1, "{out:?}");
    let op = &out.operations[0];
    assert_eq!(
        (
            op.operation_id.as_str(),
            op.method.as_str(),
            op.path.as_str()
        ),
        ("uploadFile", "POST", "/files/{id}")
    );
    let s = |x: &str| x.to_owned();
    assert_eq!(
        summary(op),
        [
            (s("ownerId"), s("owner_id"), Kind::Text(Scalar::Uuid), true),
            (s("public"), s("public"), Kind::Text(Scalar::Boolean), false),
            (s("ratio"), s("ratio"), Kind::Text(Scalar::Number), false),
            // Each `properties` in key order (`allOf` members in order).
            (
                s("anything"),
                s("anything"),
                Kind::Text(Scalar::String),
                false
            ),
            // `encoding.avatar.contentType: image/png`: a file, whatever the schema.
            (s("avatar"), s("avatar"), Kind::File, false),
            // The query parameter `file` has the setter `file`.
            (s("file"), s("file_part"), Kind::File, true),
            (s("meta"), s("meta"), Kind::Json, false),
            (s("pictures"), s("pictures"), Kind::Files, false),
            (s("tags"), s("tags"), Kind::TextList(Scalar::Integer), false),
            (s("type"), s("type_"), Kind::Text(Scalar::String), false),
        ]
    );
    let by_name = |n: &str| op.parts.iter().find(|p| p.name == n).unwrap();
    assert_eq!(by_name("type").values, ["csv", "xlsx"]);
    assert_eq!(by_name("type").description.as_deref(), Some("Kind of file"));
    assert_eq!(by_name("file").description.as_deref(), Some("The file"));
    assert_eq!(by_name("avatar").content_type.as_deref(), Some("image/png"));
    assert_eq!(
        by_name("meta").content_type.as_deref(),
        Some("application/json")
    );
    assert!(d.pointer("/paths/~1files~1{id}/post/requestBody").is_none());
    assert!(d.pointer("/paths/~1files~1{id}/post/responses").is_some());
    // A body progenitor supports too is left alone.
    assert!(d.pointer("/paths/~1json-too/post/requestBody").is_some());
    assert_eq!(
        out.warnings,
        [
            "/components/requestBodies/Upload/content/multipart~1form-data/schema/allOf/1/properties/anything: multipart part has no single type: sent as a text part, set from a String",
            "/components/requestBodies/Upload/content/multipart~1form-data/schema/allOf/1/properties/meta: multipart part is an object: sent as a JSON text part, set from any Serialize value",
        ]
    );
    assert_eq!(
        op.to_string(),
        "uploadFile (POST /files/{id}): parts ownerId (text, required), public (text), ratio (text), anything (text), avatar (file), file (file, required), meta (JSON), pictures (files), tags (text, repeated), type (text)"
    );
}

#[test]
fn a_schema_without_properties_is_marked_with_the_reason() {
    let mut d = doc();
    extract(&mut d);
    assert_eq!(
        d.pointer("/paths/~1opaque/put/x-sdk-multipart-unsupported"),
        Some(&json!(
            "its multipart/form-data schema (/paths/~1opaque/put/requestBody/content/multipart~1form-data/schema) declares no properties to name the parts after"
        ))
    );
    assert!(d.pointer("/paths/~1opaque/put/requestBody").is_some());
}

/// marimo's `POST /api/files/create`: 3.1's nullable file, lowered first.
#[test]
fn a_nullable_file_from_3_1_is_a_file() {
    let mut d = json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/f": {"post": {
            "operationId": "create",
            "requestBody": {"content": {"multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "file": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "format": "binary"},
                    "image": {"type": ["string", "null"], "contentMediaType": "image/png"},
                    "name": {"type": "string"}
                }
            }}}},
            "responses": {"204": {"description": "ok"}}
        }}}
    });
    crate::normalize::normalize(&mut d);
    let out = extract(&mut d);
    let kinds: Vec<(&str, Kind)> = out.operations[0]
        .parts
        .iter()
        .map(|p| (p.name.as_str(), p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("file", Kind::File),
            ("image", Kind::File),
            ("name", Kind::Text(Scalar::String))
        ]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn names_are_progenitors() {
    assert_eq!(sanitize("uploadsCreate", Case::Snake), "uploads_create");
    assert_eq!(sanitize("uploadsCreate", Case::Pascal), "UploadsCreate");
    assert_eq!(
        sanitize("post_api_files_create", Case::Pascal),
        "PostApiFilesCreate"
    );
    assert_eq!(sanitize("type", Case::Snake), "type_");
    assert_eq!(sanitize("file-name", Case::Snake), "file_name");
    assert_eq!(sanitize("2fa", Case::Snake), "_2fa");
}

/// The whole pipeline on a small document, with progenitor.
#[test]
fn generated_builders_get_a_setter_per_part_and_send_the_form() {
    let root = tempfile::tempdir().unwrap();
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "Files", "version": "1"},
        "paths": {"/files/{id}": {"post": {
            "operationId": "uploadFile",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"content": {"multipart/form-data": {"schema": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "data": {"type": "string", "contentMediaType": "text/csv; charset=utf-8"},
                    "image": {"type": "string", "contentMediaType": "image/png"},
                    "labels": {"type": "array", "items": {"type": "string"}}
                }
            }}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}}}
        }}}
    });
    std::fs::write(root.path().join("files.json"), spec.to_string()).unwrap();
    let sdk = crate::codegen::Sdk {
        crate_dir: "files-sdk".into(),
        spec: "files.json".into(),
        merge: Vec::new(),
        overlay: Vec::new(),
        strip_path_prefix: None,
    };
    let output = crate::codegen::generate(root.path(), &sdk).unwrap();
    assert!(output.dropped.is_empty(), "{:?}", output.dropped);
    let generated = &output.files[0].1;
    let has = |needle: &str| {
        assert!(generated.contains(needle), "missing {needle:?}");
    };
    has(
        "// - uploadFile (POST /files/{id}): parts data (text, required), image (file), labels (text, repeated)",
    );
    has("pub fn data<V>(mut self, value: V) -> Self");
    has("pub fn image(mut self, value: ::sdk_runtime::FilePart) -> Self");
    has("V: std::convert::TryInto<::std::vec::Vec<::std::string::String>>");
    has(".multipart(multipart_body)");
    has("value.into_part(\"image\", None)");
    has("for value in multipart_labels.into_iter().flatten()");
    has("multipart part `data` was not set (call .data(..) on the upload_file builder)");
    has("- `.image(..)`: part `image` (file)");
    // The path parameter keeps progenitor's setter and encoding.
    has("pub fn id<V>(mut self, value: V) -> Self");
    has("encode_path(& id.to_string())");
}

#[test]
fn an_unknown_builder_shape_is_an_error_naming_the_operation() {
    let mut file: syn::File = syn::parse_quote! {
        pub mod builder {
            pub struct UploadFile<'a> { client: &'a super::Client }
            impl<'a> UploadFile<'a> {
                pub fn new(client: &'a super::Client) -> Self { Self { client: client } }
            }
        }
    };
    let mut d = doc();
    let ops = extract(&mut d).operations;
    let err = augment(&mut file, &ops).unwrap_err();
    assert_eq!(
        err,
        "multipart operation uploadFile (POST /files/{id}): progenitor's builder UploadFile has no `send`; adapt xtask/src/multipart.rs to this progenitor version"
    );
    // An operation progenitor left out is not an error.
    let mut empty: syn::File = syn::parse_quote!(
        pub mod builder {}
    );
    assert!(augment(&mut empty, &ops).unwrap().is_empty());
}
