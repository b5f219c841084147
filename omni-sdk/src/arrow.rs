//! Decoding query results (feature `arrow`).
//!
//! `GET /v1/query/wait` ([`Client::wait_for_query`](crate::Client::wait_for_query)) returns
//! each query's rows in [`WaitForQueryResponse::result`] as a base64-encoded
//! [Apache Arrow IPC](https://arrow.apache.org/docs/format/Columnar.html#serialization-and-interprocess-communication-ipc)
//! table. [`decode_result`] (or [`WaitForQueryResponse::record_batches`]) turns it into
//! [`RecordBatch`]es. Both IPC formats are read: the *file* format (what Omni sends, starting
//! with the magic `ARROW1`, base64 `QVJST1cx`) and the *stream* format (anything else).
//!
//! The payload is decoded with as few copies as possible: the base64 text is decoded once,
//! into a single 64-byte aligned buffer, and the arrays of the returned batches point into
//! that buffer instead of being copied out of it.
//!
//! Malformed input — bad base64, a payload cut short, corrupt IPC — is reported as an
//! [`ArrowDecodeError`] saying what failed and where. Truncation, bad footers and buffers
//! outside their message are caught before `arrow-ipc` sees them; the rare corrupt message
//! on which `arrow-ipc`
//! itself panics (apache/arrow-rs#541) is caught with [`std::panic::catch_unwind`] and
//! reported as [`ArrowDecodeError::Ipc`] too — the panic hook still prints it to stderr,
//! and a program built with `panic = "abort"` aborts instead.
//!
//! Compressed IPC bodies (lz4 or zstd) are not supported: they fail with an
//! [`ArrowDecodeError::Ipc`] naming the missing codec.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use omni_sdk::arrow::{RecordBatch, arrow_array::cast::AsArray, arrow_array::types::Int64Type};
//! # let payload = example_payload();
//! // `payload`: the `result` string of a `WaitForQueryResponse`.
//! let batches: Vec<RecordBatch> = omni_sdk::arrow::decode_result(&payload)?;
//! let ids = batches[0].column_by_name("id").ok_or("no id column")?.as_primitive::<Int64Type>();
//! assert_eq!(ids.values(), &[1, 2, 3]);
//! # Ok(()) }
//! # fn example_payload() -> String {
//! #     use base64::Engine as _;
//! #     use std::sync::Arc;
//! #     let batch = omni_sdk::arrow::RecordBatch::try_from_iter([(
//! #         "id",
//! #         Arc::new(omni_sdk::arrow::arrow_array::Int64Array::from(vec![1, 2, 3])) as _,
//! #     )])
//! #     .unwrap();
//! #     let mut ipc = Vec::new();
//! #     let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut ipc, &batch.schema()).unwrap();
//! #     writer.write(&batch).unwrap();
//! #     writer.finish().unwrap();
//! #     drop(writer);
//! #     base64::engine::general_purpose::STANDARD.encode(ipc)
//! # }
//! ```

use std::fmt;
use std::panic::AssertUnwindSafe;

use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::MessageHeader;
use arrow_ipc::reader::{FileDecoder, StreamDecoder, read_footer_length};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::types::WaitForQueryResponse;

pub use arrow_array::{self, RecordBatch};
pub use arrow_schema::{
    self, ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit,
};

/// Standard base64 alphabet; padding optional (Omni pads, but unpadded input is accepted).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Magic bytes at the start (followed by two padding bytes) and end of an IPC file.
const ARROW_MAGIC: &[u8; 6] = b"ARROW1";
/// Length of the file trailer: 4-byte footer length, then [`ARROW_MAGIC`].
const TRAILER_LEN: usize = 4 + ARROW_MAGIC.len();
/// Length of the file header: [`ARROW_MAGIC`] padded to 8 bytes.
const HEADER_LEN: usize = 8;
/// Marks the start of an IPC message (since format version 0.15), before its length.
const CONTINUATION_MARKER: [u8; 4] = [0xff; 4];

/// The two serialisations of an Arrow IPC table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpcFormat {
    /// The IPC file format: `ARROW1`, messages, a footer indexing them, `ARROW1`.
    File,
    /// The IPC stream format: a schema message, then dictionary and record batch messages,
    /// optionally ended by an end-of-stream marker.
    Stream,
}

