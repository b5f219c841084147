//! Partial generation: when progenitor cannot generate a whole document, find the
//! operations it can, generate those, and report the rest.
//!
//! Why: progenitor gives up on the whole document when one operation or schema is beyond
//! it, and component schemas are generated all at once, so one bad schema fails every
//! operation. Here each operation is tried alone, with only the components it reaches,
//! under `catch_unwind`; the survivors are then generated together.

use crate::oas::{METHODS, escape};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::TokenStream;
use serde_json::{Map, Value};

/// An operation left out of the generated client, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The operationId (or `METHOD path` when it has none).
    pub operation: String,
    /// HTTP method, upper case.
    pub method: String,
    /// The path template.
    pub path: String,
    /// Why it could not be generated.
    pub reason: String,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} {}): {}",
            self.operation, self.method, self.path, self.reason
        )
    }
}

/// Progenitor on a lowered document: tokens, or the error/panic message.
pub type Generate<'g> = dyn Fn(&Value) -> Result<TokenStream, String> + 'g;

/// Generates what can be generated. `Err` only when no operation can be.
pub fn generate(doc: &Value, run: &Generate<'_>) -> Result<(TokenStream, Vec<Dropped>), String> {
    let whole_error = match run(doc) {
        Ok(tokens) => return Ok((tokens, Vec::new())),
        Err(e) => e,
    };
    let operations = list_operations(doc);
    if operations.is_empty() {
        return Err(whole_error);
    }
    // Orphan schemas are kept when they generate on their own.
    let keep_orphans = !orphans(doc).is_empty() && run(&restrict_with(doc, &[], true)).is_ok();
    let restrict = |doc: &Value, keep: &[(String, String)]| restrict_with(doc, keep, keep_orphans);
    // Fast path: often only the operations the cheap checks catch stand in the way, and
    // one more run over the rest saves a run per operation (150 for Omni's document).
    let (failing, passing): (Vec<_>, Vec<_>) = operations
        .iter()
        .map(|(path, method)| ((path, method), precheck(doc, path, method)))
        .partition(|(_, reason)| reason.is_some());
    if !failing.is_empty() && !passing.is_empty() {
        let keep: Vec<(String, String)> = passing
            .iter()
            .map(|((p, m), _)| ((*p).clone(), (*m).clone()))
            .collect();
        if let Ok(tokens) = run(&restrict(doc, &keep)) {
            let mut dropped: Vec<Dropped> = failing
                .into_iter()
                .filter_map(|((p, m), reason)| reason.map(|r| dropped_op(doc, p, m, r)))
                .collect();
            dropped.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
            return Ok((tokens, dropped));
        }
    }
    let mut dropped = Vec::new();
    let mut candidates = Vec::new();
    for (path, method) in &operations {
        match precheck(doc, path, method) {
            Some(reason) => dropped.push(dropped_op(doc, path, method, reason)),
            None => candidates.push((path.clone(), method.clone())),
        }
    }
    let mut kept = Vec::new();
    bisect(doc, &candidates, &restrict, run, &mut kept, &mut dropped);
    if kept.is_empty() {
        return Err(format!(
            "no operation can be generated (whole document: {whole_error}; first operation: {})",
            dropped.first().map(|d| d.reason.as_str()).unwrap_or("-")
        ));
    }
    // Together the survivors may still clash (e.g. two operations defining the same
    // inline type name). Add them back one at a time when that happens.
    match run(&restrict(doc, &kept)) {
        Ok(tokens) => {
            dropped.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
            Ok((tokens, dropped))
        }
        Err(_) => {
            let mut together: Vec<(String, String)> = Vec::new();
            add_back(doc, &kept, &restrict, run, &mut together, &mut dropped);
            if together.is_empty() {
                return Err("no operation can be generated together".to_owned());
            }
            let tokens = run(&restrict(doc, &together))?;
            dropped.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
            Ok((tokens, dropped))
        }
    }
}

/// The document restricted to some operations.
type Restrict<'r> = dyn Fn(&Value, &[(String, String)]) -> Value + 'r;

/// Adds `ops` to `together` where they generate with it: a whole chunk when it can, else
/// each half in turn, down to single operations, which are dropped as conflicting.
fn add_back(
    doc: &Value,
    ops: &[(String, String)],
    restrict: &Restrict<'_>,
    run: &Generate<'_>,
    together: &mut Vec<(String, String)>,
    dropped: &mut Vec<Dropped>,
) {
    if ops.is_empty() {
        return;
    }
    let mut trial = together.clone();
    trial.extend_from_slice(ops);
    match run(&restrict(doc, &trial)) {
        Ok(_) => *together = trial,
        Err(reason) => match ops {
            [(path, method)] => dropped.push(dropped_op(
                doc,
                path,
                method,
                format!("conflicts with other operations: {reason}"),
            )),
            _ => {
                let (a, b) = ops.split_at(ops.len() / 2);
                add_back(doc, a, restrict, run, together, dropped);
                add_back(doc, b, restrict, run, together, dropped);
            }
        },
    }
}

