//! `omni-query` and `omni-run-query` results: decoding the base64 Arrow tables Omni sent,
//! then printing them as a table, putting their rows in the final `--json` line, or writing
//! one file per job.
//!
//! A result that cannot be decoded is a failed job (exit 1); a file that cannot be written
//! is a usage error (exit 2) naming the file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_cast::display::{ArrayFormatter, FormatOptions};
use base64::Engine as _;
use omni_sdk::arrow::arrow_array::timezone::Tz;
use omni_sdk::arrow::arrow_array::{Array, ArrayRef, make_array};
use omni_sdk::arrow::{
    ArrowError, DataType, Field, RecordBatch, Schema, SchemaRef, decode_result_with_schema,
};
use poll_helpers::omni::QueryResult;
use serde_json::{Value, json};

use crate::args::Format;
use crate::exit;
use crate::report::{Describe, Outcome, Reporter, Who};

/// Rows of each result shown in the table on stdout.
const PREVIEW_ROWS: usize = 10;

/// Widest cell of the table on stdout, in characters; longer values are cut with `…`.
const MAX_CELL: usize = 40;

/// Where the results go.
pub(crate) enum Target<'a> {
    /// A table of the first rows on stdout, or every row in the final line with `--json`.
    Stdout,
    /// One file per job in this directory, in this format.
    Files(&'a Path, Format),
}

/// One decoded result.
struct Table<'a> {
    /// Which query it is.
    who: Who,
    /// The `result` text, base64, as Omni sent it.
    base64: &'a str,
    /// The table's columns, named time zones relabelled ([`utc_relabel`]).
    schema: SchemaRef,
    /// The table's rows, with that schema.
    batches: Vec<RecordBatch>,
}

impl Table<'_> {
    fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Decodes, prints or writes every result, prints the ending, and returns the exit code.
/// Called once every job succeeded. `snapshot` is what the wait ended with: its JSON is an
/// object keyed by [`Who::key`] (see [`crate::report::named`]), one entry per result.
pub(crate) fn finish<S: Describe>(
    results: &[(Who, &QueryResult)],
    snapshot: &S,
    target: &Target<'_>,
    reporter: &mut Reporter,
) -> u8 {
    reporter.clear_progress();
    let tables = match decode(results) {
        Ok(tables) => tables,
        Err(reason) => {
            reporter.finish_with(&Outcome::Failed(reason), Some(snapshot));
            return exit::FAILED;
        }
    };
    // Per job: what replaces the base64 `result` in the final JSON line.
    let mut replacements: BTreeMap<String, Value> = BTreeMap::new();
    match target {
        Target::Files(dir, format) => {
            for table in &tables {
                let path = match write_file(dir, *format, table) {
                    Ok(path) => path,
                    Err(reason) => {
                        reporter.finish_with(&Outcome::OutputError(reason), Some(snapshot));
                        return exit::USAGE;
                    }
                };
                if !reporter.json() {
                    println!("wrote {} ({} rows)", path.display(), table.rows());
                }
                replacements.insert(
                    table.who.key(),
                    json!({"file": path.display().to_string(), "row_count": table.rows()}),
                );
            }
        }
        Target::Stdout if reporter.json() => {
            for table in &tables {
                let rows = match json_rows(table) {
                    Ok(rows) => rows,
                    Err(reason) => {
                        reporter.finish_with(&Outcome::Failed(reason), Some(snapshot));
                        return exit::FAILED;
                    }
                };
                let columns: Vec<&str> = table
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                replacements.insert(
                    table.who.key(),
                    json!({"columns": columns, "row_count": table.rows(), "rows": rows}),
                );
            }
        }
        Target::Stdout => {
            for table in &tables {
                print!("{}", preview(table));
            }
        }
    }
    let mut job = snapshot.to_json();
    if let Value::Object(jobs) = &mut job {
        for (key, replacement) in replacements {
            if let Some(Value::Object(entry)) = jobs.get_mut(&key) {
                entry.remove("result");
                if let Value::Object(fields) = replacement {
                    entry.extend(fields);
                }
            }
        }
    }
    reporter.finish_raw(
        &Outcome::Succeeded,
        Some(snapshot.state()),
        Some(snapshot.label()),
        Some(job),
    );
    exit::SUCCEEDED
}