impl IpcFormat {
    /// The format a decoded payload is in: [`File`](Self::File) when it starts with the
    /// magic bytes `ARROW1`, else [`Stream`](Self::Stream).
    ///
    /// ```
    /// use omni_sdk::arrow::IpcFormat;
    /// assert_eq!(IpcFormat::detect(b"ARROW1\0\0..."), IpcFormat::File);
    /// assert_eq!(IpcFormat::detect(&[0xff, 0xff, 0xff, 0xff]), IpcFormat::Stream);
    /// ```
    pub fn detect(ipc: &[u8]) -> IpcFormat {
        if ipc.starts_with(ARROW_MAGIC) {
            IpcFormat::File
        } else {
            IpcFormat::Stream
        }
    }
}

impl fmt::Display for IpcFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpcFormat::File => "file",
            IpcFormat::Stream => "stream",
        })
    }
}

/// Why a query result could not be decoded into record batches.
///
/// ```
/// use omni_sdk::arrow::{ArrowDecodeError, decode_result};
/// match decode_result("QVJST1cx!") {
///     Err(ArrowDecodeError::Base64 { offset, .. }) => assert_eq!(offset, 8),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArrowDecodeError {
    /// The `result` string is not valid base64 (standard alphabet, padding optional).
    #[error("query result is not valid base64: {message} (at byte offset {offset} of the result)")]
    Base64 {
        /// Byte offset in the `result` string (as given, whitespace included) where the
        /// problem was found; for a bad length, the end of the string.
        offset: usize,
        /// What is wrong there.
        message: String,
    },
    /// The decoded bytes are not a readable Arrow IPC table.
    #[error("query result is not a readable Arrow IPC {format}: {message}")]
    Ipc {
        /// The format the payload was read as, from its first bytes.
        format: IpcFormat,
        /// What failed, with context (`truncated IPC file: ...`, byte offsets), followed by
        /// the text of `source` if there is one.
        message: String,
        /// The error reported by `arrow-ipc`, if the failure came from there.
        #[source]
        source: Option<ArrowError>,
    },
    /// The response carries no `result` (e.g. the job is still running or timed out).
    #[error("the query response has no result (job not complete, or timed out)")]
    NoResult,
    /// The `result` string is empty (or only whitespace): there is nothing to decode.
    #[error("the query result is empty: zero bytes of Arrow IPC data")]
    Empty,
}

impl ArrowDecodeError {
    fn ipc(format: IpcFormat, message: impl Into<String>, source: Option<ArrowError>) -> Self {
        let mut message = message.into();
        if let Some(source) = &source {
            message = format!("{message}: {source}");
        }
        ArrowDecodeError::Ipc {
            format,
            message,
            source,
        }
    }
}

/// Decodes a base64-encoded Arrow IPC table (the `result` of `GET /v1/query/wait`) into its
/// record batches, in order. A table without rows gives an empty `Vec` (use
/// [`decode_result_with_schema`] to get its columns).
///
/// Accepts the IPC file format (starting with `ARROW1`) and the stream format (with or
/// without continuation markers), standard base64 with or without padding, and ASCII
/// whitespace anywhere in the text (line breaks included).
///
/// ```
/// # fn main() -> Result<(), omni_sdk::arrow::ArrowDecodeError> {
/// # let payload = example_payload();
/// let batches = omni_sdk::arrow::decode_result(&payload)?;
/// let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
/// assert_eq!(rows, 2);
///
/// // Errors say what failed: here the base64 was cut short.
/// let err = omni_sdk::arrow::decode_result(&payload[..payload.len() / 2]).unwrap_err();
/// println!("{err}");
/// # Ok(()) }
/// # fn example_payload() -> String {
/// #     use base64::Engine as _;
/// #     use std::sync::Arc;
/// #     let batch = omni_sdk::arrow::RecordBatch::try_from_iter([(
/// #         "name",
/// #         Arc::new(omni_sdk::arrow::arrow_array::StringArray::from(vec!["a", "b"])) as _,
/// #     )])
/// #     .unwrap();
/// #     let mut ipc = Vec::new();
/// #     let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &batch.schema()).unwrap();
/// #     writer.write(&batch).unwrap();
/// #     writer.finish().unwrap();
/// #     drop(writer);
/// #     base64::engine::general_purpose::STANDARD.encode(ipc)
/// # }
/// ```
pub fn decode_result(base64: &str) -> Result<Vec<RecordBatch>, ArrowDecodeError> {
    decode_result_with_schema(base64).map(|(_, batches)| batches)
}

