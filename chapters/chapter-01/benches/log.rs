//! How fast is the chapter 1 log, next to other ways of keeping one?
//!
//! `cargo bench -p chapter-01 --bench log` times [`chapter_01::Log`] beside
//! two baselines, in the same run (so they share the machine's mood), for
//! 256-byte and 4 KiB records, with no fsync unless a group says otherwise.
//! Every figure is in records per second (criterion's `thrpt`).
//!
//! The three logs, and why each is here:
//!
//! * **`chapter_01`**: the log this chapter builds, with `Config::default()`
//!   (syncing left to the OS); no benchmark fills a segment.
//! * **`commitlog`**: the [`commitlog`](https://crates.io/crates/commitlog)
//!   crate (0.2), a published Rust log with the same shape (segments,
//!   memory-mapped offset index, CRC-32C per message). It is the peer: if our
//!   log is slower than an existing crate, the chapter has a lesson missing.
//!   Its `append_msg` writes each message to the file at once (one `write`
//!   system call per message); its batch (`MessageBuf`) is one `write`.
//! * **`naive`**: a `BufWriter<File>` of `[u64 length][bytes]` records: no
//!   checksum, no index file, no locks. Nothing that stores records can be
//!   much faster, so it is the ceiling, and the gap to it is the price of
//!   our guarantees. For point reads it keeps every record's position in a
//!   `Vec<u64>` in memory (filled as it appends): an index that would be lost
//!   in a crash, which is exactly what the real logs pay to avoid.
//!
//! The groups:
//!
//! * `append_single`: one record per call (`append`, `append_msg`, a write).
//! * `append_batch`: 100 records per call (`append_batch`; commitlog's
//!   `append` of a `MessageBuf`, built inside the timed loop because turning
//!   records into one is part of its cost; for `naive`, 100 writes).
//! * `durability`: our log with `SyncPolicy::Always` (an `fdatasync` before
//!   every call returns), one record per call against 100 per call: batching
//!   is how a durable log gets its throughput back.
//! * `read_sequential`: every record of a pre-filled log (100k records),
//!   oldest first. Besides one read per offset, `commitlog` is also timed the
//!   way it is meant to be read in order (64 KiB of messages per call), and
//!   `naive` streams its file through a `BufReader`.
//! * `read_random`: point reads at a fixed pseudo-random sequence of offsets,
//!   the same for every log.
//!
//! Things to know when reading the figures:
//!
//! * Append benchmarks write into a log (in a `tempfile` directory) that
//!   lives across samples, and start a fresh one once a log holds
//!   `BYTES_PER_LOG`; creating, closing and deleting logs is not timed.
//!   Records still in `naive`'s 64 KiB `BufWriter` when a log is closed are
//!   written out untimed, which favours it by a hair. (`chapter_01` keeps no
//!   buffer: each append is written before it returns.)
//! * Read benchmarks read data that was just written: it is in the page
//!   cache, so they measure the code and the system calls, not the disk.
//! * Every read returns the record as owned bytes (a `Vec<u8>`, or
//!   commitlog's `MessageBuf`), and the two real logs verify its CRC-32C
//!   while doing so; `naive` checks nothing.
//! * Random reads are sensitive to whether the index fits in the CPU's
//!   cache. For 100k records both indexes (8-byte entries) are 800 KB,
//!   just under a 1 MiB L2 cache; the ratios move with `READ_RECORDS` for
//!   that reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chapter_01::{Config, Log, SyncPolicy};
use commitlog::message::{HEADER_SIZE, MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use tempfile::TempDir;

/// The record sizes every group but `durability` runs at: a small event, and
/// a page-sized one.
const SIZES: [(&str, usize); 2] = [("256B", 256), ("4KiB", 4096)];
/// Records per call in the batch and durability groups.
const BATCH: usize = 100;
/// Records pre-filled for the read groups.
const READ_RECORDS: u64 = 100_000;
/// How many bytes of records an append benchmark puts in one log before it
/// moves on to a fresh one: enough that the cost of starting a log is spread
/// thin, as it is over a segment, and few enough that the files stay in the
/// page cache and that no log rolls a segment (a default segment's index
/// holds 873,813 records: 223 MiB of 256-byte records). Rolling syncs the
/// sealed segment, a cost that belongs to durability, not to the append path.
const BYTES_PER_LOG: usize = 128 << 20;
/// How many offsets the random-read sequence visits before it repeats.
const RANDOM_READS: usize = 1 << 16;
/// The read size commitlog is given when it reads in order: a run of whole
/// messages up to this many bytes per call.
const COMMITLOG_SCAN_BYTES: usize = 64 * 1024;

/// What the groups do to a log, written once for each of the three, so every
/// group runs the very same loop over all of them. Each implementation is
/// where to look for how that log is called.
trait BenchLog: Sized {
    /// The log's name in criterion's output.
    const NAME: &'static str;
    /// Creates an empty log in `dir`.
    fn create(dir: &Path) -> Self;
    /// Appends one record.
    fn append(&mut self, record: &[u8]);
    /// Appends `records` in one call, the log's cheapest way to append many.
    fn append_batch(&mut self, records: &[&[u8]]);
    /// Makes every appended record readable (a no-op for the real logs,
    /// which can read what they just appended).
    fn finish_appends(&mut self) {}
    /// Reads the record at `offset` as owned bytes and returns its length.
    /// Every record is `record_len` bytes long: commitlog needs to be told
    /// how many bytes to read.
    fn read(&mut self, offset: u64, record_len: usize) -> usize;
}

/// The log this chapter builds.
struct Chapter01(Log);

impl BenchLog for Chapter01 {
    const NAME: &'static str = "chapter_01";

    fn create(dir: &Path) -> Self {
        Chapter01(Log::open(dir, Config::default()).unwrap())
    }

    fn append(&mut self, record: &[u8]) {
        black_box(self.0.append(record).unwrap());
    }

    fn append_batch(&mut self, records: &[&[u8]]) {
        black_box(self.0.append_batch(records).unwrap());
    }

    fn read(&mut self, offset: u64, _record_len: usize) -> usize {
        self.0.read(offset).unwrap().len()
    }
}

/// The `commitlog` crate, with the buffer its batches are built in (kept
/// between calls, as a producer would keep it).
struct Peer {
    log: CommitLog,
    batch: MessageBuf,
}

impl BenchLog for Peer {
    const NAME: &'static str = "commitlog";

    fn create(dir: &Path) -> Self {
        Peer {
            log: CommitLog::new(LogOptions::new(dir)).unwrap(),
            batch: MessageBuf::default(),
        }
    }

    fn append(&mut self, record: &[u8]) {
        black_box(self.log.append_msg(record).unwrap());
    }

    fn append_batch(&mut self, records: &[&[u8]]) {
        self.batch.clear();
        for record in records {
            self.batch.push(record).unwrap();
        }
        black_box(self.log.append(&mut self.batch).unwrap());
    }

    fn read(&mut self, offset: u64, record_len: usize) -> usize {
        // `ReadLimit` is a byte budget for a run of whole messages, starting
        // at `offset`. One message is a 20-byte header plus its payload; one
        // byte more keeps commitlog 0.2 from failing on the newest message,
        // whose range search needs a budget larger than what is left.
        let limit = ReadLimit::max_bytes(HEADER_SIZE + record_len + 1);
        let messages = self.log.read(offset, limit).unwrap();
        messages.iter().map(|message| message.payload().len()).sum()
    }
}

/// The ceiling: length-prefixed records through a `BufWriter`, nothing else.
struct Naive {
    path: PathBuf,
    writer: BufWriter<File>,
    /// Where each record starts, by offset: an index in memory only.
    positions: Vec<u64>,
    /// Where the next record will start.
    end: u64,
}

/// Bytes of the naive log's length prefix.
const NAIVE_HEADER: u64 = 8;

impl BenchLog for Naive {
    const NAME: &'static str = "naive";

    fn create(dir: &Path) -> Self {
        let path = dir.join("naive.log");
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        Naive {
            path,
            // The same 64 KiB of buffering as the chapter's store.
            writer: BufWriter::with_capacity(64 * 1024, file),
            positions: Vec::new(),
            end: 0,
        }
    }

    fn append(&mut self, record: &[u8]) {
        self.positions.push(self.end);
        let len = record.len() as u64;
        self.writer.write_all(&len.to_le_bytes()).unwrap();
        self.writer.write_all(record).unwrap();
        self.end += NAIVE_HEADER + len;
    }

    fn append_batch(&mut self, records: &[&[u8]]) {
        for record in records {
            self.append(record);
        }
    }

    fn finish_appends(&mut self) {
        self.writer.flush().unwrap();
    }

    fn read(&mut self, offset: u64, _record_len: usize) -> usize {
        // The in-memory index gives the payload's position and length, so
        // one `pread` of exactly the payload does it.
        let n = offset as usize;
        let start = self.positions[n] + NAIVE_HEADER;
        let end = self.positions.get(n + 1).copied().unwrap_or(self.end);
        let mut payload = vec![0; (end - start) as usize];
        self.writer
            .get_ref()
            .read_exact_at(&mut payload, start)
            .unwrap();
        black_box(&payload);
        payload.len()
    }
}

/// A record of `len` bytes that is not all zeros (so checksums have work).
fn record(len: usize) -> Vec<u8> {
    (0..len).map(|n| (n % 251) as u8).collect()
}

/// A fixed pseudo-random sequence of `count` offsets below `below`, the same
/// in every run and for every log: xorshift64 (Marsaglia, 2003), which needs
/// no `rand` dependency and is random enough that read-ahead cannot help.
fn random_offsets(count: usize, below: u64) -> Vec<u64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        })
        .collect()
}

