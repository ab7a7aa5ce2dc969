//! Fetching a batch from the S3 drop bucket to a local work folder (`store::s3`), against a real
//! moto server: zips and folders arrive byte for byte with their sha256, folders take exactly the
//! CSVs the marker means, manifests are held to folder mode's rules, a bounded wait covers files
//! still being uploaded, odd keys work, and a big object streams without being held in memory.

use std::path::Path;
use std::time::{Duration, Instant};

use canvas_sis::aws::store::{FetchError, FetchPolicy, Fetched, Pin, S3Batches};
use canvas_sis::ledger::FileIdentity;
use canvas_sis::trigger::events::classify;
use sha2::{Digest, Sha256};

use crate::common::moto::Moto;

const BUCKET: &str = "drop";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// moto with the drop bucket, and a fetcher for it.
async fn setup() -> (Moto, S3Batches) {
    let m = Moto::start();
    m.create_bucket(BUCKET).await;
    let fetcher = S3Batches::new(m.s3().await, BUCKET);
    (m, fetcher)
}

/// [`setup`] with the drop bucket holding `objects`.
async fn setup_with(objects: &[(&str, &[u8])]) -> (Moto, S3Batches) {
    let (m, s3) = setup().await;
    put_all(&m, objects).await;
    (m, s3)
}

/// Puts each (key, body) in the drop bucket, in order.
async fn put_all(m: &Moto, objects: &[(&str, &[u8])]) {
    for (key, body) in objects {
        m.put(BUCKET, key, body.to_vec()).await;
    }
}

