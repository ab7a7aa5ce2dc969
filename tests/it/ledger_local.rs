//! The local-directory ledger under contention and crashes: threads and separate OS processes
//! sharing one directory, stale versions, orphan temp files, damaged records.
//!
//! Multi-process tests re-run this test binary as children: the parent starts
//! `<this exe> ledger_local::child_process_entry --exact` with `LEDGER_TEST_ROLE` set; the child does its part
//! of the work against the same directory and writes its results, one per line, to
//! `result-<n>` in a sync directory, which the parent checks. Processes start together through a file barrier (each child writes `ready-<n>`, then
//! waits for `go`), not through sleeps.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use canvas_sis::ledger::{
    BatchId, BatchSource, Ledger, LedgerError, LedgerStore, LocalStore, NewBatch, Version,
    batch_key,
};

const ROLE_ENV: &str = "LEDGER_TEST_ROLE";
const DIR_ENV: &str = "LEDGER_TEST_DIR";
const SYNC_ENV: &str = "LEDGER_TEST_SYNC";
const CHILD_ENV: &str = "LEDGER_TEST_CHILD";
const ARG_ENV: &str = "LEDGER_TEST_ARG";
/// The child's test, as the harness of the one test binary names it.
const CHILD_TEST: &str = "ledger_local::child_process_entry";

/// Keys raced for in the create tests (one race per key).
const RACE_KEYS: usize = 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}

fn race_key(i: usize) -> String {
    format!("race/key-{i:02}")
}

fn sha(i: usize) -> String {
    format!("{i:064x}")
}

fn new_batch(tenant: &str, i: usize) -> NewBatch {
    NewBatch {
        tenant: tenant.into(),
        source: BatchSource {
            kind: "folder".into(),
            location: format!("inbox/{tenant}/drop-{i}"),
            files: vec![],
            ..Default::default()
        },
        content_sha256: sha(i),
    }
}

// ---------------------------------------------------------------------------------------------
// Child side

/// Entry point of the child processes; does nothing in an ordinary test run.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR_ENV).expect("child needs LEDGER_TEST_DIR"));
    let sync = PathBuf::from(std::env::var(SYNC_ENV).expect("child needs LEDGER_TEST_SYNC"));
    let n: usize = std::env::var(CHILD_ENV)
        .expect("child id")
        .parse()
        .expect("child id");
    let arg: usize = std::env::var(ARG_ENV).map_or(0, |a| a.parse().expect("arg"));
    let store = LocalStore::open(&dir).expect("open the shared ledger");
    fs::write(sync.join(format!("ready-{n}")), b"").expect("signal ready");
    wait_for(&sync.join("go"));
    let results: Vec<String> = match role.as_str() {
        "create" => create_race(&store, arg),
        "increment" => increment(&store, arg),
        "allocate" => allocate(&store, arg),
        "create_batch" => create_batches(&store, arg),
        other => panic!("unknown role {other}"),
    };
    let mut out = String::new();
    for r in results {
        out.push_str(&r);
        out.push('\n');
    }
    fs::write(sync.join(format!("result-{n}")), out).expect("write results");
}

/// Polls for a file the parent creates (a cross-process barrier), for at most 60 s.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `threads` threads each try to create every race key; returns the keys this process won.
fn create_race(store: &LocalStore, threads: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let rt = runtime();
                barrier.wait();
                let mut won = Vec::new();
                for i in 0..RACE_KEYS {
                    let body = format!("{}-{t}", std::process::id());
                    match rt.block_on(store.create(&race_key(i), body.as_bytes())) {
                        Ok(_) => won.push(race_key(i)),
                        Err(LedgerError::AlreadyExists { .. }) => {}
                        Err(e) => panic!("create failed: {e}"),
                    }
                }
                won
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("racer thread"))
        .collect()
}

/// `times` increments of the `n` counter of the batch `t/1`, through the typed ledger.
fn increment(store: &LocalStore, times: usize) -> Vec<String> {
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    let id = BatchId::new("t", 1, &sha(1)).expect("id");
    for _ in 0..times {
        rt.block_on(ledger.update_batch(&id, |rec| {
            rec.counts.entry("n").rows += 1;
            Ok::<(), LedgerError>(())
        }))
        .expect("increment");
    }
    vec![]
}

