//! `omni_sdk::arrow`: decoding base64 Arrow IPC query results.
//!
//! Run with `cargo test -p omni-sdk --features arrow`.
#![cfg(feature = "arrow")]
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array,
    Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow_ipc::writer::{FileWriter, StreamWriter};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use omni_sdk::arrow::{
    ArrowDecodeError, DataType, Field, IpcFormat, RecordBatch, Schema, SchemaRef, TimeUnit,
    decode_result, decode_result_with_schema,
};
use omni_sdk::types::WaitForQueryResponse;

#[derive(Clone, Copy, Debug)]
enum Format {
    File,
    Stream,
}

const FORMATS: [Format; 2] = [Format::File, Format::Stream];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("price", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("active", DataType::Boolean, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("day", DataType::Date32, true),
        Field::new("amount", DataType::Decimal128(18, 2), true),
        Field::new(
            "category",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]))
}

/// A batch of `rows` rows starting at id `start`, with nulls in most columns.
fn batch(start: i64, rows: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + rows as i64).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(Float64Array::from_iter(
            ids.iter().map(|&i| (i % 4 != 3).then_some(i as f64 * 1.25)),
        )),
        Arc::new(StringArray::from_iter(
            ids.iter()
                .map(|&i| (i % 3 != 0).then(|| format!("item-{i} ✓"))),
        )),
        Arc::new(BooleanArray::from_iter(
            ids.iter().map(|&i| (i % 5 != 4).then_some(i % 2 == 0)),
        )),
        Arc::new(
            TimestampMillisecondArray::from_iter(
                ids.iter()
                    .map(|&i| (i % 7 != 6).then_some(1_700_000_000_000 + i * 60_000)),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from_iter(
            ids.iter()
                .map(|&i| (i % 6 != 5).then_some(19_000 + i as i32)),
        )),
        Arc::new(
            Decimal128Array::from_iter(
                ids.iter()
                    .map(|&i| (i % 8 != 7).then_some(i as i128 * 1999)),
            )
            .with_precision_and_scale(18, 2)
            .unwrap(),
        ),
        // The same dictionary in every batch: the file format allows no replacement.
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from_iter(ids.iter().map(|&i| (i % 9 != 8).then_some((i % 3) as i32))),
                Arc::new(StringArray::from(vec!["books", "games", "tools"])),
            )
            .unwrap(),
        ),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

fn ipc_bytes(format: Format, schema: &Schema, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        Format::File => {
            let mut writer = FileWriter::try_new(&mut out, schema).unwrap();
            for b in batches {
                writer.write(b).unwrap();
            }
            writer.finish().unwrap();
        }
        Format::Stream => {
            let mut writer = StreamWriter::try_new(&mut out, schema).unwrap();
            for b in batches {
                writer.write(b).unwrap();
            }
            writer.finish().unwrap();
        }
    }
    out
}

fn payload(format: Format, schema: &Schema, batches: &[RecordBatch]) -> String {
    STANDARD.encode(ipc_bytes(format, schema, batches))
}

fn assert_same(decoded: &[RecordBatch], expected: &[RecordBatch]) {
    assert_eq!(decoded.len(), expected.len(), "number of batches");
    for (i, (got, want)) in decoded.iter().zip(expected).enumerate() {
        assert_eq!(got.schema(), want.schema(), "schema of batch {i}");
        assert_eq!(got.num_rows(), want.num_rows(), "rows of batch {i}");
        for (c, field) in want.schema().fields().iter().enumerate() {
            assert_eq!(
                got.column(c).as_ref(),
                want.column(c).as_ref(),
                "batch {i}, column {:?}",
                field.name()
            );
        }
        assert_eq!(got, want);
    }
}

fn expect_ipc_error(
    result: Result<Vec<RecordBatch>, ArrowDecodeError>,
    format: IpcFormat,
) -> String {
    match result {
        Err(e @ ArrowDecodeError::Ipc { format: f, .. }) => {
            assert_eq!(f, format, "{e}");
            e.to_string()
        }
        other => panic!("expected an Ipc error, got {other:?}"),
    }
}

