//! JSONL readers and writers: the malformed-input suite (acceptance 3),
//! gzip, appending and per-record flushing.

use std::fs;
use std::io::Write;
use std::path::Path;

use datasets::ReadError;
use datasets::jsonl::{JsonlReader, JsonlWriter, Mode, ReadOptions, read_all};
use datasets::records::{Message, SftRecord};

const GOOD: &str = r#"{"format":"sft.v1","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}"#;

fn good(n: usize) -> String {
    GOOD.replace("\"a\"", &format!("\"a{n}\""))
}

/// Lines 1..=9 of a file with every kind of bad record the suite covers; the
/// last line is truncated (no newline, cut mid-record).
fn mixed_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("mixed.jsonl");
    let mut bytes = Vec::new();
    bytes.extend(format!("{}\n", good(1)).bytes()); // 1 good
    bytes.extend(b"\n"); // 2 blank
    bytes.extend(
        b"{\"format\":\"sft.v1\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}\n",
    ); // 3 invalid UTF-8
    bytes.extend(format!("{}\r\n", good(4)).bytes()); // 4 good, CRLF
    bytes.extend(br#"{"format":"sft.v1","messages":"hello"}"#); // 5 wrong type
    bytes.extend(b"\n");
    bytes.extend(br#"{"format":"sft.v7","messages":[]}"#); // 6 unknown version
    bytes.extend(b"\n");
    bytes.extend(br#"{"messages":[{"role":"assistant","content":"x"}]}"#); // 7 missing format
    bytes.extend(b"\n");
    bytes.extend(format!("{}\n", good(8)).bytes()); // 8 good
    bytes.extend(br#"{"format":"sft.v1","messages":[{"role":"user","#); // 9 truncated
    if let Err(e) = fs::write(&path, bytes) {
        panic!("{e}");
    }
    path
}

#[test]
fn lenient_mode_reads_every_good_line_and_reports_every_bad_one() {
    let dir = super::tempdir();
    let path = mixed_file(dir.path());
    let mut reader = match JsonlReader::<SftRecord>::open(&path, ReadOptions::lenient()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut good_lines = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(p) => good_lines.push((p.line, p.record.messages[1].content.clone())),
            Err(e) => panic!("lenient reader stopped: {e}"),
        }
    }
    assert_eq!(
        good_lines,
        [(1, "a1".to_string()), (4, "a4".into()), (8, "a8".into())]
    );
    let report = reader.report();
    assert_eq!((report.lines, report.records, report.blank), (9, 3, 1));
    let bad: Vec<(u64, &str)> = report
        .bad
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(
        bad,
        [
            (3, "<utf-8>"),
            (5, "messages"),
            (6, "format"),
            (7, "format"),
            (9, "<json>")
        ]
    );
    let shown: Vec<String> = report.bad.iter().map(ToString::to_string).collect();
    let p = path.display();
    // `{"format":` 10 + `"sft.v1",` 9 + `"messages":` 11 + `[{` 2 + `"role":` 7
    // + `"user",` 7 + `"content":` 10 + `"` 1 = 57 valid bytes before 0xff.
    assert_eq!(
        shown[0],
        format!("{p}:3: <utf-8>: invalid UTF-8 at byte 57 of the line")
    );
    assert_eq!(
        shown[1],
        format!("{p}:5: messages: invalid type: string \"hello\", expected a sequence")
    );
    assert_eq!(
        shown[2],
        format!(
            "{p}:6: format: unsupported format version `sft.v7` (version 7); this build reads `sft.v1`"
        )
    );
    assert_eq!(
        shown[3],
        format!("{p}:7: format: required field is missing")
    );
    assert!(
        shown[4].starts_with(&format!("{p}:9: <json>: EOF while parsing")),
        "{}",
        shown[4]
    );
    assert!(shown[4].ends_with("(the last line has no newline: was the file truncated?)"));
}

#[test]
fn strict_mode_stops_at_the_first_bad_line() {
    let dir = super::tempdir();
    let path = mixed_file(dir.path());
    let reader = match JsonlReader::<SftRecord>::open(&path, ReadOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let items: Vec<_> = reader.collect();
    assert_eq!(
        items.len(),
        2,
        "one good record, then the error, then nothing"
    );
    assert!(matches!(&items[0], Ok(p) if p.line == 1));
    match &items[1] {
        Err(ReadError::Record(b)) => assert_eq!((b.line, b.field.as_str()), (3, "<utf-8>")),
        other => panic!("expected a record error, got {other:?}"),
    }
    match read_all::<SftRecord>(&path, ReadOptions::default()) {
        Err(ReadError::Record(b)) => assert_eq!(b.line, 3),
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn empty_and_blank_files_hold_no_records_and_no_errors() {
    let dir = super::tempdir();
    for (name, content) in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n\r\n")] {
        let path = dir.path().join(name);
        if let Err(e) = fs::write(&path, content) {
            panic!("{e}");
        }
        match read_all::<SftRecord>(&path, ReadOptions::default()) {
            Ok((records, report)) => {
                assert!(records.is_empty());
                assert!(report.bad.is_empty());
                assert_eq!(report.records, 0);
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_last_line_without_newline_is_fine_when_complete() {
    let dir = super::tempdir();
    let path = dir.path().join("no_newline.jsonl");
    if let Err(e) = fs::write(&path, format!("{}\n{}", good(1), good(2))) {
        panic!("{e}");
    }
    match read_all::<SftRecord>(&path, ReadOptions::default()) {
        Ok((records, _)) => assert_eq!(records.len(), 2),
        Err(e) => panic!("{e}"),
    }
}

fn ten_mb_record() -> String {
    let big = "x".repeat(10 << 20);
    GOOD.replace("\"a\"", &format!("\"{big}\""))
}

#[test]
fn a_ten_megabyte_line_is_read_whole_or_rejected_by_the_limit() {
    let dir = super::tempdir();
    let path = dir.path().join("big.jsonl");
    let big = ten_mb_record();
    if let Err(e) = fs::write(&path, format!("{big}\n{}\n", good(2))) {
        panic!("{e}");
    }
    match read_all::<SftRecord>(&path, ReadOptions::default()) {
        Ok((records, _)) => {
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].record.messages[1].content.len(), 10 << 20);
        }
        Err(e) => panic!("{e}"),
    }
    let limited = ReadOptions {
        mode: Mode::Lenient,
        max_line_bytes: 1 << 20,
    };
    match read_all::<SftRecord>(&path, limited) {
        Ok((records, report)) => {
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].line, 2);
            assert_eq!(report.bad.len(), 1);
            // The line is the 10 MiB string plus the JSON around it.
            let expected = big.len();
            assert_eq!(
                report.bad[0].reason,
                format!("line is {expected} bytes, over the 1048576-byte limit")
            );
        }
        Err(e) => panic!("{e}"),
    }
}

fn sft(n: usize) -> SftRecord {
    SftRecord::new(vec![
        Message::user("q"),
        Message::assistant(format!("a{n}")),
    ])
}

#[test]
fn writer_appends_and_each_record_is_on_disk_after_write() {
    let dir = super::tempdir();
    let path = dir.path().join("out.jsonl");
    let mut w = match JsonlWriter::<SftRecord>::append(&path) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    for n in 0..2 {
        if let Err(e) = w.write(&sft(n)) {
            panic!("{e}");
        }
        // Flushed per record: another reader sees it before finish().
        let text = fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text.lines().count(), n + 1);
    }
    drop(w);
    let mut w = match JsonlWriter::<SftRecord>::append(&path) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    assert!(w.write(&sft(2)).is_ok());
    assert!(w.finish().is_ok());
    match read_all::<SftRecord>(&path, ReadOptions::default()) {
        Ok((records, _)) => {
            let got: Vec<SftRecord> = records.into_iter().map(|p| p.record).collect();
            assert_eq!(got, [sft(0), sft(1), sft(2)]);
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn gzip_roundtrip_across_appends_and_bad_lines_keep_their_numbers() {
    let dir = super::tempdir();
    let path = dir.path().join("out.jsonl.gz");
    for n in 0..2 {
        let mut w = match JsonlWriter::<SftRecord>::append(&path) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        assert!(w.write(&sft(n)).is_ok());
        assert!(w.finish().is_ok());
    }
    match read_all::<SftRecord>(&path, ReadOptions::default()) {
        Ok((records, _)) => assert_eq!(records.len(), 2),
        Err(e) => panic!("{e}"),
    }
    // A gzip file with a bad second line.
    let bad = dir.path().join("bad.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(format!("{}\n{{\"format\":1}}\n{}\n", good(1), good(3)).as_bytes());
    let bytes = enc.finish().unwrap_or_default();
    if let Err(e) = fs::write(&bad, &bytes) {
        panic!("{e}");
    }
    match read_all::<SftRecord>(&bad, ReadOptions::lenient()) {
        Ok((records, report)) => {
            assert_eq!(records.len(), 2);
            assert_eq!(report.bad.len(), 1);
            assert_eq!(
                (report.bad[0].line, report.bad[0].field.as_str()),
                (2, "format")
            );
        }
        Err(e) => panic!("{e}"),
    }
    // A truncated gzip stream is an I/O error, never a silent short read.
    let cut = dir.path().join("cut.gz");
    if let Err(e) = fs::write(&cut, &bytes[..bytes.len() - 12]) {
        panic!("{e}");
    }
    match read_all::<SftRecord>(&cut, ReadOptions::lenient()) {
        Err(ReadError::Io { .. }) => {}
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_an_open_error() {
    match read_all::<SftRecord>("/nonexistent/x.jsonl", ReadOptions::default()) {
        Err(ReadError::Open { .. }) => {}
        other => panic!("expected an open error, got {other:?}"),
    }
}
