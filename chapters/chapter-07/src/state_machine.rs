//! The state machine: the log that clients read, a second chapter 1 log.
//!
//! Raft agrees on the order of *entries*; what the entries mean is up to
//! the state machine, which applies each committed entry, in order, on
//! every server. Ours appends the records of each [`Append`] entry to a
//! second chapter 1 log, the one `Consume` reads. Raft's own entries (a new
//! leader's blank entry, membership changes) go nowhere near it, so client
//! offsets stay dense (0, 1, 2, ...) while Raft indexes have gaps for them:
//!
//! ```text
//!   Raft log:   0 membership │ 1 blank │ 2 Append[a, b] │ 3 Append[c] │ 4 blank │ 5 Append[d]
//!                                          │                 │                        │
//!   this log:                   offset 0 a, 1 b             2 c                      3 d
//! ```
//!
//! Only committed entries are applied, so a consumer never sees a record
//! that a later election could take back.
//!
//! What must survive a restart is small: the last applied entry, the
//! membership, the producers table, where the records end. It is written
//! (atomically) with every snapshot. On restart the records past that point
//! are cut off, and openraft applies the entries after it again from the
//! Raft log (which keeps them until the next snapshot): the same entries,
//! in the same order, give the same records at the same offsets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chapter_01::Log;
use chapter_02::FollowableLog;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::producers::Producers;
use crate::snapshot;
use crate::types::{
    Append, Applied, Entry, LogId, Node, NodeId, Outcome, StorageError, StoredMembership,
    TypeConfig,
};

/// The file beside the records that holds the state of the last snapshot.
const STATE_FILE: &str = "machine-state";

// ANCHOR: machine_state
/// Everything the state machine is, besides its records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineState {
    /// The last entry applied.
    pub last_applied: Option<LogId>,
    /// The membership as of the last membership entry applied.
    pub membership: StoredMembership,
    /// Which records each producer appended, and where.
    pub producers: Producers,
    /// Where the records end: the offset the next record gets.
    pub next_offset: u64,
}

/// What the state file holds: the state as of the last snapshot, and that
/// snapshot's description.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Saved {
    state: MachineState,
    snapshot: Option<SnapshotMeta<NodeId, Node>>,
}
// ANCHOR_END: machine_state

// ANCHOR: state_machine
/// openraft's state machine over a chapter 1 log. Cheap to clone (the
/// snapshot builder is a clone).
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The records, behind chapter 2's wrapper that wakes followers when an
    /// append lands: `ConsumeStream` on this server tails it.
    log: Arc<FollowableLog<Arc<Log>>>,
    dir: PathBuf,
    /// The state now, and as of the last snapshot.
    state: Mutex<(MachineState, Saved)>,
}
// ANCHOR_END: state_machine

impl StateMachine {
    // ANCHOR: open
    // ANCHOR: open_a
    /// Opens the state machine's log in `dir` and its saved state, and cuts
    /// off any record past what the state says: openraft applies those
    /// entries again.
    ///
    /// # Errors
    /// The log's error, or [`Error::Snapshot`] if the log holds fewer
    /// records than its saved state says (records lost behind its back).
    pub fn open(dir: &Path, config: chapter_01::Config) -> Result<StateMachine> {
        let log = Log::open(dir, config)?;
        let saved: Saved = match chapter_01::meta::read_checked(dir, STATE_FILE)? {
            Some(bytes) => {
                decode(&bytes).map_err(|error| Error::codec("the state machine's state", error))?
            }
            None => Saved {
                state: MachineState {
                    next_offset: log.lowest_offset(),
                    ..MachineState::default()
                },
                snapshot: None,
            },
        };
        // ANCHOR_END: open_a
        // ANCHOR: open_b
        let end = saved.state.next_offset;
        if log.next_offset() < end {
            return Err(Error::Snapshot(format!(
                "the records end at offset {}, but the saved state says {end}",
                log.next_offset()
            )));
        }
        if log.next_offset() > end {
            match end.checked_sub(1) {
                Some(last) if end > log.lowest_offset() => log.truncate_after(last)?,
                _ => log.reset_to(end)?,
            }
        }
        Ok(StateMachine {
            shared: Arc::new(Shared {
                log: Arc::new(FollowableLog::new(Arc::new(log))),
                dir: dir.to_path_buf(),
                state: Mutex::new((saved.state.clone(), saved)),
            }),
        })
    }
    // ANCHOR_END: open_b
    // ANCHOR_END: open

