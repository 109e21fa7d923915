//! RecordIO, the framing of the Mesos event streams: each record is its
//! length in decimal ASCII, a `\n`, then that many bytes, with nothing
//! between records and no trailing newline (`5\nhello3\nfoo`).
//!
//! HTTP chunk boundaries have nothing to do with record boundaries, so
//! [`RecordIoDecoder`] takes arbitrary byte chunks and yields whole records.
//! It never allocates a record's claimed size up front: bytes are kept only
//! as they arrive, and a header claiming more than the configured maximum
//! is an error before any body byte is read.

use bytes::{Buf, Bytes, BytesMut};

/// Largest record accepted by default (64 MiB).
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// Most digits a length header may have (`u64::MAX` has 20).
pub const MAX_HEADER_DIGITS: usize = 20;

/// Why a RecordIO stream could not be decoded. A stream is unusable after
/// any of these: the decoder does not try to resynchronise.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// A length header contained something other than ASCII digits.
    #[error("RecordIO length header contains byte 0x{byte:02x}, not a decimal digit")]
    InvalidHeaderByte {
        /// The offending byte.
        byte: u8,
    },
    /// A length header was a bare `\n`.
    #[error("RecordIO length header is empty")]
    EmptyHeader,
    /// More than [`MAX_HEADER_DIGITS`] digits arrived without a `\n`.
    #[error("RecordIO length header is longer than {MAX_HEADER_DIGITS} digits")]
    HeaderTooLong,
    /// A header announced a record larger than the decoder's maximum.
    #[error("RecordIO record of {length} bytes exceeds the {max} byte limit")]
    RecordTooLarge {
        /// The announced length.
        length: u128,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended inside a header or a record.
    #[error(
        "RecordIO stream ended inside a record ({buffered} bytes buffered, {expected} expected)"
    )]
    Truncated {
        /// Bytes of the unfinished header or record that had arrived.
        buffered: usize,
        /// The record length announced, or "a header" when the header
        /// itself was unfinished.
        expected: String,
    },
    /// Reading the underlying stream failed (codec use only).
    #[error("reading the RecordIO stream failed: {0}")]
    Io(#[from] std::io::Error),
    /// The decoder is asked for more after it already failed.
    #[error("RecordIO stream already failed; its framing is lost")]
    AlreadyFailed,
}

/// Frames one record: `<len>\n<record>`.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(record.len() + MAX_HEADER_DIGITS + 1);
    encode_into(record, &mut out);
    out.to_vec()
}

/// Appends one framed record to `dst`.
pub fn encode_into(record: &[u8], dst: &mut BytesMut) {
    dst.extend_from_slice(record.len().to_string().as_bytes());
    dst.extend_from_slice(b"\n");
    dst.extend_from_slice(record);
}

/// The framing state machine shared by [`RecordIoDecoder`] and the
/// `tokio_util` codec: it consumes bytes from a caller-owned buffer.
#[derive(Debug, Clone)]
pub(crate) struct Framer {
    max_record_len: usize,
    /// Length of the record whose header was consumed but whose body has
    /// not fully arrived.
    pending: Option<usize>,
    failed: bool,
}

impl Framer {
    pub(crate) fn new(max_record_len: usize) -> Self {
        Framer {
            max_record_len,
            pending: None,
            failed: false,
        }
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed
    }

