//! The snapshot file: what a follower that fell too far behind receives
//! instead of the Raft entries the leader no longer keeps.
//!
//! It holds the state machine as of one entry: its state (the last applied
//! entry, the membership, the producers table, where the records end) and
//! the records themselves, from the lowest one the leader still has:
//!
//! ```text
//!   "proglog-snapshot-1\n"          what this file is
//!   u32 BE + postcard(header)       the state, the first record's offset, the count
//!   (u32 BE + value) × count        the records, in offset order
//! ```
//!
//! The records are read from the state machine's log when the snapshot is
//! sent, not when it is made: they are on disk already and never change,
//! so making a snapshot (every few thousand entries) only writes the state.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

use chapter_01::Log;
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::state_machine::MachineState;

/// The first bytes of every snapshot file.
const MAGIC: &[u8] = b"proglog-snapshot-1\n";

/// What a snapshot file says before its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// The state machine as of the snapshot.
    pub(crate) state: MachineState,
    /// The offset of the first record in the file.
    pub(crate) first_offset: u64,
}

// ANCHOR: write
/// Writes a snapshot of `state` to `file`: its records are the ones of
/// `log` from its lowest offset to where `state` says they end.
pub(crate) fn write(file: &mut File, state: &MachineState, log: &Log) -> Result<()> {
    let first_offset = log.lowest_offset().min(state.next_offset);
    let header = encode(&Header {
        state: state.clone(),
        first_offset,
    })
    .map_err(|error| Error::codec("a snapshot header", error))?;
    let mut out = BufWriter::new(file);
    let written = (|| -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&length(header.len())?.to_be_bytes())?;
        out.write_all(&header)?;
        Ok(())
    })();
    written.map_err(Error::io("writing", "a snapshot"))?;
    for offset in first_offset..state.next_offset {
        let value = log.read(offset)?;
        out.write_all(
            &length(value.len())
                .map_err(Error::io("writing", "a snapshot"))?
                .to_be_bytes(),
        )
        .and_then(|()| out.write_all(&value))
        .map_err(Error::io("writing", "a snapshot"))?;
    }
    out.flush().map_err(Error::io("writing", "a snapshot"))
}
// ANCHOR_END: write

// ANCHOR: read
/// Reads a snapshot written by [`write`]: its header, and its records one
/// by one through `each` (offset, value), in order.
pub(crate) fn read(
    file: &mut File,
    mut each: impl FnMut(u64, Vec<u8>) -> Result<()>,
) -> Result<Header> {
    let mut input = BufReader::new(file);
    let mut magic = vec![0; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(Error::io("reading", "a snapshot"))?;
    if magic != MAGIC {
        return Err(Error::Snapshot(
            "not a proglog snapshot (wrong first bytes)".into(),
        ));
    }
    let header_bytes = read_chunk(&mut input)?;
    let header: Header =
        decode(&header_bytes).map_err(|error| Error::codec("a snapshot header", error))?;
    for offset in header.first_offset..header.state.next_offset {
        each(offset, read_chunk(&mut input)?)?;
    }
    Ok(header)
}
// ANCHOR_END: read

/// One length-prefixed chunk.
fn read_chunk(input: &mut impl Read) -> Result<Vec<u8>> {
    let mut length = [0; 4];
    input
        .read_exact(&mut length)
        .map_err(Error::io("reading", "a snapshot"))?;
    let mut bytes = vec![0; u32::from_be_bytes(length) as usize];
    input
        .read_exact(&mut bytes)
        .map_err(Error::io("reading", "a snapshot (cut short?)"))?;
    Ok(bytes)
}

fn length(len: usize) -> std::io::Result<u32> {
    u32::try_from(len).map_err(|_| std::io::Error::other("a snapshot chunk over 4 GiB"))
}