/// Puts `main/{folder}/users.csv` and a manifest listing it and `also`, which is not put.
async fn put_users_listing_also(m: &Moto, folder: &str, also: &str) {
    m.put(BUCKET, &format!("main/{folder}/users.csv"), b"u".to_vec())
        .await;
    let manifest = format!(r#"{{"files":[{{"name":"users.csv"}},{{"name":"{also}"}}]}}"#);
    m.put(
        BUCKET,
        &format!("main/{folder}/manifest.json"),
        manifest.into_bytes(),
    )
    .await;
}

/// Fetches what `key` triggers into a fresh folder.
async fn fetch(
    s3: &S3Batches,
    key: &str,
    policy: &FetchPolicy,
) -> (tempfile::TempDir, Result<Fetched, FetchError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let got = s3.fetch(&classify(key), dir.path(), policy).await;
    (dir, got)
}

/// Fetches what `key` triggers with the [`fast`] policy, which must succeed.
async fn fetch_ok(s3: &S3Batches, key: &str) -> (tempfile::TempDir, Fetched) {
    let (dir, got) = fetch(s3, key, &fast()).await;
    (dir, got.expect("fetched"))
}

/// Fetches what `key` triggers, pinned to `pin`, into a fresh folder.
async fn fetch_pinned(
    s3: &S3Batches,
    key: &str,
    pin: &Pin,
) -> (tempfile::TempDir, Result<Fetched, FetchError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let got = s3
        .fetch_pinned(&classify(key), pin, dir.path(), &fast())
        .await;
    (dir, got)
}

fn fast() -> FetchPolicy {
    FetchPolicy {
        incomplete_wait: Duration::from_secs(3),
        poll: Duration::from_millis(100),
        ..FetchPolicy::default()
    }
}

fn names(f: &Fetched) -> Vec<&str> {
    f.files.iter().map(|f| f.name.as_str()).collect()
}

fn local_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Folder mode's content hash, written out independently: sha256 over name, NUL, sha256, NUL
/// of each file in name order.
fn folder_mode_formula(files: &[(&str, &[u8])]) -> String {
    let mut sorted = files.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (name, bytes) in sorted {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(sha(bytes).as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_object_arrives_byte_for_byte_with_its_sha256() {
    let (m, s3) = setup().await;
    let body = b"PK\x03\x04 not really a zip, but bytes are bytes".to_vec();
    m.put(BUCKET, "main/2026-09-01.zip", body.clone()).await;
    let (dir, f) = fetch_ok(&s3, "main/2026-09-01.zip").await;
    assert_eq!(f.input, dir.path().join("2026-09-01.zip"));
    assert_eq!(std::fs::read(&f.input).unwrap(), body);
    assert_eq!(
        f.files,
        vec![FileIdentity {
            name: "2026-09-01.zip".into(),
            size: body.len() as u64,
            sha256: sha(&body)
        }]
    );
    assert_eq!(f.location, "s3://drop/main/2026-09-01.zip");
    assert_eq!(f.kind, "s3-zip");
    assert_eq!(f.import, None);
    assert_eq!(f.manifest_sha256, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_folder_takes_only_its_top_level_csvs() {
    let (m, s3) = setup().await;
    for (key, body) in [
        ("main/b1/users.csv", &b"user_id\n1\n"[..]),
        ("main/b1/COURSES.CSV", b"course_id\n"),
        ("main/b1/notes.txt", b"not a csv"),
        ("main/b1/old/terms.csv", b"in a sub-folder"),
        ("main/b1.csv", b"beside the folder"),
        ("main/b1/READY", b""),
    ] {
        m.put(BUCKET, key, body.to_vec()).await;
    }
    let (dir, f) = fetch_ok(&s3, "main/b1/READY").await;
    assert_eq!(names(&f), ["COURSES.CSV", "users.csv"]);
    assert_eq!(f.input, dir.path());
    assert_eq!(local_names(dir.path()), ["COURSES.CSV", "users.csv"]);
    assert_eq!(
        std::fs::read(dir.path().join("users.csv")).unwrap(),
        b"user_id\n1\n"
    );
    assert_eq!(f.location, "s3://drop/main/b1/");
    assert_eq!(f.kind, "s3-folder");
    assert_eq!(f.manifest_sha256, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_manifest_means_every_csv_of_the_folder() {
    let (_m, s3) = setup_with(&[
        ("main/b2/a.csv", b"a"),
        ("main/b2/b.csv", b"b"),
        ("main/b2/sub/c.csv", b"c"),
        ("main/b2/manifest.json", b"{}"),
    ])
    .await;
    let (dir, f) = fetch_ok(&s3, "main/b2/manifest.json").await;
    assert_eq!(names(&f), ["a.csv", "b.csv"]);
    assert_eq!(local_names(dir.path()), ["a.csv", "b.csv"]);
    assert_eq!(f.manifest_sha256.as_deref(), Some(sha(b"{}").as_str()));
    assert_eq!(f.import, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_list_with_matching_digests_fetches_exactly_those_files_and_its_options() {
    let (m, s3) = setup_with(&[
        ("main/b3/users.csv", b"user_id\n1\n"),
        ("main/b3/courses.csv", b"course_id\n"),
        ("main/b3/extra.csv", b"not listed"),
    ])
    .await;
    let manifest = serde_json::json!({
        "files": [
            {"name": "users.csv", "sha256": sha(b"user_id\n1\n")},
            {"name": "courses.csv"}
        ],
        "import": {"batch_mode_term": "sis_term_id:2026FA"}
    })
    .to_string();
    m.put(
        BUCKET,
        "main/b3/manifest.json",
        manifest.clone().into_bytes(),
    )
    .await;
    let (dir, f) = fetch_ok(&s3, "main/b3/manifest.json").await;
    assert_eq!(names(&f), ["users.csv", "courses.csv"], "manifest order");
    assert_eq!(local_names(dir.path()), ["courses.csv", "users.csv"]);
    assert_eq!(f.files[0].sha256, sha(b"user_id\n1\n"));
    assert_eq!(f.manifest_sha256, Some(sha(manifest.as_bytes())));
    let import = f.import.expect("import options");
    assert_eq!(
        import.batch_mode_term.as_deref(),
        Some("sis_term_id:2026FA")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_mismatch_is_permanent_and_names_file_expected_and_got() {
    let (m, s3) = setup().await;
    m.put(BUCKET, "main/b4/users.csv", b"user_id\n2\n".to_vec())
        .await;
    let wrong = sha(b"user_id\n1\n");
    let manifest = format!(r#"{{"files":[{{"name":"users.csv","sha256":"{wrong}"}}]}}"#);
    m.put(BUCKET, "main/b4/manifest.json", manifest.into_bytes())
        .await;
    let (_dir, got) = fetch(&s3, "main/b4/manifest.json", &fast()).await;
    let e = got.expect_err("mismatch");
    assert!(e.is_permanent(), "{e}");
    let msg = e.to_string();
    assert!(matches!(e, FetchError::ChecksumMismatch { .. }), "{msg}");
    for part in [
        "users.csv",
        &wrong,
        &sha(b"user_id\n2\n"),
        "s3://drop/main/b4/",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_file_that_arrives_during_the_wait_is_fetched() {
    let (m, s3) = setup().await;
    put_users_listing_also(&m, "b5", "late.csv").await;
    let late_client = m.s3().await;
    let uploader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        late_client
            .put_object()
            .bucket(BUCKET)
            .key("main/b5/late.csv")
            .body(b"late".to_vec().into())
            .send()
            .await
            .expect("late put");
    });
    let started = Instant::now();
    let (dir, got) = fetch(&s3, "main/b5/manifest.json", &fast()).await;
    uploader.await.expect("uploader");
    let f = got.expect("fetched after the wait");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(names(&f), ["users.csv", "late.csv"]);
    assert_eq!(std::fs::read(dir.path().join("late.csv")).unwrap(), b"late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_file_that_never_arrives_is_incomplete_naming_it() {
    let (m, s3) = setup().await;
    put_users_listing_also(&m, "b6", "never.csv").await;
    let policy = FetchPolicy {
        incomplete_wait: Duration::from_secs(1),
        ..fast()
    };
    let started = Instant::now();
    let (dir, got) = fetch(&s3, "main/b6/manifest.json", &policy).await;
    let e = got.expect_err("incomplete");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(e.is_permanent());
    let FetchError::Incomplete {
        missing, waited, ..
    } = &e
    else {
        panic!("not Incomplete: {e}")
    };
    assert_eq!(missing, &["never.csv"]);
    assert!(*waited >= Duration::from_secs(1));
    let msg = e.to_string();
    assert!(
        msg.contains("never.csv") && msg.contains("s3://drop/main/b6/"),
        "{msg}"
    );
    assert!(msg.contains("upload manifest.json again"), "{msg}");
    assert!(local_names(dir.path()).is_empty(), "nothing downloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_and_bad_lists_in_a_manifest_are_refused_with_the_fix() {
    let (m, s3) = setup().await;
    m.put(BUCKET, "main/x.csv", b"outside".to_vec()).await;
    let cases = [
        (r#"{"files":[{"name":"../x.csv"}]}"#, "../x.csv"),
        (r#"{"files":[{"name":"/etc/x.csv"}]}"#, "/etc/x.csv"),
        (r#"{"files":[{"name":"sub/x.csv"}]}"#, "sub/x.csv"),
        (r#"{"files":[{"name":"..\\x.csv"}]}"#, "x.csv"),
        (r#"{"files":[{"name":"x.txt"}]}"#, "x.txt"),
        (r#"{"files":[{"name":"a.csv"},{"name":"a.csv"}]}"#, "twice"),
        (r#"{"files":[]}"#, "empty"),
        (r#"{"files":[{"name":"a.csv","sha256":"abc"}]}"#, "64 hex"),
    ];
    for (i, (manifest, says)) in cases.iter().enumerate() {
        let prefix = format!("main/t{i}/");
        m.put(BUCKET, &format!("{prefix}a.csv"), b"a".to_vec())
            .await;
        m.put(
            BUCKET,
            &format!("{prefix}manifest.json"),
            manifest.as_bytes().to_vec(),
        )
        .await;
        let (dir, got) = fetch(&s3, &format!("{prefix}manifest.json"), &fast()).await;
        let e = got.expect_err(manifest);
        assert!(e.is_permanent(), "{manifest}: {e}");
        assert!(
            matches!(e, FetchError::BadManifest { .. }),
            "{manifest}: {e}"
        );
        let msg = e.to_string();
        assert!(msg.contains(says), "{manifest}: {msg}");
        assert!(
            msg.contains(&format!("s3://drop/{prefix}manifest.json")),
            "{msg}"
        );
        assert!(
            local_names(dir.path()).is_empty(),
            "{manifest}: nothing written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_manifest_is_permanent_and_shows_a_valid_one() {
    let (_m, s3) = setup_with(&[
        ("main/b7/a.csv", b"a"),
        ("main/b7/manifest.json", br#"{"file": []}"#),
    ])
    .await;
    let (_dir, got) = fetch(&s3, "main/b7/manifest.json", &fast()).await;
    let e = got.expect_err("bad manifest");
    assert!(e.is_permanent());
    let msg = e.to_string();
    assert!(
        msg.contains("unknown field `file`"),
        "serde's message: {msg}"
    );
    assert!(
        msg.contains(r#""files": [{"name": "users.csv""#),
        "example: {msg}"
    );
    assert!(msg.contains("s3://drop/main/b7/manifest.json"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_spaces_plus_percent_and_unicode_work() {
    let (m, s3) = setup().await;
    let zip_key = "main/fall 2026+x%20/été 1+1%.zip";
    m.put(BUCKET, zip_key, b"PK zip".to_vec()).await;
    let (dir, got) = fetch(&s3, zip_key, &fast()).await;
    let f = got.expect("zip fetched");
    assert_eq!(f.input, dir.path().join("été 1+1%.zip"));
    assert_eq!(std::fs::read(&f.input).unwrap(), b"PK zip");
    assert_eq!(f.location, format!("s3://drop/{zip_key}"));

    let prefix = "main/run 3+4%25/ünï/";
    m.put(BUCKET, &format!("{prefix}élèves 1+1%.csv"), b"e".to_vec())
        .await;
    m.put(BUCKET, &format!("{prefix}plain.csv"), b"p".to_vec())
        .await;
    let manifest = r#"{"files":[{"name":"élèves 1+1%.csv"},{"name":"plain.csv"}]}"#;
    m.put(
        BUCKET,
        &format!("{prefix}manifest.json"),
        manifest.as_bytes().to_vec(),
    )
    .await;
    let (dir, got) = fetch(&s3, &format!("{prefix}manifest.json"), &fast()).await;
    let f = got.expect("folder fetched");
    assert_eq!(names(&f), ["élèves 1+1%.csv", "plain.csv"]);
    assert_eq!(
        std::fs::read(dir.path().join("élèves 1+1%.csv")).unwrap(),
        b"e"
    );
    assert_eq!(f.location, format!("s3://drop/{prefix}"));
    m.put(BUCKET, &format!("{prefix}READY"), Vec::new()).await;
    let (_dir, got) = fetch(&s3, &format!("{prefix}READY"), &fast()).await;
    assert_eq!(
        got.expect("ready folder").content_sha256,
        f.content_sha256,
        "READY and the manifest name the same files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_deleted_after_its_event_is_a_permanent_gone() {
    let (m, s3) = setup().await;
    m.put(BUCKET, "main/gone.zip", b"PK".to_vec()).await;
    m.s3()
        .await
        .delete_object()
        .bucket(BUCKET)
        .key("main/gone.zip")
        .send()
        .await
        .expect("delete");
    let (dir, got) = fetch(&s3, "main/gone.zip", &fast()).await;
    let e = got.expect_err("gone");
    assert!(matches!(e, FetchError::Gone { .. }), "{e}");
    assert!(e.is_permanent());
    let msg = e.to_string();
    assert!(
        msg.contains("s3://drop/main/gone.zip") && msg.contains("deleted"),
        "{msg}"
    );
    assert!(local_names(dir.path()).is_empty(), "no partial file left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_folders_oversized_objects_missing_buckets_and_non_batches_are_permanent() {
    let (m, s3) = setup().await;
    m.put(BUCKET, "main/e/notes.txt", b"no csv here".to_vec())
        .await;
    m.put(BUCKET, "main/e/READY", Vec::new()).await;
    let (_d, got) = fetch(&s3, "main/e/READY", &fast()).await;
    let e = got.expect_err("empty");
    assert!(
        matches!(e, FetchError::Empty { .. }) && e.is_permanent(),
        "{e}"
    );
    assert!(e.to_string().contains("s3://drop/main/e/"), "{e}");

    m.put(BUCKET, "main/big.zip", vec![7u8; 2048]).await;
    let small = FetchPolicy {
        max_object_bytes: 1024,
        ..fast()
    };
    let (dir, got) = fetch(&s3, "main/big.zip", &small).await;
    let e = got.expect_err("too large");
    assert!(
        matches!(
            e,
            FetchError::TooLarge {
                size: 2048,
                limit: 1024,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_permanent());
    assert!(local_names(dir.path()).is_empty(), "no partial file left");

    let other = S3Batches::new(m.s3().await, "no-such-bucket");
    let dir = tempfile::tempdir().unwrap();
    let e = other
        .fetch(&classify("main/x/READY"), dir.path(), &fast())
        .await
        .expect_err("no bucket");
    assert!(e.is_permanent(), "{e}");
    assert!(e.to_string().contains("s3://no-such-bucket/main/x/"), "{e}");

    let e = s3
        .fetch(&classify("main/x/users.csv"), dir.path(), &fast())
        .await
        .expect_err("not a batch");
    assert!(
        matches!(e, FetchError::NotABatch { .. }) && e.is_permanent(),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_hash_ignores_listing_order_and_matches_folder_mode() {
    let (m, s3) = setup().await;
    let files: [(&str, &[u8]); 3] = [("b.csv", b"bee"), ("a.csv", b"ay"), ("c.csv", b"sea")];
    for (name, body) in files {
        m.put(BUCKET, &format!("main/h1/{name}"), body.to_vec())
            .await;
        m.put(BUCKET, &format!("main/h2/{name}"), body.to_vec())
            .await;
    }
    m.put(BUCKET, "main/h1/READY", Vec::new()).await;
    let manifest = r#"{"files":[{"name":"c.csv"},{"name":"b.csv"},{"name":"a.csv"}]}"#;
    m.put(
        BUCKET,
        "main/h2/manifest.json",
        manifest.as_bytes().to_vec(),
    )
    .await;
    let (_d1, one) = fetch(&s3, "main/h1/READY", &fast()).await;
    let (_d2, two) = fetch(&s3, "main/h2/manifest.json", &fast()).await;
    let (one, two) = (one.expect("h1"), two.expect("h2"));
    assert_eq!(names(&one), ["a.csv", "b.csv", "c.csv"]);
    assert_eq!(names(&two), ["c.csv", "b.csv", "a.csv"]);
    assert_eq!(one.content_sha256, two.content_sha256);
    assert_eq!(one.content_sha256, folder_mode_formula(&files));
    assert_eq!(
        one.content_sha256,
        canvas_sis::ledger::content_hash(&two.files),
        "the one shared function folder mode uses"
    );
}

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_object_streams_to_disk_without_being_held_in_memory() {
    // Peak RSS is the whole process's: other tests of the binary would raise it too.
    if !crate::common::alone(
        "s3_fetch::a_64_mib_object_streams_to_disk_without_being_held_in_memory",
    ) {
        return;
    }
    const SIZE: usize = 64 * 1024 * 1024;
    let (m, s3) = setup().await;
    // Written to a file and uploaded from it, so the upload does not hold it in memory either.
    let src = tempfile::NamedTempFile::new().unwrap();
    let mut hasher = Sha256::new();
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(src.as_file());
        let mut block = vec![0u8; 1024 * 1024];
        for i in 0..SIZE / block.len() {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i * 31 + j * 7 + (j >> 9)) as u8;
            }
            hasher.update(&block);
            w.write_all(&block).unwrap();
        }
        w.flush().unwrap();
    }
    let want = hex::encode(hasher.finalize());
    m.s3()
        .await
        .put_object()
        .bucket(BUCKET)
        .key("main/big/feed.zip")
        .body(
            aws_sdk_s3::primitives::ByteStream::from_path(src.path())
                .await
                .unwrap(),
        )
        .send()
        .await
        .expect("put 64 MiB");
    let before = peak_rss_kib();
    let (_dir, got) = fetch(&s3, "main/big/feed.zip", &FetchPolicy::default()).await;
    let growth_kib = peak_rss_kib().saturating_sub(before);
    let f = got.expect("fetched");
    assert_eq!(f.files[0].size, SIZE as u64);
    assert_eq!(f.files[0].sha256, want);
    assert_eq!(std::fs::metadata(&f.input).unwrap().len(), SIZE as u64);
    assert!(
        growth_kib < 16 * 1024,
        "peak RSS grew by {growth_kib} KiB while fetching 64 MiB: the object is being buffered"
    );
}

/// The version id (`None` in an unversioned bucket) and ETag S3 gave the object just put.
async fn put_returning(m: &Moto, key: &str, body: &[u8]) -> (Option<String>, String) {
    let out = m
        .s3()
        .await
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .expect("put");
    (out.version_id, out.e_tag.expect("an ETag"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_fetch_reads_the_version_its_event_named_not_the_newest() {
    let (m, s3) = setup().await;
    m.enable_versioning(BUCKET).await;
    let monday = put_returning(&m, "main/daily.zip", b"monday")
        .await
        .0
        .unwrap();
    let tuesday = put_returning(&m, "main/daily.zip", b"tuesday")
        .await
        .0
        .unwrap();
    let pin = Pin {
        version_id: Some(monday.clone()),
        ..Pin::default()
    };
    let (_dir, got) = fetch_pinned(&s3, "main/daily.zip", &pin).await;
    let f = got.expect("fetched");
    assert_eq!(std::fs::read(&f.input).unwrap(), b"monday");
    assert_eq!(f.versions.get("daily.zip"), Some(&monday));
    let (_dir, newest) = fetch(&s3, "main/daily.zip", &fast()).await;
    assert_eq!(newest.unwrap().versions.get("daily.zip"), Some(&tuesday));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwritten_object_of_an_unversioned_bucket_is_refused_not_taken_for_its_event() {
    let (m, s3) = setup().await;
    // Events carry the ETag bare; S3 answers it quoted.
    let (_, etag) = put_returning(&m, "main/daily.zip", b"monday").await;
    let etag = etag.trim_matches('"').to_owned();
    m.put(BUCKET, "main/daily.zip", b"tuesday".to_vec()).await;
    let pin = Pin {
        etag: Some(etag),
        ..Pin::default()
    };
    let (_dir, got) = fetch_pinned(&s3, "main/daily.zip", &pin).await;
    let e = got.expect_err("Monday's content is gone");
    assert!(matches!(e, FetchError::Overwritten { .. }), "{e}");
    assert!(e.is_permanent());
    assert!(e.to_string().contains("versioning"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_deleted_after_its_event_is_gone_even_though_its_version_is_kept() {
    let (m, s3) = setup().await;
    m.enable_versioning(BUCKET).await;
    let version = put_returning(&m, "main/gone.zip", b"PK").await.0.unwrap();
    m.s3()
        .await
        .delete_object()
        .bucket(BUCKET)
        .key("main/gone.zip")
        .send()
        .await
        .expect("delete");
    let pin = Pin {
        version_id: Some(version),
        ..Pin::default()
    };
    let (_dir, got) = fetch_pinned(&s3, "main/gone.zip", &pin).await;
    let e = got.expect_err("a deletion means: do not import");
    assert!(matches!(e, FetchError::Gone { .. }), "{e}");
}

/// Puts `main/daily/users.csv` with `users` and a manifest listing it with its sha256; returns
/// the manifest's version.
async fn put_daily_export(m: &Moto, users: &[u8]) -> String {
    put_returning(m, "main/daily/users.csv", users).await;
    let manifest = format!(
        r#"{{"files":[{{"name":"users.csv","sha256":"{}"}}]}}"#,
        sha(users)
    );
    put_returning(m, "main/daily/manifest.json", manifest.as_bytes())
        .await
        .0
        .expect("a versioned bucket")
}

/// An SIS writing every export to one folder: Monday's batch fetched only after Tuesday's export
/// landed reads Monday's bytes (the version its manifest's sha256 names), not Tuesday's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_a_folder_written_again_is_read_at_the_versions_its_manifest_digests_name()
{
    let (m, s3) = setup().await;
    m.enable_versioning(BUCKET).await;
    let monday = put_daily_export(&m, b"user_id\nmonday\n").await;
    let tuesday = put_daily_export(&m, b"user_id\ntuesday\n").await;
    for (manifest, users) in [(monday, "monday"), (tuesday, "tuesday")] {
        let pin = Pin {
            version_id: Some(manifest),
            ..Pin::default()
        };
        let (dir, got) = fetch_pinned(&s3, "main/daily/manifest.json", &pin).await;
        let f = got.expect("fetched");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("users.csv")).unwrap(),
            format!("user_id\n{users}\n")
        );
        assert_eq!(
            f.files[0].sha256,
            sha(format!("user_id\n{users}\n").as_bytes())
        );
    }
}

/// Tuesday's manifest written before Tuesday's file, over Monday's: the fetch waits for the
/// bytes the manifest names rather than take Monday's file for Tuesday's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_written_over_an_older_export_before_its_files_waits_for_its_own_bytes() {
    let (m, s3) = setup().await;
    m.enable_versioning(BUCKET).await;
    put_daily_export(&m, b"user_id\nmonday\n").await;
    let tuesday = b"user_id\ntuesday\n";
    let manifest = format!(
        r#"{{"files":[{{"name":"users.csv","sha256":"{}"}}]}}"#,
        sha(tuesday)
    );
    let version = put_returning(&m, "main/daily/manifest.json", manifest.as_bytes())
        .await
        .0;
    let late = m.s3().await;
    let uploader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        late.put_object()
            .bucket(BUCKET)
            .key("main/daily/users.csv")
            .body(tuesday.to_vec().into())
            .send()
            .await
            .expect("put");
    });
    let pin = Pin {
        version_id: version,
        ..Pin::default()
    };
    let (dir, got) = fetch_pinned(&s3, "main/daily/manifest.json", &pin).await;
    uploader.await.unwrap();
    got.expect("fetched once its file came");
    assert_eq!(
        std::fs::read(dir.path().join("users.csv")).unwrap(),
        tuesday
    );
}
