/// A file sent as one part of a `multipart/form-data` request body: the bytes (or a
/// stream), and optionally the file name and the content type the part is labelled with.
///
/// Why a type of its own: the setters of a multipart operation (such as Omni's
/// `uploads_create().file(..)`) take one, so that a file can come from memory or be
/// streamed from disk without loading it, and be labelled like `curl -F
/// 'file=@users.csv;type=text/csv'` would. Its `Debug` output shows the size, the file
/// name and the content type, never the content.
///
/// The content type defaults to the one the API document declares for the part, else
/// `application/octet-stream`. An invalid content type is reported by the operation's
/// `send()` as `Error::InvalidRequest` naming the part; nothing is sent. The client's
/// request timeout (`ClientBuilder::timeout`, 60 s by default) covers the whole upload:
/// raise it for large files.
///
/// ```
/// use sdk_runtime::FilePart;
/// let csv = FilePart::bytes("id,name\n1,Sunglasses\n")
///     .file_name("products.csv")
///     .content_type("text/csv");
/// assert_eq!(csv.len(), Some(21));
/// assert_eq!(csv.get_file_name(), Some("products.csv"));
/// ```
pub struct FilePart {
    body: FileBody,
    file_name: Option<String>,
    content_type: Option<String>,
}

enum FileBody {
    Bytes(bytes::Bytes),
    Stream(reqwest::Body, Option<u64>),
}

impl FilePart {
    /// A part holding these bytes (a `Vec<u8>`, a `String`, a `&'static str`, `Bytes`...).
    ///
    /// ```
    /// let part = sdk_runtime::FilePart::bytes(vec![0u8, 1, 2]);
    /// assert_eq!(part.len(), Some(3));
    /// ```
    pub fn bytes(bytes: impl Into<bytes::Bytes>) -> Self {
        Self::new(FileBody::Bytes(bytes.into()))
    }

    /// A part streamed from a request body (a `tokio::fs::File`, or
    /// `reqwest::Body::wrap_stream(..)` for any stream of byte chunks) whose length is not
    /// known: the request is sent with chunked transfer encoding.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// # let file = vec![1u8, 2, 3];
    /// // e.g. let file = tokio::fs::File::open("users.csv").await?;
    /// let part = sdk_runtime::FilePart::stream(file).file_name("users.csv");
    /// # Ok(()) }
    /// ```
    pub fn stream(body: impl Into<reqwest::Body>) -> Self {
        Self::new(FileBody::Stream(body.into(), None))
    }

    /// A part streamed from a request body of a known length in bytes (such as a file's
    /// size from its metadata), so the request carries a `Content-Length`. The length
    /// must be exact: a server may reject or cut a body of another length.
    ///
    /// ```
    /// let part = sdk_runtime::FilePart::stream_with_length(reqwest::Body::from("a,b\n"), 4);
    /// assert_eq!(part.len(), Some(4));
    /// ```
    pub fn stream_with_length(body: impl Into<reqwest::Body>, length: u64) -> Self {
        Self::new(FileBody::Stream(body.into(), Some(length)))
    }

    fn new(body: FileBody) -> Self {
        Self {
            body,
            file_name: None,
            content_type: None,
        }
    }

    /// Sets the file name sent in the part's `Content-Disposition`. Set it: many servers
    /// treat a part without a file name as a text field, not as a file.
    ///
    /// ```
    /// let part = sdk_runtime::FilePart::bytes("x").file_name("x.txt");
    /// assert_eq!(part.get_file_name(), Some("x.txt"));
    /// ```
    pub fn file_name(mut self, file_name: impl Into<String>) -> Self {
        self.file_name = Some(file_name.into());
        self
    }

