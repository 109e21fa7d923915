//! Parsing a Server-Sent Events stream (`text/event-stream`, as `GET
//! /v1/events` sends it) from the chunks the network delivers, which may cut
//! a line, a UTF-8 character or a `\r\n` anywhere. Pure: bytes in, events out.
//!
//! Follows the HTML specification's rules: lines end with `\n`, `\r\n` or
//! `\r`; `data:` lines are joined with `\n`; a blank line dispatches the
//! event; lines starting with `:` are comments (keep-alives); one space after
//! the colon is dropped; an event cut off by the end of the stream is not
//! dispatched.

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, `None` for the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, if the event has one.
    pub id: Option<String>,
}

/// Turns the chunks of an event stream into [`SseEvent`]s, keeping an
/// unfinished line and an unfinished event between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The bytes of the line not yet ended.
    line: Vec<u8>,
    /// The last chunk ended with `\r`: a `\n` starting the next one belongs
    /// to that line end.
    after_cr: bool,
    /// The `data:` lines of the event being read.
    data: Vec<String>,
    /// Whether the event being read has any `data:` line.
    has_data: bool,
    /// The `event:` field of the event being read.
    event: Option<String>,
    /// The `id:` field of the event being read.
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `chunk` and returns the events it completes, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.end_line(&mut events);
                    self.after_cr = true;
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// Ends the current line: a field of the event, or (blank) its end.
    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&line);
        if line.is_empty() {
            if let Some(event) = self.dispatch() {
                events.push(event);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
    }

    /// The event read so far, if it has data; the fields are reset either way.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let data = std::mem::take(&mut self.data);
        let event = self.event.take();
        let id = self.id.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event: event.filter(|e| !e.is_empty()),
            data: data.join("\n"),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn each_blank_line_ends_an_event() {
        let mut parser = SseParser::new();
        let events = parser.push(b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\n");
        assert_eq!(data(&events), [r#"{"a":1}"#, r#"{"b":2}"#]);
    }

    #[test]
    fn a_data_line_split_across_chunks_is_joined() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"da").is_empty());
        assert!(parser.push(b"ta: {\"task\":").is_empty());
        assert!(parser.push(b"\"x\"}\n").is_empty());
        let events = parser.push(b"\n");
        assert_eq!(data(&events), [r#"{"task":"x"}"#]);
    }

    #[test]
    fn every_byte_in_its_own_chunk_gives_the_same_events() {
        let stream = "event: task\r\nid: 7\r\ndata: {\"é\":1}\r\n\r\n: keep-alive\r\n\r\ndata:x\r\rdata: y\n\n";
        let whole = SseParser::new().push(stream.as_bytes());
        let mut parser = SseParser::new();
        let bytewise: Vec<SseEvent> = stream
            .as_bytes()
            .iter()
            .flat_map(|b| parser.push(std::slice::from_ref(b)))
            .collect();
        assert_eq!(whole, bytewise);
        assert_eq!(data(&whole), ["{\"é\":1}", "x", "y"]);
        assert_eq!(whole[0].event.as_deref(), Some("task"));
        assert_eq!(whole[0].id.as_deref(), Some("7"));
        assert_eq!(whole[1].event, None);
    }

    #[test]
    fn a_crlf_split_between_chunks_is_one_line_end() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: a\r").is_empty());
        assert!(parser.push(b"\ndata: b\r").is_empty());
        let events = parser.push(b"\n\r\n");
        assert_eq!(data(&events), ["a\nb"]);
    }

    #[test]
    fn comments_and_events_without_data_are_not_dispatched() {
        let mut parser = SseParser::new();
        let events = parser.push(b": ping\n\nevent: nothing\n\nretry: 10\n\n");
        assert!(events.is_empty());
    }

    #[test]
    fn only_one_space_after_the_colon_is_dropped() {
        let events = SseParser::new().push(b"data:  two\ndata\n\n");
        assert_eq!(data(&events), [" two\n"]);
    }

    #[test]
    fn an_event_cut_off_by_the_end_of_the_stream_is_not_dispatched() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: {\"half\":").is_empty());
        assert!(parser.push(b"true}\n").is_empty());
    }
}