    /// The records, as consumers read them.
    pub fn log(&self) -> &Arc<FollowableLog<Arc<Log>>> {
        &self.shared.log
    }

    /// The last entry applied (for tests and `cluster status`).
    pub async fn last_applied(&self) -> Option<LogId> {
        self.shared.state.lock().await.0.last_applied
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&StateMachine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let machine = self.clone();
        tokio::task::spawn_blocking(move || work(&machine))
            .await
            .map_err(|error| Error::Raft(format!("a state machine task failed: {error}")))?
    }

    /// Saves `saved` as the state file, atomically and durably.
    fn save(&self, saved: &Saved) -> Result<()> {
        let bytes =
            encode(saved).map_err(|error| Error::codec("the state machine's state", error))?;
        chapter_01::meta::write_atomically(&self.shared.dir, STATE_FILE, &bytes)?;
        Ok(())
    }

    /// A new, unnamed file in the state machine's directory (gone when closed).
    fn temporary_file(&self) -> Result<std::fs::File> {
        tempfile::tempfile_in(&self.shared.dir).map_err(Error::io(
            "creating a snapshot file in",
            self.shared.dir.clone(),
        ))
    }
}

// ANCHOR: apply_one
/// Applies one entry's payload to `state`: the records of an [`Append`]
/// that are new get the next offsets and are added to `records`; a record
/// whose (producer, sequence) was seen gets its first offset back.
fn apply_one(
    state: &mut MachineState,
    log_id: LogId,
    payload: EntryPayload<TypeConfig>,
    records: &mut Vec<bytes::Bytes>,
) -> Applied {
    state.last_applied = Some(log_id);
    match payload {
        EntryPayload::Blank => Applied::Nothing,
        EntryPayload::Membership(membership) => {
            state.membership = StoredMembership::new(Some(log_id), membership);
            Applied::Nothing
        }
        EntryPayload::Normal(Append { records: appended }) => Applied::Records(
            appended
                .into_iter()
                .map(|record| {
                    if let Some(seen) = record
                        .producer
                        .and_then(|producer| state.producers.check(producer))
                    {
                        return seen;
                    }
                    let offset = state.next_offset;
                    state.next_offset += 1;
                    if let Some(producer) = record.producer {
                        state.producers.record(producer, offset);
                    }
                    records.push(record.value);
                    Outcome::Appended(offset)
                })
                .collect(),
        ),
    }
}
// ANCHOR_END: apply_one

