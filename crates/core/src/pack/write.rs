//! Packs a batch into the zip uploaded to Canvas: deterministic, parallel, bounded in memory.
//!
//! Entries are sorted into Canvas's processing order (then by name; files of unknown kind
//! last) so that someone opening the zip sees what Canvas will do first. The archive is written
//! front to back once, with data descriptors after each entry (sizes and CRC are known only at
//! the end of an entry), which lets the SHA-256 be computed while writing instead of re-reading
//! the file. It is written to a temporary file next to `out` and renamed into place at the end,
//! so `out` is never a half-written zip.
//!
//! The bytes depend only on the entries (name, kind, content), `level` and `chunk_bytes`. Not on
//! the thread count, not on how the readers split their reads, not on timing.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::cores::SharedCores;
use super::error::PackError;
use super::format::{self, EntryRecord, METHOD_DEFLATE, METHOD_STORED, Zip64Policy};
use super::names::check_entry_name;
use super::pipeline::{self, Chunk, PipelineConfig};
use crate::store::BatchFile;
use canvas_sis_rules::sis::SisKind;

/// An entry size hint at or above which the local header reserves Zip64 sizes. Kept well below
/// 4 GiB because deflate may expand incompressible data slightly.
const ZIP64_HINT_BYTES: u64 = 0xF000_0000;

/// One file to put in the zip.
pub struct PackEntry<'a> {
    /// The name inside the zip (`/`-separated, relative).
    pub name: String,
    /// Its detected kind, which decides its place in the zip; `None` sorts last.
    pub kind: Option<SisKind>,
    pub file: &'a dyn BatchFile,
}

/// How to pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// Deflate level, 0–9 (higher values are clamped to 9).
    pub level: u32,
    /// Compression threads (0 counts as 1). Does not change the output.
    pub threads: usize,
    /// Bytes per independently compressed chunk (0 counts as 1). Changes the output bytes (each
    /// chunk ends with a flush), so keep the default when archives must be comparable by hash.
    pub chunk_bytes: usize,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            level: 6,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_bytes: 1024 * 1024,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Size of the zip in bytes.
    pub bytes: u64,
    /// SHA-256 of the zip, lower-case hex.
    pub sha256: String,
    /// The entries in archive order.
    pub entries: Vec<PackedEntry>,
}

/// One entry of the written zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedEntry {
    pub name: String,
    pub uncompressed: u64,
    pub compressed: u64,
    pub crc32: u32,
}

