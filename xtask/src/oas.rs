//! OpenAPI document vocabulary shared by the passes over a document held as JSON.

/// The HTTP methods a path item can hold operations under.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// RFC 6901 escaping of one JSON-pointer reference token (`/v1/a` → `~1v1~1a`).
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn pointer_tokens_escape_tilde_before_slash() {
        assert_eq!(super::escape("/a~b/{id}"), "~1a~0b~1{id}");
    }
}
