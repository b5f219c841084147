//! Query results and downloaded files: the sample Arrow table and deterministic file bytes.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The content of a downloaded file: what `GET /v1/dashboards/{identifier}/download/{jobId}`
/// answers for the download job `job_id` in `format`, `len` bytes long (the script's
/// [`JobScript::with_file_size`]).
///
/// The bytes are deterministic, so a test can compare a download with them, and differ
/// from job to job, so a mixed-up download is caught. They start like the format (`%PDF-1.7`
/// for pdf, the PNG signature, a zip header for xlsx, a CSV header, `{"data":"` for json),
/// then filler derived from `job_id`: text (hex digits, with a newline every 64 characters
/// for csv) for csv and json, binary otherwise. A pdf ends with `%%EOF\n` and a json with
/// `"}` when `len` leaves room for them. Any other format gets no prefix and binary
/// filler. Everything is cut at `len`.
///
/// ```
/// let job = uuid::Uuid::new_v4();
/// let pdf = sdk_tests::sim::download_file(job, "pdf", 1000);
/// assert_eq!(pdf.len(), 1000);
/// assert!(pdf.starts_with(b"%PDF-1.7\n") && pdf.ends_with(b"%%EOF\n"));
/// assert_eq!(pdf, sdk_tests::sim::download_file(job, "pdf", 1000));
/// let json = sdk_tests::sim::download_file(job, "json", 100);
/// assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
/// assert_eq!(sdk_tests::sim::download_file(job, "png", 4), b"\x89PNG");
/// ```
pub fn download_file(job_id: Uuid, format: &str, len: usize) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (prefix, suffix, text): (&[u8], &[u8], bool) = match format {
        "pdf" => (b"%PDF-1.7\n", b"\n%%EOF\n", false),
        "png" => (b"\x89PNG\r\n\x1a\n", b"", false),
        "xlsx" => (b"PK\x03\x04", b"", false),
        "csv" => (b"row,value\n", b"", true),
        "json" => (b"{\"data\":\"", b"\"}", true),
        _ => (b"", b"", false),
    };
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(prefix.get(..len).unwrap_or(prefix));
    let suffix = if len >= prefix.len() + suffix.len() {
        suffix
    } else {
        b""
    };
    let filler = len.saturating_sub(out.len() + suffix.len());
    // splitmix64, seeded with the job id
    let (high, low) = job_id.as_u64_pair();
    let mut state = high ^ low.rotate_left(32);
    let mut word = 0u64;
    for i in 0..filler {
        if i % 8 == 0 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word = z ^ (z >> 31);
        }
        let byte = word.to_le_bytes()[i % 8];
        out.push(match (text, format) {
            (true, "csv") if i % 65 == 64 => b'\n',
            (true, _) => HEX[usize::from(byte & 15)],
            (false, _) => byte,
        });
    }
    out.extend_from_slice(suffix);
    out
}

/// Rows in the table of [`sample_result_ipc`].
pub const SAMPLE_RESULT_ROWS: usize = 4;

/// Column names of the table of [`sample_result_ipc`], in order.
pub const SAMPLE_RESULT_FIELDS: [&str; 5] = [
    "order_items.id",
    "products.name",
    "order_items.sale_price",
    "order_items.returned",
    "order_items.created_at",
];

/// The table every successful query job answers, as an Arrow IPC **file** (starts and
/// ends with `ARROW1`): [`SAMPLE_RESULT_ROWS`] rows of `order_items.id` (Int64),
/// `products.name` (Utf8, one null), `order_items.sale_price` (Float64),
/// `order_items.returned` (Boolean, one null) and `order_items.created_at`
/// (Timestamp(ms, UTC)).
///
/// ```
/// let bytes = sdk_tests::sim::sample_result_ipc()?;
/// assert!(bytes.starts_with(b"ARROW1"));
/// let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)?;
/// let rows: usize = reader.map(|batch| batch.map(|b| b.num_rows())).sum::<Result<_, _>>()?;
/// assert_eq!(rows, sdk_tests::sim::SAMPLE_RESULT_ROWS);
/// # Ok::<(), arrow_schema::ArrowError>(())
/// ```
pub fn sample_result_ipc() -> Result<Vec<u8>, arrow_schema::ArrowError> {
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMillisecondArray,
    };
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    let schema = Arc::new(Schema::new(vec![
        Field::new(SAMPLE_RESULT_FIELDS[0], DataType::Int64, false),
        Field::new(SAMPLE_RESULT_FIELDS[1], DataType::Utf8, true),
        Field::new(SAMPLE_RESULT_FIELDS[2], DataType::Float64, false),
        Field::new(SAMPLE_RESULT_FIELDS[3], DataType::Boolean, true),
        Field::new(
            SAMPLE_RESULT_FIELDS[4],
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1001, 1002, 1003, 1004])),
        Arc::new(StringArray::from(vec![
            Some("Sunglasses"),
            Some("Jeans"),
            None,
            Some("Sweater"),
        ])),
        Arc::new(Float64Array::from(vec![89.99, 49.5, 12.0, 64.25])),
        Arc::new(BooleanArray::from(vec![
            Some(false),
            Some(true),
            None,
            Some(false),
        ])),
        Arc::new(
            TimestampMillisecondArray::from(vec![
                1_736_935_200_000,
                1_736_938_800_000,
                1_736_942_400_000,
                1_736_946_000_000,
            ])
            .with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}
