//! Splitting a byte stream into lines with a length cap: a line longer than
//! the cap is consumed and measured but not kept, so one huge line cannot
//! exhaust memory, and invalid UTF-8 stays confined to its own line.

use std::io::{self, BufRead};

/// What one call to [`next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// End of input.
    Eof,
    /// A line within the cap is in the buffer (without `\n` / `\r\n`).
    Line {
        /// Whether the line was ended by `\n` (false for a last line without one).
        newline: bool,
    },
    /// A line longer than the cap; its bytes were skipped.
    TooLong {
        /// Its full length in bytes.
        bytes: u64,
    },
}

/// Reads the next line into `buf` (cleared first), keeping at most `max` bytes.
pub(crate) fn next_line(
    src: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut total: u64 = 0;
    let mut overflow = false;
    let mut newline = false;
    loop {
        let avail = match src.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        let (take, found) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        total += take as u64;
        if !overflow {
            if buf.len() + take <= max.saturating_add(1) {
                buf.extend_from_slice(&avail[..take]);
            } else {
                overflow = true;
                buf.clear();
                buf.shrink_to_fit();
            }
        }
        src.consume(take);
        if found {
            newline = true;
            break;
        }
    }
    if total == 0 {
        return Ok(LineRead::Eof);
    }
    let content = total - u64::from(newline);
    if overflow || content > max as u64 {
        buf.clear();
        return Ok(LineRead::TooLong { bytes: content });
    }
    if newline {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(LineRead::Line { newline })
}