#[test]
fn round_trips_one_batch_in_both_formats() {
    let expected = vec![batch(0, 25)];
    for format in FORMATS {
        let decoded = decode_result(&payload(format, &schema(), &expected)).unwrap();
        assert_same(&decoded, &expected);
    }
}

#[test]
fn columns_point_into_the_decoded_payload() {
    // Zero-copy: every buffer of every column is a slice of the one buffer the base64 text
    // was decoded into, not a copy.
    for format in FORMATS {
        let decoded =
            decode_result(&payload(format, &schema(), &[batch(0, 25), batch(25, 5)])).unwrap();
        let mut buffers = Vec::new();
        for b in &decoded {
            for column in b.columns() {
                let data = column.to_data();
                buffers.extend(data.buffers().iter().cloned());
                buffers.extend(data.nulls().map(|n| n.buffer().clone()));
                for child in data.child_data() {
                    buffers.extend(child.buffers().iter().cloned());
                }
            }
        }
        assert!(buffers.len() > 20, "{format:?}");
        let allocation = buffers[0].data_ptr();
        for (i, buffer) in buffers.iter().enumerate() {
            assert_eq!(
                buffer.data_ptr(),
                allocation,
                "{format:?}: buffer {i} was copied"
            );
        }
    }
}

#[test]
fn round_trips_several_batches_in_order() {
    let expected = vec![batch(0, 10), batch(10, 1), batch(11, 0), batch(11, 300)];
    for format in FORMATS {
        let (schema, decoded) =
            decode_result_with_schema(&payload(format, &schema(), &expected)).unwrap();
        assert_eq!(schema, crate::schema(), "{format:?}");
        assert_same(&decoded, &expected);
    }
}

#[test]
fn payload_format_is_detected_from_the_magic() {
    let file = ipc_bytes(Format::File, &schema(), &[batch(0, 1)]);
    let stream = ipc_bytes(Format::Stream, &schema(), &[batch(0, 1)]);
    assert_eq!(IpcFormat::detect(&file), IpcFormat::File);
    assert_eq!(IpcFormat::detect(&stream), IpcFormat::Stream);
    // Omni's documented example starts with base64 of the file magic.
    assert!(STANDARD.encode(&file).starts_with("QVJST1cx"));
}

#[test]
fn empty_table_keeps_its_schema() {
    for format in FORMATS {
        let text = payload(format, &schema(), &[]);
        assert!(decode_result(&text).unwrap().is_empty(), "{format:?}");
        let (schema, batches) = decode_result_with_schema(&text).unwrap();
        assert!(batches.is_empty());
        assert_eq!(schema, crate::schema(), "{format:?}");
    }
}

#[test]
fn zero_row_batch_is_kept() {
    let expected = vec![batch(0, 0)];
    for format in FORMATS {
        let decoded = decode_result(&payload(format, &schema(), &expected)).unwrap();
        assert_same(&decoded, &expected);
    }
}

#[test]
fn legacy_stream_without_continuation_markers() {
    let expected = vec![batch(0, 12), batch(12, 3)];
    let options = arrow_ipc::writer::IpcWriteOptions::try_new(
        8,
        true, // write_legacy_ipc_format: 4-byte length prefixes, no 0xFFFFFFFF marker
        arrow_ipc::MetadataVersion::V4,
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new_with_options(&mut out, &schema(), options).unwrap();
    for b in &expected {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    assert_ne!(out[..4], [0xff; 4]);
    assert_same(&decode_result(&STANDARD.encode(&out)).unwrap(), &expected);
}

#[test]
fn stream_without_end_marker_is_accepted() {
    // A writer that was never `finish`ed: no end-of-stream marker, but every message whole.
    let expected = vec![batch(0, 4)];
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &schema()).unwrap();
    writer.write(&expected[0]).unwrap();
    drop(writer);
    assert_same(&decode_result(&STANDARD.encode(&out)).unwrap(), &expected);
}

#[test]
fn padding_is_optional_and_whitespace_is_ignored() {
    let expected = vec![batch(0, 7)];
    for format in FORMATS {
        let ipc = ipc_bytes(format, &schema(), &expected);
        let padded = STANDARD.encode(&ipc);
        let unpadded = STANDARD_NO_PAD.encode(&ipc);
        assert_same(&decode_result(&padded).unwrap(), &expected);
        assert_same(&decode_result(&unpadded).unwrap(), &expected);

        let text = STANDARD.encode(&ipc);
        // MIME-style 76-column lines with CRLF, plus surrounding blanks.
        let wrapped: Vec<&str> = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let messy = format!("  \n\t{}\r\n \n", wrapped.join("\r\n"));
        assert_same(&decode_result(&messy).unwrap(), &expected);
        let spaced = format!("{} {}", &text[..10], &text[10..]);
        assert_same(&decode_result(&spaced).unwrap(), &expected);
    }
}

#[test]
fn unpadded_payloads_of_every_length_decode() {
    // Payloads of every length mod 3 (0, 1 or 2 padding characters when padded).
    let mut remainders = std::collections::BTreeSet::new();
    for len in (0..400).step_by(8) {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8, false)]);
        let b = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![Arc::new(StringArray::from(vec!["x".repeat(len)]))],
        )
        .unwrap();
        for format in FORMATS {
            let ipc = ipc_bytes(format, &schema, std::slice::from_ref(&b));
            remainders.insert(ipc.len() % 3);
            for text in [STANDARD.encode(&ipc), STANDARD_NO_PAD.encode(&ipc)] {
                assert_eq!(decode_result(&text).unwrap(), vec![b.clone()]);
            }
        }
    }
    assert_eq!(remainders.len(), 3, "{remainders:?}");
}