// ANCHOR: applied_state
impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = &self.shared.state.lock().await.0;
        Ok((state.last_applied, state.membership.clone()))
    }
    // ANCHOR_END: applied_state

    // ANCHOR: apply
    /// Applies committed entries, in order: one answer per entry. The new
    /// records of the whole batch are appended to the log at once.
    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut guard = self.shared.state.lock().await;
        let state = &mut guard.0;
        let first_new = state.next_offset;
        let mut records = Vec::new();
        let mut answers = Vec::new();
        for entry in entries {
            if Some(entry.log_id) <= state.last_applied {
                answers.push(Applied::Nothing); // applied before a restart
                continue;
            }
            answers.push(apply_one(state, entry.log_id, entry.payload, &mut records));
        }
        if !records.is_empty() {
            let log = Arc::clone(&self.shared.log);
            let appended = tokio::task::spawn_blocking(move || {
                let slices: Vec<&[u8]> = records.iter().map(|value| &value[..]).collect();
                log.append_batch(&slices)
            })
            .await
            .map_err(|error| StorageIOError::write_state_machine(&Error::Raft(error.to_string())))?
            .map_err(|error| StorageIOError::write_state_machine(&error))?;
            if appended.start != first_new {
                let error = Error::Raft(format!(
                    "the state machine's records were appended at {}, not {first_new}",
                    appended.start
                ));
                return Err(StorageIOError::write_state_machine(&error).into());
            }
        }
        Ok(answers)
    }
    // ANCHOR_END: apply

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<tokio::fs::File>, StorageError> {
        let file = self
            .temporary_file()
            .map_err(|error| StorageIOError::write_snapshot(None, &error))?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    // ANCHOR: install_snapshot
    // ANCHOR: install_a
    /// Replaces the state machine with a leader's snapshot: the records it
    /// does not have yet are appended (its own are a prefix of the
    /// leader's: the same committed entries gave them), then the state.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<tokio::fs::File>,
    ) -> std::result::Result<(), StorageError> {
        let mut file = snapshot.into_std().await;
        let signature = Some(meta.signature());
        let mut guard = self.shared.state.lock().await;
        let meta = meta.clone();
        let installed = self
            .blocking(move |machine| {
                use std::io::Seek;
                file.rewind()
                    .map_err(Error::io("reading", "a received snapshot"))?;
                let log = &machine.shared.log;
                let mut started = false;
                let header = snapshot::read(&mut file, |offset, value| {
                    if !started {
                        started = true;
                        // A gap between our records and the snapshot's first:
                        // the leader no longer has what lies between.
                        if log.log().next_offset() < offset {
                            log.log().reset_to(offset)?;
                        }
                    }
                    if offset >= log.log().next_offset() {
                        log.append_batch(&[&value])?;
                    }
                    Ok(())
                })?;
                // ANCHOR_END: install_a
                // ANCHOR: install_b
                let mut state = header.state;
                state.last_applied = meta.last_log_id;
                state.membership = meta.last_membership.clone();
                if log.log().next_offset() != state.next_offset {
                    log.log().reset_to(state.next_offset)?;
                }
                log.log().sync()?;
                let saved = Saved {
                    state: state.clone(),
                    snapshot: Some(meta),
                };
                machine.save(&saved)?;
                Ok((state, saved))
            })
            .await
            .map_err(|error| StorageIOError::read_snapshot(signature, &error))?;
        *guard = installed;
        Ok(())
    }
    // ANCHOR_END: install_b
    // ANCHOR_END: install_snapshot

    // ANCHOR: current_snapshot
    /// The last snapshot, as a file to send: the saved state, and the
    /// records up to where it says they end.
    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let saved = self.shared.state.lock().await.1.clone();
        let Some(meta) = saved.snapshot.clone() else {
            return Ok(None);
        };
        let signature = Some(meta.signature());
        let file = self
            .blocking(move |machine| {
                let mut file = machine.temporary_file()?;
                snapshot::write(&mut file, &saved.state, machine.shared.log.log())?;
                use std::io::Seek;
                file.rewind().map_err(Error::io("writing", "a snapshot"))?;
                Ok(file)
            })
            .await
            .map_err(|error| StorageIOError::read_snapshot(signature, &error))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
    // ANCHOR_END: current_snapshot
}

// ANCHOR: build_snapshot
// ANCHOR: build_a
impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Makes a snapshot of the state machine as it is now: syncs its
    /// records and saves its state (the records stay where they are; they
    /// are read when the snapshot is sent). openraft only keeps the
    /// snapshot's description from here; the file returned holds the state.
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        let mut guard = self.shared.state.lock().await;
        let state = guard.0.clone();
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                state.last_applied.map_or(0, |id| id.index),
                state.next_offset
            ),
        };
        let saved = Saved {
            state,
            snapshot: Some(meta.clone()),
        };
        let written = saved.clone();
        // ANCHOR_END: build_a
        // ANCHOR: build_b
        let file = self
            .blocking(move |machine| {
                machine.shared.log.log().sync()?;
                machine.save(&written)?;
                let mut file = machine.temporary_file()?;
                use std::io::Write;
                let bytes = encode(&written.state)
                    .map_err(|error| Error::codec("the state machine's state", error))?;
                file.write_all(&bytes)
                    .map_err(Error::io("writing", "a snapshot"))?;
                Ok(file)
            })
            .await
            .map_err(|error| StorageIOError::write_snapshot(Some(meta.signature()), &error))?;
        guard.1 = saved;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}
// ANCHOR_END: build_b
// ANCHOR_END: build_snapshot
