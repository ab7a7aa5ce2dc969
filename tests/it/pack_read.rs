//! Black-box tests of `pack::read`: what an incoming zip may contain, what refuses it (with
//! the exact message an operator sees), and that headers are not trusted while reading.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use canvas_sis::pack::{
    PackEntry, PackOptions, SkipReason, ZipInputError, ZipLimits, open_zip, pack_to_file,
};
use canvas_sis::store::BatchFile;
use zip::CompressionMethod::{Deflated, Stored};
use zip::write::SimpleFileOptions;

const USERS: &[u8] = b"user_id,login_id,first_name,last_name,status\nu1,jdoe,Jane,Doe,active\nu2,bsmith,Bob,Smith,active\n";

/// Writes a zip of `(name, content, method)` with the `zip` crate, returns its path.
fn make_zip(dir: &Path, entries: &[(&str, &[u8], zip::CompressionMethod)]) -> PathBuf {
    let path = dir.join("incoming.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data, method) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, SimpleFileOptions::default())
                .unwrap();
            continue;
        }
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    path
}

/// Offsets of every record with signature `sig` (`PK\x01\x02` central, `PK\x03\x04` local).
fn records(bytes: &[u8], sig: [u8; 4]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == sig)
        .map(|(i, _)| i)
        .collect()
}

const CENTRAL: [u8; 4] = *b"PK\x01\x02";
const LOCAL: [u8; 4] = *b"PK\x03\x04";

/// Rewrites the zip at `path` with `edit` applied to its bytes.
fn patch(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    edit(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// A zip of `users.csv` alone, stored with `method`, in a folder of its own.
fn users_zip(method: zip::CompressionMethod) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(dir.path(), &[("users.csv", USERS, method)]);
    (dir, zip)
}

/// What an error says of the zip at `path`: its quoted path, then `rest`.
fn about(path: &Path, rest: &str) -> String {
    format!("`{}` {rest}", path.display())
}

/// Checks that the zip at `path` is refused with exactly [`about`]`(path, rest)`.
#[track_caller]
fn assert_refused(path: &Path, rest: &str) {
    assert_eq!(refusal(path).to_string(), about(path, rest));
}

fn refusal(path: &Path) -> ZipInputError {
    open_zip(path, &ZipLimits::default()).expect_err("the zip must be refused")
}

fn read_error(file: &dyn BatchFile) -> String {
    let err = file
        .open()
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    err.get_ref()
        .unwrap()
        .downcast_ref::<ZipInputError>()
        .unwrap()
        .to_string()
}

#[test]
fn csv_entries_stream_from_the_zip_and_litter_is_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[
            ("feed/", b"", Stored),
            ("feed/users.csv", USERS, Deflated),
            ("feed/courses.CSV", b"course_id,short_name\nc1,C1\n", Stored),
            ("__MACOSX/feed/._users.csv", b"\0\x05\x16\x07", Stored),
            ("feed/desktop.ini", b"[.ShellClassInfo]", Stored),
            ("feed/.DS_Store", b"\0\0\0\x01Bud1", Stored),
            ("feed/readme.txt", b"hello", Deflated),
        ],
    );
    let incoming = open_zip(&zip, &ZipLimits::default()).unwrap();
    let names: Vec<_> = incoming
        .files()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(names, ["feed/users.csv", "feed/courses.CSV"]);
    let skipped: Vec<_> = incoming
        .skipped()
        .iter()
        .map(|s| (s.name.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("feed/", SkipReason::Directory),
            ("__MACOSX/feed/._users.csv", SkipReason::MacOsMetadata),
            ("feed/desktop.ini", SkipReason::DesktopFile),
            ("feed/.DS_Store", SkipReason::DotFile),
            ("feed/readme.txt", SkipReason::NotCsv),
        ]
    );
    let users = &incoming.files()[0];
    assert_eq!(users.size(), Some(USERS.len() as u64));
    for _ in 0..2 {
        let mut content = Vec::new();
        users.open().unwrap().read_to_end(&mut content).unwrap();
        assert_eq!(
            content, USERS,
            "every open reads the entry again from the start"
        );
    }
}

