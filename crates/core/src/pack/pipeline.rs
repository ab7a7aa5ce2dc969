//! The parallel chunk pipeline: read entries in chunks, deflate chunks on worker threads, hand
//! the compressed chunks back in input order.
//!
//! Three roles, all inside one `std::thread::scope`:
//! - the **reader** (one thread) opens each entry in turn and cuts it into chunks of exactly
//!   `chunk_bytes` (the last one shorter), so chunk boundaries depend only on the input;
//! - **workers** (`threads` of them) deflate chunks with [`ChunkDeflater`] and compute each
//!   chunk's CRC-32, in whatever order they get them;
//! - the **consumer** (the calling thread) puts chunks back in sequence and passes each to the
//!   sink, which writes the archive.
//!
//! Memory is bounded by a permit channel: the reader takes a permit before it reads a chunk and
//! the consumer returns it after the sink has written that chunk, so at most `threads + 1`
//! chunks exist between reading and writing (one per worker, and one ready for the first
//! worker to finish), whatever the input size. A reader waiting for a permit holds no chunk,
//! and it learns that a chunk is an entry's last by peeking a few bytes past it, not by reading
//! the next chunk ahead.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use super::buffers::BufferPool;
use super::cores::SharedCores;
use super::deflate::{ChunkDeflater, WINDOW_BYTES};
use super::error::PackError;
use crate::store::BatchFile;

/// How to cut and compress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineConfig {
    pub level: u32,
    pub threads: usize,
    pub chunk_bytes: usize,
}

/// One compressed chunk, delivered to the sink in input order.
pub(crate) struct Chunk {
    /// Index of the entry in the slice given to [`run`].
    pub entry: usize,
    pub deflated: Vec<u8>,
    /// CRC-32 of the chunk's uncompressed bytes (it also carries their length).
    pub crc: crc32fast::Hasher,
    /// The entry's last chunk (for an empty entry, its only chunk, with no bytes).
    pub last: bool,
}

/// A chunk on its way to a worker.
struct Job {
    seq: u64,
    entry: usize,
    /// The entry's previous 32 KiB (empty for its first chunk).
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// What the consumer receives: a compressed chunk, or the reason to stop.
enum Event {
    Done(u64, Chunk),
    Failed(PackError),
}

/// Runs the pipeline over `files` and calls `sink` with every chunk, in order.
///
/// `output` only names the archive in errors. On the first error (reading, compressing, or
/// from the sink) the pipeline stops: the reader and workers see their channels close and exit.
/// Workers lent away through `cores` wait between chunks until the loan ends.
pub(crate) fn run(
    files: &[&dyn BatchFile],
    cfg: PipelineConfig,
    cores: &SharedCores,
    output: &Path,
    sink: &mut dyn FnMut(&Chunk) -> Result<(), PackError>,
) -> Result<(), PackError> {
    let threads = cfg.threads.max(1);
    let window = threads + 1;
    // Chunks read and chunks deflated: at most `window` of each are in use at once (a worker
    // may take its next output buffer before the consumer gives the last one back: one more).
    let pools = Pools {
        read: BufferPool::new(window + 1),
        deflated: BufferPool::new(window + 1),
    };
    let pools = &pools;
    // Jobs never wait on this channel: permits already bound how many exist.
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(window);
    let (event_tx, event_rx) = mpsc::channel::<Event>();
    let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(window);
    let job_rx = Mutex::new(job_rx);
    let cancelled = AtomicBool::new(false);

    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|index| {
                let events = event_tx.clone();
                let (jobs, cancelled) = (&job_rx, &cancelled);
                let turn = move || cores.wait_turn(index, threads);
                s.spawn(move || work(jobs, events, cfg.level, cancelled, turn, files, pools))
            })
            .collect();
        let reader = {
            let events = event_tx.clone();
            let chunk_bytes = cfg.chunk_bytes.max(1);
            s.spawn(move || read_all(files, chunk_bytes, job_tx, permit_tx, events, &pools.read))
        };
        drop(event_tx);
        let result = consume(event_rx, permit_rx, sink, &pools.deflated);
        if result.is_err() {
            cancelled.store(true, Ordering::Relaxed);
        }
        // Joined explicitly so a panicking thread becomes an error instead of a panic here.
        let mut lost = reader.join().is_err();
        for w in workers {
            lost |= w.join().is_err();
        }
        match result {
            Ok(()) if lost => Err(PackError::WorkerLost {
                path: output.to_path_buf(),
            }),
            other => other,
        }
    })
}

