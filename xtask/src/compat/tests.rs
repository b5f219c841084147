use super::*;

#[test]
fn error_responses_share_one_schema_and_keep_descriptions() {
    let mut doc = json!({
        "paths": {"/a": {"get": {"responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}},
            "401": {"description": "nope"},
            "422": {"description": "bad", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V"}}}},
            "429": {"$ref": "#/components/responses/TooMany"},
            "default": {"description": "other"}
        }}}},
        "components": {"responses": {"TooMany": {"description": "slow down", "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}}
    });
    unify_error_responses(&mut doc);
    let r = &doc["paths"]["/a"]["get"]["responses"];
    let want = json!({"$ref": "#/components/schemas/ApiError"});
    let codes: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(codes, ["200", "4XX", "5XX"]);
    for code in ["4XX", "5XX"] {
        assert_eq!(
            r[code]["content"]["application/json"]["schema"], want,
            "{code}"
        );
    }
    let d4 = r["4XX"]["description"].as_str().unwrap();
    assert!(
        d4.contains("401: nope") && d4.contains("429: slow down"),
        "{d4}"
    );
    assert_eq!(r["5XX"]["description"], "other");
    assert_eq!(
        r["200"]["content"]["application/json"]["schema"]["type"],
        "string"
    );
    assert!(doc["components"]["schemas"]["ApiError"]["properties"]["detail"].is_object());
}

#[test]
fn additional_properties_false_is_dropped_but_not_inside_examples() {
    let mut doc = json!({"components": {"schemas": {"J": {
        "type": "object", "additionalProperties": false,
        "properties": {"n": {"type": "object", "additionalProperties": false}},
        "example": {"additionalProperties": false}
    }}}});
    assert_eq!(tolerate_unknown_fields(&mut doc), 2);
    let j = &doc["components"]["schemas"]["J"];
    assert!(j.get("additionalProperties").is_none());
    assert!(j["properties"]["n"].get("additionalProperties").is_none());
    assert_eq!(j["example"]["additionalProperties"], false);
}

#[test]
fn two_part_versions_are_completed() {
    let mut doc = json!({"openapi": "3.0"});
    assert_eq!(two_part_version(&mut doc).len(), 1);
    assert_eq!(doc["openapi"], "3.0.3");
    let mut doc = json!({"openapi": "3.1.1"});
    assert!(two_part_version(&mut doc).is_empty());
}

#[test]
fn duplicate_operation_ids_get_the_method_then_a_number() {
    let mut doc = json!({"paths": {
        "/a": {"get": {"operationId": "Get"}},
        "/b": {"get": {"operationId": "Get"}, "post": {"operationId": "Get"}},
        "/c": {"get": {"operationId": "Get"}, "put": {"operationId": "Get_get"}}
    }});
    let notes = unique_operation_ids(&mut doc);
    let id = |p: &str, m: &str| doc["paths"][p][m]["operationId"].clone();
    assert_eq!(id("/a", "get"), "Get");
    assert_eq!(id("/b", "get"), "Get_get_2");
    assert_eq!(id("/b", "post"), "Get_post");
    assert_eq!(id("/c", "get"), "Get_get_3");
    assert_eq!(id("/c", "put"), "Get_get");
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[0].starts_with("/paths/~1b/get/operationId: Get is used"));
}

#[test]
fn undeclared_path_parameters_are_added_and_clashing_names_renamed() {
    let mut doc = json!({"paths": {
        "/w/{ns}/{execution.workflow_id}": {
            "parameters": [{"name": "ns", "in": "path", "required": true}],
            "get": {"parameters": [
                {"name": "execution.workflow_id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "execution.workflowId", "in": "query", "schema": {"type": "string"}}
            ]},
            "post": {}
        }
    }});
    let notes = path_parameters(&mut doc);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let post = &doc["paths"]["/w/{ns}/{execution.workflow_id}"]["post"]["parameters"][0];
    assert_eq!(post["name"], "execution.workflow_id");
    assert_eq!(post["required"], true);
    let notes = path_parameter_names(&mut doc);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let item = &doc["paths"]["/w/{ns}/{execution_workflow_id_path}"];
    assert_eq!(
        item["get"]["parameters"][0]["name"],
        "execution_workflow_id_path"
    );
    assert_eq!(item["get"]["parameters"][1]["name"], "execution.workflowId");
    assert_eq!(
        item["post"]["parameters"][0]["name"],
        "execution_workflow_id_path"
    );
}

#[test]
fn parameters_with_one_rust_name_keep_the_first() {
    let mut doc = json!({"paths": {"/a": {"get": {"parameters": [
        {"name": "sort.direction", "in": "query"},
        {"name": "sort_direction", "in": "query"},
        {"name": "last_event_id", "in": "query"},
        {"name": "Last-Event-ID", "in": "header"}
    ]}}}});
    let notes = colliding_parameters(&mut doc);
    let names: Vec<&str> = doc["paths"]["/a"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sort.direction", "last_event_id"]);
    assert_eq!(notes.len(), 2, "{notes:?}");
}

#[test]
fn one_success_type_keeps_the_json_body() {
    let mut doc = json!({"paths": {"/a": {"post": {"responses": {
        "200": {"description": "", "content": {"application/json": {"schema": {"type": "string"}}}},
        "201": {"description": "", "content": {"application/json": {"schema": {"type": "string"}}}},
        "204": {"description": "none"}
    }}}}});
    let notes = one_success_type(&mut doc);
    let codes: Vec<&String> = doc["paths"]["/a"]["post"]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(codes, ["200", "201"]);
    assert_eq!(notes.len(), 1, "{notes:?}");
}

#[test]
fn unsendable_parameters_are_removed_or_taken_as_strings() {
    let mut doc = json!({"components": {"schemas": {"F": {"type": "object"}}},
        "paths": {"/a": {"get": {"parameters": [
        {"name": "session", "in": "cookie"},
        {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
        {"name": "id", "in": "path", "schema": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string"}]}},
        {"name": "q", "in": "query", "content": {"application/json": {"schema": {"type": "object"}}}},
        {"name": "f", "in": "query", "schema": {"$ref": "#/components/schemas/F"}}
    ]}}}});
    let notes = sendable_parameters(&mut doc);
    let params = doc["paths"]["/a"]["get"]["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 3);
    assert_eq!(params[0]["schema"], json!({"type": "string"}));
    assert_eq!(params[1]["schema"]["type"], "string");
    assert!(params[1].get("content").is_none());
    assert_eq!(params[2]["schema"]["type"], "string");
    assert_eq!(notes.len(), 5, "{notes:?}");
}

#[test]
fn body_media_types_get_stand_ins_and_the_table_keeps_the_declared_one() {
    let mut doc = json!({"paths": {
        "/p": {"patch": {"operationId": "patchIt", "requestBody": {"content": {
            "application/json-patch+json": {"schema": {"type": "array"}}}}}},
        "/q": {"post": {"operationId": "query", "requestBody": {"content": {
            "application/vnd.flux": {"schema": {"type": "string"}}}}}},
        "/i": {"post": {"operationId": "img", "requestBody": {"content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}}}}}},
        "/x": {"post": {"operationId": "attach", "requestBody": {"content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "byte"}}}}}},
        "/j": {"post": {"operationId": "plain", "requestBody": {"content": {
            "application/json": {"schema": {"type": "object"}}}}}},
        "/m": {"post": {"operationId": "multi", "requestBody": {"content": {
            "multipart/form-data": {"schema": {"type": "object"}}}}}}
    }});
    let (table, notes) = request_body_media_types(&mut doc);
    let content = |p: &str, m: &str| doc["paths"][p][m]["requestBody"]["content"].clone();
    assert!(content("/p", "patch")["application/json"]["schema"]["type"] == "array");
    assert_eq!(
        content("/q", "post")["text/plain"]["schema"],
        json!({"type": "string"})
    );
    assert!(content("/i", "post")["application/octet-stream"].is_object());
    assert_eq!(
        content("/x", "post")["application/octet-stream"]["schema"]["format"],
        "binary"
    );
    assert!(content("/m", "post")["multipart/form-data"].is_object());
    assert_eq!(
        table,
        vec![
            ("img".to_owned(), "image/png".to_owned()),
            (
                "patchIt".to_owned(),
                "application/json-patch+json".to_owned()
            ),
            ("query".to_owned(), "application/vnd.flux".to_owned()),
        ]
    );
    assert_eq!(notes.len(), 4, "{notes:?}");
}

#[test]
fn request_timeouts_are_collected() {
    let doc = json!({"paths": {"/w": {"get": {"operationId": "wait", "x-sdk-timeout-seconds": 120}, "post": {"operationId": "p"}}}});
    assert_eq!(request_timeouts(&doc), vec![("wait".to_owned(), 120)]);
}

#[test]
fn json_query_params_are_collected() {
    let doc = json!({"paths": {"/w": {"get": {"operationId": "wait", "parameters": [
        {"name": "ids", "in": "query", "required": true, "x-sdk-query-encoding": "json"},
        {"name": "other", "in": "query"}
    ]}}}});
    assert_eq!(
        json_query_params(&doc),
        vec![("wait".to_owned(), "ids".to_owned(), true)]
    );
}