/// The log an append benchmark writes into. It lives across criterion's
/// calls, so a log grows the way a real segment does, and is replaced by a
/// fresh one once it has had `calls_per_log` calls (about `BYTES_PER_LOG`),
/// so files stay a bounded size however many iterations criterion asks for.
struct Appending<L, O> {
    /// Makes a fresh log in a directory.
    open: O,
    calls_per_log: u64,
    /// The log and its directory (the log drops first, then the directory).
    current: Option<(L, TempDir)>,
    calls_in_current: u64,
}

impl<L, O: FnMut(&Path) -> L> Appending<L, O> {
    /// Logs made by `open`, each taking `calls_per_log` calls.
    fn new(open: O, calls_per_log: u64) -> Self {
        Appending {
            open,
            calls_per_log,
            current: None,
            calls_in_current: 0,
        }
    }

    /// Runs `append` `iters` times and returns the time the calls took, and
    /// only that: making, closing (for our log, an fsync) and deleting logs
    /// happen outside the timed stretches. The first appends to a fresh log
    /// still pay for its first page faults, as they would on a new segment.
    fn time(&mut self, iters: u64, mut append: impl FnMut(&mut L)) -> Duration {
        let mut elapsed = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            if self.calls_in_current == self.calls_per_log {
                self.current = None;
                self.calls_in_current = 0;
            }
            let (log, _dir) = self.current.get_or_insert_with(|| {
                let dir = TempDir::new().unwrap();
                ((self.open)(dir.path()), dir)
            });
            let calls = (iters - done).min(self.calls_per_log - self.calls_in_current);
            let start = Instant::now();
            for _ in 0..calls {
                append(log);
            }
            elapsed += start.elapsed();
            done += calls;
            self.calls_in_current += calls;
        }
        elapsed
    }
}