/// Like [`decode_result`], but also returns the table's schema, which is known even when
/// the table has no record batches.
///
/// ```
/// # fn main() -> Result<(), omni_sdk::arrow::ArrowDecodeError> {
/// # let payload = example_payload();
/// let (schema, batches) = omni_sdk::arrow::decode_result_with_schema(&payload)?;
/// assert!(batches.is_empty()); // no rows...
/// assert_eq!(schema.field(0).name(), "total"); // ...but the columns are known
/// # Ok(()) }
/// # fn example_payload() -> String {
/// #     use base64::Engine as _;
/// #     use omni_sdk::arrow::{DataType, Field, Schema};
/// #     let schema = Schema::new(vec![Field::new("total", DataType::Float64, true)]);
/// #     let mut ipc = Vec::new();
/// #     let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut ipc, &schema).unwrap();
/// #     writer.finish().unwrap();
/// #     drop(writer);
/// #     base64::engine::general_purpose::STANDARD.encode(ipc)
/// # }
/// ```
pub fn decode_result_with_schema(
    base64: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowDecodeError> {
    let ipc = decode_base64(base64)?;
    let format = IpcFormat::detect(&ipc);
    // arrow-ipc can still panic on some corrupt input instead of returning an error (see
    // apache/arrow-rs#541; with 60.1, e.g. a misaligned offsets buffer trips an assertion
    // in `ArrayData::validate`). The checks below catch what they can first (truncation,
    // blocks and buffers out of range); any panic left is turned into an error too.
    // Nothing outlives it: the decoders and the buffer are dropped with the closure, hence
    // `AssertUnwindSafe`.
    std::panic::catch_unwind(AssertUnwindSafe(|| match format {
        IpcFormat::File => read_file(ipc),
        IpcFormat::Stream => read_stream(ipc),
    }))
    .unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown panic");
        Err(ArrowDecodeError::ipc(
            format,
            format!("corrupt IPC {format}: arrow-ipc panicked while reading it ({reason})"),
            None,
        ))
    })
}

impl WaitForQueryResponse {
    /// Decodes [`result`](Self::result) into record batches (see [`decode_result`]). A
    /// response without a result (job still running, or the wait timed out) is
    /// [`ArrowDecodeError::NoResult`].
    ///
    /// ```
    /// use omni_sdk::arrow::ArrowDecodeError;
    /// use omni_sdk::types::WaitForQueryResponse;
    ///
    /// let response: WaitForQueryResponse =
    ///     serde_json::from_str(r#"{"timed_out": true, "remaining_job_ids": []}"#)?;
    /// assert!(matches!(response.record_batches(), Err(ArrowDecodeError::NoResult)));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn record_batches(&self) -> Result<Vec<RecordBatch>, ArrowDecodeError> {
        decode_result(self.result.as_deref().ok_or(ArrowDecodeError::NoResult)?)
    }
}

/// Decodes the base64 text into one buffer, allocated once at its final size (up to two
/// bytes of slack) and 64-byte aligned like every Arrow buffer, so that the IPC readers can
/// use it without copying or re-aligning. (A `Vec<u8>` would do as well in practice, but
/// only guarantees 1-byte alignment, and arrow copies any column it finds misaligned.)
fn decode_base64(text: &str) -> Result<Buffer, ArrowDecodeError> {
    // Fast path: the text as it is (Omni sends one unbroken line). Whitespace is rare
    // (line-wrapped or pretty-printed payloads): only when the fast path fails on it is the
    // text copied without it and decoded again — a scan for it up front cost a quarter of
    // the decode time on a 50 MB result.
    match decode_symbols(text, text.as_bytes()) {
        Err(_) if text.bytes().any(|b| b.is_ascii_whitespace()) => {
            let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            decode_symbols(text, &symbols)
        }
        other => other,
    }
}

fn decode_symbols(text: &str, symbols: &[u8]) -> Result<Buffer, ArrowDecodeError> {
    if symbols.is_empty() {
        return Err(ArrowDecodeError::Empty);
    }
    let mut buffer = MutableBuffer::from_len_zeroed(base64::decoded_len_estimate(symbols.len()));
    let len = BASE64
        .decode_slice(symbols, buffer.as_slice_mut())
        .map_err(|e| base64_error(text, symbols, e))?;
    buffer.truncate(len);
    if buffer.is_empty() {
        return Err(ArrowDecodeError::Empty);
    }
    Ok(buffer.into())
}

