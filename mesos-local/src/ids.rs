//! Identifiers the master and agent mint, in Mesos' formats: framework ids
//! `<master-id>-0000`, agent ids `<master-id>-S0`, offer ids
//! `<master-id>-O0`, UUID stream and container ids, and the 16 raw bytes
//! of a status update uuid.

use uuid::Uuid;

/// A fresh random UUID in its hyphenated text form.
pub fn new_uuid() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// The 16 raw bytes of a fresh random UUID (a status update `uuid`).
pub fn new_uuid_bytes() -> Vec<u8> {
    Uuid::new_v4().as_bytes().to_vec()
}

/// Text form of a raw 16-byte uuid for logs; hex for other lengths.
pub fn uuid_text(bytes: &[u8]) -> String {
    match Uuid::from_slice(bytes) {
        Ok(uuid) => uuid.hyphenated().to_string(),
        Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Mints the master's sequential ids.
#[derive(Debug, Clone)]
pub struct IdMinter {
    master_id: String,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
}

impl IdMinter {
    /// A minter for the master `master_id`.
    pub fn new(master_id: &str) -> Self {
        IdMinter {
            master_id: master_id.to_string(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
        }
    }

    /// `<master-id>-0000`, `<master-id>-0001` ...
    pub fn framework(&mut self) -> String {
        let id = format!("{}-{:04}", self.master_id, self.next_framework);
        self.next_framework += 1;
        id
    }

    /// `<master-id>-S0`, `<master-id>-S1` ...
    pub fn agent(&mut self) -> String {
        let id = format!("{}-S{}", self.master_id, self.next_agent);
        self.next_agent += 1;
        id
    }

    /// `<master-id>-O0`, `<master-id>-O1` ...
    pub fn offer(&mut self) -> String {
        let id = format!("{}-O{}", self.master_id, self.next_offer);
        self.next_offer += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_follow_mesos_formats() {
        let mut ids = IdMinter::new("m");
        assert_eq!(ids.framework(), "m-0000");
        assert_eq!(ids.framework(), "m-0001");
        assert_eq!(ids.agent(), "m-S0");
        assert_eq!(ids.offer(), "m-O0");
        assert_eq!(ids.offer(), "m-O1");
    }

    #[test]
    fn status_uuids_have_sixteen_bytes() {
        let bytes = new_uuid_bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(uuid_text(&bytes).len(), 36);
        assert_eq!(uuid_text(&[1, 2]), "0102");
    }
}
