//! Black-box tests of `pack::write`: determinism, readability by other tools, Canvas order,
//! chunking, and refusals.

use std::io::{self, Read};
use std::path::Path;

use canvas_sis::pack::{PackEntry, PackError, PackOptions, pack_to_file};
use canvas_sis::sis::SisKind;
use canvas_sis::store::BatchFile;

/// An in-memory batch file; `read_size` caps each `read` call to exercise short reads.
struct MemFile {
    name: String,
    data: Vec<u8>,
    size: Option<u64>,
    read_size: usize,
}

impl MemFile {
    fn new(name: &str, data: Vec<u8>) -> Self {
        let size = Some(data.len() as u64);
        MemFile {
            name: name.into(),
            data,
            size,
            read_size: usize::MAX,
        }
    }
}

struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl BatchFile for MemFile {
    fn name(&self) -> &str {
        &self.name
    }
    fn size(&self) -> Option<u64> {
        self.size
    }
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(Trickle {
            data: &self.data,
            step: self.read_size,
        }))
    }
}

/// CSV-like rows with enough variety that chunks matter.
fn csv(rows: usize, seed: u64) -> Vec<u8> {
    let mut s = String::from("user_id,login_id,first_name,last_name,email,status\n");
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    for i in 0..rows {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = x >> 40;
        s.push_str(&format!(
            "u{i},login{n},First{},Last{},u{n}@example.edu,active\n",
            n % 977,
            n % 1009
        ));
    }
    s.into_bytes()
}

fn sample_files() -> Vec<(MemFile, Option<SisKind>)> {
    vec![
        (
            MemFile::new("enrollments.csv", csv(4000, 1)),
            Some(SisKind::Enrollment),
        ),
        (MemFile::new("users.csv", csv(3000, 2)), Some(SisKind::User)),
        (MemFile::new("notes.csv", csv(10, 3)), None),
        (
            MemFile::new("courses.csv", csv(500, 4)),
            Some(SisKind::Course),
        ),
        (MemFile::new("empty.csv", Vec::new()), Some(SisKind::Term)),
    ]
}

fn entries(files: &[(MemFile, Option<SisKind>)]) -> Vec<PackEntry<'_>> {
    files
        .iter()
        .map(|(f, kind)| PackEntry {
            name: f.name.clone(),
            kind: *kind,
            file: f as &dyn BatchFile,
        })
        .collect()
}

fn opts(threads: usize, chunk_bytes: usize) -> PackOptions {
    PackOptions {
        level: 6,
        threads,
        chunk_bytes,
    }
}