/// How many calls of `records` records of `len` bytes fill one log.
fn calls_per_log(records: usize, len: usize) -> u64 {
    (BYTES_PER_LOG / (records * len)).max(1) as u64
}

/// Times one log's single-record appends at one record size.
fn append_single<L: BenchLog>(group: &mut BenchmarkGroup<'_, WallTime>, size: &str, len: usize) {
    let value = record(len);
    let mut appending = Appending::new(L::create, calls_per_log(1, len));
    group.bench_function(BenchmarkId::new(L::NAME, size), |b| {
        b.iter_custom(|iters| appending.time(iters, |log| log.append(&value)));
    });
}

/// Times one log's batch appends (`BATCH` records per call) at one size.
fn append_batch<L: BenchLog>(group: &mut BenchmarkGroup<'_, WallTime>, size: &str, len: usize) {
    let value = record(len);
    let batch: Vec<&[u8]> = vec![&value; BATCH];
    let mut appending = Appending::new(L::create, calls_per_log(BATCH, len));
    group.bench_function(BenchmarkId::new(L::NAME, size), |b| {
        b.iter_custom(|iters| appending.time(iters, |log| log.append_batch(&batch)));
    });
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_single");
    group.throughput(Throughput::Elements(1));
    for (size, len) in SIZES {
        append_single::<Chapter01>(&mut group, size, len);
        append_single::<Peer>(&mut group, size, len);
        append_single::<Naive>(&mut group, size, len);
    }
    group.finish();

    let mut group = c.benchmark_group("append_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (size, len) in SIZES {
        append_batch::<Chapter01>(&mut group, size, len);
        append_batch::<Peer>(&mut group, size, len);
        append_batch::<Naive>(&mut group, size, len);
    }
    group.finish();
}

