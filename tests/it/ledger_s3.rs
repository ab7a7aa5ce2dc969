//! Contract tests of the S3 ledger adapter against a real moto server: conditional writes under
//! races, listing and pagination, the prefix boundary, streamed blobs, the typed ledger shared by
//! two instances, and the errors of a missing bucket.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};

use canvas_sis::aws::ledger::S3Store;
use canvas_sis::ledger::{
    BatchId, BatchSource, CreateOutcome, ErrorClass, Ledger, LedgerError, LedgerStore, NewBatch,
    Version,
};

use crate::common::moto::Moto;

const BUCKET: &str = "ledger";
const PREFIX: &str = "canvas-sis/";

/// A fresh bucket in `m` and a store under `PREFIX`.
async fn store(m: &Moto) -> S3Store {
    m.create_bucket(BUCKET).await;
    S3Store::new(m.s3().await, BUCKET, PREFIX).unwrap()
}

/// Every key of the bucket, as S3 itself lists them.
async fn raw_keys(m: &Moto) -> Vec<String> {
    let mut pages = m
        .s3()
        .await
        .list_objects_v2()
        .bucket(BUCKET)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("raw listing");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

fn new_batch(location: &str) -> NewBatch {
    NewBatch {
        tenant: "t".into(),
        source: BatchSource {
            kind: "s3".into(),
            location: location.into(),
            files: vec![],
            ..Default::default()
        },
        content_sha256: "ab".repeat(32),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_creators_of_one_key_exactly_one_wins() {
    let m = Moto::start();
    let s = Arc::new(store(&m).await);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(
                async move { (i, s.create("race/k.json", format!("{i}").as_bytes()).await) },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(v)) => winners.push((i, v)),
            (_, Err(LedgerError::AlreadyExists { key })) => assert_eq!(key, "race/k.json"),
            (i, Err(e)) => panic!("creator {i}: unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins: {winners:?}");
    let (winner, version) = &winners[0];
    let (body, stored) = s.get("race/k.json").await.unwrap().unwrap();
    assert_eq!(
        body,
        format!("{winner}").as_bytes(),
        "the winner's bytes are stored"
    );
    assert_eq!(&stored, version, "get returns the version create returned");
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict_and_writes_nothing() {
    let m = Moto::start();
    let s = store(&m).await;
    let v1 = s.create("k", b"1").await.unwrap();
    let v2 = s.update("k", b"2", &v1).await.unwrap();
    assert_ne!(v1, v2);
    let e = s.update("k", b"3", &v1).await.unwrap_err();
    assert!(
        matches!(&e, LedgerError::Conflict { key } if key == "k"),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert_eq!(
        s.get("k").await.unwrap().unwrap(),
        (b"2".to_vec(), v2.clone())
    );
    s.update("k", b"3", &v2).await.unwrap();
    assert_eq!(s.get_blob("k").await.unwrap().unwrap(), b"3");
}

#[tokio::test]
async fn an_update_of_a_missing_key_is_not_found_and_creates_nothing() {
    let m = Moto::start();
    let s = store(&m).await;
    let e = s
        .update("missing/k", b"x", &Version("\"0\"".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LedgerError::NotFound { key } if key == "missing/k"),
        "{e}"
    );
    assert!(s.get("missing/k").await.unwrap().is_none());
    assert!(raw_keys(&m).await.is_empty());
}

#[tokio::test]
async fn a_missing_key_reads_as_none() {
    let m = Moto::start();
    let s = store(&m).await;
    assert!(s.get("tenants/t/tenant.json").await.unwrap().is_none());
    assert!(
        s.get_blob("tenants/t/archive/x.zip")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn list_returns_sorted_keys_under_a_string_prefix_and_skips_foreign_objects() {
    let m = Moto::start();
    let s = store(&m).await;
    for k in ["b/2", "a/1", "b/10", "b/1", "c"] {
        s.put_blob(k, b"").await.unwrap();
    }
    // Not ledger keys: a dot-name under the prefix, and objects outside it.
    m.put(BUCKET, "canvas-sis/b/.lock-1", vec![]).await;
    m.put(BUCKET, "canvas-sis-other/b/1", vec![]).await;
    m.put(BUCKET, "b/3", vec![]).await;
    assert_eq!(s.list("b/").await.unwrap(), ["b/1", "b/10", "b/2"]);
    assert_eq!(s.list("b/1").await.unwrap(), ["b/1", "b/10"]);
    assert_eq!(
        s.list("").await.unwrap(),
        ["a/1", "b/1", "b/10", "b/2", "c"]
    );
    assert!(s.list("nothing/").await.unwrap().is_empty());
    let e = s.list("../").await.unwrap_err();
    assert!(matches!(e, LedgerError::BadKey { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_follows_pages_past_a_thousand_keys() {
    let m = Moto::start();
    let s = store(&m).await;
    let keys: Vec<String> = (0..1050).map(|i| format!("many/{i:05}")).collect();
    futures_util::stream::iter(keys.clone())
        .map(|k| {
            let s = s.clone();
            async move { s.put_blob(&k, b"x").await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    assert_eq!(s.list("many/").await.unwrap(), keys);
}

#[tokio::test]
async fn every_key_stays_under_the_configured_prefix() {
    let m = Moto::start();
    let s = store(&m).await;
    let ledger = Ledger::new(s.clone());
    let out = ledger
        .create_batch(new_batch("s3://drop/t/a.zip"))
        .await
        .unwrap();
    ledger
        .put_archive(&out.record().id, "batch.zip", b"PK")
        .await
        .unwrap();
    let raw = raw_keys(&m).await;
    assert!(raw.len() >= 4, "tenant, claim, batch, archive: {raw:?}");
    assert!(raw.iter().all(|k| k.starts_with(PREFIX)), "{raw:?}");
    assert_eq!(
        s.locate("tenants/t/tenant.json"),
        "s3://ledger/canvas-sis/tenants/t/tenant.json"
    );
    let other = S3Store::new(m.s3().await, BUCKET, "elsewhere").unwrap();
    assert!(other.list("").await.unwrap().is_empty());
    assert!(
        !other.probe().await.unwrap(),
        "an empty prefix holds no ledger"
    );
    assert!(s.probe().await.unwrap());
}

#[tokio::test]
async fn a_20_mib_file_round_trips_through_put_blob_file() {
    let m = Moto::start();
    let s = store(&m).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.zip");
    let body: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &body).unwrap();
    s.put_blob_file("tenants/t/archive/1/batch.zip", &path)
        .await
        .unwrap();
    let back = s
        .get_blob("tenants/t/archive/1/batch.zip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.len(), body.len());
    assert!(back == body, "the bytes differ");

    let e = s
        .put_blob_file("tenants/t/archive/1/gone.zip", &dir.path().join("gone.zip"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("gone.zip"), "{e}");
}

#[tokio::test]
async fn ledger_archive_files_are_stored_under_the_batch() {
    let m = Moto::start();
    let ledger = Ledger::new(store(&m).await);
    let id = BatchId::new("t", 3, &"ab".repeat(32)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.zip");
    std::fs::write(&path, b"PK zip").unwrap();
    let key = ledger
        .put_archive_file(&id, "batch.zip", &path)
        .await
        .unwrap();
    assert_eq!(key, "tenants/t/archive/00000003-abababababab/batch.zip");
    assert_eq!(ledger.get_archive(&key).await.unwrap().unwrap(), b"PK zip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ledgers_on_one_bucket_record_a_drop_once() {
    let m = Moto::start();
    let a = Ledger::new(store(&m).await);
    let b = Ledger::new(S3Store::from_url(m.s3().await, "s3://ledger/canvas-sis/").unwrap());
    let new = new_batch("s3://drop/t/2026-11-26.zip");
    let (x, y) = tokio::join!(a.create_batch(new.clone()), b.create_batch(new));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        [x.is_created(), y.is_created()]
            .iter()
            .filter(|c| **c)
            .count(),
        1,
        "exactly one Created: {x:?} / {y:?}"
    );
    assert!(matches!(
        (&x, &y),
        (CreateOutcome::Created(_), CreateOutcome::AlreadyKnown(_))
            | (CreateOutcome::AlreadyKnown(_), CreateOutcome::Created(_))
    ));
    assert_eq!(x.record().id, y.record().id);
    assert_eq!(a.list_batches("t").await.unwrap().len(), 1);
    assert_eq!(b.list_batches("t").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_batch_updates_all_land() {
    let m = Moto::start();
    let ledger = Arc::new(Ledger::new(store(&m).await));
    let id = ledger
        .create_batch(new_batch("s3://drop/t/a.zip"))
        .await
        .unwrap()
        .record()
        .id
        .clone();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (l, id) = (Arc::clone(&ledger), id.clone());
            tokio::spawn(async move {
                l.update_batch(&id, |r| {
                    r.counts.entry("n").rows += 1;
                    Ok::<(), LedgerError>(())
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let rec = ledger.get_batch(&id).await.unwrap().unwrap();
    assert_eq!(
        rec.counts.get("n").map(|n| n.rows),
        Some(8),
        "every increment landed exactly once"
    );
}

#[tokio::test]
async fn a_missing_bucket_is_a_permanent_error_naming_it() {
    let m = Moto::start();
    let s = S3Store::from_url(m.s3().await, "s3://no-such-bucket/canvas-sis/").unwrap();
    let errors = [
        s.get("tenants/t/tenant.json").await.unwrap_err(),
        s.create("tenants/t/tenant.json", b"{}").await.unwrap_err(),
        s.list("tenants/").await.unwrap_err(),
        s.put_blob("x", b"").await.unwrap_err(),
        s.probe().await.unwrap_err(),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(matches!(e, LedgerError::Remote { .. }), "{msg}");
        assert_eq!(e.class(), ErrorClass::Permanent, "{msg}");
        assert!(
            msg.contains("bucket `no-such-bucket` does not exist"),
            "{msg}"
        );
        assert!(msg.contains("s3://no-such-bucket/canvas-sis/"), "{msg}");
        assert!(!msg.contains("test"), "no credentials in errors: {msg}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    let m = Moto::start();
    let client = m.s3().await;
    drop(m);
    let s = S3Store::new(client, BUCKET, PREFIX).unwrap();
    let e = s.create("k", b"1").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
    assert!(matches!(e, LedgerError::Remote { .. }), "{e}");
}