/// Packs `entries` into a zip at `out` (replacing it) and describes what was written.
pub fn pack_to_file(
    entries: &[PackEntry<'_>],
    out: &Path,
    opts: &PackOptions,
) -> Result<PackSummary, PackError> {
    pack_sharing_cores(entries, out, opts, &SharedCores::default())
}

/// [`pack_to_file`] on fewer threads while `cores` are lent to work running beside it; the
/// bytes written are the same.
pub fn pack_sharing_cores(
    entries: &[PackEntry<'_>],
    out: &Path,
    opts: &PackOptions,
    cores: &SharedCores,
) -> Result<PackSummary, PackError> {
    pack_with_policy(entries, out, opts, Zip64Policy::default(), cores)
}

/// [`pack_sharing_cores`] with a chosen Zip64 policy (tests force Zip64 on small archives).
pub(crate) fn pack_with_policy(
    entries: &[PackEntry<'_>],
    out: &Path,
    opts: &PackOptions,
    policy: Zip64Policy,
    cores: &SharedCores,
) -> Result<PackSummary, PackError> {
    let ordered = canvas_order(entries)?;
    let tmp = temp_file_next_to(out)?;
    let files: Vec<&dyn BatchFile> = ordered.iter().map(|e| e.file).collect();
    let cfg = PipelineConfig {
        level: opts.level,
        threads: opts.threads,
        chunk_bytes: opts.chunk_bytes,
    };
    let mut archive = ArchiveWriter::new(tmp.as_file(), out, &ordered, policy);
    pipeline::run(&files, cfg, cores, out, &mut |chunk| archive.accept(chunk))?;
    let summary = archive.finish()?;
    tmp.persist(out).map_err(|e| PackError::WriteOutput {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok(summary)
}

/// Sorts by Canvas processing order, then name; refuses unsafe and duplicate names.
fn canvas_order<'e, 'a>(entries: &'e [PackEntry<'a>]) -> Result<Vec<&'e PackEntry<'a>>, PackError> {
    for e in entries {
        check_entry_name(&e.name).map_err(|reason| PackError::BadName {
            name: e.name.clone(),
            reason,
        })?;
    }
    let mut ordered: Vec<&PackEntry<'a>> = entries.iter().collect();
    ordered.sort_by(|a, b| {
        (a.kind.is_none(), a.kind, &a.name).cmp(&(b.kind.is_none(), b.kind, &b.name))
    });
    let mut seen = std::collections::HashSet::new();
    for e in &ordered {
        if !seen.insert(e.name.as_str()) {
            return Err(PackError::DuplicateName {
                name: e.name.clone(),
            });
        }
    }
    Ok(ordered)
}

fn temp_file_next_to(out: &Path) -> Result<tempfile::NamedTempFile, PackError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".canvas-sis-pack-")
        .tempfile_in(dir)
        .map_err(|source| PackError::CreateOutput {
            path: out.to_path_buf(),
            source,
        })
}

/// An entry whose local header is written and whose chunks are arriving.
struct OpenEntry {
    record: EntryRecord,
    crc: crc32fast::Hasher,
    compressed: u64,
}

/// Turns the ordered stream of chunks into zip records on a hashed, buffered output.
struct ArchiveWriter<'w, 'e, 'a> {
    out: HashingWriter<BufWriter<&'w std::fs::File>>,
    path: &'w Path,
    entries: &'w [&'e PackEntry<'a>],
    policy: Zip64Policy,
    open: Option<OpenEntry>,
    done: Vec<EntryRecord>,
}

impl<'w, 'e, 'a> ArchiveWriter<'w, 'e, 'a> {
    fn new(
        file: &'w std::fs::File,
        path: &'w Path,
        entries: &'w [&'e PackEntry<'a>],
        policy: Zip64Policy,
    ) -> Self {
        ArchiveWriter {
            out: HashingWriter::new(BufWriter::with_capacity(256 * 1024, file)),
            path,
            entries,
            policy,
            open: None,
            done: Vec::with_capacity(entries.len()),
        }
    }

    /// Takes the next chunk in archive order.
    fn accept(&mut self, chunk: &Chunk) -> Result<(), PackError> {
        if self.open.is_none() {
            if chunk.last && chunk.crc.total_len() == 0 {
                return self.write_empty_entry(chunk.entry);
            }
            self.start_entry(chunk.entry)?;
        }
        self.write(&chunk.deflated)?;
        let open = self.open.as_mut().ok_or_else(|| PackError::WorkerLost {
            path: self.path.to_path_buf(),
        })?;
        open.crc.combine(&chunk.crc);
        open.compressed += chunk.deflated.len() as u64;
        if chunk.last {
            self.finish_entry()?;
        }
        Ok(())
    }

    /// Empty files are stored, not deflated, with every field known up front (no descriptor),
    /// as Info-ZIP does.
    fn write_empty_entry(&mut self, index: usize) -> Result<(), PackError> {
        let offset = self.out.written;
        let record = EntryRecord {
            name: self.entries[index].name.clone(),
            method: METHOD_STORED,
            descriptor: false,
            zip64_sizes: false,
            zip64_offset: self.policy.needs(offset),
            crc32: 0,
            compressed: 0,
            uncompressed: 0,
            offset,
        };
        self.check_size(index, 0)?;
        self.write(&record.local_header())?;
        self.done.push(record);
        Ok(())
    }

    fn start_entry(&mut self, index: usize) -> Result<(), PackError> {
        let offset = self.out.written;
        let hint = self.entries[index].file.size();
        // Decided from the size hint before the data is seen; an unknown size reserves Zip64.
        let zip64_sizes = self.policy.force || hint.is_none_or(|h| h >= ZIP64_HINT_BYTES);
        let record = EntryRecord {
            name: self.entries[index].name.clone(),
            method: METHOD_DEFLATE,
            descriptor: true,
            zip64_sizes,
            zip64_offset: self.policy.needs(offset),
            crc32: 0,
            compressed: 0,
            uncompressed: 0,
            offset,
        };
        self.write(&record.local_header())?;
        self.open = Some(OpenEntry {
            record,
            crc: crc32fast::Hasher::new(),
            compressed: 0,
        });
        Ok(())
    }

    fn finish_entry(&mut self) -> Result<(), PackError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let index = self.done.len();
        let mut record = open.record;
        record.uncompressed = open.crc.total_len();
        record.compressed = open.compressed;
        record.crc32 = open.crc.finalize();
        self.check_size(index, record.uncompressed)?;
        if !record.zip64_sizes
            && (record.uncompressed >= format::MAX32 || record.compressed >= format::MAX32)
        {
            // Only reachable if a size hint lied, which check_size has already refused.
            return Err(PackError::SizeChanged {
                name: record.name,
                expected: self.entries[index].file.size().unwrap_or(0),
                actual: record.uncompressed,
            });
        }
        self.write(&record.data_descriptor())?;
        self.done.push(record);
        Ok(())
    }

    /// A file whose size differs from what it announced changed under us: its zip would not be
    /// what was validated.
    fn check_size(&self, index: usize, actual: u64) -> Result<(), PackError> {
        let entry = self.entries[index];
        match entry.file.size() {
            Some(expected) if expected != actual => Err(PackError::SizeChanged {
                name: entry.name.clone(),
                expected,
                actual,
            }),
            _ => Ok(()),
        }
    }

    /// Writes the central directory and end records, flushes, and summarises.
    fn finish(mut self) -> Result<PackSummary, PackError> {
        if self.open.is_some() || self.done.len() != self.entries.len() {
            return Err(PackError::WorkerLost {
                path: self.path.to_path_buf(),
            });
        }
        let cd_offset = self.out.written;
        let done = std::mem::take(&mut self.done);
        for record in &done {
            self.write(&record.central_header())?;
        }
        let cd_size = self.out.written - cd_offset;
        self.write(&format::end_records(
            done.len() as u64,
            cd_size,
            cd_offset,
            self.policy,
        ))?;
        self.out
            .inner
            .flush()
            .map_err(|source| self.write_error(source))?;
        Ok(PackSummary {
            bytes: self.out.written,
            sha256: hex::encode(self.out.hasher.finalize()),
            entries: done.into_iter().map(packed_entry).collect(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PackError> {
        self.out
            .write_all(bytes)
            .map_err(|source| self.write_error(source))
    }

    fn write_error(&self, source: std::io::Error) -> PackError {
        PackError::WriteOutput {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

fn packed_entry(r: EntryRecord) -> PackedEntry {
    PackedEntry {
        name: r.name,
        uncompressed: r.uncompressed,
        compressed: r.compressed,
        crc32: r.crc32,
    }
}

/// Counts and hashes every byte on its way to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalFile;
    use std::io::Read;

    /// Writes `bytes` to `name` in `dir`, as the file a pack entry reads.
    fn local(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> LocalFile {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        LocalFile::new(name, dir.path().join(name))
    }

    /// Forcing Zip64 on a small archive runs every Zip64 record through real readers: the
    /// zip crate, our own reader, and (when installed) Python's zipfile and unzip.
    #[test]
    fn a_forced_zip64_archive_is_read_back_by_other_readers() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("u{i},l{}\n", i % 91).into_bytes())
            .collect();
        let users = local(&dir, "users.csv", &data);
        let terms = local(&dir, "terms.csv", b"");
        let entries = [
            PackEntry {
                name: "users.csv".into(),
                kind: Some(SisKind::User),
                file: &users,
            },
            PackEntry {
                name: "terms.csv".into(),
                kind: Some(SisKind::Term),
                file: &terms,
            },
        ];
        let out = dir.path().join("z64.zip");
        let opts = PackOptions {
            level: 6,
            threads: 2,
            chunk_bytes: 100_000,
        };
        pack_with_policy(
            &entries,
            &out,
            &opts,
            Zip64Policy { force: true },
            &SharedCores::default(),
        )
        .unwrap();

        let bytes = std::fs::read(&out).unwrap();
        assert!(
            bytes.windows(4).any(|w| w == b"PK\x06\x06"),
            "a Zip64 end record is written"
        );
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut back = Vec::new();
        zip.by_name("users.csv")
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data);

        let incoming = crate::pack::open_zip(&out, &crate::pack::ZipLimits::default()).unwrap();
        let mut ours = Vec::new();
        incoming.files()[1]
            .open()
            .unwrap()
            .read_to_end(&mut ours)
            .unwrap();
        assert!(ours == data);

        for (tool, args) in [
            ("unzip", vec!["-tq"]),
            ("python3", vec!["-m", "zipfile", "-t"]),
        ] {
            match std::process::Command::new(tool)
                .args(&args)
                .arg(&out)
                .output()
            {
                Ok(o) => assert!(
                    o.status.success(),
                    "{tool}: {}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(_) => eprintln!("{tool} not installed: skipped"),
            }
        }
    }

    #[test]
    fn forced_and_default_zip64_archives_hold_the_same_entries() {
        let dir = tempfile::tempdir().unwrap();
        let a = local(&dir, "a.csv", b"user_id,login_id\nu1,l1\n");
        let entries = [PackEntry {
            name: "a.csv".into(),
            kind: None,
            file: &a,
        }];
        let opts = PackOptions::default();
        let plain = pack_with_policy(
            &entries,
            &dir.path().join("p.zip"),
            &opts,
            Zip64Policy::default(),
            &SharedCores::default(),
        )
        .unwrap();
        let forced = pack_with_policy(
            &entries,
            &dir.path().join("f.zip"),
            &opts,
            Zip64Policy { force: true },
            &SharedCores::default(),
        )
        .unwrap();
        assert_eq!(plain.entries, forced.entries);
        assert!(forced.bytes > plain.bytes, "Zip64 records take room");
    }

    #[test]
    fn a_pack_whose_only_core_is_lent_waits_for_it_and_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let rows: String = (0..20_000).map(|i| format!("u{i},l{i}\n")).collect();
        let users = local(
            &dir,
            "users.csv",
            format!("user_id,login_id\n{rows}").as_bytes(),
        );
        let entries = [PackEntry {
            name: "users.csv".into(),
            kind: Some(SisKind::User),
            file: &users,
        }];
        let opts = PackOptions {
            threads: 1,
            chunk_bytes: 64 << 10,
            ..PackOptions::default()
        };
        let alone = pack_to_file(&entries, &dir.path().join("alone.zip"), &opts).unwrap();
        let cores = SharedCores::with_cores(1);
        let shared = dir.path().join("shared.zip");
        let summary = std::thread::scope(|s| {
            let lent = cores.lend();
            let packer = s.spawn(|| pack_sharing_cores(&entries, &shared, &opts, &cores));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(!packer.is_finished(), "packed on a core it had lent");
            drop(lent);
            packer.join().unwrap().unwrap()
        });
        assert_eq!(summary, alone);
        assert_eq!(
            std::fs::read(&shared).unwrap(),
            std::fs::read(dir.path().join("alone.zip")).unwrap()
        );
    }
}