    /// Sets the part's `Content-Type` (a MIME type such as `text/csv`). It is checked when
    /// the request is sent: an invalid one makes `send()` fail with
    /// `Error::InvalidRequest`, before anything is sent.
    ///
    /// ```
    /// let part = sdk_runtime::FilePart::bytes("{}").content_type("application/json");
    /// assert_eq!(part.get_content_type(), Some("application/json"));
    /// ```
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The file name set with [`FilePart::file_name`], if any.
    ///
    /// ```
    /// assert_eq!(sdk_runtime::FilePart::bytes("x").get_file_name(), None);
    /// ```
    pub fn get_file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// The content type set with [`FilePart::content_type`], if any (not the default).
    ///
    /// ```
    /// assert_eq!(sdk_runtime::FilePart::bytes("x").get_content_type(), None);
    /// ```
    pub fn get_content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The size of the content in bytes, if known (bytes, or a stream given a length).
    ///
    /// ```
    /// use sdk_runtime::FilePart;
    /// assert_eq!(FilePart::bytes("abc").len(), Some(3));
    /// assert_eq!(FilePart::stream(reqwest::Body::from("abc")).len(), None);
    /// ```
    #[allow(clippy::len_without_is_empty)] // an unknown length is not "empty"
    pub fn len(&self) -> Option<u64> {
        match &self.body {
            FileBody::Bytes(bytes) => u64::try_from(bytes.len()).ok(),
            FileBody::Stream(_, length) => *length,
        }
    }

    /// A copy, if the content can be sent twice: always for bytes, for a stream only when
    /// it is in fact held in memory (like `reqwest::Request::try_clone`). For retrying a
    /// request with the same file.
    ///
    /// ```
    /// use sdk_runtime::FilePart;
    /// let part = FilePart::bytes("id\n1\n").file_name("ids.csv");
    /// let again = part.try_clone().expect("bytes can be sent twice");
    /// assert_eq!(again.get_file_name(), Some("ids.csv"));
    /// ```
    pub fn try_clone(&self) -> Option<Self> {
        let body = match &self.body {
            FileBody::Bytes(bytes) => FileBody::Bytes(bytes.clone()),
            FileBody::Stream(body, length) => FileBody::Stream(
                reqwest::Body::from(bytes::Bytes::copy_from_slice(body.as_bytes()?)),
                *length,
            ),
        };
        Some(Self {
            body,
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
        })
    }

    /// The `reqwest` part for the multipart part named `part`, labelled with the content
    /// type set, else `default_content_type` (the API document's), else
    /// `application/octet-stream`. Fails, naming the part, on an invalid content type.
    /// The part as reqwest sends it (called by generated multipart builders).
    #[doc(hidden)]
    pub fn into_part(
        self,
        part: &str,
        default_content_type: Option<&str>,
    ) -> Result<reqwest::multipart::Part, String> {
        let content_type = self
            .content_type
            .as_deref()
            .or(default_content_type)
            .unwrap_or("application/octet-stream");
        let multipart = match self.body {
            FileBody::Bytes(bytes) => {
                let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                reqwest::multipart::Part::stream_with_length(bytes, length)
            }
            FileBody::Stream(body, Some(length)) => {
                reqwest::multipart::Part::stream_with_length(body, length)
            }
            FileBody::Stream(body, None) => reqwest::multipart::Part::stream(body),
        };
        let mut multipart = multipart.mime_str(content_type).map_err(|e| {
            format!("file part `{part}`: invalid content type {content_type:?}: {e}")
        })?;
        if let Some(file_name) = self.file_name {
            multipart = multipart.file_name(file_name);
        }
        Ok(multipart)
    }
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.body {
            FileBody::Bytes(_) => "bytes",
            FileBody::Stream(..) => "stream",
        };
        f.debug_struct("FilePart")
            .field("body", &kind)
            .field("len", &self.len())
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// A text part holding `value` as JSON, for a part whose schema is an object (or
/// anything else the generator sends as JSON), labelled `application/json` unless the API
/// document declares another content type for it.
#[doc(hidden)]
pub fn json_part(
    part: &str,
    value: &serde_json::Value,
    content_type: Option<&str>,
) -> Result<reqwest::multipart::Part, String> {
    let content_type = content_type.unwrap_or("application/json");
    reqwest::multipart::Part::text(value.to_string())
        .mime_str(content_type)
        .map_err(|e| format!("JSON part `{part}`: invalid content type {content_type:?}: {e}"))
}
