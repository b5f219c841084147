//! `cargo xtask` as a user runs it, the real binary on scratch workspaces: `codegen`
//! (`--check`, errors, determinism, verification), `add-sdk` (the corpus of published
//! documents, refusals) and robustness on hostile input. One test binary (CI's disk and link
//! time); run one suite with a filter, e.g. `cargo test -p xtask --test cli robustness`.

mod add_sdk;
mod codegen;
mod robustness;