/// `SyncPolicy::Always`: every call returns only once its records are on
/// disk, so a call costs at least one `fdatasync` (a fraction of a
/// millisecond to several, depending on the disk). One record per call pays
/// it per record; a batch of 100 shares it.
fn durability(c: &mut Criterion) {
    let (size, len) = SIZES[0];
    let value = record(len);
    let batch: Vec<&[u8]> = vec![&value; BATCH];
    let always = |dir: &Path| {
        let config = Config {
            sync: SyncPolicy::Always,
            ..Config::default()
        };
        Log::open(dir, config).unwrap()
    };

    let mut group = c.benchmark_group("durability");
    // Each call waits for the disk: few, long samples are enough.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));

    group.throughput(Throughput::Elements(1));
    let mut appending = Appending::new(always, calls_per_log(1, len));
    group.bench_function(BenchmarkId::new("always_append", size), |b| {
        b.iter_custom(|iters| {
            appending.time(iters, |log| {
                black_box(log.append(&value).unwrap());
            })
        });
    });

    group.throughput(Throughput::Elements(BATCH as u64));
    let mut appending = Appending::new(always, calls_per_log(BATCH, len));
    group.bench_function(BenchmarkId::new("always_append_batch_100", size), |b| {
        b.iter_custom(|iters| {
            appending.time(iters, |log| {
                black_box(log.append_batch(&batch).unwrap());
            })
        });
    });
    group.finish();
}

/// Makes a log in `dir` of `READ_RECORDS` records of `len` bytes (in
/// batches, since filling is not what is measured), and checks that it reads
/// back.
fn filled<L: BenchLog>(dir: &Path, len: usize) -> L {
    let mut log = L::create(dir);
    let value = record(len);
    let batch: Vec<&[u8]> = vec![&value; BATCH];
    for _ in 0..READ_RECORDS / BATCH as u64 {
        log.append_batch(&batch);
    }
    log.finish_appends();
    for offset in [0, READ_RECORDS / 2, READ_RECORDS - 1] {
        assert_eq!(log.read(offset, len), len, "{} at offset {offset}", L::NAME);
    }
    log
}