/// Describes a base64 error, with its offset in the original `text` (whitespace included).
fn base64_error(text: &str, symbols: &[u8], error: base64::DecodeSliceError) -> ArrowDecodeError {
    use base64::{DecodeError, DecodeSliceError};

    let at = |index: usize| original_offset(text, index);
    let describe = |offset: usize| match text.get(offset..).and_then(|s| s.chars().next()) {
        Some(c) => format!("{c:?}"),
        // Not at a char boundary: cannot happen for offsets of ASCII whitespace-free
        // positions reported by the decoder, but stay total.
        None => format!(
            "byte {:#04x}",
            text.as_bytes().get(offset).copied().unwrap_or(0)
        ),
    };
    let (offset, message) = match error {
        DecodeSliceError::DecodeError(DecodeError::InvalidByte(index, byte)) => {
            let offset = at(index);
            let message = if byte == b'=' {
                "padding '=' before the end of the base64 text".to_owned()
            } else {
                format!(
                    "invalid character {} (standard base64 uses A-Z a-z 0-9 + / and = padding)",
                    describe(offset)
                )
            };
            (offset, message)
        }
        DecodeSliceError::DecodeError(DecodeError::InvalidLength(len)) => (
            text.len(),
            format!(
                "{len} base64 symbols is not a valid length (the text was cut short, or has \
                 one symbol too many)"
            ),
        ),
        DecodeSliceError::DecodeError(DecodeError::InvalidLastSymbol(index, _)) => {
            let offset = at(index);
            (
                offset,
                format!(
                    "last symbol {} has bits set past the end of the data (the text was \
                     probably cut short)",
                    describe(offset)
                ),
            )
        }
        DecodeSliceError::DecodeError(DecodeError::InvalidPadding) => {
            let first_pad = symbols.iter().position(|&b| b == b'=');
            (
                first_pad.map_or(text.len(), at),
                "invalid padding: too many '=' for the length of the text".to_owned(),
            )
        }
        DecodeSliceError::OutputSliceTooSmall => (
            text.len(),
            "internal error: the decode buffer was sized too small".to_owned(),
        ),
    };
    ArrowDecodeError::Base64 { offset, message }
}

/// Byte offset in `text` of the `index`-th non-whitespace byte (or `text.len()`).
fn original_offset(text: &str, index: usize) -> usize {
    text.bytes()
        .enumerate()
        .filter(|(_, b)| !b.is_ascii_whitespace())
        .nth(index)
        .map_or(text.len(), |(offset, _)| offset)
}