    /// Takes the next whole record off the front of `buf`, if there is one.
    pub(crate) fn next_record(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Bytes>, RecordIoError> {
        if self.failed {
            return Err(RecordIoError::AlreadyFailed);
        }
        let length = match self.pending {
            Some(length) => length,
            None => match take_header(buf, self.max_record_len) {
                Ok(Some(length)) => {
                    self.pending = Some(length);
                    length
                }
                Ok(None) => return Ok(None),
                Err(error) => {
                    self.failed = true;
                    return Err(error);
                }
            },
        };
        if buf.len() < length {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(buf.split_to(length).freeze()))
    }

    /// At end of stream: an error if a header or record is unfinished.
    pub(crate) fn finish(&self, buf: &BytesMut) -> Result<(), RecordIoError> {
        if self.failed {
            return Err(RecordIoError::AlreadyFailed);
        }
        match self.pending {
            None if buf.is_empty() => Ok(()),
            None => Err(RecordIoError::Truncated {
                buffered: buf.len(),
                expected: "a header".to_string(),
            }),
            Some(length) => Err(RecordIoError::Truncated {
                buffered: buf.len(),
                expected: format!("{length} bytes"),
            }),
        }
    }
}

/// Consumes a complete `<digits>\n` header from `buf`; `Ok(None)` while
/// it is incomplete. Non-digits are reported as soon as they arrive.
fn take_header(buf: &mut BytesMut, max_record_len: usize) -> Result<Option<usize>, RecordIoError> {
    let window = &buf[..buf.len().min(MAX_HEADER_DIGITS + 1)];
    let newline = window.iter().position(|&b| b == b'\n');
    let digits = &window[..newline.unwrap_or(window.len())];
    if let Some(&byte) = digits.iter().find(|b| !b.is_ascii_digit()) {
        return Err(RecordIoError::InvalidHeaderByte { byte });
    }
    let Some(newline) = newline else {
        return if digits.len() > MAX_HEADER_DIGITS {
            Err(RecordIoError::HeaderTooLong)
        } else {
            Ok(None)
        };
    };
    if digits.is_empty() {
        return Err(RecordIoError::EmptyHeader);
    }
    // At most 20 digits: fits a u128 without overflow.
    let length = digits
        .iter()
        .fold(0u128, |acc, &d| acc * 10 + u128::from(d - b'0'));
    let length = match usize::try_from(length) {
        Ok(length) if length <= max_record_len => length,
        _ => {
            return Err(RecordIoError::RecordTooLarge {
                length,
                max: max_record_len,
            })
        }
    };
    buf.advance(newline + 1);
    Ok(Some(length))
}

/// A push-based RecordIO decoder: feed it chunks as they arrive with
/// [`push`](Self::push) and drain whole records with
/// [`next_record`](Self::next_record).
///
/// ```
/// use mesos_proto::recordio::{encode, RecordIoDecoder};
///
/// let mut decoder = RecordIoDecoder::new();
/// let stream = [encode(b"hello"), encode(b"")].concat();
/// let (first, second) = stream.split_at(4);
/// decoder.push(first);
/// assert_eq!(decoder.next_record().unwrap(), None);
/// decoder.push(second);
/// assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b"hello"[..]));
/// assert_eq!(decoder.next_record().unwrap().as_deref(), Some(&b""[..]));
/// assert_eq!(decoder.next_record().unwrap(), None);
/// decoder.finish().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RecordIoDecoder {
    buf: BytesMut,
    framer: Framer,
}

impl Default for RecordIoDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordIoDecoder {
    /// A decoder accepting records up to [`DEFAULT_MAX_RECORD_LEN`].
    pub fn new() -> Self {
        Self::with_max_record_len(DEFAULT_MAX_RECORD_LEN)
    }

    /// A decoder accepting records up to `max_record_len` bytes.
    pub fn with_max_record_len(max_record_len: usize) -> Self {
        RecordIoDecoder {
            buf: BytesMut::new(),
            framer: Framer::new(max_record_len),
        }
    }

    /// Appends a chunk of the stream. Ignored once the stream has failed.
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.framer.has_failed() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next whole record, `Ok(None)` until more bytes are pushed.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        self.framer.next_record(&mut self.buf)
    }

    /// Bytes pushed but not yet returned in a record.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Call at end of stream: an error if it ended inside a record.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        self.framer.finish(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        let mut decoder = RecordIoDecoder::new();
        decoder.push(input);
        let mut records = Vec::new();
        while let Some(record) = decoder.next_record()? {
            records.push(record);
        }
        decoder.finish()?;
        Ok(records)
    }

    #[test]
    fn a_record_is_prefixed_by_its_decimal_length() {
        assert_eq!(encode(b"hello"), b"5\nhello");
        assert_eq!(encode(b""), b"0\n");
        assert_eq!(encode(&[7u8; 12])[..3], *b"12\n");
    }

    #[test]
    fn back_to_back_records_decode_in_order() {
        let records = decode_all(b"5\nhello0\n3\nfoo").expect("valid stream");
        assert_eq!(records, vec![&b"hello"[..], &b""[..], &b"foo"[..]]);
    }

    #[test]
    fn a_non_digit_is_reported_before_the_newline_arrives() {
        let mut decoder = RecordIoDecoder::new();
        decoder.push(b"12a");
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::InvalidHeaderByte { byte: b'a' })
        ));
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::AlreadyFailed)
        ));
    }

    #[test]
    fn an_overlong_header_is_an_error() {
        let mut decoder = RecordIoDecoder::new();
        decoder.push(&[b'1'; MAX_HEADER_DIGITS + 1]);
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::HeaderTooLong)
        ));
    }

    #[test]
    fn a_record_over_the_limit_is_refused_before_its_body_arrives() {
        let mut decoder = RecordIoDecoder::with_max_record_len(10);
        decoder.push(b"11\n");
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLarge {
                length: 11,
                max: 10
            })
        ));
        let mut huge = RecordIoDecoder::new();
        huge.push(b"99999999999999999999\n");
        assert!(matches!(
            huge.next_record(),
            Err(RecordIoError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn a_stream_ending_inside_a_record_is_truncated() {
        let error = decode_all(b"5\nhel").expect_err("truncated body");
        assert!(error.to_string().contains("5 bytes"), "{error}");
        let error = decode_all(b"5\nhello1").expect_err("truncated header");
        assert!(matches!(
            error,
            RecordIoError::Truncated { buffered: 1, .. }
        ));
    }

    #[test]
    fn an_empty_header_is_an_error() {
        assert!(matches!(
            decode_all(b"\nabc"),
            Err(RecordIoError::EmptyHeader)
        ));
    }
}
