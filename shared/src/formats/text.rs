//! Delimited text: encoding and delimiter detection, then the csv crate's streaming reader.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{Decoder, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::{FormatError, Record, peek};
use crate::domain::pos::TextEncoding;

/// How much of the file encoding and delimiter detection look at.
const SNIFF_BYTES: usize = 64 * 1024;

/// The longest record read. The csv reader grows a record's buffer for as long as the record
/// lasts, so a quote left open (a few bytes of gzip can expand to gigabytes) would take all
/// memory; past this bound the file fails with a reason instead.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The csv reader's buffer: it reads this far ahead of the record it is parsing.
const CSV_BUFFER_BYTES: usize = 64 * 1024;

pub(super) struct TextRecords {
    reader: csv::Reader<Box<dyn Read + Send>>,
    /// Where the record being read starts, in bytes handed to the csv reader.
    record_start: Arc<AtomicU64>,
    last_bytes: usize,
    last_fields: usize,
}

impl TextRecords {
    pub(super) fn open(
        reader: Box<dyn Read + Send>,
        declared: Option<TextEncoding>,
        delimiter: Option<u8>,
    ) -> Result<(Self, &'static str, u8), FormatError> {
        let (prefix, reader) = peek(reader, SNIFF_BYTES)?;
        let (encoding, bom) = detect_encoding(&prefix, declared);
        let mut reader = reader;
        if bom > 0 {
            io::copy(&mut (&mut reader).take(bom as u64), &mut io::sink())?;
        }
        let body = &prefix[bom..];
        let (decoded, name): (Box<dyn Read + Send>, &'static str) = match encoding {
            // UTF-8 is read as is: the csv reader checks each record.
            None => {
                if body.contains(&0) {
                    return Err(binary());
                }
                (reader, "utf-8")
            }
            Some(encoding) => {
                if encoding == WINDOWS_1252 && looks_binary(body) {
                    return Err(binary());
                }
                let name = match encoding.name() {
                    "UTF-16LE" => "utf-16le",
                    "UTF-16BE" => "utf-16be",
                    _ => "windows-1252",
                };
                let decoder = encoding.new_decoder_without_bom_handling();
                (Box::new(DecodingReader::new(reader, decoder)), name)
            }
        };
        let (start, decoded) = peek(decoded, SNIFF_BYTES)?;
        if start.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(FormatError::Empty);
        }
        let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&start));
        let record_start = Arc::new(AtomicU64::new(0));
        let decoded: Box<dyn Read + Send> = Box::new(RecordBound {
            inner: LfEndings::new(decoded),
            handed: 0,
            record_start: record_start.clone(),
        });
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(CSV_BUFFER_BYTES)
            .from_reader(decoded);
        let records = TextRecords {
            reader,
            record_start,
            last_bytes: 64,
            last_fields: 8,
        };
        Ok((records, name, delimiter))
    }

    pub(super) fn next_record(&mut self) -> Option<Result<Record, FormatError>> {
        loop {
            // Sized like the previous record: one allocation per buffer, no regrowth.
            let mut raw = csv::ByteRecord::with_capacity(self.last_bytes + 16, self.last_fields);
            match self.reader.read_byte_record(&mut raw) {
                Ok(false) => return None,
                Err(e) => return Some(Err(FormatError::Corrupt(e.to_string()))),
                Ok(true) => {}
            }
            self.record_start
                .store(self.reader.position().byte(), Ordering::Relaxed);
            self.last_bytes = raw.as_slice().len();
            self.last_fields = raw.len();
            // Every line ends in LF (see `LfEndings`), so after a record the reader's line
            // count is one past the record's last line.
            let embedded: u64 = if raw.as_slice().contains(&b'\n') {
                raw.iter().map(|f| bytecount(f, b'\n')).sum()
            } else {
                0
            };
            let row = self.reader.position().line() - 1 - embedded;
            let (fields, encoding_error) = match csv::StringRecord::from_byte_record(raw) {
                Ok(fields) => (fields, false),
                Err(e) => {
                    let lossy: csv::StringRecord = e
                        .into_byte_record()
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    (lossy, true)
                }
            };
            if Record::is_blank(&fields) {
                continue;
            }
            return Some(Ok(Record {
                row,
                fields,
                encoding_error,
            }));
        }
    }
}

fn binary() -> FormatError {
    FormatError::Unsupported("binary content, not delimited text or an xlsx workbook".into())
}

