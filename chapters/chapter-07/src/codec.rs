//! Bytes for openraft's types: log entries on disk, messages on the wire.
//!
//! openraft's types are serde types. postcard turns them into compact bytes
//! (a blank entry is 4 bytes, a small record about 16 more than its value),
//! and back. JSON would work too, but writes a `Vec<u8>` as an array of
//! numbers: three to four times the bytes, on every entry and every RPC.

use serde::Serialize;
use serde::de::DeserializeOwned;

// ANCHOR: codec
/// `value` as bytes.
///
/// # Errors
/// postcard's error if the value cannot be encoded (none of ours fails).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(value)
}

/// The value `bytes` encode, all of them (bytes left over mean the bytes
/// are not what they claim to be).
///
/// # Errors
/// postcard's error if the bytes are not such a value (damaged, or from a
/// peer speaking another version).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    match postcard::take_from_bytes(bytes)? {
        (value, []) => Ok(value),
        (_, _left_over) => Err(postcard::Error::DeserializeBadEncoding),
    }
}
// ANCHOR_END: codec

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Append, Entry, LogId, Producer, Record};

    // ANCHOR: round_trip
    // An entry and its log id come back exactly as they were, and a damaged
    // one is an error, not a different entry.
    #[test]
    fn entries_round_trip() {
        let entry = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 2), 41),
            payload: openraft::EntryPayload::Normal(Append {
                records: vec![Record {
                    value: b"hello".to_vec().into(),
                    producer: Some(Producer { id: 7, sequence: 9 }),
                }],
            }),
        };
        let bytes = encode(&entry).unwrap();
        let back: Entry = decode(&bytes).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        assert!(decode::<Entry>(&bytes[..bytes.len() / 2]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Entry>(&longer).is_err());
    }
    // ANCHOR_END: round_trip
}
