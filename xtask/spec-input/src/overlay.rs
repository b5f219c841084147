//! OpenAPI Overlay 1.0 (<https://spec.openapis.org/overlay/v1.0.0.html>), applied to a
//! document held as JSON.
//!
//! Why an overlay: the vendored specs stay byte-for-byte what upstream published, so that
//! re-vendoring is a copy; every fix we need lives in a separate, reviewable document next
//! to it (`specs/<name>.overlay.yaml`).
//!
//! Semantics implemented (the subset of the standard our specs use, strictly):
//! - `target` is an RFC 9535 JSONPath; every node it selects is acted on in document order.
//! - `update` on an object merges recursively (objects merge, everything else is replaced);
//!   `update` on an array appends the value as one entry.
//! - `remove: true` deletes the selected nodes.
//!
//! Unlike the standard, an action whose target selects nothing is an error: after a
//! re-vendor that means upstream moved or fixed something and the fix needs review.

use serde_json::Value;
use serde_json_path::JsonPath;

/// Why an overlay could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The overlay is not an Overlay 1.x document.
    #[error("{file}: not an OpenAPI Overlay 1.x document: {reason}")]
    NotAnOverlay {
        /// The overlay file.
        file: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// An action is malformed or does not apply.
    #[error("{file}: action {index} (target `{target}`): {reason}")]
    Action {
        /// The overlay file.
        file: String,
        /// Zero-based position in `actions`.
        index: usize,
        /// The action's target expression.
        target: String,
        /// What went wrong.
        reason: String,
    },
}

/// Applies `overlay` (already parsed from `file`) to `doc` in place.
pub fn apply(doc: &mut Value, overlay: &Value, file: &str) -> Result<(), OverlayError> {
    let not_overlay = |reason: &str| OverlayError::NotAnOverlay {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    let version = overlay
        .get("overlay")
        .and_then(Value::as_str)
        .ok_or_else(|| not_overlay("missing `overlay` version string"))?;
    if !version.starts_with("1.") {
        return Err(not_overlay(&format!("unsupported version {version}")));
    }
    let actions = overlay
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| not_overlay("missing `actions` list"))?;

    for (index, action) in actions.iter().enumerate() {
        let target = action
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fail = |reason: String| OverlayError::Action {
            file: file.to_owned(),
            index,
            target: target.clone(),
            reason,
        };
        if target.is_empty() {
            return Err(fail("missing `target`".into()));
        }
        let path = JsonPath::parse(&target).map_err(|e| fail(format!("bad JSONPath: {e}")))?;
        let pointers: Vec<String> = path
            .query_located(doc)
            .locations()
            .map(|l| l.to_json_pointer())
            .collect();
        if pointers.is_empty() {
            return Err(fail(
                "selects nothing in the document (did upstream change? review the fix)".into(),
            ));
        }
        let remove = action
            .get("remove")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match (action.get("update"), remove) {
            (Some(_), true) => return Err(fail("has both `update` and `remove`".into())),
            (None, false) => return Err(fail("has neither `update` nor `remove: true`".into())),
            (Some(update), false) => {
                for pointer in &pointers {
                    let node = doc
                        .pointer_mut(pointer)
                        .ok_or_else(|| fail(format!("node {pointer} vanished")))?;
                    match node {
                        Value::Array(items) => items.push(update.clone()),
                        Value::Object(_) if update.is_object() => merge(node, update),
                        _ => {
                            return Err(fail(format!(
                                "can only update an object (with an object) or an array; {pointer} is neither"
                            )));
                        }
                    }
                }
            }
            (None, true) => {
                // Remove deepest/last first so that array indices stay valid.
                for pointer in pointers.iter().rev() {
                    remove_at(doc, pointer)
                        .ok_or_else(|| fail(format!("cannot remove {pointer}")))?;
                }
            }
        }
    }
    Ok(())
}

fn merge(target: &mut Value, update: &Value) {
    match (target, update) {
        (Value::Object(t), Value::Object(u)) => {
            for (k, v) in u {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, u) => *t = u.clone(),
    }
}

fn remove_at(doc: &mut Value, pointer: &str) -> Option<()> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let key = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent)? {
        Value::Object(map) => map.remove(&key).map(|_| ()),
        Value::Array(items) => {
            let i: usize = key.parse().ok()?;
            (i < items.len()).then(|| {
                items.remove(i);
            })
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overlay(actions: Value) -> Value {
        json!({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": actions})
    }

    #[test]
    fn update_merges_objects_recursively() {
        let mut doc =
            json!({"paths": {"/a": {"get": {"operationId": "long_name", "tags": ["x"]}}}});
        let ov = overlay(json!([{"target": "$.paths['/a'].get", "update": {"operationId": "a"}}]));
        apply(&mut doc, &ov, "o.yaml").unwrap();
        assert_eq!(
            doc,
            json!({"paths": {"/a": {"get": {"operationId": "a", "tags": ["x"]}}}})
        );
    }

    #[test]
    fn update_on_array_appends_one_entry() {
        let mut doc = json!({"s": {"enum": ["A", "B"]}});
        let ov = overlay(json!([{"target": "$.s.enum", "update": "C"}]));
        apply(&mut doc, &ov, "o.yaml").unwrap();
        assert_eq!(doc, json!({"s": {"enum": ["A", "B", "C"]}}));
    }

    #[test]
    fn remove_deletes_every_selected_node() {
        let mut doc = json!({"a": [1, 2, 3], "b": {"x": 1, "y": 2}});
        let ov = overlay(json!([
            {"target": "$.a[?@ > 1]", "remove": true},
            {"target": "$.b.x", "remove": true}
        ]));
        apply(&mut doc, &ov, "o.yaml").unwrap();
        assert_eq!(doc, json!({"a": [1], "b": {"y": 2}}));
    }

    #[test]
    fn a_target_that_selects_nothing_is_an_error_naming_the_action() {
        let mut doc = json!({"a": 1});
        let ov = overlay(json!([{"target": "$.nope", "remove": true}]));
        let err = apply(&mut doc, &ov, "o.yaml").unwrap_err().to_string();
        assert!(err.contains("o.yaml: action 0 (target `$.nope`)"), "{err}");
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn malformed_overlays_are_rejected() {
        let mut doc = json!({});
        assert!(apply(&mut doc, &json!({"actions": []}), "o").is_err());
        assert!(apply(&mut doc, &json!({"overlay": "2.0.0", "actions": []}), "o").is_err());
        let bad_path = overlay(json!([{"target": "$[", "remove": true}]));
        assert!(
            apply(&mut doc, &bad_path, "o")
                .unwrap_err()
                .to_string()
                .contains("bad JSONPath")
        );
        let both = overlay(json!([{"target": "$", "remove": true, "update": {}}]));
        assert!(apply(&mut doc, &both, "o").is_err());
    }
}
