//! Typed access to the ledger: batches, tenants and archives on top of any [`LedgerStore`], with
//! every read-modify-write done as a compare-and-swap that retries on conflict.
//!
//! # Key layout
//!
//! ```text
//! tenants/<tenant>/tenant.json                       TenantRecord (gate, next arrival seq)
//! tenants/<tenant>/claims/<hash32>.json              ClaimRecord: dedup key (delivery) -> batch id
//! tenants/<tenant>/batches/<seq:08>-<sha12>.json     BatchRecord
//! tenants/<tenant>/archive/<seq:08>-<sha12>/<name>   archived blobs (zip, report, JSON, errors)
//! ```
//!
//! # Concurrency policy
//!
//! Nothing here holds a lock. Every change is "read the record and its version, apply the
//! caller's closure to a copy, write it back only if the version is unchanged"; on a conflict the
//! closure runs again on the fresh value, up to `max_attempts` times with a short random backoff,
//! then [`LedgerError::TooManyConflicts`]. A closure must therefore be a pure function of the
//! record it is given (it may run several times; only the last run's result is stored), and an
//! error from it aborts the change with nothing written. Because a stage change is checked inside
//! the closure, two workers that both saw `Packed` cannot both record `Submitting`: the loser's
//! retry sees `Submitting` and gets [`LedgerError::IllegalTransition`].

use std::path::Path;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::record::{
    BatchId, BatchRecord, ClaimRecord, NewBatch, Record, SCHEMA_VERSION, Stage, TenantRecord,
    decode, encode, validate_tenant,
};
use super::store::{Version, validate_segment};
use super::{LedgerError, LedgerStore};

/// Default number of attempts of one read-modify-write before giving up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// Longest random pause between two attempts, in milliseconds (the bound doubles per attempt
/// from 1 ms up to this).
const MAX_BACKOFF_MS: u64 = 50;

/// What [`Ledger::create_batch`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// This call created the batch: the caller owns its processing.
    Created(BatchRecord),
    /// The same delivery (tenant, content, location, delivery) was already recorded, by an
    /// earlier or a concurrent call; the record as it is now.
    AlreadyKnown(BatchRecord),
}

impl CreateOutcome {
    pub fn record(&self) -> &BatchRecord {
        match self {
            CreateOutcome::Created(r) | CreateOutcome::AlreadyKnown(r) => r,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, CreateOutcome::Created(_))
    }
}

/// The durable ledger over a store `S`.
#[derive(Debug, Clone)]
pub struct Ledger<S> {
    store: S,
    clock: fn() -> DateTime<Utc>,
    max_attempts: u32,
}

