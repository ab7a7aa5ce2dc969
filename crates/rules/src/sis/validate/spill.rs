//! An external sort of small records by `(table, key)`, for the checks that no longer fit in
//! memory: records are buffered up to a fixed size, written to an anonymous temporary file as
//! sorted runs, and read back merged. Memory stays at one run's buffer plus the read buffers of
//! the merged runs (a budget the caller gives, shared among them), whatever the number of
//! records; records of one `(table, key)` come back in the order they were pushed.
//!
//! The file is created on the first run that has to be written (`tempfile`: unlinked at once, so
//! nothing is left behind even if the process dies). A write that fails keeps its records in
//! memory and stops further writes: the checks stay right, only unbounded.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::deferred::put_varint;
use super::run_heap::RunHeap;

/// Bytes of records buffered before they are sorted and written as a run.
pub(crate) const RUN_BYTES: usize = 4 << 20;

/// Runs merged at once; past this, runs are first merged into longer runs (which writes the
/// spill again). 512 runs of 4 MiB: one pass for spills up to 2 GiB.
const FAN_IN: usize = 512;

/// Smallest and largest read buffer of a run being merged: the read budget is shared among the
/// runs within these bounds. Each read is a system call (at 8 KiB a read, the calls cost more
/// than the bytes on a spill of a gigabyte); past 32 KiB, the buffers of a few hundred runs
/// no longer fit a core's cache and the merge slows down more than the calls save.
const MIN_READ_BYTES: usize = 8 << 10;
const MAX_READ_BYTES: usize = 32 << 10;

/// Write buffer of a run being written.
const WRITE_BYTES: usize = 256 << 10;

/// Most bytes of a record's header in a run: table (1), key (8), then seq and payload length
/// as LEB128 varints (at most 10 and 5).
const HEADER: usize = 24;

/// Bytes an in-memory entry costs beside its payload.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

#[derive(Clone, Copy)]
struct Entry {
    /// `(table, key, seq)` as one integer (see [`order`]): sorting compares one number.
    order: u128,
    off: usize,
    len: u32,
}

/// Bits of a record's `seq` in its order: a spill never holds 2⁵⁶ records.
const SEQ_BITS: u32 = 56;

/// `(table, key, seq)` packed so that comparing the numbers compares the triples: table in the
/// top 8 bits, then the key, then the seq's low 56 bits.
fn order(table: u8, key: u64, seq: u64) -> u128 {
    debug_assert!(seq < 1 << SEQ_BITS, "seq {seq} past {SEQ_BITS} bits");
    u128::from(table) << 120 | u128::from(key) << SEQ_BITS | u128::from(seq & ((1 << SEQ_BITS) - 1))
}

/// The `(table, key, seq)` that [`order`] packed.
fn unpack(order: u128) -> (u8, u64, u64) {
    (
        (order >> 120) as u8,
        (order >> SEQ_BITS) as u64,
        order as u64 & ((1 << SEQ_BITS) - 1),
    )
}

/// A run: a sorted range of the spill file.
#[derive(Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
}

/// Records waiting to be sorted, and the runs already written.
pub(crate) struct Spill {
    dir: Option<PathBuf>,
    run_bytes: usize,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    file: Option<File>,
    runs: Vec<Run>,
    seq: u64,
    /// The first write that failed; the records stay in memory from then on.
    failed: Option<io::Error>,
}

impl Spill {
    /// A spill writing its runs in `dir` (the system's temporary folder if `None`), each of
    /// about `run_bytes` bytes.
    pub(crate) fn new(dir: Option<PathBuf>, run_bytes: usize) -> Self {
        Spill {
            dir,
            run_bytes: run_bytes.max(1),
            entries: Vec::new(),
            arena: Vec::new(),
            file: None,
            runs: Vec::new(),
            seq: 0,
            failed: None,
        }
    }