/// Splits `ops` in halves until each part generates on its own or is one operation that
/// does not (dropped with its own reason): about `2 k log2(n)` runs of progenitor for `k`
/// failing operations of `n`, each on a smaller document, instead of one run per operation.
fn bisect(
    doc: &Value,
    ops: &[(String, String)],
    restrict: &Restrict<'_>,
    run: &Generate<'_>,
    kept: &mut Vec<(String, String)>,
    dropped: &mut Vec<Dropped>,
) {
    if ops.is_empty() {
        return;
    }
    match run(&restrict(doc, ops)) {
        Ok(_) => kept.extend_from_slice(ops),
        Err(reason) => match ops {
            [(path, method)] => dropped.push(dropped_op(doc, path, method, reason)),
            _ => {
                let (a, b) = ops.split_at(ops.len() / 2);
                bisect(doc, a, restrict, run, kept, dropped);
                bisect(doc, b, restrict, run, kept, dropped);
            }
        },
    }
}

/// Checks progenitor would assert on, named more clearly than its panic.
fn precheck(doc: &Value, path: &str, method: &str) -> Option<String> {
    let op = doc.get("paths")?.get(path)?.get(method)?;
    if let Some(reason) = op
        .get(crate::multipart::UNSUPPORTED)
        .and_then(Value::as_str)
    {
        return Some(reason.to_owned());
    }
    let responses = op.get("responses").and_then(Value::as_object)?;
    let success: BTreeSet<String> = responses
        .iter()
        .filter(|(code, _)| code.starts_with('2') || code.as_str() == "default")
        .map(|(_, r)| {
            r.get("content")
                .and_then(|c| c.get("application/json"))
                .and_then(|m| m.get("schema"))
                .map(Value::to_string)
                .unwrap_or_else(|| {
                    if r.get("content")
                        .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()))
                    {
                        "raw".to_owned()
                    } else {
                        "none".to_owned()
                    }
                })
        })
        .collect();
    if success.len() > 1 {
        return Some(format!(
            "more than one success response type ({} distinct)",
            success.len()
        ));
    }
    let body = op
        .get("requestBody")?
        .get("content")
        .and_then(Value::as_object)?;
    let supported = [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "text/plain",
    ];
    if !body
        .keys()
        .any(|k| supported.iter().any(|s| k.starts_with(s)))
    {
        let types: Vec<&str> = body.keys().map(String::as_str).collect();
        return Some(format!(
            "unsupported request body media type {}",
            types.join(", ")
        ));
    }
    None
}

pub fn dropped_op(doc: &Value, path: &str, method: &str, reason: String) -> Dropped {
    let operation = doc
        .pointer(&format!("/paths/{}/{method}/operationId", escape(path)))
        .and_then(Value::as_str)
        .map_or_else(
            || format!("{} {path}", method.to_uppercase()),
            str::to_owned,
        );
    Dropped {
        operation,
        method: method.to_uppercase(),
        path: path.to_owned(),
        reason: reason.lines().next().unwrap_or_default().to_owned(),
    }
}

/// `(path, method)` of every operation, in document order.
pub fn list_operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some_and(Value::is_object) {
                    out.push((path.clone(), method.to_owned()));
                }
            }
        }
    }
    out
}

/// The document with only `keep` operations and the components they reach.
pub fn restrict(doc: &Value, keep: &[(String, String)]) -> Value {
    restrict_with(doc, keep, false)
}

/// Component schemas no operation reaches (a document's published types for what its
/// operations cannot describe, such as the lines of an NDJSON stream), with whatever
/// they reach themselves.
fn orphans(doc: &Value) -> BTreeSet<String> {
    let used = reachable(doc, doc.get("paths").unwrap_or(&Value::Null));
    let mut roots = Map::new();
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for name in schemas.keys() {
            let r = format!("#/components/schemas/{name}");
            if !used.contains(&r) {
                roots.insert(name.clone(), serde_json::json!({ "$ref": r }));
            }
        }
    }
    reachable(doc, &Value::Object(roots))
}