/// The buffers chunks are read into and deflated into, reused from chunk to chunk.
struct Pools {
    read: BufferPool,
    deflated: BufferPool,
}

/// Reorders chunks and feeds the sink; returns when every sender is gone or on the first error.
/// A chunk's buffer goes back to `deflated` once the sink has written it.
///
/// Takes the receivers by value: returning drops them, which is what tells the reader and the
/// workers to stop.
fn consume(
    events: Receiver<Event>,
    permits: Receiver<()>,
    sink: &mut dyn FnMut(&Chunk) -> Result<(), PackError>,
    deflated: &BufferPool,
) -> Result<(), PackError> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for event in events.iter() {
        let (seq, chunk) = match event {
            Event::Done(seq, chunk) => (seq, chunk),
            Event::Failed(e) => return Err(e),
        };
        pending.insert(seq, chunk);
        while let Some(chunk) = pending.remove(&next) {
            sink(&chunk)?;
            deflated.give(chunk.deflated);
            next += 1;
            // The reader sent this chunk's permit before the chunk itself, so one is waiting.
            let _ = permits.try_recv();
        }
    }
    Ok(())
}

/// The reader thread: every entry, in order, cut into chunks.
fn read_all(
    files: &[&dyn BatchFile],
    chunk_bytes: usize,
    jobs: SyncSender<Job>,
    permits: SyncSender<()>,
    events: Sender<Event>,
    buffers: &BufferPool,
) {
    let mut seq = 0u64;
    let mut queue = JobQueue {
        permits: &permits,
        jobs: &jobs,
    };
    for (entry, file) in files.iter().enumerate() {
        match read_entry(entry, *file, chunk_bytes, &mut seq, &mut queue, buffers) {
            Ok(true) => {}
            Ok(false) => return, // the consumer stopped
            Err(e) => {
                let _ = events.send(Event::Failed(e));
                return;
            }
        }
    }
}

/// The reader's side of the channels: a permit is taken before a chunk is read, so a reader
/// blocked on a full window holds no chunk of its own.
struct JobQueue<'a> {
    permits: &'a SyncSender<()>,
    jobs: &'a SyncSender<Job>,
}

impl JobQueue<'_> {
    /// Waits for room for one more chunk; `false` when the consumer has gone away.
    fn reserve(&mut self) -> bool {
        self.permits.send(()).is_ok()
    }

    /// Hands a chunk read under a permit to the workers; `false` when they have gone away.
    fn send(&mut self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

/// Bytes read past a chunk to learn whether the entry goes on.
const PEEK_BYTES: usize = 64 * 1024;

/// Cuts one entry into jobs. Returns `Ok(false)` when the consumer has gone away.
///
/// A chunk is known to be the entry's last (it must finish the deflate stream) when nothing
/// follows it: the reader is buffered, and an empty buffer after the chunk is the end of the
/// file. An empty entry yields one empty, last chunk.
fn read_entry(
    entry: usize,
    file: &dyn BatchFile,
    chunk_bytes: usize,
    seq: &mut u64,
    queue: &mut JobQueue<'_>,
    buffers: &BufferPool,
) -> Result<bool, PackError> {
    let reader = file.open().map_err(|source| PackError::OpenEntry {
        name: file.name().to_string(),
        source,
    })?;
    let mut reader = std::io::BufReader::with_capacity(PEEK_BYTES, reader);
    let mut offset = 0u64;
    let mut window: Vec<u8> = Vec::new();
    loop {
        if !queue.reserve() {
            return Ok(false);
        }
        let current = read_chunk(
            &mut reader,
            buffers.take(chunk_bytes),
            chunk_bytes,
            file,
            &mut offset,
        )?;
        let last = current.len() < chunk_bytes || at_end(&mut reader, file, offset)?;
        let dict = window.clone();
        slide_window(&mut window, &current);
        let job = Job {
            seq: *seq,
            entry,
            dict,
            data: current,
            last,
        };
        *seq += 1;
        if !queue.send(job) {
            return Ok(false);
        }
        if last {
            return Ok(true);
        }
    }
}

/// Whether `reader` has nothing left, without consuming anything.
fn at_end(
    reader: &mut impl std::io::BufRead,
    file: &dyn BatchFile,
    offset: u64,
) -> Result<bool, PackError> {
    loop {
        match reader.fill_buf() {
            Ok(buf) => return Ok(buf.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PackError::ReadEntry {
                    name: file.name().to_string(),
                    offset,
                    source,
                });
            }
        }
    }
}