    /// Whether nothing was pushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.seq == 0
    }

    /// Runs written to disk so far.
    #[cfg(test)]
    pub(crate) fn runs_written(&self) -> usize {
        self.runs.len()
    }

    /// Adds a record; records of one `(table, key)` are read back in the order they were added.
    #[cfg(test)]
    pub(crate) fn push(&mut self, table: u8, key: u64, payload: &[u8]) {
        self.push_with(table, key, |out| out.extend_from_slice(payload));
    }

    /// Adds the record `encode` appends to the buffer it is given (written in place: no copy
    /// of its own); records of one `(table, key)` are read back in the order they were added.
    pub(crate) fn push_with(&mut self, table: u8, key: u64, encode: impl FnOnce(&mut Vec<u8>)) {
        self.push_ordered_with(table, key, self.seq, encode);
    }

    /// As [`Spill::push_with`], the record read back among those of its `(table, key)` by `seq`
    /// (then in the order added).
    pub(crate) fn push_ordered_with(
        &mut self,
        table: u8,
        key: u64,
        seq: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let off = self.arena.len();
        encode(&mut self.arena);
        self.entries.push(Entry {
            order: order(table, key, seq),
            off,
            len: (self.arena.len() - off) as u32,
        });
        self.seq += 1;
        let buffered = self.arena.len() + self.entries.len() * ENTRY_BYTES;
        if buffered >= self.run_bytes
            && self.failed.is_none()
            && let Err(e) = self.write_run()
        {
            self.failed = Some(e);
        }
    }

    /// Sorts the buffered records and appends them to the file as one run.
    fn write_run(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let f = match &self.dir {
                    Some(d) => tempfile::tempfile_in(d)?,
                    None => tempfile::tempfile()?,
                };
                self.file.insert(f)
            }
        };
        // (table, key, seq) is unique but for `push_ordered_with` records given the same seq,
        // whose order among themselves does not matter.
        self.entries.sort_unstable_by_key(|e| e.order);
        let mut out = RunWriter::at_end(file)?;
        for e in &self.entries {
            out.record(e.order, &self.arena[e.off..e.off + e.len as usize])?;
        }
        self.runs.push(out.finish()?);
        self.entries.clear();
        self.arena.clear();
        Ok(())
    }

    /// Every record, by `(table, key)` and then by `seq` (the order pushed, for [`Spill::push`]),
    /// given to `each` as `(table, key, seq, payload)`, reading the runs back with about
    /// `read_budget` bytes of buffers in all. An error reading the runs back ends the walk.
    pub(crate) fn drain(
        mut self,
        read_budget: usize,
        mut each: impl FnMut(u8, u64, u64, &[u8]),
    ) -> io::Result<()> {
        self.entries.sort_unstable_by_key(|e| e.order);
        let Some(file) = self.file.take() else {
            for e in &self.entries {
                let (t, k, s) = unpack(e.order);
                each(t, k, s, &self.arena[e.off..e.off + e.len as usize]);
            }
            return Ok(());
        };
        let mut runs = std::mem::take(&mut self.runs);
        while runs.len() > FAN_IN {
            let merged: Vec<Run> = runs.drain(..FAN_IN).collect();
            let mut out = RunWriter::at_end(&file)?;
            merge(&file, &merged, read_budget, &[], &[], |order, p| {
                out.record(order, p)
            })?;
            runs.push(out.finish()?);
        }
        merge(
            &file,
            &runs,
            read_budget,
            &self.entries,
            &self.arena,
            |order, p| {
                let (t, k, s) = unpack(order);
                each(t, k, s, p);
                Ok(())
            },
        )
    }
}

/// Appends one run to the spill file: records are laid out in a buffer and written a buffer at
/// a time (a record is a few dozen bytes: a write per record, or a buffered writer's per-call
/// bookkeeping, cost more than the bytes).
struct RunWriter<'f> {
    file: &'f File,
    start: u64,
    written: u64,
    buf: Vec<u8>,
}

impl<'f> RunWriter<'f> {
    /// A run starting at the end of `file`.
    fn at_end(mut file: &'f File) -> io::Result<Self> {
        let start = file.seek(SeekFrom::End(0))?;
        Ok(RunWriter {
            file,
            start,
            written: start,
            buf: Vec::with_capacity(WRITE_BYTES),
        })
    }

