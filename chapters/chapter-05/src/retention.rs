//! Retention: the log cannot grow forever. A background task deletes the
//! oldest *sealed* segments, whole, while the log is larger than the size
//! limit or while their newest record is older than the age limit. The
//! active segment is never deleted. Consumers asking for offsets below the
//! new lowest offset get `OUT_OF_RANGE`, with the new lowest in the details.

use std::sync::Arc;
use std::time::SystemTime;

use chapter_01::{Log, SegmentInfo};

use crate::settings::Retention;

// ANCHOR: expired
/// The offset to truncate the log to so that it meets `policy`: everything
/// below it is in sealed segments that must go. `None` when nothing must.
pub fn truncate_to(segments: &[SegmentInfo], policy: &Retention, now: SystemTime) -> Option<u64> {
    let mut total: u64 = segments.iter().map(|segment| segment.store_bytes).sum();
    let mut lowest = None;
    // Oldest first, and only a run from the front: offsets stay contiguous.
    for segment in segments.iter().take_while(|segment| !segment.active) {
        let too_big = policy.max_bytes.is_some_and(|max| total > max);
        let too_old = policy.max_age.is_some_and(|max_age| {
            now.duration_since(segment.last_modified)
                .is_ok_and(|age| age > max_age)
        });
        if !(too_big || too_old) {
            break;
        }
        total -= segment.store_bytes;
        lowest = Some(segment.next_offset);
    }
    lowest
}
// ANCHOR_END: expired

// ANCHOR: retention_run
/// Runs retention every `policy.interval` until the task is aborted.
pub async fn run(log: Arc<Log>, policy: Retention) {
    if policy.max_bytes.is_none() && policy.max_age.is_none() {
        return;
    }
    let mut ticks = tokio::time::interval(policy.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (log, policy) = (Arc::clone(&log), policy.clone());
        // Deleting files is blocking I/O: keep it off the async threads.
        let outcome =
            tokio::task::spawn_blocking(move || -> chapter_01::Result<Option<(u64, u64)>> {
                let Some(lowest) = truncate_to(&log.segments()?, &policy, SystemTime::now()) else {
                    return Ok(None);
                };
                let before = log.lowest_offset();
                log.truncate(lowest)?;
                Ok(Some((before, log.lowest_offset())))
            })
            .await;
        match outcome {
            Ok(Ok(Some((before, after)))) => {
                tracing::info!(deleted_offsets = %format!("{before}..{after}"), lowest_offset = after, "retention deleted old segments");
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::error!(%error, "retention failed"),
            Err(error) => tracing::error!(%error, "retention task failed"),
        }
    }
}
// ANCHOR_END: retention_run

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn segment(
        base: u64,
        next: u64,
        bytes: u64,
        age_secs: u64,
        active: bool,
        now: SystemTime,
    ) -> SegmentInfo {
        SegmentInfo {
            base_offset: base,
            next_offset: next,
            store_bytes: bytes,
            last_modified: now - Duration::from_secs(age_secs),
            active,
        }
    }

    fn policy(max_bytes: Option<u64>, max_age_secs: Option<u64>) -> Retention {
        Retention {
            max_bytes,
            max_age: max_age_secs.map(Duration::from_secs),
            interval: Duration::from_secs(1),
        }
    }

    // ANCHOR: retention_test
    // Size: the oldest sealed segments go until the total fits; never the active one.
    #[test]
    fn deletes_the_oldest_until_the_log_fits() {
        let now = SystemTime::now();
        let segments = [
            segment(0, 10, 100, 0, false, now),
            segment(10, 20, 100, 0, false, now),
            segment(20, 25, 50, 0, true, now),
        ];
        assert_eq!(
            truncate_to(&segments, &policy(Some(200), None), now),
            Some(10)
        );
        assert_eq!(
            truncate_to(&segments, &policy(Some(100), None), now),
            Some(20)
        );
        assert_eq!(
            truncate_to(&segments, &policy(Some(10), None), now),
            Some(20),
            "the active segment stays"
        );
        assert_eq!(truncate_to(&segments, &policy(Some(250), None), now), None);
    }
    // ANCHOR_END: retention_test

    // Age: only a run of old segments from the front goes.
    #[test]
    fn deletes_old_segments_from_the_front() {
        let now = SystemTime::now();
        let segments = [
            segment(0, 10, 100, 3600, false, now),
            segment(10, 20, 100, 10, false, now),
            segment(20, 30, 100, 3600, false, now),
            segment(30, 31, 10, 3600, true, now),
        ];
        assert_eq!(
            truncate_to(&segments, &policy(None, Some(60)), now),
            Some(10)
        );
        assert_eq!(truncate_to(&segments, &policy(None, Some(7200)), now), None);
    }
}