#[test]
fn truncated_ipc_bytes_fail_cleanly() {
    let batches = vec![batch(0, 50), batch(50, 50)];
    for (format, ipc_format) in [
        (Format::File, IpcFormat::File),
        (Format::Stream, IpcFormat::Stream),
    ] {
        let ipc = ipc_bytes(format, &schema(), &batches);
        let half = STANDARD.encode(&ipc[..ipc.len() / 2]);
        let message = expect_ipc_error(decode_result(&half), ipc_format);
        assert!(message.contains("truncated"), "{message}");
    }
}

#[test]
fn truncated_file_names_the_problem() {
    let ipc = ipc_bytes(Format::File, &schema(), &[batch(0, 5)]);
    let message = expect_ipc_error(
        decode_result(&STANDARD.encode(&ipc[..ipc.len() - 3])),
        IpcFormat::File,
    );
    assert!(message.contains("truncated IPC file"), "{message}");
    // Shorter than header + trailer.
    let message = expect_ipc_error(decode_result(&STANDARD.encode(&ipc[..12])), IpcFormat::File);
    assert!(message.contains("truncated IPC file"), "{message}");
}

#[test]
fn base64_cut_mid_way_fails_cleanly() {
    for format in FORMATS {
        let text = payload(format, &schema(), &[batch(0, 40)]);
        // Cut on a 4-symbol boundary: valid base64, truncated IPC.
        let cut = (text.len() / 2) & !3;
        assert!(matches!(
            decode_result(&text[..cut]),
            Err(ArrowDecodeError::Ipc { .. })
        ));
        // One symbol past a boundary: an impossible base64 length.
        match decode_result(&text[..cut + 1]) {
            Err(ArrowDecodeError::Base64 { offset, message }) => {
                assert_eq!(offset, cut + 1, "{message}");
                assert!(message.contains("length"), "{message}");
            }
            other => panic!("{format:?}: expected a Base64 error, got {other:?}"),
        }
        // Two or three symbols past: either rejected as base64 or as truncated IPC.
        for extra in [2, 3] {
            match decode_result(&text[..cut + extra]) {
                Err(ArrowDecodeError::Base64 { .. } | ArrowDecodeError::Ipc { .. }) => {}
                other => panic!("{format:?}: expected an error, got {other:?}"),
            }
        }
    }
}

