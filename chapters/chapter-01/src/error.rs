//! The one error type of the storage engine, and what each variant means to a
//! caller: a bad request (out of range, too large), a broken file (corruption,
//! named by file and byte position), or the operating system saying no (I/O,
//! named by file).

// ANCHOR: imports
use std::io;
use std::path::PathBuf;
// ANCHOR_END: imports

// ANCHOR: error_a
/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a [`Log`](crate::Log).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The offset is below the lowest retained offset or at/after the next one.
    #[error("offset {offset} is out of range: the log holds offsets {lowest}..{next}")]
    OffsetOutOfRange {
        /// The offset that was asked for.
        offset: u64,
        /// The lowest offset still in the log.
        lowest: u64,
        /// The offset the next append will get (one past the highest).
        next: u64,
    },

    /// The record cannot fit in a segment, even an empty one. Nothing was written.
    #[error(
        "a record of {len} bytes is too large: a store holds at most {max_store_bytes} bytes, {overhead} of them the record's frame"
    )]
    RecordTooLarge {
        /// The length of the record's value.
        len: u64,
        /// The configured limit of one store file.
        max_store_bytes: u64,
        /// The bytes of framing each record costs on disk.
        overhead: u64,
    },
    // ANCHOR_END: error_a

    // ANCHOR: error_b
    /// A file holds bytes that are not what the log wrote. They are never
    /// returned as data, and never silently dropped.
    #[error("corrupt log file {}: at byte {position}: {problem}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The byte position of the damaged record or entry in that file.
        position: u64,
        /// What is wrong there.
        problem: Corruption,
    },

    /// The configuration cannot describe a working log.
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),

    /// Another `Log` (in this process or another) has the directory open.
    #[error("log directory {} is already open by another Log", path.display())]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    // ANCHOR_END: error_b

    // ANCHOR: error_c
    /// An earlier failure left the log unable to promise what it holds (a
    /// failed `fsync`, or a failed write whose bytes could not be taken back),
    /// so it refuses every further write. Reads still work. Reopening the log
    /// recovers it from what is on disk.
    #[error("the log refuses writes after an earlier failure ({cause}); reopen it to recover")]
    Poisoned {
        /// What went wrong first.
        cause: String,
    },

    /// The operating system refused a file operation.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the log was doing: "reading", "creating", "syncing", ...
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}
// ANCHOR_END: error_c

// ANCHOR: corruption_a
/// The ways a file can be corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The record's bytes do not match the CRC-32C stored in its header.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum in the record's header.
        stored: u32,
        /// The checksum of the bytes as they are now.
        computed: u32,
    },
    /// A record header claims more bytes than the file holds there.
    #[error("record length {len} runs past the end of the data ({available} bytes available)")]
    LengthPastEnd {
        /// The payload length in the header.
        len: u64,
        /// The bytes actually available after the header.
        available: u64,
    },
    /// Fewer bytes than a record header where a record should start.
    #[error("only {available} bytes where a 12-byte record header should be")]
    TruncatedHeader {
        /// The bytes there.
        available: u64,
    },
    /// The record's header disagrees with where the index says it ends.
    #[error("record length {len} disagrees with the index, which expects {expected}")]
    LengthMismatch {
        /// The payload length in the header.
        len: u64,
        /// The payload length the index implies.
        expected: u64,
    },
    // ANCHOR_END: corruption_a
    // ANCHOR: corruption_b
    /// The log was closed cleanly with more records than its files hold now:
    /// records were removed behind its back.
    #[error(
        "the log was closed with offsets up to {expected_next}, but its files end at {found_next}"
    )]
    MissingRecords {
        /// The next offset recorded at the clean shutdown.
        expected_next: u64,
        /// The next offset the files hold.
        found_next: u64,
    },
    /// Segment files are missing or overlap, so offsets would be lost.
    #[error("segments are not contiguous: expected base offset {expected}, found {found}")]
    SegmentGap {
        /// The base offset the previous segment ends at.
        expected: u64,
        /// The base offset of the next segment file.
        found: u64,
    },
}
// ANCHOR_END: corruption_b

// ANCHOR: io_helper
impl Error {
    /// Wraps an I/O error with what the log was doing and to which file.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
// ANCHOR_END: io_helper

// ANCHOR: duplicate_io
impl Error {
    /// The same error again, for each appender of a failed group.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io {
                action,
                path,
                source,
            } => Error::Io {
                action,
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
            // ANCHOR_END: duplicate_io
            // ANCHOR: duplicate_rest
            Error::OffsetOutOfRange {
                offset,
                lowest,
                next,
            } => Error::OffsetOutOfRange {
                offset: *offset,
                lowest: *lowest,
                next: *next,
            },
            Error::RecordTooLarge {
                len,
                max_store_bytes,
                overhead,
            } => Error::RecordTooLarge {
                len: *len,
                max_store_bytes: *max_store_bytes,
                overhead: *overhead,
            },
            Error::Corrupt {
                path,
                position,
                problem,
            } => Error::Corrupt {
                path: path.clone(),
                position: *position,
                problem: problem.clone(),
            },
            Error::InvalidConfig(message) => Error::InvalidConfig(message.clone()),
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::Poisoned { cause } => Error::Poisoned {
                cause: cause.clone(),
            },
        }
    }
}
// ANCHOR_END: duplicate_rest