fn pack(entries: &[PackEntry<'_>], opts: &PackOptions) -> (Vec<u8>, canvas_sis::pack::PackSummary) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("batch.zip");
    let summary = pack_to_file(entries, &out, opts).unwrap();
    (std::fs::read(&out).unwrap(), summary)
}

#[test]
fn output_is_byte_identical_for_1_2_and_4_threads() {
    let files = sample_files();
    let e = entries(&files);
    let (one, s1) = pack(&e, &opts(1, 16 * 1024));
    for threads in [2, 4] {
        let (bytes, s) = pack(&e, &opts(threads, 16 * 1024));
        assert!(bytes == one, "{threads} threads gave different bytes");
        assert_eq!(s.sha256, s1.sha256);
    }
}

#[test]
fn output_does_not_depend_on_input_order_or_read_sizes() {
    let files = sample_files();
    let (reference, _) = pack(&entries(&files), &opts(2, 10_000));
    let mut shuffled = sample_files();
    shuffled.reverse();
    for (f, _) in &mut shuffled {
        f.read_size = 777;
    }
    let (bytes, _) = pack(&entries(&shuffled), &opts(3, 10_000));
    assert!(bytes == reference);
}

#[test]
fn summary_hash_and_size_describe_the_file_on_disk() {
    use sha2::Digest;
    let files = sample_files();
    let (bytes, summary) = pack(&entries(&files), &PackOptions::default());
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert_eq!(summary.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
}

#[test]
fn entries_follow_canvas_processing_order_then_name_with_unknown_kinds_last() {
    let mut files = sample_files();
    files.push((MemFile::new("a_users.csv", csv(5, 9)), Some(SisKind::User)));
    files.push((MemFile::new("a_unknown.csv", csv(5, 9)), None));
    let (bytes, summary) = pack(&entries(&files), &opts(2, 64 * 1024));
    let names: Vec<_> = summary.entries.iter().map(|e| e.name.as_str()).collect();
    let expected = [
        "empty.csv",
        "courses.csv",
        "a_users.csv",
        "users.csv",
        "enrollments.csv",
        "a_unknown.csv",
        "notes.csv",
    ];
    assert_eq!(names, expected);
    let zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    let in_zip: Vec<_> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert_eq!(in_zip, expected, "central directory order");
}

#[test]
fn the_zip_crate_reads_every_entry_back_with_matching_content_and_crc() {
    let files = sample_files();
    let (bytes, summary) = pack(&entries(&files), &opts(2, 8 * 1024));
    let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    for packed in &summary.entries {
        let original = &files
            .iter()
            .find(|(f, _)| f.name == packed.name)
            .unwrap()
            .0
            .data;
        let mut entry = zip.by_name(&packed.name).unwrap();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert!(content == *original, "{} content", packed.name);
        assert_eq!(
            entry.crc32(),
            crc32fast::hash(original),
            "{} crc",
            packed.name
        );
        assert_eq!(packed.crc32, entry.crc32());
        assert_eq!(packed.uncompressed, original.len() as u64);
        assert_eq!(packed.compressed, entry.compressed_size());
    }
}

#[test]
fn an_entry_of_many_chunks_round_trips_and_compresses_like_a_single_stream() {
    let data = csv(60_000, 7); // ~3.5 MB
    let files = vec![(MemFile::new("users.csv", data.clone()), Some(SisKind::User))];
    let (chunked, summary) = pack(&entries(&files), &opts(4, 64 * 1024));
    let mut zip = zip::ZipArchive::new(io::Cursor::new(chunked)).unwrap();
    let mut back = Vec::new();
    zip.by_index(0).unwrap().read_to_end(&mut back).unwrap();
    assert!(back == data);
    let (_, whole) = pack(&entries(&files), &opts(1, 64 * 1024 * 1024));
    let chunked_size = summary.entries[0].compressed as f64;
    let single = whole.entries[0].compressed as f64;
    assert!(
        chunked_size < single * 1.01,
        "chunked {chunked_size} vs single {single}"
    );
}

#[test]
fn an_empty_file_is_stored_with_zero_sizes() {
    let files = vec![(MemFile::new("terms.csv", Vec::new()), Some(SisKind::Term))];
    let (bytes, summary) = pack(&entries(&files), &PackOptions::default());
    assert_eq!(summary.entries[0].compressed, 0);
    let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    let entry = zip.by_index(0).unwrap();
    assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
    assert_eq!((entry.size(), entry.crc32()), (0, 0));
}

#[test]
fn timestamps_and_permissions_are_fixed() {
    let files = sample_files();
    let (bytes, _) = pack(&entries(&files), &PackOptions::default());
    let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
    for i in 0..zip.len() {
        let e = zip.by_index(i).unwrap();
        let t = e.last_modified().unwrap();
        assert_eq!(
            (t.year(), t.month(), t.day(), t.hour(), t.minute()),
            (1980, 1, 1, 0, 0)
        );
        assert_eq!(e.unix_mode(), Some(0o100_644));
        assert!(
            e.extra_data().is_none_or(|x| x.is_empty()),
            "no varying extra fields"
        );
    }
}

#[test]
fn unzip_and_python_zipfile_accept_the_archive() {
    let files = sample_files();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("batch.zip");
    pack_to_file(&entries(&files), &out, &opts(2, 20_000)).unwrap();
    check_with_other_tools(&out);
}

/// `unzip -t` and Python's `zipfile` (test + content read) must accept `zip`.
fn check_with_other_tools(zip: &Path) {
    if which("unzip") {
        let out = std::process::Command::new("unzip")
            .arg("-t")
            .arg(zip)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "unzip -t: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        eprintln!("unzip not installed: skipped");
    }
    if which("python3") {
        let script = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(len(z.namelist()))";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(zip)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python zipfile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("python3 not installed: skipped");
    }
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn two_files_with_the_same_name_are_refused() {
    let a = MemFile::new("users.csv", csv(3, 1));
    let b = MemFile::new("users.csv", csv(3, 2));
    let e = vec![
        PackEntry {
            name: "users.csv".into(),
            kind: Some(SisKind::User),
            file: &a,
        },
        PackEntry {
            name: "users.csv".into(),
            kind: None,
            file: &b,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let err = pack_to_file(&e, &dir.path().join("x.zip"), &PackOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "two files of the batch would both be `users.csv` in the zip; rename one of them"
    );
    assert!(!dir.path().join("x.zip").exists(), "no zip is left behind");
}

#[test]
fn a_name_that_would_escape_the_extraction_folder_is_refused() {
    let a = MemFile::new("x", csv(3, 1));
    let e = vec![PackEntry {
        name: "../users.csv".into(),
        kind: None,
        file: &a,
    }];
    let dir = tempfile::tempdir().unwrap();
    let err = pack_to_file(&e, &dir.path().join("x.zip"), &PackOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`../users.csv` cannot be a name inside the zip: the name contains a `..` component; rename the file to a relative path without `..` or `\\`"
    );
}

#[test]
fn a_file_that_changes_size_while_packed_is_refused() {
    let mut a = MemFile::new("users.csv", csv(300, 1));
    a.size = Some(10);
    let e = vec![PackEntry {
        name: "users.csv".into(),
        kind: Some(SisKind::User),
        file: &a,
    }];
    let dir = tempfile::tempdir().unwrap();
    let err = pack_to_file(&e, &dir.path().join("x.zip"), &opts(2, 1000)).unwrap_err();
    assert!(
        matches!(err, PackError::SizeChanged { expected: 10, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("`users.csv` changed while it was packed: 10 bytes were expected")
    );
    assert!(err.is_retryable());
}

#[test]
fn a_file_that_cannot_be_opened_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing =
        canvas_sis::store::local::LocalFile::new("users.csv", dir.path().join("gone.csv"));
    let ok = MemFile::new("courses.csv", csv(100, 1));
    let e = vec![
        PackEntry {
            name: "courses.csv".into(),
            kind: Some(SisKind::Course),
            file: &ok,
        },
        PackEntry {
            name: "users.csv".into(),
            kind: Some(SisKind::User),
            file: &missing,
        },
    ];
    let err = pack_to_file(&e, &dir.path().join("x.zip"), &opts(2, 1000)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot open `users.csv` for packing: "),
        "{err}"
    );
    assert!(!dir.path().join("x.zip").exists());
}

#[test]
fn a_different_chunk_size_gives_a_different_but_equivalent_archive() {
    let files = sample_files();
    let (a, sa) = pack(&entries(&files), &opts(2, 8 * 1024));
    let (b, sb) = pack(&entries(&files), &opts(2, 64 * 1024));
    assert!(a != b, "chunk size is part of the format");
    let crcs =
        |s: &canvas_sis::pack::PackSummary| s.entries.iter().map(|e| e.crc32).collect::<Vec<_>>();
    assert_eq!(crcs(&sa), crcs(&sb));
}

#[test]
fn packing_the_same_batch_again_gives_the_same_bytes_for_any_chunk_size() {
    // Reusing one zlib-rs stream per worker (`reset`) made this fail about one run in two.
    let files = sample_files();
    for chunk_bytes in [10_000, 16 * 1024, 20_000, 40_000] {
        let (first, _) = pack(&entries(&files), &opts(2, chunk_bytes));
        for threads in [2, 3] {
            let (again, _) = pack(&entries(&files), &opts(threads, chunk_bytes));
            assert!(again == first, "chunk {chunk_bytes}, {threads} threads");
        }
    }
}
