//! Sealing full segments in the background, off the append path.
//!
//! Sealing a segment means syncing its store (a gigabyte, by default: tens
//! or hundreds of milliseconds) and trimming its index. Done inside the
//! append that fills the segment, every such append stalls, and every
//! append queued behind it. So the log starts the next segment at once and
//! hands the full one to this thread:
//!
//! ```text
//!   appender:  ... append ─▶ roll: new segment, append goes on ─▶ append ...
//!                                  │ full segment
//!                                  ▼
//!   sealer:                       sync store ─▶ trim + sync index
//! ```
//!
//! The index trim is the last step, so a trimmed index on disk proves the
//! store before it was synced: that is how recovery knows whether a crash
//! interrupted a seal (see [`recovery`](crate::recovery)).

// ANCHOR: imports
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::log::Shared;
use crate::segment::Segment;
// ANCHOR_END: imports

// ANCHOR: sealer_types
/// The background sealing thread of one log.
#[derive(Debug)]
pub(crate) struct Sealer {
    work: Option<mpsc::Sender<Work>>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread is asked to do, in order.
#[derive(Debug)]
enum Work {
    /// Seal this full segment.
    Seal(Arc<Segment>),
    /// Say when everything asked before is done.
    Barrier(mpsc::Sender<()>),
}
// ANCHOR_END: sealer_types

// ANCHOR: start
impl Sealer {
    /// Starts the thread.
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Sealer> {
        let (work, to_do) = mpsc::channel::<Work>();
        let thread = std::thread::Builder::new()
            .name("proglog-sealer".into())
            .spawn(move || {
                for work in to_do {
                    match work {
                        Work::Seal(segment) => match segment.seal() {
                            Ok(()) => shared.count_sync(),
                            Err(error) => {
                                shared.poison(format!("sealing a full segment: {error}"));
                            }
                        },
                        Work::Barrier(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|source| Error::Io {
                action: "starting the sealer thread",
                path: std::path::PathBuf::new(),
                source,
            })?;
        Ok(Sealer {
            work: Some(work),
            thread: Some(thread),
        })
    }
    // ANCHOR_END: start

    // ANCHOR: handover
    /// Hands a full segment over to be sealed.
    pub(crate) fn seal(&self, segment: Arc<Segment>) {
        if let Some(work) = &self.work {
            // The thread only stops when this sender is dropped, so the
            // send cannot fail while we hold it.
            let _ = work.send(Work::Seal(segment));
        }
    }

    /// A receiver that hears once every segment handed over so far is
    /// sealed (or at once, if the thread has stopped).
    pub(crate) fn barrier(&self) -> mpsc::Receiver<()> {
        let (done, heard) = mpsc::channel();
        match &self.work {
            Some(work) => {
                let _ = work.send(Work::Barrier(done));
            }
            None => {
                let _ = done.send(());
            }
        }
        heard
    }

    /// Seals everything handed over so far, and stops the thread.
    pub(crate) fn finish(&mut self) {
        self.work = None; // the thread ends when the channel is empty
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.finish();
    }
}
// ANCHOR_END: handover