/// Reads up to `chunk_bytes` into `buf` (empty), stopping short only at end of file.
fn read_chunk(
    reader: &mut dyn Read,
    mut buf: Vec<u8>,
    chunk_bytes: usize,
    file: &dyn BatchFile,
    offset: &mut u64,
) -> Result<Vec<u8>, PackError> {
    reader
        .take(chunk_bytes as u64)
        .read_to_end(&mut buf)
        .map_err(|source| PackError::ReadEntry {
            name: file.name().to_string(),
            offset: *offset,
            source,
        })?;
    *offset += buf.len() as u64;
    Ok(buf)
}

/// Keeps the last 32 KiB of the entry's bytes seen so far (chunks may be smaller than that).
fn slide_window(window: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= WINDOW_BYTES {
        window.clear();
        window.extend_from_slice(&chunk[chunk.len() - WINDOW_BYTES..]);
    } else {
        window.extend_from_slice(chunk);
        let excess = window.len().saturating_sub(WINDOW_BYTES);
        window.drain(..excess);
    }
}

/// A worker thread: deflate and checksum jobs until the job channel closes, waiting for its
/// `turn` before each.
fn work(
    jobs: &Mutex<Receiver<Job>>,
    events: Sender<Event>,
    level: u32,
    cancelled: &AtomicBool,
    turn: impl Fn(),
    files: &[&dyn BatchFile],
    pools: &Pools,
) {
    let deflater = ChunkDeflater::new(level);
    loop {
        turn();
        // The lock is held only while taking one job, never while compressing.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return, // another worker panicked holding the lock; the run is lost
        };
        let Ok(job) = job else { return };
        if cancelled.load(Ordering::Relaxed) {
            return;
        }
        let mut deflated = pools.deflated.take(0);
        let event = match deflater.deflate_into(&job.dict, &job.data, job.last, &mut deflated) {
            Ok(()) => {
                let mut crc = crc32fast::Hasher::new();
                crc.update(&job.data);
                pools.read.give(job.data);
                let chunk = Chunk {
                    entry: job.entry,
                    deflated,
                    crc,
                    last: job.last,
                };
                Event::Done(job.seq, chunk)
            }
            Err(detail) => Event::Failed(PackError::Compress {
                name: files[job.entry].name().to_string(),
                detail,
            }),
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_last_32_kib_across_small_chunks() {
        let mut w = Vec::new();
        for i in 0..100u8 {
            slide_window(&mut w, &[i; 1000]);
        }
        assert_eq!(w.len(), WINDOW_BYTES);
        assert_eq!(*w.last().unwrap(), 99);
        assert_eq!(
            w[0], 67,
            "32768 = 768 bytes of chunk 67, then chunks 68..=99"
        );
        slide_window(&mut w, &vec![7u8; 40_000]);
        assert_eq!(w, vec![7u8; WINDOW_BYTES]);
    }

    struct Mem(&'static str, Vec<u8>);

    impl BatchFile for Mem {
        fn name(&self) -> &str {
            self.0
        }
        fn size(&self) -> Option<u64> {
            None
        }
        fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
            Ok(Box::new(&self.1[..]))
        }
    }

    /// (entry, uncompressed length, last) of every chunk, in the order the sink saw them.
    fn chunks(
        files: &[&dyn BatchFile],
        chunk_bytes: usize,
        threads: usize,
    ) -> Vec<(usize, u64, bool)> {
        let cfg = PipelineConfig {
            level: 1,
            threads,
            chunk_bytes,
        };
        let mut seen = Vec::new();
        let cores = SharedCores::default();
        run(files, cfg, &cores, Path::new("t.zip"), &mut |c: &Chunk| {
            seen.push((c.entry, c.crc.total_len(), c.last));
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn an_entry_ends_on_its_last_chunk_whatever_its_length() {
        let sizes = [0usize, 1, 999, 1000, 1001, 2000, 2500];
        let files: Vec<Mem> = sizes.iter().map(|&n| Mem("f.csv", vec![b'x'; n])).collect();
        let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
        for threads in [1, 3] {
            let got = chunks(&refs, 1000, threads);
            let want = vec![
                (0, 0, true),
                (1, 1, true),
                (2, 999, true),
                (3, 1000, true),
                (4, 1000, false),
                (4, 1, true),
                (5, 1000, false),
                (5, 1000, true),
                (6, 1000, false),
                (6, 1000, false),
                (6, 500, true),
            ];
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