impl<S: LedgerStore> Ledger<S> {
    pub fn new(store: S) -> Self {
        Ledger {
            store,
            clock: Utc::now,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Uses `clock` for every time the ledger records and the pipeline compares: `created_at`,
    /// `updated_at`, history, submit leases, the create's evidence window, blackouts (tests: a
    /// simulated clock).
    pub fn with_clock(mut self, clock: fn() -> DateTime<Utc>) -> Self {
        self.clock = clock;
        self
    }

    /// The time now by this ledger's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// This ledger's clock, for code that compares times without holding the ledger.
    pub fn clock(&self) -> fn() -> DateTime<Utc> {
        self.clock
    }

    /// Gives up a read-modify-write after `n` (at least 1) conflicting attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Records a new batch, or finds the one already recorded for the same delivery.
    ///
    /// The dedup key is tenant + content sha256 + source location + the delivery and manifest
    /// hash of its source ([`BatchSource::delivery`], [`BatchSource::manifest_sha256`]): a
    /// duplicate message, a
    /// redelivery or a second watcher seeing the same drop all map to one batch, while the same
    /// content delivered again later (a rollback, a corrected manifest) is a new batch. Of any
    /// number of concurrent callers exactly one gets [`CreateOutcome::Created`]. A claim written
    /// before deliveries were recorded still answers for its batch ([`Ledger::legacy_claim`]).
    /// Steps: (1) if the drop's claim exists, go to 4; (2) allocate an arrival sequence; (3)
    /// create the claim (create-if-absent; losing means another caller owns the drop — the
    /// sequence is then skipped, never reused); (4) create the batch record named by the claim if
    /// it does not exist yet. Step 4 also repairs a crash between 3 and 4: the next caller for
    /// the same drop writes the missing record and owns the batch.
    pub async fn create_batch(&self, new: NewBatch) -> Result<CreateOutcome, LedgerError> {
        validate_tenant(&new.tenant)?;
        // Validates the content hash before anything is allocated.
        BatchId::new(&new.tenant, 0, &new.content_sha256)?;
        let claim_key = claim_key(&new);
        if let Some((claim, _)) = self.read::<ClaimRecord>(&claim_key).await? {
            return self.finish_claimed(&new, &claim_key, claim).await;
        }
        if let Some(claim) = self.legacy_claim(&new).await? {
            return self
                .finish_claimed(&new, &legacy_claim_key(&new), claim)
                .await;
        }
        let seq = self.next_arrival_seq(&new.tenant).await?;
        let claim = ClaimRecord {
            schema: SCHEMA_VERSION,
            batch: BatchId::new(&new.tenant, seq, &new.content_sha256)?,
            arrival_seq: seq,
            content_sha256: new.content_sha256.clone(),
            location: new.source.location.clone(),
            delivery: new.source.delivery.clone(),
            claimed_at: (self.clock)(),
            extra: Default::default(),
        };
        let claim = match self
            .store
            .create(&claim_key, &encode(&claim_key, &claim)?)
            .await
        {
            Ok(_) => claim,
            Err(LedgerError::AlreadyExists { .. }) => {
                tracing::debug!(tenant = %new.tenant, seq, "lost the claim race; sequence skipped");
                self.read_existing::<ClaimRecord>(&claim_key).await?
            }
            Err(e) => return Err(e),
        };
        self.finish_claimed(&new, &claim_key, claim).await
    }

    /// The claim an older canvas-sis wrote for this content at this location (keyed without the
    /// delivery), when it is this delivery's batch: a message or drop that was in flight across
    /// the upgrade must not become a second batch. It is taken for the same delivery when its
    /// batch is unfinished (or its record is missing: a crash before step 4), or when the same
    /// queue message brought both; a finished batch of another message is an earlier delivery.
    async fn legacy_claim(&self, new: &NewBatch) -> Result<Option<ClaimRecord>, LedgerError> {
        let key = legacy_claim_key(new);
        if key == claim_key(new) {
            return Ok(None);
        }
        let Some((claim, _)) = self.read::<ClaimRecord>(&key).await? else {
            return Ok(None);
        };
        let same = match self.get_batch(&claim.batch).await? {
            None => true,
            Some(rec) if !rec.stage.is_terminal() => true,
            Some(rec) => {
                let msg = &rec.source.sqs_message_id;
                msg.is_some() && *msg == new.source.sqs_message_id
            }
        };
        Ok(same.then_some(claim))
    }

    /// Step 4 of [`Ledger::create_batch`]: the claimed batch's record, created if missing.
    ///
    /// A claim whose record is missing while a later arrival of the tenant is already recorded
    /// (its writer died between the two writes, and its drop came back only after later ones —
    /// a queue message from the dead-letter queue) is moved to a new arrival sequence first
    /// ([`Ledger::move_claim`]): the later batch may already be in Canvas, and the ledger's
    /// order must stay the order in which batches can be sent. Left out: a caller that found
    /// nothing later just before another caller moved the same claim still writes the record at
    /// the old place; that takes two deliveries of one drop at once, which a FIFO group does not
    /// hand out.
    async fn finish_claimed(
        &self,
        new: &NewBatch,
        claim_key: &str,
        mut claim: ClaimRecord,
    ) -> Result<CreateOutcome, LedgerError> {
        for _ in 0..self.max_attempts {
            let key = batch_key(&claim.batch)?;
            if let Some((rec, _)) = self.read::<BatchRecord>(&key).await? {
                return Ok(CreateOutcome::AlreadyKnown(rec));
            }
            if self.recorded_after(&new.tenant, claim.arrival_seq).await? {
                claim = self.move_claim(new, claim_key, &claim).await?;
                continue;
            }
            let rec =
                BatchRecord::received(new, claim.batch.clone(), claim.arrival_seq, (self.clock)());
            return match self.store.create(&key, &encode(&key, &rec)?).await {
                Ok(_) => Ok(CreateOutcome::Created(rec)),
                Err(LedgerError::AlreadyExists { .. }) => {
                    Ok(CreateOutcome::AlreadyKnown(self.read_existing(&key).await?))
                }
                Err(e) => Err(e),
            };
        }
        Err(LedgerError::TooManyConflicts {
            key: claim_key.to_owned(),
            attempts: self.max_attempts,
        })
    }

    /// Whether the tenant has a batch recorded with an arrival sequence after `seq` (read from
    /// the record keys alone).
    async fn recorded_after(&self, tenant: &str, seq: u64) -> Result<bool, LedgerError> {
        let keys = self
            .store
            .list(&format!("tenants/{tenant}/batches/"))
            .await?;
        Ok(keys.iter().any(|k| {
            k.rsplit('/')
                .next()
                .and_then(|name| name.split('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > seq)
        }))
    }

    /// Moves `claim` (stored at `claim_key`) to a new arrival sequence, with a compare-and-swap:
    /// of callers moving it at once, one does and the others take its move.
    async fn move_claim(
        &self,
        new: &NewBatch,
        claim_key: &str,
        claim: &ClaimRecord,
    ) -> Result<ClaimRecord, LedgerError> {
        let Some((current, version)) = self.read::<ClaimRecord>(claim_key).await? else {
            return Ok(claim.clone());
        };
        if current.batch != claim.batch {
            return Ok(current);
        }
        let seq = self.next_arrival_seq(&new.tenant).await?;
        let moved = ClaimRecord {
            batch: BatchId::new(&new.tenant, seq, &current.content_sha256)?,
            arrival_seq: seq,
            ..current.clone()
        };
        match self
            .store
            .update(claim_key, &encode(claim_key, &moved)?, &version)
            .await
        {
            Ok(_) => {
                tracing::warn!(
                    tenant = %new.tenant,
                    from = current.arrival_seq,
                    to = seq,
                    location = %new.source.location,
                    "a batch claimed before later arrivals but recorded only after them arrives now"
                );
                Ok(moved)
            }
            Err(LedgerError::Conflict { .. }) => self.read_existing(claim_key).await,
            Err(e) => Err(e),
        }
    }

    /// The batch's record, or `None` if there is no such batch.
    pub async fn get_batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, LedgerError> {
        Ok(self.read(&batch_key(id)?).await?.map(|(r, _)| r))
    }

    /// Every batch of `tenant`, in arrival order.
    pub async fn list_batches(&self, tenant: &str) -> Result<Vec<BatchRecord>, LedgerError> {
        validate_tenant(tenant)?;
        let keys = self
            .store
            .list(&format!("tenants/{tenant}/batches/"))
            .await?;
        let mut batches = Vec::with_capacity(keys.len());
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            batches.push(self.read_existing::<BatchRecord>(key).await?);
        }
        // Keys sort by the zero-padded sequence only below 10^8; sort by the number itself.
        batches.sort_by_key(|b| b.arrival_seq);
        Ok(batches)
    }

    /// Changes a batch record with `change`, atomically (module docs: it may run more than once,
    /// and its error aborts the change). `Err(NotFound)` (as `E`) if there is no such batch.
    ///
    /// The closure may not get around the state machine: a change of `stage` that
    /// [`Stage::can_go_to`] forbids, or of the batch's identity (`id`, `tenant`,
    /// `arrival_seq`), is refused with [`LedgerError::IllegalTransition`] and nothing is written.
    /// Prefer [`Ledger::transition`], which also records the history.
    pub async fn update_batch<E, F>(&self, id: &BatchId, mut change: F) -> Result<BatchRecord, E>
    where
        E: From<LedgerError> + Send,
        F: FnMut(&mut BatchRecord) -> Result<(), E> + Send,
    {
        let key = batch_key(id)?;
        let guarded = move |rec: &mut BatchRecord| {
            let before = (
                rec.id.clone(),
                rec.tenant.clone(),
                rec.arrival_seq,
                rec.stage.clone(),
            );
            change(rec)?;
            let identity_kept =
                (&rec.id, &rec.tenant, rec.arrival_seq) == (&before.0, &before.1, before.2);
            let stage_ok = rec.stage == before.3
                || before.3.can_go_to(&rec.stage)
                || rec.is_unsent_park_of(&before.3);
            if identity_kept && stage_ok {
                return Ok(());
            }
            Err(LedgerError::IllegalTransition {
                batch: before.0.to_string(),
                from: before.3.to_string(),
                to: if identity_kept {
                    rec.stage.to_string()
                } else {
                    format!("a record with another identity ({})", rec.id)
                },
            }
            .into())
        };
        self.modify(&key, None::<fn() -> BatchRecord>, guarded)
            .await
    }

    /// Moves a batch to stage `to` if [`Stage::can_go_to`] allows it from its current stage,
    /// recording the change and `note` in its history.
    pub async fn transition(
        &self,
        id: &BatchId,
        to: Stage,
        note: &str,
    ) -> Result<BatchRecord, LedgerError> {
        let clock = self.clock;
        self.update_batch(id, |rec| rec.apply_transition(to.clone(), note, clock()))
            .await
    }

    /// The tenant's record; a fresh one (gate open, sequence 1) if it was never written.
    pub async fn tenant(&self, tenant: &str) -> Result<TenantRecord, LedgerError> {
        let key = tenant_key(tenant)?;
        Ok(match self.read(&key).await? {
            Some((rec, _)) => rec,
            None => TenantRecord::new(tenant, (self.clock)()),
        })
    }

    /// Changes the tenant's record with `change`, atomically, creating it first if needed.
    pub async fn update_tenant<E, F>(&self, tenant: &str, change: F) -> Result<TenantRecord, E>
    where
        E: From<LedgerError> + Send,
        F: FnMut(&mut TenantRecord) -> Result<(), E> + Send,
    {
        let key = tenant_key(tenant)?;
        let clock = self.clock;
        let init = move || TenantRecord::new(tenant, clock());
        self.modify(&key, Some(init), change).await
    }

    /// Allocates the tenant's next arrival sequence (1, 2, ...). Every call that returns `Ok`
    /// gets a number no other call gets, in any process sharing the store. Numbers are
    /// consecutive, except that a call that fails or crashes after its write landed leaves one
    /// unused (a gap is harmless; a duplicate would not be).
    pub async fn next_arrival_seq(&self, tenant: &str) -> Result<u64, LedgerError> {
        let rec = self
            .update_tenant(tenant, |t| {
                t.next_arrival_seq += 1;
                Ok::<(), LedgerError>(())
            })
            .await?;
        Ok(rec.next_arrival_seq - 1)
    }

    /// Stores an archive file of `batch` as `name` (one safe file name, e.g. `batch.zip`) and
    /// returns its ledger key, for [`super::record::ArchiveRefs`]. Overwrites a previous file of
    /// the same name.
    pub async fn put_archive(
        &self,
        batch: &BatchId,
        name: &str,
        bytes: &[u8],
    ) -> Result<String, LedgerError> {
        let key = archive_key(batch, name)?;
        self.store.put_blob(&key, bytes).await?;
        Ok(key)
    }

    /// [`Ledger::put_archive`] for a file on disk, streamed into the store rather than read
    /// into memory (a built zip can be large).
    pub async fn put_archive_file(
        &self,
        batch: &BatchId,
        name: &str,
        path: &Path,
    ) -> Result<String, LedgerError> {
        let key = archive_key(batch, name)?;
        self.store.put_blob_file(&key, path).await?;
        Ok(key)
    }

    /// An archived file by the key [`Ledger::put_archive`] returned.
    pub async fn get_archive(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.store.get_blob(key).await
    }

    /// The compare-and-swap loop (module docs). `init` makes the record when the key is absent;
    /// without it an absent key is `NotFound`.
    async fn modify<T, E, F, I>(&self, key: &str, init: Option<I>, mut change: F) -> Result<T, E>
    where
        T: Record,
        E: From<LedgerError> + Send,
        F: FnMut(&mut T) -> Result<(), E> + Send,
        I: Fn() -> T + Send,
    {
        for attempt in 1..=self.max_attempts {
            let (mut rec, version) = match (self.read::<T>(key).await?, &init) {
                (Some((rec, v)), _) => (rec, Some(v)),
                (None, Some(init)) => (init(), None),
                (None, None) => {
                    return Err(LedgerError::NotFound {
                        key: key.to_owned(),
                    }
                    .into());
                }
            };
            change(&mut rec)?;
            rec.touch((self.clock)());
            let body = encode(key, &rec)?;
            let written = match &version {
                Some(v) => self.store.update(key, &body, v).await.map(drop),
                None => self.store.create(key, &body).await.map(drop),
            };
            match written {
                Ok(()) => return Ok(rec),
                Err(LedgerError::Conflict { .. } | LedgerError::AlreadyExists { .. }) => {
                    tracing::debug!(key, attempt, "ledger write conflict; retrying");
                    if attempt < self.max_attempts {
                        backoff(attempt).await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(LedgerError::TooManyConflicts {
            key: key.to_owned(),
            attempts: self.max_attempts,
        }
        .into())
    }

    async fn read<T: Record>(&self, key: &str) -> Result<Option<(T, Version)>, LedgerError> {
        match self.store.get(key).await? {
            Some((body, v)) => Ok(Some((decode(key, self.store.locate(key), &body)?, v))),
            None => Ok(None),
        }
    }

    /// Reads a record that must exist (it was seen, and records are never deleted).
    async fn read_existing<T: Record>(&self, key: &str) -> Result<T, LedgerError> {
        self.read(key)
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| LedgerError::NotFound {
                key: key.to_owned(),
            })
    }
}

async fn backoff(attempt: u32) {
    let bound = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(0..=bound))).await;
}

/// `tenants/<tenant>/tenant.json`
pub fn tenant_key(tenant: &str) -> Result<String, LedgerError> {
    validate_tenant(tenant)?;
    Ok(format!("tenants/{tenant}/tenant.json"))
}

/// `tenants/<tenant>/batches/<seq:08>-<sha12>.json`
pub fn batch_key(id: &BatchId) -> Result<String, LedgerError> {
    BatchId::parse(id.as_str())?;
    Ok(format!(
        "tenants/{}/batches/{}.json",
        id.tenant(),
        id.local_part()
    ))
}

/// `tenants/<tenant>/archive/<seq:08>-<sha12>/<name>`
fn archive_key(batch: &BatchId, name: &str) -> Result<String, LedgerError> {
    validate_segment(name).map_err(|reason| LedgerError::bad_key(name, reason))?;
    BatchId::parse(batch.as_str())?;
    Ok(format!(
        "tenants/{}/archive/{}/{name}",
        batch.tenant(),
        batch.local_part()
    ))
}

/// `tenants/<tenant>/claims/<first 32 hex of sha256(content_sha256 "\n" location ["\n"
/// "delivery:" delivery] ["\n" "manifest:" manifest_sha256])>.json`. The location is hashed
/// because it may hold characters keys do not allow. Without a delivery or manifest it is the
/// key older versions wrote, so their claims are still found.
fn claim_key(new: &NewBatch) -> String {
    let mut h = Sha256::new();
    h.update(new.content_sha256.as_bytes());
    h.update(b"\n");
    h.update(new.source.location.as_bytes());
    let source = &new.source;
    for (label, value) in [
        ("delivery:", &source.delivery),
        ("manifest:", &source.manifest_sha256),
    ] {
        if let Some(v) = value {
            h.update(b"\n");
            h.update(label.as_bytes());
            h.update(v.as_bytes());
        }
    }
    let hash = hex::encode(h.finalize());
    format!("tenants/{}/claims/{}.json", new.tenant, &hash[..32])
}

/// The claim key of older versions: content and location only.
fn legacy_claim_key(new: &NewBatch) -> String {
    let mut legacy = new.clone();
    legacy.source.delivery = None;
    legacy.source.manifest_sha256 = None;
    claim_key(&legacy)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::ledger::MemoryStore;
    use crate::ledger::record::{BatchSource, Gate};

    const SHA_A: &str = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
    const SHA_B: &str = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";

    fn new_batch(tenant: &str, sha: &str, location: &str) -> NewBatch {
        NewBatch {
            tenant: tenant.into(),
            source: BatchSource {
                kind: "folder".into(),
                location: location.into(),
                files: vec![],
                ..Default::default()
            },
            content_sha256: sha.into(),
        }
    }

    fn ledger() -> Ledger<MemoryStore> {
        Ledger::new(MemoryStore::new())
    }

    #[tokio::test]
    async fn the_same_drop_seen_twice_is_one_batch() {
        let l = ledger();
        let first = l
            .create_batch(new_batch("t", SHA_A, "inbox/t/1"))
            .await
            .unwrap();
        let again = l
            .create_batch(new_batch("t", SHA_A, "inbox/t/1"))
            .await
            .unwrap();
        assert!(first.is_created());
        assert_eq!(again, CreateOutcome::AlreadyKnown(first.record().clone()));
        assert_eq!(first.record().id.as_str(), "t/00000001-aaaaaaaaaaaa");
        assert_eq!(l.list_batches("t").await.unwrap().len(), 1);
    }

    /// `new` as brought by delivery `id` (an object version, an event, a drop in the inbox).
    fn delivered(mut new: NewBatch, id: &str) -> NewBatch {
        new.source.delivery = Some(id.to_owned());
        new
    }

    #[tokio::test]
    async fn the_same_delivery_seen_twice_is_one_batch_and_another_delivery_of_it_is_new() {
        let l = ledger();
        let a = || new_batch("t", SHA_A, "s3://b/daily.zip");
        let first = l.create_batch(delivered(a(), "v1")).await.unwrap();
        let again = l.create_batch(delivered(a(), "v1")).await.unwrap();
        assert!(first.is_created());
        assert_eq!(again, CreateOutcome::AlreadyKnown(first.record().clone()));
        let b = l
            .create_batch(delivered(new_batch("t", SHA_B, "s3://b/daily.zip"), "v2"))
            .await
            .unwrap();
        let rollback = l.create_batch(delivered(a(), "v3")).await.unwrap();
        assert!(b.is_created());
        assert!(
            rollback.is_created(),
            "A dropped again after B is a new batch, not a repeat of the first A"
        );
        let seqs: Vec<u64> = l
            .list_batches("t")
            .await
            .unwrap()
            .iter()
            .map(|b| b.arrival_seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test]
    async fn the_same_files_with_another_manifest_are_another_batch() {
        let l = ledger();
        let with = |m: &str| {
            let mut n = new_batch("t", SHA_A, "inbox/t/run");
            n.source.manifest_sha256 = Some(m.to_owned());
            n
        };
        assert!(l.create_batch(with("m1")).await.unwrap().is_created());
        assert!(!l.create_batch(with("m1")).await.unwrap().is_created());
        assert!(l.create_batch(with("m2")).await.unwrap().is_created());
    }

    #[tokio::test]
    async fn a_claim_written_before_deliveries_still_answers_for_its_delivery_after_an_upgrade() {
        let l = ledger();
        let mut old = new_batch("t", SHA_A, "s3://b/daily.zip");
        old.source.sqs_message_id = Some("m-1".into());
        // What an older canvas-sis recorded: no delivery, the legacy claim key.
        let first = l.create_batch(old.clone()).await.unwrap();
        assert!(first.is_created());
        let redelivered = delivered(old.clone(), "v1");
        let again = l.create_batch(redelivered.clone()).await.unwrap();
        assert_eq!(
            again.record().id,
            first.record().id,
            "in flight across the upgrade: the same batch"
        );
        l.transition(
            &first.record().id,
            Stage::Terminal {
                state: "imported".into(),
                ok: true,
            },
            "",
        )
        .await
        .unwrap();
        assert!(
            !l.create_batch(redelivered).await.unwrap().is_created(),
            "the same message again after it finished: still the same batch"
        );
        let mut later = delivered(old, "v2");
        later.source.sqs_message_id = Some("m-2".into());
        assert!(
            l.create_batch(later).await.unwrap().is_created(),
            "a later delivery of the same content is a new batch"
        );
    }

    #[tokio::test]
    async fn other_content_or_location_is_another_batch_in_arrival_order() {
        let l = ledger();
        let a = l
            .create_batch(new_batch("t", SHA_A, "inbox/t/1"))
            .await
            .unwrap();
        let b = l
            .create_batch(new_batch("t", SHA_B, "inbox/t/1"))
            .await
            .unwrap();
        let c = l
            .create_batch(new_batch("t", SHA_A, "inbox/t/2"))
            .await
            .unwrap();
        assert!(a.is_created() && b.is_created() && c.is_created());
        let seqs: Vec<u64> = l
            .list_batches("t")
            .await
            .unwrap()
            .iter()
            .map(|b| b.arrival_seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(l.list_batches("other").await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creators_of_one_drop_have_exactly_one_winner() {
        let l = Arc::new(ledger());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let l = Arc::clone(&l);
                tokio::spawn(async move { l.create_batch(new_batch("t", SHA_A, "s3://b/k")).await })
            })
            .collect();
        let mut created = 0;
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            let out = t.await.unwrap().unwrap();
            created += usize::from(out.is_created());
            ids.insert(out.record().id.clone());
        }
        assert_eq!(created, 1);
        assert_eq!(ids.len(), 1, "every caller sees the same batch");
        assert_eq!(l.list_batches("t").await.unwrap().len(), 1);
    }

    /// The claim of `new`, written as a worker that died before writing its record left it.
    async fn orphan_claim(l: &Ledger<MemoryStore>, new: &NewBatch) -> ClaimRecord {
        let seq = l.next_arrival_seq(&new.tenant).await.unwrap();
        let claim = ClaimRecord {
            schema: SCHEMA_VERSION,
            batch: BatchId::new(&new.tenant, seq, &new.content_sha256).unwrap(),
            arrival_seq: seq,
            content_sha256: new.content_sha256.clone(),
            location: new.source.location.clone(),
            delivery: new.source.delivery.clone(),
            claimed_at: Utc::now(),
            extra: BTreeMap::new(),
        };
        let key = claim_key(new);
        l.store()
            .create(&key, &encode(&key, &claim).unwrap())
            .await
            .unwrap();
        claim
    }

    #[tokio::test]
    async fn a_claim_without_its_batch_record_is_repaired_by_the_next_caller() {
        let l = ledger();
        let new = new_batch("t", SHA_A, "inbox/t/1");
        let claim = orphan_claim(&l, &new).await;
        let out = l.create_batch(new.clone()).await.unwrap();
        assert!(out.is_created());
        assert_eq!(out.record().id, claim.batch);
        assert_eq!(
            l.next_arrival_seq("t").await.unwrap(),
            2,
            "no sequence spent"
        );
        assert!(!l.create_batch(new).await.unwrap().is_created());
    }

    /// A claim whose writer died before the batch record, finished only after a later batch was
    /// recorded (its message came back late, from the dead-letter queue): by then the later
    /// batch may be in Canvas, so the repaired batch arrives now, after it — not at the place its
    /// claim once took, which would put it before a batch Canvas already has (cloud seed 1008 of
    /// the simulation).
    #[tokio::test]
    async fn in_order_a_claim_repaired_after_a_later_batch_was_recorded_arrives_after_it() {
        let l = ledger();
        let a = delivered(new_batch("t", SHA_A, "s3://b/t/a/"), "v1");
        let orphan = orphan_claim(&l, &a).await;
        let b = l
            .create_batch(delivered(new_batch("t", SHA_B, "s3://b/t/b/"), "v2"))
            .await
            .unwrap();
        assert_eq!(b.record().arrival_seq, 2);
        let repaired = l.create_batch(a.clone()).await.unwrap();
        assert!(repaired.is_created());
        assert_eq!(repaired.record().arrival_seq, 3, "it arrives now");
        let listed: Vec<String> = l
            .list_batches("t")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.source.location)
            .collect();
        assert_eq!(listed, ["s3://b/t/b/", "s3://b/t/a/"]);
        let again = l.create_batch(a).await.unwrap();
        assert_eq!(
            again,
            CreateOutcome::AlreadyKnown(repaired.record().clone())
        );
        assert_eq!(
            l.get_batch(&orphan.batch).await.unwrap(),
            None,
            "nothing is left at the claim's old place"
        );
    }

    #[tokio::test]
    async fn transitions_follow_the_state_machine_and_are_recorded() {
        let l = ledger();
        let id = l
            .create_batch(new_batch("t", SHA_A, "x"))
            .await
            .unwrap()
            .record()
            .id
            .clone();
        l.transition(&id, Stage::Validated, "ok").await.unwrap();
        l.transition(&id, Stage::Packed, "").await.unwrap();
        let r = l.transition(&id, Stage::Submitting, "").await.unwrap();
        assert!(r.submit_started_at.is_some());
        let e = l.transition(&id, Stage::Packed, "retry").await.unwrap_err();
        assert!(matches!(e, LedgerError::IllegalTransition { .. }), "{e}");
        let stored = l.get_batch(&id).await.unwrap().unwrap();
        assert_eq!(
            stored.stage,
            Stage::Submitting,
            "a refused change writes nothing"
        );
        assert_eq!(stored.history.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_racing_submitters_exactly_one_records_submitting() {
        let l = Arc::new(ledger());
        let id = l
            .create_batch(new_batch("t", SHA_A, "x"))
            .await
            .unwrap()
            .record()
            .id
            .clone();
        l.transition(&id, Stage::Validated, "").await.unwrap();
        l.transition(&id, Stage::Packed, "").await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (l, id) = (Arc::clone(&l), id.clone());
                tokio::spawn(async move {
                    l.transition(&id, Stage::Submitting, &format!("worker {i}"))
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => winners += 1,
                Err(LedgerError::IllegalTransition { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(l.get_batch(&id).await.unwrap().unwrap().history.len(), 3);
    }

    #[tokio::test]
    async fn update_batch_reruns_the_closure_on_conflict_and_gives_up_when_bounded() {
        let l = ledger().with_max_attempts(3);
        let id = l
            .create_batch(new_batch("t", SHA_A, "x"))
            .await
            .unwrap()
            .record()
            .id
            .clone();
        l.store().inject_conflicts(2);
        let mut runs = 0;
        let r = l
            .update_batch(&id, |r| {
                runs += 1;
                r.warnings.push("w".into());
                Ok::<(), LedgerError>(())
            })
            .await
            .unwrap();
        assert_eq!(runs, 3);
        assert_eq!(r.warnings, ["w"], "only the last run's change is stored");
        l.store().inject_conflicts(3);
        let e = l
            .update_batch(&id, |_| Ok::<(), LedgerError>(()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, LedgerError::TooManyConflicts { attempts: 3, .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn update_batch_cannot_bypass_the_state_machine_or_change_identity() {
        let l = ledger();
        let id = l
            .create_batch(new_batch("t", SHA_A, "x"))
            .await
            .unwrap()
            .record()
            .id
            .clone();
        let e = l
            .update_batch(&id, |r| {
                r.stage = Stage::Submitted { import_id: 1 };
                Ok::<(), LedgerError>(())
            })
            .await
            .unwrap_err();
        assert!(matches!(e, LedgerError::IllegalTransition { .. }), "{e}");
        let e = l
            .update_batch(&id, |r| {
                r.arrival_seq = 99;
                Ok::<(), LedgerError>(())
            })
            .await
            .unwrap_err();
        assert!(matches!(e, LedgerError::IllegalTransition { .. }), "{e}");
        let r = l
            .update_batch(&id, |r| {
                r.stage = Stage::Validated;
                r.counts.entry("users").rows = 5;
                Ok::<(), LedgerError>(())
            })
            .await
            .unwrap();
        assert_eq!(
            (r.stage, r.counts.get("users").map(|u| u.rows)),
            (Stage::Validated, Some(5))
        );
    }

    #[tokio::test]
    async fn updating_an_unknown_batch_is_not_found() {
        let l = ledger();
        let id = BatchId::new("t", 9, SHA_A).unwrap();
        let e = l
            .update_batch(&id, |_| Ok::<(), LedgerError>(()))
            .await
            .unwrap_err();
        assert!(matches!(e, LedgerError::NotFound { .. }), "{e}");
        assert!(l.get_batch(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn tenants_start_open_and_keep_their_gate() {
        let l = ledger();
        assert_eq!(l.tenant("t").await.unwrap().gate, Gate::Open);
        let id = BatchId::new("t", 1, SHA_A).unwrap();
        l.update_tenant("t", |t| {
            t.gate = Gate::Halted {
                reason: "import failed".into(),
                batch: id.clone(),
                at: Utc::now(),
            };
            Ok::<(), LedgerError>(())
        })
        .await
        .unwrap();
        assert!(matches!(
            l.tenant("t").await.unwrap().gate,
            Gate::Halted { .. }
        ));
        assert_eq!(l.next_arrival_seq("t").await.unwrap(), 1);
        assert_eq!(l.next_arrival_seq("t").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn archives_are_stored_under_the_batch() {
        let l = ledger();
        let id = BatchId::new("t", 3, SHA_A).unwrap();
        let key = l.put_archive(&id, "batch.zip", b"PK").await.unwrap();
        assert_eq!(key, "tenants/t/archive/00000003-aaaaaaaaaaaa/batch.zip");
        assert_eq!(l.get_archive(&key).await.unwrap().unwrap(), b"PK");
        assert!(l.put_archive(&id, "../x", b"").await.is_err());
    }

    #[tokio::test]
    async fn archive_files_are_stored_under_the_batch_like_bytes() {
        let l = ledger();
        let id = BatchId::new("t", 3, SHA_A).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.zip");
        std::fs::write(&path, b"PK file").unwrap();
        let key = l.put_archive_file(&id, "batch.zip", &path).await.unwrap();
        assert_eq!(key, "tenants/t/archive/00000003-aaaaaaaaaaaa/batch.zip");
        assert_eq!(l.get_archive(&key).await.unwrap().unwrap(), b"PK file");
        assert!(l.put_archive_file(&id, ".x", &path).await.is_err());
    }

    #[tokio::test]
    async fn a_corrupt_record_is_reported_not_overwritten() {
        let l = ledger();
        l.store()
            .put_blob("tenants/t/tenant.json", b"{\"tenant\": ")
            .await
            .unwrap();
        let e = l.next_arrival_seq("t").await.unwrap_err();
        assert!(
            matches!(&e, LedgerError::Corrupt { location, .. } if location == "memory:tenants/t/tenant.json"),
            "{e}"
        );
        let body = l
            .store()
            .get_blob("tenants/t/tenant.json")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, b"{\"tenant\": ");
    }
}