#[test]
fn invalid_base64_character_names_its_offset() {
    let text = payload(Format::File, &schema(), &[batch(0, 3)]);
    let mut bad = text.clone();
    bad.replace_range(100..101, "*");
    match decode_result(&bad) {
        Err(e @ ArrowDecodeError::Base64 { .. }) => {
            let ArrowDecodeError::Base64 {
                offset,
                ref message,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(offset, 100);
            assert!(message.contains("'*'"), "{message}");
            assert!(e.to_string().contains("offset 100"), "{e}");
        }
        other => panic!("expected a Base64 error, got {other:?}"),
    }

    // Offsets count the whitespace and non-ASCII text as given.
    let bad = format!("\n  {}é{}", &text[..40], &text[40..]);
    match decode_result(&bad) {
        Err(ArrowDecodeError::Base64 { offset, message }) => {
            assert_eq!(offset, 43);
            assert!(message.contains("'é'"), "{message}");
        }
        other => panic!("expected a Base64 error, got {other:?}"),
    }

    // URL-safe alphabet is not the standard one.
    match decode_result("QVJST1cx_-") {
        Err(ArrowDecodeError::Base64 { offset, .. }) => assert_eq!(offset, 8),
        other => panic!("expected a Base64 error, got {other:?}"),
    }

    // Padding in the middle.
    match decode_result("QVJS=T1cx") {
        Err(ArrowDecodeError::Base64 { offset, message }) => {
            assert_eq!(offset, 4);
            assert!(message.contains("padding"), "{message}");
        }
        other => panic!("expected a Base64 error, got {other:?}"),
    }
}

#[test]
fn empty_payload_is_empty() {
    for text in ["", "   ", "\r\n\t "] {
        assert!(
            matches!(decode_result(text), Err(ArrowDecodeError::Empty)),
            "{text:?}"
        );
    }
}

#[test]
fn garbage_is_an_ipc_error() {
    // Valid base64, but not Arrow: read as a stream, and rejected.
    let text = STANDARD.encode(b"{\"rows\": [1, 2, 3]} -- not arrow at all");
    expect_ipc_error(decode_result(&text), IpcFormat::Stream);
    // Only an end-of-stream marker: no schema.
    let message = expect_ipc_error(
        decode_result(&STANDARD.encode([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])),
        IpcFormat::Stream,
    );
    assert!(message.contains("no schema"), "{message}");
    // Bytes after the end-of-stream marker.
    let mut ipc = ipc_bytes(Format::Stream, &schema(), &[batch(0, 2)]);
    ipc.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    expect_ipc_error(decode_result(&STANDARD.encode(&ipc)), IpcFormat::Stream);
}

#[test]
fn corrupt_footer_block_offsets_fail_cleanly() {
    // The file format's footer gives each block's offset; point one past the end.
    let ipc = ipc_bytes(Format::File, &schema(), &[batch(0, 5)]);
    // Overwrite the whole message area with zeros: the footer still parses, the blocks don't.
    let mut zeroed = ipc.clone();
    let footer_len =
        i32::from_le_bytes(ipc[ipc.len() - 10..ipc.len() - 6].try_into().unwrap()) as usize;
    let footer_start = ipc.len() - 10 - footer_len;
    zeroed[8..footer_start].fill(0);
    expect_ipc_error(decode_result(&STANDARD.encode(&zeroed)), IpcFormat::File);
    // A footer length larger than the file.
    let mut long_footer = ipc.clone();
    let at = ipc.len() - 10;
    long_footer[at..at + 4].copy_from_slice(&(ipc.len() as i32).to_le_bytes());
    let message = expect_ipc_error(
        decode_result(&STANDARD.encode(&long_footer)),
        IpcFormat::File,
    );
    assert!(message.contains("footer"), "{message}");
    // A negative footer length.
    let mut negative = ipc.clone();
    negative[at..at + 4].copy_from_slice(&(-5i32).to_le_bytes());
    expect_ipc_error(decode_result(&STANDARD.encode(&negative)), IpcFormat::File);
}

#[test]
fn documented_example_payload_is_a_clean_error() {
    // `specs/omni.yaml` shows `result: QVJST1cxAAD/////...`, cut short with an ellipsis.
    match decode_result("QVJST1cxAAD/////...") {
        Err(ArrowDecodeError::Base64 { offset, message }) => {
            assert_eq!(offset, 16);
            assert!(message.contains("'.'"), "{message}");
        }
        other => panic!("expected a Base64 error, got {other:?}"),
    }
    // Without the ellipsis it is the start of an IPC file, with no footer.
    let message = expect_ipc_error(decode_result("QVJST1cxAAD/////"), IpcFormat::File);
    assert!(message.contains("truncated IPC file"), "{message}");

    let response: WaitForQueryResponse = serde_json::from_value(serde_json::json!({
        "job_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "status": "COMPLETE",
        "result": "QVJST1cxAAD/////...",
        "timed_out": false,
    }))
    .unwrap();
    assert!(matches!(
        response.record_batches(),
        Err(ArrowDecodeError::Base64 { .. })
    ));
}

#[test]
fn response_without_result_is_no_result() {
    let response = WaitForQueryResponse::default();
    assert!(response.result.is_none());
    let err = response.record_batches().unwrap_err();
    assert!(matches!(err, ArrowDecodeError::NoResult));
    assert!(err.to_string().contains("no result"), "{err}");
}

#[test]
fn response_with_result_decodes() {
    let expected = vec![batch(0, 9), batch(9, 9)];
    let response: WaitForQueryResponse = serde_json::from_value(serde_json::json!({
        "job_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "status": "COMPLETE",
        "result": payload(Format::File, &schema(), &expected),
        "summary": {"total_rows": 18},
    }))
    .unwrap();
    assert_same(&response.record_batches().unwrap(), &expected);
}

#[test]
fn ipc_errors_keep_the_arrow_error_as_source() {
    // Two unfinished streams back to back: the second schema message is rejected by
    // arrow-ipc's decoder, whose error is kept as the source.
    let unfinished = || {
        let mut out = Vec::new();
        let mut writer = StreamWriter::try_new(&mut out, &schema()).unwrap();
        writer.write(&batch(0, 3)).unwrap();
        drop(writer);
        out
    };
    let mut ipc = unfinished();
    ipc.extend(unfinished());
    let err = decode_result(&STANDARD.encode(&ipc)).unwrap_err();
    assert!(
        matches!(
            err,
            ArrowDecodeError::Ipc {
                format: IpcFormat::Stream,
                ..
            }
        ),
        "{err}"
    );
    let source = std::error::Error::source(&err).expect("arrow error as source");
    assert!(
        source.downcast_ref::<arrow_schema::ArrowError>().is_some(),
        "{source}"
    );
    assert!(err.to_string().contains("schema"), "{err}");
}

/// Tiny deterministic PRNG (xorshift64*), so failures are reproducible without a `rand`
/// dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_truncations_never_panic() {
    let batches = vec![batch(0, 30), batch(30, 17), batch(47, 0)];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for format in FORMATS {
        let ipc = ipc_bytes(format, &schema(), &batches);
        let text = STANDARD.encode(&ipc);
        for _ in 0..200 {
            // Truncate the IPC bytes (valid base64)...
            let cut = rng.below(ipc.len());
            let result = decode_result(&STANDARD.encode(&ipc[..cut]));
            match (format, result) {
                (_, Err(ArrowDecodeError::Ipc { .. } | ArrowDecodeError::Empty)) => {}
                // A stream cut exactly between messages is a valid shorter stream.
                (Format::Stream, Ok(decoded)) => {
                    assert!(decoded.len() <= batches.len());
                    assert_same(&decoded, &batches[..decoded.len()]);
                }
                (_, other) => panic!("{format:?} cut at {cut}: unexpected {other:?}"),
            }
            // ...and the base64 text.
            let cut = rng.below(text.len());
            match decode_result(&text[..cut]) {
                Err(_) => {}
                Ok(decoded) => {
                    assert!(
                        matches!(format, Format::Stream),
                        "file cut at {cut} decoded"
                    );
                    assert_same(&decoded, &batches[..decoded.len()]);
                }
            }
        }
    }
}

#[test]
fn random_byte_corruption_never_panics() {
    let batches = vec![batch(0, 20), batch(20, 5)];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for format in FORMATS {
        let ipc = ipc_bytes(format, &schema(), &batches);
        for _ in 0..200 {
            let mut corrupt = ipc.clone();
            let at = rng.below(corrupt.len());
            corrupt[at] ^= 1 << rng.below(8);
            // Any outcome but a panic: some bit flips (in padding, or in values) are harmless.
            match decode_result(&STANDARD.encode(&corrupt)) {
                Ok(_) | Err(ArrowDecodeError::Ipc { .. }) => {}
                Err(other) => panic!("{format:?} flip at {at}: unexpected {other:?}"),
            }
        }
    }
}