/// Reads every record of the log, oldest first, one call per offset.
fn scan_by_offset<L: BenchLog>(log: &mut L, len: usize) -> usize {
    (0..READ_RECORDS).map(|offset| log.read(offset, len)).sum()
}

/// Reads every record of commitlog's log the way it is meant to be read in
/// order: each call returns as many whole messages as fit in
/// `COMMITLOG_SCAN_BYTES`, verified, in one buffer.
fn scan_commitlog_in_runs(log: &CommitLog) -> usize {
    let limit = ReadLimit::max_bytes(COMMITLOG_SCAN_BYTES);
    let mut next = 0;
    let mut bytes = 0;
    while next < READ_RECORDS {
        let messages = log.read(next, limit).unwrap();
        for message in messages.iter() {
            bytes += message.payload().len();
            next = message.offset() + 1;
        }
    }
    bytes
}

/// Reads every record of the naive log by streaming its file: the fastest
/// way there is to read records in order.
fn scan_naive_stream(log: &Naive) -> usize {
    let file = File::open(&log.path).unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut bytes = 0;
    for _ in 0..READ_RECORDS {
        let mut header = [0; NAIVE_HEADER as usize];
        reader.read_exact(&mut header).unwrap();
        let mut payload = vec![0; u64::from_le_bytes(header) as usize];
        reader.read_exact(&mut payload).unwrap();
        bytes += black_box(payload).len();
    }
    bytes
}

fn reads(c: &mut Criterion) {
    let offsets = random_offsets(RANDOM_READS, READ_RECORDS);
    for (size, len) in SIZES {
        // Fill once per size; both read groups use the same three logs.
        let dirs = [(); 3].map(|()| TempDir::new().unwrap());
        let mut ours = filled::<Chapter01>(dirs[0].path(), len);
        let mut peer = filled::<Peer>(dirs[1].path(), len);
        let mut naive = filled::<Naive>(dirs[2].path(), len);
        let expected = READ_RECORDS as usize * len;

        let mut group = c.benchmark_group("read_sequential");
        // One iteration reads the whole log (tens to hundreds of
        // milliseconds): flat sampling keeps the sample count down.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.throughput(Throughput::Elements(READ_RECORDS));
        group.bench_function(BenchmarkId::new(Chapter01::NAME, size), |b| {
            b.iter(|| assert_eq!(scan_by_offset(&mut ours, len), expected));
        });
        group.bench_function(BenchmarkId::new(Peer::NAME, size), |b| {
            b.iter(|| assert_eq!(scan_by_offset(&mut peer, len), expected));
        });
        group.bench_function(BenchmarkId::new("commitlog_64KiB_runs", size), |b| {
            b.iter(|| assert_eq!(scan_commitlog_in_runs(&peer.log), expected));
        });
        group.bench_function(BenchmarkId::new("naive_stream", size), |b| {
            b.iter(|| assert_eq!(scan_naive_stream(&naive), expected));
        });
        group.finish();

        let mut group = c.benchmark_group("read_random");
        group.throughput(Throughput::Elements(1));
        read_random(&mut group, size, len, &offsets, &mut ours);
        read_random(&mut group, size, len, &offsets, &mut peer);
        read_random(&mut group, size, len, &offsets, &mut naive);
        group.finish();
    }
}

/// Times one log's point reads, one per iteration, walking `offsets`.
fn read_random<L: BenchLog>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    size: &str,
    len: usize,
    offsets: &[u64],
    log: &mut L,
) {
    let mut next = offsets.iter().cycle();
    group.bench_function(BenchmarkId::new(L::NAME, size), |b| {
        b.iter(|| {
            let offset = *next.next().unwrap();
            log.read(offset, len)
        });
    });
}

criterion_group! {
    name = benches;
    // Short runs: the whole file takes a few minutes on a 2-core machine.
    // Compare figures from one run with each other, not across runs.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = appends, durability, reads
}
criterion_main!(benches);