/// Reads the IPC file format with [`FileDecoder`]: the footer gives the schema and the
/// position of every dictionary and record batch message, each of which is decoded from a
/// zero-copy slice of `ipc`. (`FileReader` would instead copy every block out of a
/// `Read + Seek` source into a new buffer.)
fn read_file(ipc: Buffer) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowDecodeError> {
    let fail = |message: String, source: Option<ArrowError>| {
        ArrowDecodeError::ipc(IpcFormat::File, message, source)
    };
    let total = ipc.len();
    if total < HEADER_LEN + TRAILER_LEN {
        return Err(fail(
            format!(
                "truncated IPC file: {total} bytes, shorter than the {} bytes of its \
                 header and trailer",
                HEADER_LEN + TRAILER_LEN
            ),
            None,
        ));
    }
    let trailer_start = total - TRAILER_LEN;
    let mut trailer = [0u8; TRAILER_LEN];
    trailer.copy_from_slice(&ipc[trailer_start..]);
    if &trailer[4..] != ARROW_MAGIC {
        return Err(fail(
            format!(
                "truncated IPC file: the {total} bytes start with ARROW1 but do not end with \
                 it, so the footer is missing (the result was probably cut short)"
            ),
            None,
        ));
    }
    let footer_len = read_footer_length(trailer)
        .map_err(|e| fail("invalid IPC file trailer".to_owned(), Some(e)))?;
    let footer_start = trailer_start
        .checked_sub(footer_len)
        .filter(|&start| start >= HEADER_LEN)
        .ok_or_else(|| {
            fail(
                format!(
                    "truncated IPC file: the trailer declares a {footer_len}-byte footer, but \
                     only {} bytes precede it",
                    trailer_start.saturating_sub(HEADER_LEN)
                ),
                None,
            )
        })?;
    let footer = arrow_ipc::root_as_footer(&ipc[footer_start..trailer_start]).map_err(|e| {
        fail(
            format!("invalid IPC file footer at byte offset {footer_start}: {e}"),
            None,
        )
    })?;
    let ipc_schema = footer
        .schema()
        .ok_or_else(|| fail("the IPC file footer has no schema".to_owned(), None))?;
    if !ipc_schema.endianness().equals_to_target_endianness() {
        return Err(fail(
            "the IPC file was written on a machine of the other endianness".to_owned(),
            None,
        ));
    }
    let schema = std::sync::Arc::new(
        arrow_ipc::convert::try_fb_to_schema(ipc_schema)
            .map_err(|e| fail("invalid schema in the IPC file footer".to_owned(), Some(e)))?,
    );

    // Each block is a message, located by the footer; check it lies within the messages
    // before slicing (`Buffer::slice_with_length` panics otherwise), and that the buffers
    // its metadata declares lie within its body.
    let block_data = |kind: &str, i: usize, block: &arrow_ipc::Block| {
        let offset = usize::try_from(block.offset()).ok();
        let meta = usize::try_from(block.metaDataLength()).ok();
        let body = usize::try_from(block.bodyLength()).ok();
        let (offset, meta, body) = match (offset, meta, body) {
            (Some(offset), Some(meta), Some(body))
                if offset >= HEADER_LEN
                    && meta >= 8
                    && offset
                        .checked_add(meta)
                        .and_then(|end| end.checked_add(body))
                        .is_some_and(|end| end <= footer_start) =>
            {
                (offset, meta, body)
            }
            _ => {
                return Err(fail(
                    format!(
                        "truncated or corrupt IPC file: {kind} {i} is declared at byte offset \
                         {} with {} + {} bytes, outside the {footer_start} bytes of messages",
                        block.offset(),
                        block.metaDataLength(),
                        block.bodyLength()
                    ),
                    None,
                ));
            }
        };
        // The metadata starts with a continuation marker and a length, or (legacy) just
        // the length, as `FileDecoder` expects.
        let metadata = &ipc[offset..offset + meta];
        let prefix = if metadata[..4] == CONTINUATION_MARKER {
            8
        } else {
            4
        };
        check_message(&metadata[prefix..], body).map_err(|problem| {
            fail(
                format!("corrupt IPC file: {kind} {i} at byte offset {offset}: {problem}"),
                None,
            )
        })?;
        Ok(ipc.slice_with_length(offset, meta + body))
    };

    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    for (i, block) in footer.dictionaries().iter().flatten().enumerate() {
        let data = block_data("dictionary batch", i, block)?;
        decoder.read_dictionary(block, &data).map_err(|e| {
            fail(
                format!(
                    "cannot read dictionary batch {i} at byte offset {}",
                    block.offset()
                ),
                Some(e),
            )
        })?;
    }
    let blocks = footer.recordBatches().ok_or_else(|| {
        fail(
            "the IPC file footer has no list of record batches".to_owned(),
            None,
        )
    })?;
    let mut batches = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let data = block_data("record batch", i, block)?;
        let batch = decoder.read_record_batch(block, &data).map_err(|e| {
            fail(
                format!(
                    "cannot read record batch {i} at byte offset {}",
                    block.offset()
                ),
                Some(e),
            )
        })?;
        batches.extend(batch);
    }
    Ok((schema, batches))
}

/// Reads the IPC stream format with [`StreamDecoder`], which takes the decoded [`Buffer`]
/// itself: a message that lies whole in the buffer is decoded from a zero-copy slice of it
/// (only a message split across input buffers is gathered into the decoder's scratch space,
/// and [`check_stream`] has made sure there is none). `StreamReader` over a `&[u8]` would be
/// simpler, but copies each message body into a new buffer.
fn read_stream(ipc: Buffer) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowDecodeError> {
    let fail = |message: String, source: Option<ArrowError>| {
        ArrowDecodeError::ipc(IpcFormat::Stream, message, source)
    };
    check_stream(&ipc).map_err(|message| fail(message, None))?;
    let total = ipc.len();
    let mut rest = ipc;
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !rest.is_empty() {
        let start = total - rest.len();
        match decoder.decode(&mut rest) {
            Ok(batch) => batches.extend(batch),
            Err(e) => {
                return Err(fail(
                    format!(
                        "cannot read the message(s) from byte offset {start} (failed at or \
                         before byte {} of {total})",
                        total - rest.len()
                    ),
                    Some(e),
                ));
            }
        }
    }
    decoder.finish().map_err(|e| {
        fail(
            format!(
                "truncated IPC stream: the {total} bytes end in the middle of a message (the \
                 result was probably cut short)"
            ),
            Some(e),
        )
    })?;
    let schema = decoder.schema().ok_or_else(|| {
        fail(
            format!(
                "the {total} bytes contain no schema message (not an Arrow IPC stream, or \
                 cut short)"
            ),
            None,
        )
    })?;
    Ok((schema, batches))
}