/// `times` arrival sequences of tenant `t`.
fn allocate(store: &LocalStore, times: usize) -> Vec<String> {
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    (0..times)
        .map(|_| {
            rt.block_on(ledger.next_arrival_seq("t"))
                .expect("allocate")
                .to_string()
        })
        .collect()
}

/// Records drop `i` of tenant `t`; returns its batch id.
fn created_id(rt: &tokio::runtime::Runtime, ledger: &Ledger<LocalStore>, i: usize) -> BatchId {
    let created = rt.block_on(ledger.create_batch(new_batch("t", i)));
    created.unwrap().record().id.clone()
}

/// Records the drops `0..count` of tenant `t`; returns `<drop> <created|known> <batch id>`.
fn create_batches(store: &LocalStore, count: usize) -> Vec<String> {
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    (0..count)
        .map(|i| {
            let out = rt
                .block_on(ledger.create_batch(new_batch("t", i)))
                .expect("create_batch");
            let how = if out.is_created() { "created" } else { "known" };
            format!("{i} {how} {}", out.record().id)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Parent side

/// Children started on one shared ledger directory, released together.
struct Children {
    sync: tempfile::TempDir,
    children: Vec<Child>,
}

impl Children {
    fn spawn(count: usize, role: &str, dir: &Path, arg: usize) -> Children {
        let sync = tempfile::tempdir().expect("sync dir");
        let exe = std::env::current_exe().expect("test exe");
        let children = (0..count)
            .map(|n| {
                Command::new(&exe)
                    .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
                    .env(ROLE_ENV, role)
                    .env(DIR_ENV, dir)
                    .env(SYNC_ENV, sync.path())
                    .env(CHILD_ENV, n.to_string())
                    .env(ARG_ENV, arg.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("spawn child")
            })
            .collect();
        let c = Children { sync, children };
        for n in 0..count {
            wait_for(&c.sync.path().join(format!("ready-{n}")));
        }
        c
    }

    fn go(&self) {
        fs::write(self.sync.path().join("go"), b"").expect("release children");
    }

    /// Waits for every child; returns each child's result lines.
    fn results(self) -> Vec<Vec<String>> {
        self.children
            .into_iter()
            .enumerate()
            .map(|(n, c)| {
                let out = c.wait_with_output().expect("child output");
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success(), "child {n} failed: {stdout}");
                let results = fs::read_to_string(self.sync.path().join(format!("result-{n}")))
                    .expect("child results");
                results.lines().map(str::to_owned).collect()
            })
            .collect()
    }
}

fn open() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(dir.path()).expect("open");
    (dir, store)
}

/// Every race key must have been won exactly once over all contenders.
fn assert_one_winner_per_key(wins: impl IntoIterator<Item = String>) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for k in wins {
        *count.entry(k).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = (0..RACE_KEYS).map(|i| (race_key(i), 1)).collect();
    assert_eq!(count, expected, "each key must be created exactly once");
}

#[test]
fn create_if_absent_has_one_winner_among_eight_threads() {
    let (_dir, store) = open();
    let wins = create_race(&store, 8);
    assert_one_winner_per_key(wins);
}

#[test]
fn create_if_absent_has_one_winner_among_processes_and_threads() {
    let (dir, store) = open();
    let children = Children::spawn(2, "create", dir.path(), 4);
    children.go();
    let mut wins = create_race(&store, 4);
    for child in children.results() {
        wins.extend(child);
    }
    assert_one_winner_per_key(wins);
    // The winners' values are whole: "<pid>-<thread>".
    let rt = runtime();
    for i in 0..RACE_KEYS {
        let (body, _) = rt.block_on(store.get(&race_key(i))).unwrap().unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.split_once('-').is_some(), "{text}");
    }
}

#[test]
fn a_stale_version_is_refused_and_the_value_kept() {
    let (_dir, store) = open();
    let rt = runtime();
    rt.block_on(async {
        let v1 = store.create("k", b"one").await.unwrap();
        let v2 = store.update("k", b"two", &v1).await.unwrap();
        let e = store.update("k", b"three", &v1).await.unwrap_err();
        assert!(
            matches!(e, LedgerError::Conflict { ref key } if key == "k"),
            "{e}"
        );
        assert_eq!(
            store.get("k").await.unwrap().unwrap(),
            (b"two".to_vec(), v2.clone())
        );
        let e = store.update("absent/k", b"x", &v2).await.unwrap_err();
        assert!(matches!(e, LedgerError::NotFound { .. }), "{e}");
        let e = store.update("absent", b"x", &v2).await.unwrap_err();
        assert!(matches!(e, LedgerError::NotFound { .. }), "{e}");
    });
}

#[test]
fn two_processes_incrementing_one_record_lose_no_update() {
    let (dir, store) = open();
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    let created = rt.block_on(ledger.create_batch(new_batch("t", 1))).unwrap();
    let id = created.record().id.clone();
    assert_eq!(id, BatchId::new("t", 1, &sha(1)).unwrap());
    let children = Children::spawn(2, "increment", dir.path(), 200);
    children.go();
    children.results();
    let rec = rt.block_on(ledger.get_batch(&id)).unwrap().unwrap();
    assert_eq!(rec.counts.get("n").map(|n| n.rows), Some(400));
}

#[test]
fn arrival_sequences_across_processes_have_no_duplicates_and_no_gaps() {
    let (dir, store) = open();
    let children = Children::spawn(2, "allocate", dir.path(), 100);
    children.go();
    let mut seen = BTreeSet::new();
    for child in children.results() {
        assert_eq!(child.len(), 100);
        for s in child {
            let s: u64 = s.parse().unwrap();
            assert!(seen.insert(s), "sequence {s} given twice");
        }
    }
    assert_eq!(seen, (1..=200).collect::<BTreeSet<u64>>());
    let rt = runtime();
    assert_eq!(
        rt.block_on(Ledger::new(store).tenant("t"))
            .unwrap()
            .next_arrival_seq,
        201
    );
}

#[test]
fn two_watchers_recording_the_same_drops_create_each_batch_once() {
    let (dir, store) = open();
    let children = Children::spawn(2, "create_batch", dir.path(), 15);
    children.go();
    let mut created: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut ids: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for line in children.results().into_iter().flatten() {
        let mut parts = line.split(' ');
        let (drop, how, id) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let drop: usize = drop.parse().unwrap();
        ids.entry(drop).or_default().insert(id.to_owned());
        if how == "created" {
            created.entry(drop).or_default().push(id.to_owned());
        }
    }
    for drop in 0..15 {
        assert_eq!(
            created.get(&drop).map(Vec::len),
            Some(1),
            "drop {drop} created once"
        );
        assert_eq!(
            ids[&drop].len(),
            1,
            "both watchers see one batch for drop {drop}"
        );
    }
    let rt = runtime();
    let batches = rt.block_on(Ledger::new(store).list_batches("t")).unwrap();
    assert_eq!(batches.len(), 15);
    let seqs: BTreeSet<u64> = batches.iter().map(|b| b.arrival_seq).collect();
    assert_eq!(seqs.len(), 15, "no two batches share a sequence");
    assert!(
        batches
            .windows(2)
            .all(|w| w[0].arrival_seq < w[1].arrival_seq)
    );
}

/// Sets a file's modification time into the past, as if written by a long-dead process.
fn age(path: &Path, by: Duration) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn an_interrupted_write_leaves_the_last_good_value_and_is_cleaned_up() {
    let (dir, store) = open();
    let rt = runtime();
    let v1 = rt
        .block_on(store.create("tenants/t/tenant.json", b"{\"good\":1}"))
        .unwrap();
    let sub = dir.path().join("tenants/t");
    // A writer that died mid-write (truncated temp) and one that died before its rename
    // (complete temp): neither is visible, the key still reads the last good value.
    let truncated = sub.join(".tmp-tenant.json-4242-00000000000000aa");
    let complete = sub.join(".tmp-tenant.json-4243-00000000000000bb");
    fs::write(&truncated, b"{\"good\":").unwrap();
    fs::write(&complete, b"{\"good\":2}").unwrap();
    age(&truncated, Duration::from_secs(3600));
    age(&complete, Duration::from_secs(3600));
    // A temp of a writer that is still alive (holds its lock), however old, and a temp that was
    // just created: both must survive the sweep.
    let live = sub.join(".tmp-tenant.json-4244-00000000000000cc");
    fs::write(&live, b"{").unwrap();
    age(&live, Duration::from_secs(3600));
    let live_lock = fs::File::open(&live).unwrap();
    live_lock.lock().unwrap();
    let fresh = sub.join(".tmp-tenant.json-4245-00000000000000dd");
    fs::write(&fresh, b"{").unwrap();

    let (body, v) = rt
        .block_on(store.get("tenants/t/tenant.json"))
        .unwrap()
        .unwrap();
    assert_eq!((body.as_slice(), &v), (&b"{\"good\":1}"[..], &v1));
    assert_eq!(
        rt.block_on(store.list("tenants/")).unwrap(),
        ["tenants/t/tenant.json"]
    );

    // Reopening (as after a restart) sweeps the orphans.
    let reopened = LocalStore::open(dir.path()).unwrap();
    assert!(!truncated.exists() && !complete.exists(), "orphans removed");
    assert!(live.exists(), "a temp whose writer holds the lock is kept");
    assert!(fresh.exists(), "a temp younger than the stale age is kept");
    drop(live_lock);
    let v2 = rt
        .block_on(reopened.update("tenants/t/tenant.json", b"{\"good\":3}", &v1))
        .unwrap();
    assert_eq!(v2, Version::of_content(b"{\"good\":3}"));
}

#[test]
fn list_returns_keys_sorted_and_hides_the_store_files() {
    let (_dir, store) = open();
    let rt = runtime();
    rt.block_on(async {
        for k in [
            "tenants/b/batches/00000002-bbbbbbbbbbbb.json",
            "tenants/a/tenant.json",
            "tenants/b/batches/00000010-cccccccccccc.json",
            "tenants/b/batches/00000001-aaaaaaaaaaaa.json",
            "tenants/b/tenant.json",
        ] {
            store.create(k, b"{}").await.unwrap();
        }
        // Leaves a `.lock-` file behind in `tenants/b`.
        let v = Version::of_content(b"{}");
        store
            .update("tenants/b/tenant.json", b"{ }", &v)
            .await
            .unwrap();
        assert_eq!(
            store.list("tenants/b/batches/").await.unwrap(),
            [
                "tenants/b/batches/00000001-aaaaaaaaaaaa.json",
                "tenants/b/batches/00000002-bbbbbbbbbbbb.json",
                "tenants/b/batches/00000010-cccccccccccc.json",
            ]
        );
        assert_eq!(
            store.list("tenants/b/").await.unwrap().last().unwrap(),
            "tenants/b/tenant.json"
        );
        assert_eq!(
            store.list("tenants/b/batches/0000000").await.unwrap().len(),
            2
        );
        assert_eq!(store.list("").await.unwrap().len(), 5);
        assert!(store.list("tenants/zzz/").await.unwrap().is_empty());
        assert!(store.list("../").await.is_err());
    });
}

#[test]
fn a_damaged_record_is_corrupt_naming_its_file() {
    let (_dir, store) = open();
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    let id = created_id(&rt, &ledger, 5);
    let path = store.path_of(&batch_key(&id).unwrap()).unwrap();
    let body = fs::read(&path).unwrap();
    fs::write(&path, &body[..body.len() / 2]).unwrap();
    let e = rt.block_on(ledger.get_batch(&id)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LedgerError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("restore the file from a backup"), "{msg}");
    // The ledger refuses to change it rather than overwrite it.
    let e = rt
        .block_on(ledger.update_batch(&id, |_| Ok::<(), LedgerError>(())))
        .unwrap_err();
    assert!(matches!(e, LedgerError::Corrupt { .. }), "{e}");
    assert_eq!(fs::read(&path).unwrap(), &body[..body.len() / 2]);
}

#[test]
fn a_blob_file_is_copied_whole_and_later_changes_to_the_source_do_not_reach_it() {
    let (dir, store) = open();
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("batch.zip");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&src, &body).unwrap();
    let rt = runtime();
    rt.block_on(async {
        store.put_blob("a/batch.zip", b"old").await.unwrap();
        store.put_blob_file("a/batch.zip", &src).await.unwrap();
        fs::write(&src, b"changed after archiving").unwrap();
        assert!(store.get_blob("a/batch.zip").await.unwrap().unwrap() == body);
        let e = store
            .put_blob_file("a/gone.zip", &src_dir.path().join("gone.zip"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("gone.zip"), "{e}");
        assert!(store.get_blob("a/gone.zip").await.unwrap().is_none());
    });
    let names: Vec<_> = fs::read_dir(dir.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(names.is_empty(), "no temp file left behind: {names:?}");
}

#[test]
fn blobs_are_replaced_whole_and_bad_keys_never_touch_the_disk() {
    let (dir, store) = open();
    let rt = runtime();
    rt.block_on(async {
        store.put_blob("a/batch.zip", b"v1").await.unwrap();
        store.put_blob("a/batch.zip", b"version two").await.unwrap();
        assert_eq!(
            store.get_blob("a/batch.zip").await.unwrap().unwrap(),
            b"version two"
        );
        assert!(store.get_blob("a/none").await.unwrap().is_none());
        for bad in ["../escape", "/etc/passwd", "a//b", "a/.lock-x"] {
            let e = store.put_blob(bad, b"x").await.unwrap_err();
            assert!(matches!(e, LedgerError::BadKey { .. }), "{bad}: {e}");
        }
    });
    assert!(!dir.path().parent().unwrap().join("escape").exists());
}

#[test]
fn a_writer_killed_mid_update_leaves_a_whole_record_and_no_lock_behind() {
    let (dir, store) = open();
    let rt = runtime();
    let ledger = Ledger::new(store.clone());
    let id = created_id(&rt, &ledger, 1);
    let mut children = Children::spawn(1, "increment", dir.path(), 1_000_000);
    children.go();
    // Let it get well into its loop, then SIGKILL it: somewhere in a read, a temp write, a
    // rename or while holding the key's lock.
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = |rt: &tokio::runtime::Runtime| {
        let rec = rt
            .block_on(ledger.get_batch(&id))
            .expect("readable")
            .unwrap();
        rec.counts.get("n").map_or(0, |n| n.rows)
    };
    while count(&rt) < 50 {
        assert!(Instant::now() < deadline, "child made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut child = children.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let before = count(&rt);
    for _ in 0..10 {
        rt.block_on(ledger.update_batch(&id, |rec| {
            rec.counts.entry("n").rows += 1;
            Ok::<(), LedgerError>(())
        }))
        .expect("the dead writer's lock is gone");
    }
    assert_eq!(count(&rt), before + 10);

    // Whatever temp the dead writer left is an orphan: once stale, the sweep removes it.
    let temps = |d: &Path| -> Vec<PathBuf> {
        fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(".tmp-")
            })
            .collect()
    };
    let batch_dir = dir.path().join("tenants/t/batches");
    for t in temps(&batch_dir) {
        age(&t, Duration::from_secs(3600));
    }
    store.sweep().unwrap();
    assert!(temps(&batch_dir).is_empty());
}

/// Rewrites the JSON record at `key` with `edit`, as another version of canvas-sis would have
/// written it.
fn rewrite(dir: &Path, key: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(key);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_ledger_written_before_halts_were_derived_still_halts_its_tenant_until_resume() {
    use canvas_sis::config::OnFailure;
    use canvas_sis::ledger::Stage;
    use canvas_sis::pipeline::{gate, operator};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(LocalStore::open(dir.path()).unwrap());
    runtime().block_on(async {
        let id = ledger
            .create_batch(new_batch("t", 1))
            .await
            .unwrap()
            .record()
            .id
            .clone();
        let failed = Stage::Terminal {
            state: "failed".into(),
            ok: false,
        };
        ledger.transition(&id, failed, "t").await.unwrap();
        ledger.next_arrival_seq("t").await.unwrap();
        // As the previous version left it: no failure on the batch, the halt in the gate.
        rewrite(dir.path(), &batch_key(&id).unwrap(), |v| {
            v.as_object_mut().unwrap().remove("failure");
        });
        rewrite(dir.path(), "tenants/t/tenant.json", |v| {
            let o = v.as_object_mut().unwrap();
            o.remove("halt");
            o.insert(
                "gate".into(),
                serde_json::json!({"state": "halted", "reason": "import failed",
                    "batch": id.as_str(), "at": "2026-03-01T08:00:00Z"}),
            );
        });
        let halted = gate::current(&ledger, "t", OnFailure::Halt).await.unwrap();
        assert_eq!(halted.halted.map(|h| h.batch), Some(id.clone()));
        let lifted = operator::resume(&ledger, "t").await.unwrap();
        assert!(
            matches!(lifted, operator::Resumed::Acknowledged { .. }),
            "{lifted:?}"
        );
        assert!(
            gate::current(&ledger, "t", OnFailure::Halt)
                .await
                .unwrap()
                .is_open()
        );
    });
}