/// Control characters other than tab, CR and LF are rare in text and common in binaries.
fn looks_binary(bytes: &[u8]) -> bool {
    let control = bytes
        .iter()
        .filter(|b| **b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n'))
        .count();
    control * 100 > bytes.len().max(1)
}

/// The encoding (`None` for UTF-8, read as is) and the length of the BOM to skip.
fn detect_encoding(
    prefix: &[u8],
    declared: Option<TextEncoding>,
) -> (Option<&'static Encoding>, usize) {
    if let Some((encoding, bom)) = Encoding::for_bom(prefix) {
        let encoding = (encoding != encoding_rs::UTF_8).then_some(encoding);
        return (encoding, bom);
    }
    match declared {
        Some(TextEncoding::Utf8) => return (None, 0),
        Some(TextEncoding::Utf16le) => return (Some(UTF_16LE), 0),
        Some(TextEncoding::Utf16be) => return (Some(UTF_16BE), 0),
        Some(TextEncoding::Windows1252) => return (Some(WINDOWS_1252), 0),
        None => {}
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => (None, 0),
        // Cut in the middle of a character at the end of the sample: still UTF-8.
        Err(e) if e.error_len().is_none() => (None, 0),
        Err(_) => (Some(WINDOWS_1252), 0),
    }
}

/// The candidate delimiter seen most often outside quotes in the first line; comma on a tie.
fn detect_delimiter(start: &[u8]) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in start {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = CANDIDATES.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..CANDIDATES.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    CANDIDATES[best]
}

/// Transcodes a byte stream to UTF-8 as it is read.
struct DecodingReader {
    inner: Box<dyn Read + Send>,
    decoder: Decoder,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    output: Vec<u8>,
    output_start: usize,
    output_end: usize,
    finished: bool,
}

impl DecodingReader {
    fn new(inner: Box<dyn Read + Send>, decoder: Decoder) -> Self {
        Self {
            inner,
            decoder,
            input: vec![0; 32 * 1024],
            input_start: 0,
            input_end: 0,
            // Room for the worst case growth of one full input buffer.
            output: vec![0; 3 * 32 * 1024 + 16],
            output_start: 0,
            output_end: 0,
            finished: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        while self.output_start == self.output_end && !self.finished {
            if self.input_start == self.input_end {
                self.input_start = 0;
                self.input_end = self.inner.read(&mut self.input)?;
            }
            let last = self.input_end == 0;
            let (_, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[self.input_start..self.input_end],
                &mut self.output,
                last,
            );
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            if last {
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl Read for DecodingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.refill()?;
        let n = buf.len().min(self.output_end - self.output_start);
        buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
        self.output_start += n;
        Ok(n)
    }
}

/// Fails the read once the record being parsed exceeds [`MAX_RECORD_BYTES`] (plus the csv
/// reader's look-ahead): memory stays bounded whatever a record's length.
struct RecordBound<R> {
    inner: R,
    /// Bytes handed to the csv reader so far.
    handed: u64,
    record_start: Arc<AtomicU64>,
}

impl<R: Read> Read for RecordBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = self.record_start.load(Ordering::Relaxed);
        if self.handed.saturating_sub(start) > MAX_RECORD_BYTES + CSV_BUFFER_BYTES as u64 {
            return Err(io::Error::other(format!(
                "a record longer than {MAX_RECORD_BYTES} bytes (is a quote left open?)"
            )));
        }
        let n = self.inner.read(buf)?;
        self.handed += n as u64;
        Ok(n)
    }
}

fn bytecount(bytes: &[u8], byte: u8) -> u64 {
    bytes.iter().filter(|b| **b == byte).count() as u64
}

/// Turns CRLF into LF and ends the last line with LF, so that row numbers can be counted
/// the same way for every file.
struct LfEndings {
    inner: Box<dyn Read + Send>,
    buffer: Vec<u8>,
    /// A CR at the end of the last chunk, not yet known to be part of a CRLF.
    pending_cr: bool,
    last: u8,
    done: bool,
}

impl LfEndings {
    fn new(inner: Box<dyn Read + Send>) -> Self {
        Self {
            inner,
            buffer: vec![0; 64 * 1024],
            pending_cr: false,
            last: b'\n',
            done: false,
        }
    }
}

impl Read for LfEndings {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.len() < 2 {
            return Ok(0);
        }
        let room = (out.len() - 1).min(self.buffer.len());
        let n = self.inner.read(&mut self.buffer[..room])?;
        let mut written = 0;
        if n == 0 {
            self.done = true;
            if self.pending_cr {
                out[written] = b'\r';
                written += 1;
                self.last = b'\r';
            }
            if self.last != b'\n' {
                out[written] = b'\n';
                written += 1;
            }
            return Ok(written);
        }
        let chunk = &self.buffer[..n];
        if !self.pending_cr && !chunk.contains(&b'\r') {
            // The common case (LF files): copy as is.
            out[..n].copy_from_slice(chunk);
            self.last = chunk[n - 1];
            return Ok(n);
        }
        if self.pending_cr {
            self.pending_cr = false;
            if chunk[0] != b'\n' {
                out[written] = b'\r';
                written += 1;
            }
        }
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\r' {
                match chunk.get(i + 1) {
                    Some(b'\n') => continue,
                    Some(_) => {}
                    None => {
                        self.pending_cr = true;
                        continue;
                    }
                }
            }
            out[written] = b;
            written += 1;
        }
        if written > 0 {
            self.last = out[written - 1];
        }
        if written == 0 && self.pending_cr {
            // Only a CR was read: read on rather than report an end of file.
            return self.read(out);
        }
        Ok(written)
    }
}
