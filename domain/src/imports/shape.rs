//! The shape of an import file, checked while it arrives, before anything holds a row of
//! it: a header of at most [`MAX_HEADER_COLUMNS`] columns and [`MAX_HEADER_BYTES`] bytes,
//! and no record (a row; a quoted field may span lines) over [`MAX_RECORD_BYTES`].
//!
//! Everything that later reads the file whole-record at a time — the header's mapping, the
//! job's batches — can then only ever hold bounded records, whatever the file's shape:
//! a 50 MB header line of `email,a,a,a,…` is refused after its first 64 KiB instead of
//! becoming millions of strings. The check itself holds a fixed scratch buffer.

use crate::error::{Error, Result};

/// Columns a header may name.
pub const MAX_HEADER_COLUMNS: usize = 1_000;
/// Bytes of the header row.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Bytes of any other record (one row: every field of it, quoted line breaks included).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Reads an import file's bytes as they arrive, record by record, refusing the file at the
/// first record over a limit.
pub struct ImportShape {
    reader: csv_core::Reader,
    scratch: Box<[u8; 4096]>,
    /// The record being read: its number (the header is 1), bytes and fields so far.
    record: u64,
    record_bytes: usize,
    fields: usize,
    /// A limit was passed: every later byte is ignored and `finish` refuses the file.
    refused: Option<Error>,
}

/// Proof that a file passed [`ImportShape`]: what creating an import asks for.
#[derive(Debug)]
pub struct CheckedShape {
    _private: (),
}

impl Default for ImportShape {
    fn default() -> Self {
        Self::new()
    }
}

impl ImportShape {
    pub fn new() -> Self {
        ImportShape {
            // The dialect import files are read in (see `import::csv_reader`).
            reader: csv_core::ReaderBuilder::new().build(),
            scratch: Box::new([0; 4096]),
            record: 1,
            record_bytes: 0,
            fields: 0,
            refused: None,
        }
    }

    /// Takes the next bytes of the file. Once the file is refused, the rest is ignored (the
    /// upload may still be drained), and the first refusal is what `finish` reports.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        // An empty slice would tell the reader the file ended.
        while !bytes.is_empty() && self.refused.is_none() {
            let (result, read, _) = self.reader.read_field(bytes, &mut self.scratch[..]);
            bytes = &bytes[read..];
            self.step(result, read);
        }
    }

    /// Whether a limit was passed (the file will be refused).
    pub fn is_refused(&self) -> bool {
        self.refused.is_some()
    }

    /// The file ended: reads its last record, and answers whether the file may be
    /// imported (an `Invalid` error on `body` naming the limit when not).
    pub fn finish(mut self) -> Result<CheckedShape> {
        while self.refused.is_none() {
            let (result, read, _) = self.reader.read_field(&[], &mut self.scratch[..]);
            if matches!(result, csv_core::ReadFieldResult::End) {
                break;
            }
            self.step(result, read);
        }
        match self.refused {
            Some(error) => Err(error),
            None => Ok(CheckedShape { _private: () }),
        }
    }

    fn step(&mut self, result: csv_core::ReadFieldResult, read: usize) {
        use csv_core::ReadFieldResult as Read;
        self.record_bytes += read;
        let record_end = match result {
            Read::Field { record_end } => {
                self.fields += 1;
                record_end
            }
            // A field longer than the scratch buffer goes on; its bytes are counted.
            Read::InputEmpty | Read::OutputFull | Read::End => false,
        };
        self.refused = self
            .over_a_limit()
            .map(|message| Error::invalid("body", message));
        if record_end {
            self.record += 1;
            self.record_bytes = 0;
            self.fields = 0;
        }
    }

    fn over_a_limit(&self) -> Option<String> {
        if self.record == 1 {
            if self.fields > MAX_HEADER_COLUMNS {
                return Some(format!(
                    "the header row has more than {MAX_HEADER_COLUMNS} columns, the most an import reads"
                ));
            }
            if self.record_bytes > MAX_HEADER_BYTES {
                return Some(format!(
                    "the header row is longer than {MAX_HEADER_BYTES} bytes, the most an import reads"
                ));
            }
        } else if self.record_bytes > MAX_RECORD_BYTES {
            return Some(format!(
                "row {} is longer than {MAX_RECORD_BYTES} bytes, the most one row of an import may hold",
                self.record
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_in_pieces(file: &[u8], piece: usize) -> Result<CheckedShape> {
        let mut shape = ImportShape::new();
        for chunk in file.chunks(piece.max(1)) {
            shape.feed(chunk);
        }
        shape.finish()
    }

    fn refusal(file: &[u8]) -> String {
        match check_in_pieces(file, 1000) {
            Err(Error::Invalid(errors)) => {
                assert_eq!(errors[0].field, "body");
                errors[0].message.clone()
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn ordinary_files_pass_however_they_are_cut() {
        let file = b"email,name,plan\r\nada@example.com,\"Lovelace, Ada\",pro\nb@example.com,\"two\nlines\",free";
        for piece in [1, 2, 7, 64, 10_000] {
            assert!(check_in_pieces(file, piece).is_ok(), "piece {piece}");
        }
        assert!(check_in_pieces(b"", 10).is_ok());
    }

    #[test]
    fn a_very_wide_header_is_refused_naming_the_limit() {
        let mut wide = b"email".to_vec();
        for _ in 0..MAX_HEADER_COLUMNS {
            wide.extend_from_slice(b",a");
        }
        wide.extend_from_slice(b"\nada@example.com\n");
        assert!(refusal(&wide).contains(&format!("more than {MAX_HEADER_COLUMNS} columns")));

        let mut long = b"email,".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_HEADER_BYTES));
        assert!(refusal(&long).contains(&format!("longer than {MAX_HEADER_BYTES} bytes")));
    }

    #[test]
    fn a_header_at_the_limits_passes() {
        let mut header = b"email".to_vec();
        for _ in 1..MAX_HEADER_COLUMNS {
            header.extend_from_slice(b",a");
        }
        header.push(b'\n');
        assert!(check_in_pieces(&header, 4096).is_ok());
    }

    #[test]
    fn a_long_row_or_field_is_refused_naming_its_row() {
        let mut file = b"email,notes\nada@example.com,ok\nb@example.com,\"".to_vec();
        file.extend(std::iter::repeat_n(b'y', MAX_RECORD_BYTES));
        file.extend_from_slice(b"\"\n");
        let message = refusal(&file);
        assert!(message.starts_with("row 3 is longer than"), "{message}");
        assert!(message.contains(&MAX_RECORD_BYTES.to_string()), "{message}");
    }

    #[test]
    fn bytes_after_a_refusal_are_ignored() {
        let mut shape = ImportShape::new();
        shape.feed(&vec![b'a'; MAX_HEADER_BYTES + 1]);
        for _ in 0..100 {
            shape.feed(b",a,a,a\n");
        }
        assert!(shape.finish().is_err());
    }
}
