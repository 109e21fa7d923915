//! RecordIO as a `tokio_util::codec` Decoder/Encoder, for reading an event
//! stream with `FramedRead` (e.g. over a `StreamReader` of HTTP body
//! chunks) or writing one with `FramedWrite`.
//!
//! The framing rules and limits are those of [`crate::recordio`].

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::recordio::{encode_into, Framer, RecordIoError, DEFAULT_MAX_RECORD_LEN};

/// RecordIO framing for `tokio_util::codec`: decodes records as `Bytes`,
/// encodes anything that is `AsRef<[u8]>` as one record.
#[derive(Debug, Clone)]
pub struct RecordIoCodec {
    framer: Framer,
}

impl Default for RecordIoCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordIoCodec {
    /// A codec accepting records up to
    /// [`DEFAULT_MAX_RECORD_LEN`].
    pub fn new() -> Self {
        Self::with_max_record_len(DEFAULT_MAX_RECORD_LEN)
    }

    /// A codec accepting records up to `max_record_len` bytes.
    pub fn with_max_record_len(max_record_len: usize) -> Self {
        RecordIoCodec {
            framer: Framer::new(max_record_len),
        }
    }
}

impl Decoder for RecordIoCodec {
    type Item = Bytes;
    type Error = RecordIoError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        self.framer.next_record(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        match self.framer.next_record(src)? {
            Some(record) => Ok(Some(record)),
            None => self.framer.finish(src).map(|()| None),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), RecordIoError> {
        encode_into(item.as_ref(), dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};

    use super::*;

    #[tokio::test]
    async fn framed_write_then_framed_read_round_trips_records() {
        let mut written = Vec::new();
        {
            let mut sink = FramedWrite::new(&mut written, RecordIoCodec::new());
            for record in [&b"one"[..], b"", b"three"] {
                sink.send(record).await.expect("write record");
            }
        }
        assert_eq!(written, b"3\none0\n5\nthree");

        let mut stream = FramedRead::new(written.as_slice(), RecordIoCodec::new());
        let mut records = Vec::new();
        while let Some(record) = stream.next().await {
            records.push(record.expect("valid record"));
        }
        assert_eq!(records, vec![&b"one"[..], &b""[..], &b"three"[..]]);
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_record_ends_with_an_error() {
        let mut stream = FramedRead::new(&b"3\none9\nabc"[..], RecordIoCodec::new());
        assert_eq!(
            stream.next().await.map(|r| r.expect("first record")),
            Some(Bytes::from_static(b"one"))
        );
        let error = stream
            .next()
            .await
            .expect("an item")
            .expect_err("truncated");
        assert!(matches!(
            error,
            RecordIoError::Truncated { buffered: 3, .. }
        ));
    }
}