    /// Appends a record: table (1 byte), key (8), then seq and the payload's length as LEB128
    /// varints, then the payload.
    fn record(&mut self, order: u128, payload: &[u8]) -> io::Result<()> {
        let (table, key, seq) = unpack(order);
        self.buf.push(table);
        self.buf.extend_from_slice(&key.to_le_bytes());
        put_varint(&mut self.buf, seq);
        put_varint(&mut self.buf, payload.len() as u64);
        self.buf.extend_from_slice(payload);
        if self.buf.len() >= WRITE_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered; the run written.
    fn finish(mut self) -> io::Result<Run> {
        self.flush()?;
        Ok(Run {
            start: self.start,
            end: self.written,
        })
    }
}

/// Reads one run of the file in order, a buffer at a time; a record is parsed in place.
struct RunReader<'f> {
    file: &'f File,
    /// File offset of the next byte to read, and the run's end.
    next: u64,
    end: u64,
    /// Bytes read at once.
    read_bytes: usize,
    buf: Vec<u8>,
    /// The unread bytes of `buf`.
    at: usize,
    filled: usize,
    /// The current record: its order (see [`order`]), and its payload's place in `buf`.
    order: u128,
    payload: std::ops::Range<usize>,
}

impl<'f> RunReader<'f> {
    fn new(file: &'f File, run: Run, read_bytes: usize) -> Self {
        RunReader {
            file,
            next: run.start,
            end: run.end,
            read_bytes,
            buf: Vec::new(),
            at: 0,
            filled: 0,
            order: 0,
            payload: 0..0,
        }
    }

    fn payload(&self) -> &[u8] {
        &self.buf[self.payload.clone()]
    }

    /// Makes at least `n` unread bytes available in `buf`, or as many as the run has left;
    /// returns how many there are.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let unread = self.filled - self.at;
        if unread >= n || self.next == self.end {
            return Ok(unread);
        }
        self.buf.copy_within(self.at..self.filled, 0);
        self.at = 0;
        self.filled = unread;
        let want = n.max(self.read_bytes);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let more = ((self.buf.len() - self.filled) as u64).min(self.end - self.next) as usize;
        read_exact_at(
            self.file,
            &mut self.buf[self.filled..self.filled + more],
            self.next,
        )?;
        self.next += more as u64;
        self.filled += more;
        Ok(self.filled - self.at)
    }

    /// Moves to the next record; false at the end of the run.
    fn advance(&mut self) -> io::Result<bool> {
        let available = self.fill(HEADER)?;
        if available == 0 {
            return Ok(false);
        }
        let head = &self.buf[self.at..self.at + available];
        let (seq, seq_len) = varint(head.get(9..).ok_or_else(cut)?)?;
        let (len, len_len) = varint(&head[9 + seq_len..])?;
        let key = u64::from_le_bytes(head[1..9].try_into().expect("8 bytes"));
        self.order = order(head[0], key, seq);
        let header = 9 + seq_len + len_len;
        let total = header + usize::try_from(len).map_err(|_| cut())?;
        if self.fill(total)? < total {
            return Err(cut());
        }
        self.payload = self.at + header..self.at + total;
        self.at += total;
        Ok(true)
    }
}