/// Decodes every result, or says which one could not be and why.
fn decode<'a>(results: &[(Who, &'a QueryResult)]) -> Result<Vec<Table<'a>>, String> {
    results
        .iter()
        .map(|(who, r)| {
            let job = who.job();
            let base64 = r
                .result_base64()
                .ok_or_else(|| format!("{job} finished without a result"))?;
            let (schema, batches) = decode_result_with_schema(base64)
                .map_err(|e| format!("cannot decode the result of {job}: {e}"))?;
            let schema = utc_schema(&schema);
            let batches = batches
                .iter()
                .map(|batch| utc_batch(batch, &schema))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cannot read the result of {job}: {e}"))?;
            Ok(Table {
                who: who.clone(),
                base64,
                schema,
                batches,
            })
        })
        .collect()
}

/// The type a column zoned by name (`UTC`, what Omni sends, or `Europe/Paris`) is
/// relabelled to: the same timestamps zoned `+00:00`; `None` for other columns.
///
/// Without its `chrono-tz` feature, arrow reads only offsets (`+01:00`) as time zones and
/// fails to format or write a column zoned by name. Arrow stores timestamps as UTC instants
/// whatever their zone, so the relabelled values are the same instants, written in UTC.
fn utc_relabel(field: &Field) -> Option<DataType> {
    match field.data_type() {
        DataType::Timestamp(unit, Some(tz)) if tz.parse::<Tz>().is_err() => {
            Some(DataType::Timestamp(*unit, Some("+00:00".into())))
        }
        _ => None,
    }
}

/// The schema with every column zoned by name relabelled ([`utc_relabel`]).
fn utc_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match utc_relabel(field) {
            Some(utc) => field.as_ref().clone().with_data_type(utc),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The batch with every column zoned by name relabelled ([`utc_relabel`]).
fn utc_batch(batch: &RecordBatch, utc: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(utc.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                return Ok(Arc::clone(column));
            }
            let data = column
                .to_data()
                .into_builder()
                .data_type(field.data_type().clone())
                .build()?;
            Ok(make_array(data))
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    RecordBatch::try_new(Arc::clone(utc), columns)
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Json => "jsonl",
        Format::Arrow => "arrow",
    }
}

/// Writes `DIR/<job_id>.<ext>`; the error names the file.
fn write_file(dir: &Path, format: Format, table: &Table<'_>) -> Result<PathBuf, String> {
    let path = dir.join(format!("{}.{}", table.who.key(), extension(format)));
    let cannot = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = File::create(&path).map_err(|e| cannot(&e))?;
    let mut out = BufWriter::new(file);
    match format {
        Format::Csv => {
            let mut writer = arrow_csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if table.batches.is_empty() {
                // An empty batch still writes the header row.
                let empty = RecordBatch::new_empty(table.schema.clone());
                writer.write(&empty).map_err(|e| cannot(&e))?;
            }
            for batch in &table.batches {
                writer.write(batch).map_err(|e| cannot(&e))?;
            }
        }
        Format::Json => {
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(&mut out);
            for batch in &table.batches {
                writer.write(batch).map_err(|e| cannot(&e))?;
            }
            writer.finish().map_err(|e| cannot(&e))?;
        }
        Format::Arrow => {
            let bytes = ipc_bytes(table.base64).map_err(|e| cannot(&e))?;
            out.write_all(&bytes).map_err(|e| cannot(&e))?;
        }
    }
    out.flush().map_err(|e| cannot(&e))?;
    out.get_ref().sync_all().map_err(|e| cannot(&e))?;
    Ok(path)
}

/// The Arrow IPC bytes as Omni sent them: the base64 text decoded, nothing re-encoded.
/// Reads what `omni_sdk::arrow` reads: whitespace anywhere, padding optional.
fn ipc_bytes(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    BASE64.decode(symbols)
}

/// Every row of a result as a JSON array of objects (nulls kept as `null`).
fn json_rows(table: &Table<'_>) -> Result<Value, String> {
    let failed = |e: &dyn std::fmt::Display| {
        format!(
            "cannot convert the result of {} to JSON: {e}",
            table.who.job()
        )
    };
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    for batch in &table.batches {
        writer.write(batch).map_err(|e| failed(&e))?;
    }
    writer.finish().map_err(|e| failed(&e))?;
    serde_json::from_slice(&writer.into_inner()).map_err(|e| failed(&e))
}