/// Walks the messages of an IPC stream without decoding them, so that a stream cut short
/// or with impossible lengths is reported with the offset of the message at fault, and
/// `StreamDecoder` only sees messages whose buffers lie within their bodies.
fn check_stream(ipc: &[u8]) -> Result<(), String> {
    let total = ipc.len();
    let mut pos = 0;
    while pos < total {
        let start = pos;
        // A first message that does not fit is more likely not Arrow at all.
        let hint = if start == 0 {
            "not Arrow IPC data, or cut short"
        } else {
            "the result was probably cut short"
        };
        let word = |pos: &mut usize| {
            let bytes = ipc.get(*pos..*pos + 4).ok_or_else(|| {
                format!(
                    "truncated IPC stream: the {total} bytes end inside the length prefix of \
                     the message at byte offset {start} ({hint})"
                )
            })?;
            *pos += 4;
            Ok::<[u8; 4], String>([bytes[0], bytes[1], bytes[2], bytes[3]])
        };
        let mut prefix = word(&mut pos)?;
        if prefix == CONTINUATION_MARKER {
            prefix = word(&mut pos)?;
        }
        let meta_len = u32::from_le_bytes(prefix) as usize;
        if meta_len == 0 {
            // End-of-stream marker.
            if pos < total {
                return Err(format!(
                    "{} bytes of data after the end-of-stream marker at byte offset {start}",
                    total - pos
                ));
            }
            break;
        }
        let metadata = ipc
            .get(pos..)
            .filter(|rest| rest.len() >= meta_len)
            .ok_or_else(|| {
                format!(
                    "truncated IPC stream: the message at byte offset {start} declares \
                     {meta_len} bytes of metadata but only {} bytes remain ({hint})",
                    total - pos
                )
            })?;
        let message = arrow_ipc::root_as_message(&metadata[..meta_len]).map_err(|e| {
            format!("corrupt IPC stream: invalid message at byte offset {start}: {e}")
        })?;
        pos += meta_len;
        let body_len = usize::try_from(message.bodyLength())
            .ok()
            .filter(|&len| len <= total - pos)
            .ok_or_else(|| {
                format!(
                    "truncated IPC stream: the message at byte offset {start} declares a \
                     {}-byte body but only {} bytes remain ({hint})",
                    message.bodyLength(),
                    total - pos
                )
            })?;
        check_message_buffers(&message, body_len).map_err(|problem| {
            format!("corrupt IPC stream: the message at byte offset {start}: {problem}")
        })?;
        pos += body_len;
    }
    Ok(())
}

/// Checks the flatbuffer metadata of one IPC file message (see [`check_message_buffers`]).
fn check_message(metadata: &[u8], body_len: usize) -> Result<(), String> {
    let message =
        arrow_ipc::root_as_message(metadata).map_err(|e| format!("invalid message: {e}"))?;
    check_message_buffers(&message, body_len)
}

/// Checks that every buffer a record batch or dictionary batch message declares lies within
/// its body of `body_len` bytes: `arrow-ipc` slices them unchecked, and panics otherwise.
fn check_message_buffers(message: &arrow_ipc::Message<'_>, body_len: usize) -> Result<(), String> {
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        MessageHeader::DictionaryBatch => message
            .header_as_dictionary_batch()
            .and_then(|dictionary| dictionary.data()),
        _ => return Ok(()),
    };
    let batch = batch.ok_or_else(|| {
        format!(
            "the {:?} message has no header (or no data)",
            message.header_type()
        )
    })?;
    for (i, buffer) in batch.buffers().iter().flatten().enumerate() {
        let fits = usize::try_from(buffer.offset())
            .ok()
            .zip(usize::try_from(buffer.length()).ok())
            .and_then(|(offset, length)| offset.checked_add(length))
            .is_some_and(|end| end <= body_len);
        if !fits {
            return Err(format!(
                "buffer {i} is declared at offset {} with {} bytes, outside the {body_len}-byte \
                 message body",
                buffer.offset(),
                buffer.length()
            ));
        }
    }
    Ok(())
}