#[test]
fn an_incoming_zip_repacks_into_an_identical_set_of_csvs() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = USERS.iter().cycle().take(3_000_000).copied().collect();
    let zip = make_zip(
        dir.path(),
        &[("users.csv", &big, Deflated), ("terms.csv", b"", Stored)],
    );
    let incoming = open_zip(
        &zip,
        &ZipLimits {
            max_ratio: 1000,
            ..ZipLimits::default()
        },
    )
    .unwrap();
    let entries: Vec<PackEntry<'_>> = incoming
        .files()
        .iter()
        .map(|f| PackEntry {
            name: f.name().to_string(),
            kind: None,
            file: f,
        })
        .collect();
    let out = dir.path().join("out.zip");
    let opts = PackOptions {
        chunk_bytes: 256 * 1024,
        ..PackOptions::default()
    };
    pack_to_file(&entries, &out, &opts).unwrap();
    let mut repacked = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut content = Vec::new();
    repacked
        .by_name("users.csv")
        .unwrap()
        .read_to_end(&mut content)
        .unwrap();
    assert!(content == big);
}

#[test]
fn a_name_with_dot_dot_is_refused_as_zip_slip() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[
            ("ok.csv", USERS, Stored),
            ("../../etc/cron.d/x.csv", USERS, Stored),
        ],
    );
    assert_refused(
        &zip,
        "entry `../../etc/cron.d/x.csv` has an unsafe name (the name contains a `..` component): extracting it could write outside the target folder; re-create the zip with relative paths only",
    );
}

#[test]
fn absolute_backslash_and_drive_letter_names_are_refused() {
    let cases = [
        ("/etc/passwd.csv", "the name is an absolute path"),
        ("..\\..\\evil.csv", "the name contains a backslash"),
        (
            "C:/Windows/evil.csv",
            "the name starts with a Windows drive letter",
        ),
    ];
    for (name, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let zip = make_zip(dir.path(), &[("placeholder.csv", USERS, Stored)]);
        // Written under a harmless name of the same length, then renamed in both headers, so
        // the test does not depend on what the zip crate's writer allows.
        let harmless = "x".repeat(name.len());
        let zip2 = make_zip(dir.path(), &[(harmless.as_str(), USERS, Stored)]);
        assert_eq!(zip, zip2);
        patch(&zip, |b| {
            replace_all(b, harmless.as_bytes(), name.as_bytes())
        });
        let err = refusal(&zip);
        assert!(
            matches!(err, ZipInputError::UnsafeName { .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("entry `{name}` has an unsafe name ({reason})")),
            "{err}"
        );
    }
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty());
    for i in at {
        bytes[i..i + to.len()].copy_from_slice(to);
    }
}

#[test]
fn a_duplicate_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[("users.csv", USERS, Stored), ("userz.csv", USERS, Stored)],
    );
    patch(&zip, |b| replace_all(b, b"userz.csv", b"users.csv"));
    assert_refused(
        &zip,
        "holds the name `users.csv` twice; a batch must name each file once, re-create the zip without the duplicate",
    );
}

#[test]
fn a_nested_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[
            ("users.csv", USERS, Stored),
            ("more/Inner.ZIP", b"PK\x05\x06", Stored),
        ],
    );
    assert_refused(
        &zip,
        "entry `more/Inner.ZIP` is itself a zip; nested zips are not accepted, put its CSV files in the top-level zip",
    );
}

#[test]
fn an_encrypted_entry_is_refused() {
    let (_dir, zip) = users_zip(Stored);
    // Set bit 0 (encrypted) of the flags in both headers.
    patch(&zip, |b| {
        let (l, c) = (records(b, LOCAL)[0], records(b, CENTRAL)[0]);
        b[l + 6] |= 1;
        b[c + 8] |= 1;
    });
    assert_refused(
        &zip,
        "entry `users.csv` is encrypted; Canvas cannot read encrypted zips, re-create the zip without a password",
    );
}

#[test]
fn an_unsupported_compression_method_is_refused() {
    let (_dir, zip) = users_zip(Stored);
    patch(&zip, |b| {
        let c = records(b, CENTRAL)[0];
        b[c + 10] = 12; // bzip2
    });
    assert_refused(
        &zip,
        "entry `users.csv` uses compression method 12, which is not supported; re-create the zip with deflate (the default of every zip tool)",
    );
}

#[test]
fn an_expansion_of_more_than_100x_is_refused_like_canvas_does() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![b'0'; 20_000_000];
    let zip = make_zip(dir.path(), &[("users.csv", &zeros, Deflated)]);
    let zip_bytes = std::fs::metadata(&zip).unwrap().len();
    assert_refused(
        &zip,
        &format!(
            "expands from {zip_bytes} to 20000000 bytes, more than 100x its size; Canvas refuses such zips (and it may be a zip bomb), split the data into smaller batches"
        ),
    );
    let just_under = ZipLimits {
        max_ratio: 20_000_000 / zip_bytes + 1,
        ..ZipLimits::default()
    };
    assert!(
        open_zip(&zip, &just_under).is_ok(),
        "the ratio limit is the only reason"
    );
}

