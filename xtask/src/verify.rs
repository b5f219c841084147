//! Verified generation: generated crates are compiled before anything is reported done.
//!
//! Why: progenitor and typify can emit code that does not compile (names that collide,
//! types that contain themselves, constructs they do not fully support), and a generator
//! that prints "generated" before a build error wastes the user's time and hides what was
//! lost. Here each generated crate is copied into one persistent scratch workspace
//! (`target/xtask-verify/`) and checked with `cargo check --message-format=json` in the
//! workspace's own target directory, so the dependencies a normal build compiled are
//! reused. Each compiler error in `src/generated.rs` is
//! mapped back to where it came from:
//!
//! - inside `types` (a type, its builder or impls): to the component schema the type is
//!   named after (exactly, else the longest component name it starts with, which is how
//!   typify names inline types); the schema becomes an untyped JSON value;
//! - inside an operation's builder or its `Client` method: to the operation, which is
//!   dropped.
//!
//! The pieces are listed as [`Fix`]es, generation runs again with them, and so on, at most
//! [`MAX_ROUNDS`] times. An error that maps to nothing stops generation with the
//! compiler's message and nothing is written. The fixes are recorded in the generated
//! file's header (`// verify-fix: ...`) and replayed on later runs while the inputs are
//! unchanged, so `--check` (which compiles nothing) produces the same file.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How many check-and-repair rounds are tried before giving up.
pub const MAX_ROUNDS: usize = 3;

/// The scratch directory (under the workspace's `target/`).
pub const SCRATCH: &str = "target/xtask-verify";

/// A repair found by compiling, applied to the document before generation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// The component schema is generated as an untyped JSON value.
    UntypedSchema {
        /// The component schema's name.
        schema: String,
        /// The compiler's message.
        reason: String,
    },
    /// The operation is left out.
    DropOperation {
        /// The path template.
        path: String,
        /// The method, lower case.
        method: String,
        /// The compiler's message.
        reason: String,
    },
}

const FIX_PREFIX: &str = "// verify-fix: ";

/// The header lines that record `fixes`.
pub fn header_lines(fixes: &BTreeSet<Fix>) -> String {
    fixes
        .iter()
        .filter_map(|f| serde_json::to_string(f).ok())
        .map(|json| format!("{FIX_PREFIX}{json}\n"))
        .collect()
}

/// The fixes recorded in a generated file, when its recorded inputs are `inputs`
/// (`(path, sha256)`); none when the inputs changed since.
pub fn recorded(generated: &str, inputs: &[(String, String)]) -> BTreeSet<Fix> {
    let same_inputs = inputs
        .iter()
        .all(|(path, hash)| generated.contains(&format!("// sha256 {hash} {path}\n")));
    if !same_inputs {
        return BTreeSet::new();
    }
    generated
        .lines()
        .take_while(|l| l.starts_with("//") || l.is_empty())
        .filter_map(|l| l.strip_prefix(FIX_PREFIX))
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// Applies `fixes` to a lowered document. Returns the dropped operations as
/// `(path, method, reason)`.
pub fn apply(doc: &mut Value, fixes: &BTreeSet<Fix>) -> Vec<(String, String, String)> {
    let mut dropped = Vec::new();
    for fix in fixes {
        match fix {
            Fix::UntypedSchema { schema, reason } => {
                if let Some(slot) = doc
                    .get_mut("components")
                    .and_then(|c| c.get_mut("schemas"))
                    .and_then(|s| s.get_mut(schema.as_str()))
                {
                    *slot = serde_json::json!({
                        "description": format!("Untyped: the generated type did not compile ({reason}).")
                    });
                }
            }
            Fix::DropOperation {
                path,
                method,
                reason,
            } => {
                if let Some(item) = doc
                    .get_mut("paths")
                    .and_then(|p| p.get_mut(path.as_str()))
                    .and_then(Value::as_object_mut)
                    && item.remove(method.as_str()).is_some()
                {
                    dropped.push((path.clone(), method.clone(), reason.clone()));
                }
            }
        }
    }
    dropped
}

/// One compiler error in a generated file.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// The crate it is in.
    pub crate_dir: String,
    /// The file, relative to the crate.
    pub file: String,
    /// 1-based line of the primary span.
    pub line: usize,
    /// The error code and message, one line (`E0428: the name ... is defined multiple times`).
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}:{}: {}",
            self.crate_dir, self.file, self.line, self.message
        )
    }
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The scratch workspace could not be written.
    #[error("cannot prepare the verification workspace {path}: {reason}")]
    Scratch {
        /// The file or directory.
        path: String,
        /// What failed.
        reason: String,
    },
    /// cargo could not be run at all.
    #[error("cannot run `cargo check` to verify the generated code: {0}")]
    Cargo(String),
}