/// A plain-text table of the first [`PREVIEW_ROWS`] rows, headed by the job id.
/// A value arrow cannot format shows as `<its data type>` instead.
fn preview(table: &Table<'_>) -> String {
    let options = FormatOptions::new().with_null("null");
    let fields = table.schema.fields();
    let mut columns: Vec<Vec<String>> = fields.iter().map(|f| vec![cell(f.name())]).collect();
    let mut shown = 0;
    'batches: for batch in &table.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|array| ArrayFormatter::try_new(array.as_ref(), &options).ok())
            .collect();
        for row in 0..batch.num_rows() {
            if shown == PREVIEW_ROWS {
                break 'batches;
            }
            for ((column, formatter), array) in
                columns.iter_mut().zip(&formatters).zip(batch.columns())
            {
                let value = formatter
                    .as_ref()
                    .and_then(|f| f.value(row).try_to_string().ok())
                    .unwrap_or_else(|| format!("<{}>", array.data_type()));
                column.push(cell(&value));
            }
            shown += 1;
        }
    }
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let numeric: Vec<bool> = fields.iter().map(|f| f.data_type().is_numeric()).collect();
    let total = table.rows();
    let mut text = format!(
        "{}: {total} row{}, {} column{}\n",
        table.who.heading(),
        if total == 1 { "" } else { "s" },
        fields.len(),
        if fields.len() == 1 { "" } else { "s" },
    );
    let line = |row: usize, text: &mut String| {
        let cells: Vec<String> = columns
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((column, &width), &right)| {
                let value = column.get(row).map_or("", String::as_str);
                if right && row > 0 {
                    format!("{value:>width$}")
                } else {
                    format!("{value:<width$}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    };
    line(0, &mut text);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let _ = writeln!(text, "{}", rule.join("  "));
    for row in 1..=shown {
        line(row, &mut text);
    }
    if total > shown {
        let _ = writeln!(text, "... {} more rows", total - shown);
    }
    text.push('\n');
    text
}

/// A value as one table cell: control characters escaped, at most [`MAX_CELL`] characters.
fn cell(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    if escaped.chars().count() <= MAX_CELL {
        escaped
    } else {
        let mut cut: String = escaped.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use omni_sdk::arrow::TimeUnit;
    use omni_sdk::arrow::arrow_array::{Int64Array, StringArray, TimestampMillisecondArray};
    use uuid::Uuid;

    use super::*;

    fn table(rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Paris".into())),
                false,
            ),
        ]));
        let ids: Vec<i64> = (1..=rows as i64).collect();
        let names: Vec<Option<String>> = (1..=rows)
            .map(|i| (i % 3 != 0).then(|| format!("name\t{i}")))
            .collect();
        let at: Vec<i64> = (0..rows as i64).map(|i| 1_736_935_200_000 + i).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(TimestampMillisecondArray::from(at).with_timezone("Europe/Paris")),
            ],
        )
        .unwrap();
        let utc = utc_schema(&schema);
        let batch = utc_batch(&batch, &utc).unwrap();
        (utc, vec![batch])
    }

    #[test]
    fn known_zone_names_are_kept_and_unknown_ones_relabelled_utc() {
        // omni-sdk's `arrow` feature enables chrono-tz, so named zones (Omni sends `UTC`;
        // this table uses Europe/Paris) are kept and formatted in their zone.
        let (_, batches) = table(2);
        let field = batches[0].schema().field(2).clone();
        assert_eq!(utc_relabel(&field), None, "{field:?}");
        let column = batches[0].column(2);
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::new()).unwrap();
        assert_eq!(formatter.value(0).to_string(), "2025-01-15T11:00:00+01:00");
        // A zone no database knows is relabelled to +00:00 with the same instants.
        let odd = Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Millisecond, Some("Mars/Olympus_Mons".into())),
            true,
        );
        assert_eq!(
            utc_relabel(&odd),
            Some(DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("+00:00".into())
            ))
        );
    }

    #[test]
    fn preview_shows_the_first_rows_aligned_and_escaped() {
        let (schema, batches) = table(12);
        let t = Table {
            who: Who::Job(Uuid::nil()),
            base64: "",
            schema,
            batches,
        };
        let text = preview(&t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("query {}: 12 rows, 3 columns", Uuid::nil())
        );
        assert!(lines[1].starts_with("id  name"), "{text}");
        assert!(lines[2].starts_with("--  -------"), "{text}");
        assert!(lines[3].starts_with(" 1  name\\t1"), "{text}");
        assert!(lines[5].starts_with(" 3  null"), "{text}");
        assert_eq!(lines.len(), 3 + PREVIEW_ROWS + 1 + 1, "{text}");
        assert_eq!(lines[3 + PREVIEW_ROWS], "... 2 more rows");
    }

    #[test]
    fn empty_results_still_write_a_csv_header() {
        let (schema, _) = table(0);
        let t = Table {
            who: Who::Job(Uuid::nil()),
            base64: "",
            schema,
            batches: Vec::new(),
        };
        let dir = std::env::temp_dir().join(format!("jobwait-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_file(&dir, Format::Csv, &t).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "id,name,at\n");
        let path = write_file(&dir, Format::Json, &t).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        assert_eq!(json_rows(&t).unwrap(), json!([]));
        assert!(preview(&t).starts_with(&format!("query {}: 0 rows, 3 columns\n", Uuid::nil())));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ipc_bytes_read_what_omni_sends() {
        assert_eq!(ipc_bytes("QVJST1cx").unwrap(), b"ARROW1");
        assert_eq!(ipc_bytes("QVJS\nT1cx\n").unwrap(), b"ARROW1");
        assert_eq!(ipc_bytes("QVJST1c").unwrap(), b"ARROW");
        assert!(ipc_bytes("QVJST1cx!").is_err());
    }

    #[test]
    fn a_result_that_cannot_be_decoded_names_the_job() {
        let job_id = Uuid::from_u128(0x5eed);
        let response: omni_sdk::types::WaitForQueryResponse = serde_json::from_value(
            json!({"job_id": job_id, "status": "COMPLETE", "result": "QVJST1cx!"}),
        )
        .unwrap();
        let results = BTreeMap::from([(
            job_id,
            QueryResult {
                job_id,
                response: Some(response),
            },
        )]);
        let error = decode(&crate::report::named(results.values()))
            .err()
            .unwrap();
        assert!(
            error.starts_with(&format!("cannot decode the result of query job {job_id}: ")),
            "{error}"
        );
        let no_result = BTreeMap::from([(
            Uuid::nil(),
            QueryResult {
                job_id: Uuid::nil(),
                response: Some(serde_json::from_value(json!({"status": "COMPLETE"})).unwrap()),
            },
        )]);
        assert_eq!(
            decode(&crate::report::named(no_result.values()))
                .err()
                .unwrap(),
            "query #1 of the run (no job id) finished without a result"
        );
        let named = QueryResult {
            job_id: Uuid::from_u128(7),
            response: None,
        };
        assert_eq!(
            decode(&crate::report::named([&named])).err().unwrap(),
            format!("query job {} finished without a result", named.job_id)
        );
    }

    #[test]
    fn results_without_a_distinct_job_id_are_named_by_place() {
        let id = Uuid::from_u128(42);
        let result = |job_id| QueryResult {
            job_id,
            response: None,
        };
        let results = [
            result(Uuid::nil()),
            result(id),
            result(id),
            result(Uuid::nil()),
        ];
        let names: Vec<Who> = crate::report::named(&results)
            .into_iter()
            .map(|(who, _)| who)
            .collect();
        assert_eq!(
            names,
            [
                Who::Unnamed(1),
                Who::Job(id),
                Who::Unnamed(3),
                Who::Unnamed(4)
            ]
        );
        assert_eq!(Who::Unnamed(3).key(), "query-3");
        assert_eq!(Who::Job(id).key(), id.to_string());
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "x".repeat(100);
        assert_eq!(cell(&long).chars().count(), MAX_CELL);
        assert!(cell(&long).ends_with('…'));
        assert_eq!(cell("a\nb"), "a\\nb");
    }
}