/// [`restrict`], also keeping the orphan schemas when `keep_orphans`.
fn restrict_with(doc: &Value, keep: &[(String, String)], keep_orphans: bool) -> Value {
    let mut out = doc.clone();
    let wanted: BTreeMap<&str, BTreeSet<&str>> =
        keep.iter().fold(BTreeMap::new(), |mut m, (p, op)| {
            m.entry(p.as_str()).or_default().insert(op.as_str());
            m
        });
    let mut paths = Map::new();
    if let Some(all) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in all {
            let Some(methods) = wanted.get(path.as_str()) else {
                continue;
            };
            let Some(item) = item.as_object() else {
                continue;
            };
            let trimmed: Map<String, Value> = item
                .iter()
                .filter(|(k, _)| !METHODS.contains(&k.as_str()) || methods.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            paths.insert(path.clone(), Value::Object(trimmed));
        }
    }
    let mut reached = reachable(doc, &Value::Object(paths.clone()));
    if keep_orphans {
        reached.extend(orphans(doc));
    }
    if let Some(obj) = out.as_object_mut() {
        obj.insert("paths".into(), Value::Object(paths));
        if let Some(components) = obj.get_mut("components").and_then(Value::as_object_mut) {
            for (kind, entries) in components.iter_mut() {
                if kind == "securitySchemes" {
                    continue;
                }
                if let Some(entries) = entries.as_object_mut() {
                    entries
                        .retain(|name, _| reached.contains(&format!("#/components/{kind}/{name}")));
                }
            }
        }
    }
    out
}

/// Every `#/components/...` reference reachable from `start`, transitively.
fn reachable(doc: &Value, start: &Value) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = Vec::new();
    collect_refs(start, &mut stack);
    while let Some(r) = stack.pop() {
        if !seen.insert(r.clone()) {
            continue;
        }
        if let Some(target) = r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            collect_refs(target, &mut stack);
        }
    }
    seen
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                // `#/components/schemas/A/properties/b` needs the whole of `A`.
                let parts: Vec<&str> = r.splitn(5, '/').collect();
                if parts.len() >= 4 && parts[0] == "#" && parts[1] == "components" {
                    out.push(format!("#/components/{}/{}", parts[2], parts[3]));
                }
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// Runs `f` with panics caught and silenced; a panic becomes `Err(message)`.
pub fn catching<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    match result {
        Ok(r) => r,
        Err(panic) => Err(format!(
            "generator panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned())
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "openapi": "3.0.3",
            "paths": {
                "/a": {"get": {"operationId": "a", "responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
                "/b": {"get": {"operationId": "b", "responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bad"}}}}}}},
                "/c": {"post": {"operationId": "c", "requestBody": {"content": {"multipart/form-data": {"schema": {}}}}, "responses": {"204": {"description": ""}}}}
            },
            "components": {"schemas": {
                "A": {"type": "object", "properties": {"n": {"$ref": "#/components/schemas/N"}}},
                "N": {"type": "integer"},
                "Bad": {"type": "object"},
                "Unused": {"type": "string"}
            }}
        })
    }

    /// A fake generator that fails on any document containing the schema `Bad`.
    fn fake(doc: &Value) -> Result<TokenStream, String> {
        if doc.pointer("/components/schemas/Bad").is_some() {
            return Err("schema Bad is bad".into());
        }
        Ok(TokenStream::new())
    }

    #[test]
    fn restrict_keeps_reachable_components_only() {
        let d = restrict(&doc(), &[("/a".into(), "get".into())]);
        let schemas: Vec<&String> = d["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(schemas, ["A", "N"]);
        assert_eq!(d["paths"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn bad_operations_are_dropped_with_reasons_and_the_rest_kept() {
        let (_, dropped) = generate(&doc(), &fake).unwrap();
        let names: Vec<(&str, &str)> = dropped
            .iter()
            .map(|d| (d.operation.as_str(), d.reason.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("b", "schema Bad is bad"),
                (
                    "c",
                    "unsupported request body media type multipart/form-data"
                )
            ]
        );
        assert_eq!(dropped[0].to_string(), "b (GET /b): schema Bad is bad");
    }

    #[test]
    fn nothing_generable_is_an_error() {
        let always = |_: &Value| -> Result<TokenStream, String> { Err("no".into()) };
        assert!(
            generate(&doc(), &always)
                .unwrap_err()
                .contains("no operation can be generated")
        );
    }

    #[test]
    fn panics_become_errors() {
        let r: Result<(), String> = catching(|| panic!("boom"));
        assert_eq!(r.unwrap_err(), "generator panicked: boom");
    }
}
