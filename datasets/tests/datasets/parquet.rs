//! Parquet reading: TRL conversational rows written by pyarrow (fixture made
//! by tests/fixtures/parquet/make_fixture.py), with row-numbered reports.

use std::path::PathBuf;

use datasets::ReadError;
use datasets::jsonl::ReadOptions;
use datasets::parquet_reader::read_parquet;
use datasets::records::{Message, SftExample};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet/sft_sample.parquet")
}

#[test]
fn lenient_parquet_reads_good_rows_and_reports_bad_ones_by_row() {
    let (records, report) = match read_parquet::<SftExample>(fixture(), ReadOptions::lenient()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let rows: Vec<u64> = records.iter().map(|p| p.line).collect();
    assert_eq!(rows, [1, 2, 5]);
    assert_eq!(
        records[1].record,
        SftExample::Conversational {
            messages: vec![
                Message::system("s"),
                Message::user("q2"),
                Message::assistant("a2 ✓")
            ],
            meta: Default::default(),
        }
    );
    assert_eq!((report.lines, report.records), (5, 3));
    let bad: Vec<String> = report.bad.iter().map(ToString::to_string).collect();
    let f = fixture().display().to_string();
    assert_eq!(
        bad,
        [
            format!(
                "{f}:3: messages[1].role: the last message must be from the assistant (nothing to train on otherwise)"
            ),
            format!("{f}:4: messages[1].content: invalid type: null, expected a string"),
        ]
    );
}

#[test]
fn strict_parquet_stops_at_the_first_bad_row() {
    match read_parquet::<SftExample>(fixture(), ReadOptions::default()) {
        Err(ReadError::Record(b)) => assert_eq!(b.line, 3),
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_parquet_fails_to_open() {
    let dir = super::tempdir();
    let path = dir.path().join("x.parquet");
    if let Err(e) = std::fs::write(&path, b"{\"messages\": []}\n") {
        panic!("{e}");
    }
    assert!(matches!(
        read_parquet::<SftExample>(&path, ReadOptions::default()),
        Err(ReadError::Open { .. })
    ));
}
