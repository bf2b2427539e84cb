//! The log as the server serves it: chapter 1's log, counting every record
//! and byte appended for the metrics, behind chapter 2's `CommitLog` trait.

use std::ops::Range;
use std::sync::Arc;

use chapter_01::Log;
use chapter_02::CommitLog;

/// Chapter 1's log, with append counters.
#[derive(Debug, Clone)]
pub struct MeteredLog(pub Arc<Log>);

impl CommitLog for MeteredLog {
    fn append_batch(&self, values: &[&[u8]]) -> chapter_02::Result<Range<u64>> {
        let offsets = self.0.append_batch(values)?;
        metrics::counter!("proglog_records_appended_total").increment(values.len() as u64);
        let bytes: usize = values.iter().map(|value| value.len()).sum();
        metrics::counter!("proglog_bytes_appended_total").increment(bytes as u64);
        Ok(offsets)
    }
    fn read(&self, offset: u64) -> chapter_02::Result<Vec<u8>> {
        self.0.read(offset)
    }
    fn lowest_offset(&self) -> u64 {
        self.0.lowest_offset()
    }
    fn next_offset(&self) -> u64 {
        self.0.next_offset()
    }
    fn sync(&self) -> chapter_02::Result<()> {
        self.0.sync()
    }
    fn appends_wait_for_disk(&self) -> bool {
        self.0.appends_wait_for_disk()
    }
    fn max_value_len(&self) -> u64 {
        self.0.max_value_len()
    }
}