#[test]
fn an_uncompressed_total_over_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[("users.csv", USERS, Stored), ("more.csv", USERS, Stored)],
    );
    let limits = ZipLimits {
        max_total_uncompressed_bytes: USERS.len() as u64,
        ..ZipLimits::default()
    };
    let err = open_zip(&zip, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        about(
            &zip,
            &format!(
                "expands to {} bytes, more than the limit of {}; split the data into smaller batches",
                2 * USERS.len(),
                USERS.len()
            )
        )
    );
}

#[test]
fn more_entries_than_the_limit_are_refused_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let zip = make_zip(
        dir.path(),
        &[
            ("a.csv", USERS, Stored),
            ("b.csv", USERS, Stored),
            ("c.csv", USERS, Stored),
        ],
    );
    let err = open_zip(
        &zip,
        &ZipLimits {
            max_entries: 2,
            ..ZipLimits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        about(
            &zip,
            "has 3 entries, more than the limit of 2; send fewer files per batch"
        )
    );
}

/// Rewrites the uncompressed size the central directory declares for the first entry (offset 24).
fn declare_size(zip: &std::path::Path, size: u32) {
    patch(zip, |b| {
        let c = records(b, CENTRAL)[0];
        b[c + 24..c + 28].copy_from_slice(&size.to_le_bytes());
    });
}

#[test]
fn an_entry_larger_than_it_declares_is_caught_while_reading() {
    let (_dir, zip) = users_zip(Deflated);
    declare_size(&zip, 10);
    let incoming = open_zip(&zip, &ZipLimits::default()).expect("headers alone look fine");
    let file = &incoming.files()[0];
    assert_eq!(file.size(), Some(10));
    assert_eq!(
        read_error(file),
        about(
            &zip,
            "entry `users.csv` decompresses to more than the 10 bytes its header declares; the zip is corrupt or hostile, re-create it"
        )
    );
}

#[test]
fn an_entry_shorter_than_it_declares_is_caught_at_its_end() {
    let (_dir, zip) = users_zip(Deflated);
    declare_size(&zip, 200);
    let incoming = open_zip(&zip, &ZipLimits::default()).unwrap();
    assert_eq!(
        read_error(&incoming.files()[0]),
        about(
            &zip,
            &format!(
                "entry `users.csv` decompresses to {} bytes but its header declares 200; the zip is corrupt or was cut short, re-create it",
                USERS.len()
            )
        )
    );
}

#[test]
fn a_corrupted_entry_fails_its_checksum() {
    let (_dir, zip) = users_zip(Stored);
    patch(&zip, |b| replace_all(b, b"jdoe", b"jdoo"));
    let incoming = open_zip(&zip, &ZipLimits::default()).unwrap();
    assert!(read_error(&incoming.files()[0]).contains("entry `users.csv` fails its checksum"));
}

#[test]
fn a_truncated_zip_is_refused_as_corrupt() {
    let (_dir, zip) = users_zip(Deflated);
    patch(&zip, |b| b.truncate(b.len() - 30));
    assert_refused(
        &zip,
        "is not a readable zip: there is no end-of-central-directory record (not a zip, or cut short); it is corrupt or was cut short, export or upload it again",
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.zip");
    std::fs::write(&path, USERS).unwrap();
    assert!(matches!(refusal(&path), ZipInputError::Corrupt { .. }));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(refusal(&path), ZipInputError::Corrupt { .. }));
}

#[test]
fn a_local_header_naming_another_file_is_refused() {
    let (_dir, zip) = users_zip(Stored);
    patch(&zip, |b| {
        let l = records(b, LOCAL)[0];
        b[l + 30..l + 39].copy_from_slice(b"evil.exe\0");
    });
    assert_refused(
        &zip,
        "entry `users.csv` is corrupt: its local header names a different file than the central directory; export or upload the zip again",
    );
}

#[test]
fn a_missing_zip_says_so() {
    let err = refusal(Path::new("/nonexistent/drop.zip"));
    assert!(
        err.to_string()
            .starts_with("cannot open the zip `/nonexistent/drop.zip`: "),
        "{err}"
    );
    assert!(err.is_retryable());
}