/// The LEB128 varint at the start of `b`, and its length in bytes.
fn varint(b: &[u8]) -> io::Result<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().take(10).enumerate() {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if *byte < 0x80 {
            return Ok((v, i + 1));
        }
    }
    Err(cut())
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a spilled run ended inside a record",
    )
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Merges `runs` of `file`, read with `read_budget` bytes of buffers in all, with the sorted
/// in-memory `entries`, giving each record in order.
fn merge(
    file: &File,
    runs: &[Run],
    read_budget: usize,
    entries: &[Entry],
    arena: &[u8],
    mut each: impl FnMut(u128, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let read_bytes = (read_budget / runs.len().max(1)).clamp(MIN_READ_BYTES, MAX_READ_BYTES);
    let mut readers: Vec<RunReader> = runs
        .iter()
        .map(|r| RunReader::new(file, *r, read_bytes))
        .collect();
    let mut firsts = Vec::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        if r.advance()? {
            firsts.push((r.order, i as u32));
        }
    }
    let mut heap = RunHeap::new(firsts);
    let mut memory = entries.iter().peekable();
    loop {
        let from_memory = match (heap.top(), memory.peek()) {
            (None, None) => return Ok(()),
            (Some((order, _)), Some(e)) => e.order < order,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        if from_memory {
            let e = memory.next().expect("peeked");
            each(e.order, &arena[e.off..e.off + e.len as usize])?;
            continue;
        }
        // The run with the smallest record: its record goes out, and its next one takes its
        // place at the top of the heap (sifted down once, not popped and pushed).
        let (order, i) = heap.top().expect("peeked");
        let r = &mut readers[i as usize];
        each(order, r.payload())?;
        if r.advance()? {
            heap.replace_top(r.order);
        } else {
            heap.pop_top();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(spill: Spill) -> Vec<(u8, u64, Vec<u8>)> {
        let mut out = Vec::new();
        spill
            .drain(RUN_BYTES, |t, k, _, p| out.push((t, k, p.to_vec())))
            .unwrap();
        out
    }

    /// Pushes `n` records with keys in a scrambled order, several per key.
    fn scrambled(spill: &mut Spill, n: u64) -> Vec<(u8, u64, Vec<u8>)> {
        let mut expected = Vec::new();
        for i in 0..n {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (n / 3 + 1);
            let table = (i % 3) as u8;
            let payload = format!("record {i}").into_bytes();
            spill.push(table, key, &payload);
            expected.push((table, key, i, payload));
        }
        expected.sort_by_key(|(t, k, i, _)| (*t, *k, *i));
        expected.into_iter().map(|(t, k, _, p)| (t, k, p)).collect()
    }

    #[test]
    fn records_come_back_by_table_and_key_in_push_order_without_touching_disk() {
        let mut spill = Spill::new(None, RUN_BYTES);
        let expected = scrambled(&mut spill, 1_000);
        assert_eq!(spill.runs_written(), 0);
        assert_eq!(collect(spill), expected);
    }

    #[test]
    fn records_written_as_many_runs_merge_back_in_the_same_order() {
        let dir = tempfile::tempdir().unwrap();
        // Runs of about 1 KiB: 40 000 records make over a thousand runs, past the merge's fan-in.
        let mut spill = Spill::new(Some(dir.path().to_owned()), 1 << 10);
        let expected = scrambled(&mut spill, 40_000);
        assert!(spill.runs_written() > FAN_IN, "{}", spill.runs_written());
        assert_eq!(collect(spill), expected);
    }

    /// Invariant 6, bounded memory: however many records are pushed, at most one run's worth
    /// waits in memory; the rest is on disk.
    #[test]
    fn records_in_memory_never_pass_one_run_however_many_are_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let run_bytes = 4 << 10;
        let mut spill = Spill::new(Some(dir.path().to_owned()), run_bytes);
        for i in 0..50_000u64 {
            spill.push_with(
                (i % 3) as u8,
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                |out| out.extend_from_slice(format!("record {i}").as_bytes()),
            );
            let buffered = spill.arena.len() + spill.entries.len() * ENTRY_BYTES;
            assert!(buffered < run_bytes, "{buffered} bytes after record {i}");
        }
        assert!(spill.runs_written() > 100, "{}", spill.runs_written());
    }

    #[test]
    fn an_unwritable_folder_keeps_the_records_in_memory() {
        let mut spill = Spill::new(Some(PathBuf::from("/nonexistent/canvas-sis")), 1 << 10);
        let expected = scrambled(&mut spill, 2_000);
        assert!(spill.failed.is_some());
        assert_eq!(collect(spill), expected);
    }

    /// A spill that cannot be read back whole says so: the walk ends with an error (which the
    /// batch reports as `checks_incomplete`), never with some records silently missing.
    #[test]
    fn a_spill_file_cut_short_on_disk_ends_the_walk_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(Some(dir.path().to_owned()), 1 << 10);
        scrambled(&mut spill, 2_000);
        assert!(spill.runs_written() > 2, "{}", spill.runs_written());
        let file = spill.file.as_ref().expect("runs were written");
        let len = file.metadata().unwrap().len();
        // Cut inside the last run's records, as a failing disk or a full one would leave it.
        file.set_len(len - 7).unwrap();
        let mut seen = 0;
        let walked = spill.drain(RUN_BYTES, |_, _, _, _| seen += 1);
        let err = walked.expect_err("a cut spill must not read back as complete");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert!(seen < 2_000, "{seen} records given for a cut file");
    }

    #[test]
    fn an_empty_spill_gives_nothing() {
        let spill = Spill::new(None, RUN_BYTES);
        assert!(spill.is_empty());
        assert!(collect(spill).is_empty());
    }
}