/// Where verification builds: `XTASK_VERIFY_TARGET_DIR` when set, else the workspace's own
/// `target/` (or `CARGO_TARGET_DIR`), so that the dependencies a normal build compiled are
/// reused and only the generated crates themselves are checked.
pub fn target_dir(workspace_root: &Path) -> PathBuf {
    std::env::var_os("XTASK_VERIFY_TARGET_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("target"))
}

/// A crate to check: its directory name and, for files that are about to change, their
/// new contents (paths relative to the crate).
#[derive(Debug)]
pub struct Candidate<'a> {
    /// The crate directory (and package name).
    pub crate_dir: &'a str,
    /// Where the crate's current files are (the workspace or a staging directory).
    pub source_root: &'a Path,
    /// New contents of some of its files.
    pub files: Vec<(PathBuf, &'a str)>,
}

/// `cargo check`s the candidates in the scratch workspace under `workspace_root`; returns
/// every error (empty when they compile).
pub fn check(
    workspace_root: &Path,
    candidates: &[Candidate<'_>],
) -> Result<Vec<CompileError>, VerifyError> {
    let scratch = workspace_root.join(SCRATCH);
    let ws = scratch.join("ws");
    let scratch_err = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| VerifyError::Scratch {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(&ws).map_err(scratch_err(&ws))?;
    let manifest = workspace_manifest(workspace_root, candidates)?;
    write_if_changed(&ws.join("Cargo.toml"), manifest.as_bytes()).map_err(scratch_err(&ws))?;
    if let Ok(lock) = std::fs::read(workspace_root.join("Cargo.lock")) {
        write_if_changed(&ws.join("Cargo.lock"), &lock).map_err(scratch_err(&ws))?;
    }
    for c in candidates {
        let from = c.source_root.join(c.crate_dir);
        let to = ws.join(c.crate_dir);
        mirror(&from, &to).map_err(scratch_err(&to))?;
        for (rel, contents) in &c.files {
            let path = to.join(rel);
            write_if_changed(&path, contents.as_bytes()).map_err(scratch_err(&path))?;
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["check", "--quiet", "--message-format=json"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", target_dir(workspace_root))
        // The generated code is checked, not the user's lint settings.
        .env_remove("RUSTFLAGS");
    for c in candidates {
        cmd.args(["-p", c.crate_dir]);
    }
    let out = cmd
        .output()
        .map_err(|e| VerifyError::Cargo(e.to_string()))?;
    let mut errors = parse_messages(&String::from_utf8_lossy(&out.stdout), &ws);
    if errors.is_empty() && !out.status.success() {
        // cargo failed before compiling (a manifest or resolution error).
        errors.push(CompileError {
            crate_dir: candidates
                .first()
                .map(|c| c.crate_dir.to_owned())
                .unwrap_or_default(),
            file: "Cargo.toml".to_owned(),
            line: 0,
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(errors)
}

/// The workspace root manifest with `members` set to the candidates.
fn workspace_manifest(
    workspace_root: &Path,
    candidates: &[Candidate<'_>],
) -> Result<String, VerifyError> {
    let path = workspace_root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| VerifyError::Scratch {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let members: Vec<String> = candidates
        .iter()
        .map(|c| format!("{:?}", c.crate_dir))
        .collect();
    let start = text
        .find("members")
        .and_then(|k| text[k..].find('[').map(|i| k + i + 1));
    let end = start.and_then(|s| text[s..].find(']').map(|i| s + i));
    match (start, end) {
        (Some(s), Some(e)) => Ok(absolute_paths(
            &format!("{}{}{}", &text[..s], members.join(", "), &text[e..]),
            workspace_root,
        )),
        _ => Err(VerifyError::Scratch {
            path: path.display().to_string(),
            reason: "no `members = [...]` list in [workspace]".to_owned(),
        }),
    }
}

/// `path = "sdk-runtime"` in the manifest → `path = "<workspace root>/sdk-runtime"`, so
/// the scratch workspace uses the workspace's own path dependencies (the shared runtime).
pub fn absolute_paths(manifest: &str, workspace_root: &Path) -> String {
    let root =
        std::fs::canonicalize(workspace_root).unwrap_or_else(|_| workspace_root.to_path_buf());
    let mut out = String::with_capacity(manifest.len());
    let mut rest = manifest;
    while let Some(i) = rest.find("path = \"") {
        let (before, after) = rest.split_at(i + "path = \"".len());
        out.push_str(before);
        if !after.starts_with('/') {
            out.push_str(&root.display().to_string());
            out.push('/');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Copies `from` to `to` (skipping `target/`), touching only files whose bytes differ, so
/// cargo's fingerprints stay valid between runs; files gone from `from` are removed.
fn mirror(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let mut wanted = BTreeSet::new();
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        wanted.insert(name.clone());
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            mirror(&src, &dst)?;
        } else {
            write_if_changed(&dst, &std::fs::read(&src)?)?;
        }
    }
    for entry in std::fs::read_dir(to)? {
        let entry = entry?;
        if !wanted.contains(&entry.file_name()) {
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|current| current == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// The errors of cargo's JSON messages, with paths relative to their crate.
fn parse_messages(stdout: &str, ws: &Path) -> Vec<CompileError> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-message" || msg["message"]["level"] != "error" {
            continue;
        }
        let message = &msg["message"];
        let text = message["message"].as_str().unwrap_or_default();
        let code = message["code"]["code"].as_str();
        let one_line = match code {
            Some(code) => format!("{code}: {text}"),
            None => text.to_owned(),
        };
        if message["spans"].as_array().is_none_or(Vec::is_empty) {
            continue; // "aborting due to N previous errors" and the like
        }
        let span = message["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["is_primary"] == true).or(s.first()));
        let file = span
            .and_then(|s| s["file_name"].as_str())
            .unwrap_or_default();
        let line_no = span
            .and_then(|s| s["line_start"].as_u64())
            .unwrap_or_default() as usize;
        let abs = if Path::new(file).is_absolute() {
            PathBuf::from(file)
        } else {
            ws.join(file)
        };
        let rel = abs.strip_prefix(ws).unwrap_or(&abs);
        let mut parts = rel.components();
        let crate_dir = parts
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = parts.as_path().display().to_string();
        out.push(CompileError {
            crate_dir,
            file,
            line: line_no,
            message: one_line,
        });
    }
    out
}

/// Where in a generated file a line is: the module path and the enclosing item.
#[derive(Debug, PartialEq, Eq)]
pub struct Location {
    /// Modules from the file root (`["types", "builder"]`).
    pub modules: Vec<String>,
    /// The item's name: a type for `struct`/`enum`/`impl`, a method for a `Client` method.
    pub item: Option<String>,
    /// Whether the item is a method of `impl Client`.
    pub client_method: bool,
}

/// Finds the module path and enclosing item of 1-based `line` in prettyplease output
/// (four spaces per level, items opening at their module's indentation). A line inside an
/// item's attributes or docs belongs to the item that follows them.
pub fn locate(source: &str, line: usize) -> Location {
    let lines: Vec<&str> = source.lines().collect();
    let mut line = line.clamp(1, lines.len().max(1));
    // Attributes and docs: move to the item they decorate.
    while let Some(t) = lines.get(line - 1).map(|l| l.trim_start()) {
        if (t.starts_with("#[") || t.starts_with("///") || t.starts_with("//!"))
            && line < lines.len()
        {
            line += 1;
        } else {
            break;
        }
    }
    let mut modules: Vec<(usize, String)> = Vec::new();
    let mut item: Option<(String, bool)> = None;
    let mut client_impl: Option<usize> = None;
    for text in lines.iter().take(line) {
        let t = text.trim_start();
        if t.is_empty() {
            continue;
        }
        let indent = text.len() - t.len();
        if t.starts_with('}') {
            if modules.last().is_some_and(|(i, _)| *i == indent) {
                modules.pop();
                item = None;
            } else if client_impl == Some(indent) {
                client_impl = None;
                item = None;
            }
            continue;
        }
        let level = modules.len() * 4;
        if indent == level {
            if let Some(name) = t
                .strip_prefix("pub mod ")
                .or_else(|| t.strip_prefix("mod "))
                .and_then(|r| r.strip_suffix(" {"))
            {
                modules.push((indent, name.to_owned()));
                item = None;
            } else if t.starts_with("impl Client {") {
                client_impl = Some(indent);
                item = None;
            } else if let Some(name) = item_name(t) {
                item = Some((name, false));
            }
        } else if client_impl.is_some_and(|i| indent == i + 4)
            && let Some(rest) = t
                .strip_prefix("pub fn ")
                .or_else(|| t.strip_prefix("pub async fn "))
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            item = Some((name, true));
        }
    }
    Location {
        modules: modules.into_iter().map(|(_, m)| m).collect(),
        client_method: item.as_ref().is_some_and(|(_, m)| *m),
        item: item.map(|(name, _)| name),
    }
}

/// The type an item line is about: `pub struct X`, `pub enum X`, `impl ... for X`,
/// `impl X`, `impl<'a> X<'a>`.
fn item_name(t: &str) -> Option<String> {
    let ident = |s: &str| -> Option<String> {
        let s = s.trim_start_matches("::");
        let last = s.split(['<', ' ', '{', '(', ';']).next()?;
        let last = last.rsplit("::").next()?;
        (!last.is_empty()).then(|| last.to_owned())
    };
    for prefix in ["pub struct ", "pub enum ", "pub type ", "struct ", "enum "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            return ident(rest);
        }
    }
    if t.starts_with("impl") {
        let rest = t.strip_prefix("impl")?;
        // Skip the impl's own generics.
        let rest = if rest.starts_with('<') {
            let mut depth = 0;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '<' => depth += 1,
                    '>' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            &rest[end..]
        } else {
            rest
        };
        let rest = rest.trim_start();
        let target = match rest.find(" for ") {
            Some(i) => &rest[i + 5..],
            None => rest,
        };
        return ident(target.trim_start());
    }
    None
}

/// Maps compiler errors in one crate's generated file back to the document: a fix per
/// piece, or the errors that map to nothing.
pub fn map_errors(
    doc: &Value,
    generated: &str,
    errors: &[&CompileError],
    operation_method: &dyn Fn(&str) -> String,
) -> (BTreeSet<Fix>, Vec<String>) {
    let mut fixes = BTreeSet::new();
    let mut unmapped = Vec::new();
    let schemas: Vec<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut operations = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in crate::oas::METHODS {
                if let Some(id) = item
                    .get(method)
                    .and_then(|op| op.get("operationId"))
                    .and_then(Value::as_str)
                {
                    operations.push((path.clone(), method.to_owned(), id.to_owned()));
                }
            }
        }
    }
    for e in errors {
        if e.file != "src/generated.rs" {
            unmapped.push(e.to_string());
            continue;
        }
        let loc = locate(generated, e.line);
        let reason = e.message.clone();
        let in_types = loc.modules.first().is_some_and(|m| m == "types");
        let fix = match (&loc.item, in_types) {
            (Some(name), true) => {
                schema_for_type(&schemas, name).map(|schema| Fix::UntypedSchema {
                    schema,
                    reason: reason.clone(),
                })
            }
            (Some(name), false) => operations
                .iter()
                .find(|(_, _, id)| {
                    if loc.client_method {
                        operation_method(id) == *name
                    } else {
                        crate::names::type_name(id) == *name
                    }
                })
                .map(|(path, method, _)| Fix::DropOperation {
                    path: path.clone(),
                    method: method.clone(),
                    reason: reason.clone(),
                }),
            (None, _) => None,
        };
        match fix {
            Some(fix) => {
                fixes.insert(fix);
            }
            None => unmapped.push(e.to_string()),
        }
    }
    (fixes, unmapped)
}

/// The component a generated type comes from: the schema named exactly like it, else
/// the longest schema name it starts with (typify names inline types `{Parent}{Field}`).
fn schema_for_type(schemas: &[String], type_name: &str) -> Option<String> {
    let base = type_name.strip_suffix("Inner").unwrap_or(type_name);
    schemas
        .iter()
        .filter(|s| {
            let t = crate::names::type_name(s);
            t == type_name || t == base || type_name.starts_with(&t)
        })
        .max_by_key(|s| {
            let t = crate::names::type_name(s);
            (t == type_name, t.len())
        })
        .cloned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const SOURCE: &str = "\
pub mod types {
    pub struct Pet {
        pub name: String,
    }
    impl ::std::convert::From<&Pet> for Pet {
        fn from(value: &Pet) -> Self {
            value.clone()
        }
    }
    pub mod builder {
        pub struct PetOwner {
            name: String,
        }
    }
}
impl Client {
    pub fn list_pets(&self) -> builder::ListPets<'_> {
        builder::ListPets::new(self)
    }
}
pub mod builder {
    pub struct ListPets<'a> {
        client: &'a super::Client,
    }
    impl<'a> ListPets<'a> {
        pub fn new(client: &'a super::Client) -> Self {
            todo()
        }
    }
}
";

    #[test]
    fn lines_map_to_their_module_and_item() {
        let at = |line| locate(SOURCE, line);
        assert_eq!(at(3).modules, ["types"]);
        assert_eq!(at(3).item.as_deref(), Some("Pet"));
        assert_eq!(at(7).item.as_deref(), Some("Pet"));
        assert_eq!(at(12).modules, ["types", "builder"]);
        assert_eq!(at(12).item.as_deref(), Some("PetOwner"));
        let method = at(18);
        assert!(method.modules.is_empty());
        assert_eq!(method.item.as_deref(), Some("list_pets"));
        assert!(method.client_method);
        let builder = at(27);
        assert_eq!(builder.modules, ["builder"]);
        assert_eq!(builder.item.as_deref(), Some("ListPets"));
        assert!(!builder.client_method);
    }

    #[test]
    fn errors_map_to_schemas_and_operations() {
        let doc = json!({
            "paths": {"/pets": {"get": {"operationId": "listPets"}}},
            "components": {"schemas": {"Pet": {}, "PetOwnerList": {}, "Owner": {}}}
        });
        let err = |line| CompileError {
            crate_dir: "c".into(),
            file: "src/generated.rs".into(),
            line,
            message: "E0428: the name is defined multiple times".into(),
        };
        let errors = [err(3), err(12), err(18), err(27), err(1)];
        let refs: Vec<&CompileError> = errors.iter().collect();
        let snake = |id: &str| {
            if id == "listPets" {
                "list_pets".to_owned()
            } else {
                id.to_owned()
            }
        };
        let (fixes, unmapped) = map_errors(&doc, SOURCE, &refs, &snake);
        let fixes: Vec<Fix> = fixes.into_iter().collect();
        assert_eq!(fixes.len(), 2, "{fixes:?}");
        assert!(matches!(&fixes[0], Fix::UntypedSchema { schema, .. } if schema == "Pet"));
        assert!(
            matches!(&fixes[1], Fix::DropOperation { path, method, .. } if path == "/pets" && method == "get")
        );
        assert_eq!(unmapped.len(), 1, "{unmapped:?}");
    }

    #[test]
    fn fixes_round_trip_through_the_header_while_inputs_are_unchanged() {
        let fixes: BTreeSet<Fix> = [
            Fix::UntypedSchema {
                schema: "A B".into(),
                reason: "E0072: recursive".into(),
            },
            Fix::DropOperation {
                path: "/x/{id}".into(),
                method: "get".into(),
                reason: "E0599".into(),
            },
        ]
        .into();
        let inputs = vec![("specs/a.yaml".to_owned(), "abc".to_owned())];
        let file = format!(
            "// sha256 abc specs/a.yaml\n{}\nfn main() {{}}\n",
            header_lines(&fixes)
        );
        assert_eq!(recorded(&file, &inputs), fixes);
        let changed = vec![("specs/a.yaml".to_owned(), "def".to_owned())];
        assert!(recorded(&file, &changed).is_empty());
    }

    #[test]
    fn applying_fixes_untypes_schemas_and_removes_operations() {
        let mut doc = json!({
            "paths": {"/pets": {"get": {"operationId": "listPets"}, "post": {"operationId": "addPet"}}},
            "components": {"schemas": {"Pet": {"type": "object"}}}
        });
        let fixes: BTreeSet<Fix> = [
            Fix::UntypedSchema {
                schema: "Pet".into(),
                reason: "r".into(),
            },
            Fix::DropOperation {
                path: "/pets".into(),
                method: "post".into(),
                reason: "r2".into(),
            },
        ]
        .into();
        let dropped = apply(&mut doc, &fixes);
        assert_eq!(
            dropped,
            [("/pets".to_owned(), "post".to_owned(), "r2".to_owned())]
        );
        assert!(doc["components"]["schemas"]["Pet"].get("type").is_none());
        assert!(doc["paths"]["/pets"].get("post").is_none());
        assert!(doc["paths"]["/pets"].get("get").is_some());
    }
}
