//! The lease on a `submitting` batch: who may send its POST, kept alive while they do, and taken
//! over only by a compare-and-swap once its holder is gone (docs/design.md, "precisions").
//!
//! A worker that records `submitting` holds the lease ([`claim`]); while its POST runs (a large
//! upload, a throttled Canvas, the listing before it) it renews the lease every third of the
//! lease period ([`keep_alive`]), so the lease expires only when the holder is really gone — and
//! a holder that cannot renew (its ledger does not answer) abandons its request a third of a
//! lease before the lease could run out, so it is gone by then too. A
//! worker that finds an expired lease takes the batch over with [`take_over`]: a write that
//! checks the attempt it read, that the lease is still expired, and bumps the attempt — of two
//! takers, one wins and the other is told the batch is busy. Before its create request leaves,
//! the holder records what a taker will need to tell whether that request made an import
//! ([`record_post`]); a lease without it proves that no POST ever left.
//!
//! Nothing here talks to Canvas or decides what an import means; that is `staged` and `submit`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::submit::Evidence;
use crate::ledger::{BatchId, BatchRecord, Ledger, LedgerError, LedgerStore, Stage, SubmitLease};

/// Why a lease could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another worker holds the lease now (or the batch moved on): this one must not POST.
    #[error("batch {0} is held by another worker")]
    Lost(BatchId),
    /// This worker could not renew its lease for two beats: its request was abandoned before the
    /// lease could run out, so that a worker taking over never races it.
    #[error(
        "its submit lease could not be renewed (the ledger did not answer), so its request was abandoned before the lease ran out; the batch resumes from its recorded stage once the lease has run out"
    )]
    Unrenewed(BatchId),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A lease this worker holds: the batch, this worker's id and the attempt it holds.
#[derive(Debug, Clone)]
pub struct Held {
    pub batch: BatchId,
    pub holder: String,
    pub attempt: u32,
    /// Taken just before the write that recorded the lease: the lease runs out no sooner than a
    /// lease period after this (the write's own time is later).
    pub since: tokio::time::Instant,
}

/// A fresh worker id for one claim or takeover: the process id and a random part.
fn holder_id() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

fn period(lease: Duration) -> TimeDelta {
    TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX)
}

/// Whether a live worker may still hold the batch's lease: its last renewal (or, on a record
/// written before leases, the time `submitting` was recorded) is younger than `lease`.
pub fn may_be_live(rec: &BatchRecord, lease: Duration, now: DateTime<Utc>) -> bool {
    let last = rec
        .submit_lease
        .as_ref()
        .map(|l| l.renewed_at)
        .or(rec.submit_started_at);
    last.is_some_and(|t| now - t < period(lease))
}

/// Packed → Submitting with a new lease, in one write. Another worker's `submitting` first is
/// [`LeaseError::Lost`].
pub async fn claim<S: LedgerStore>(ledger: &Ledger<S>, id: &BatchId) -> Result<Held, LeaseError> {
    let holder = holder_id();
    let since = tokio::time::Instant::now();
    let result = ledger
        .update_batch(id, |r| {
            let now = ledger.now();
            r.apply_transition(Stage::Submitting, "about to POST", now)?;
            r.submit_lease = Some(SubmitLease::new(&holder, now));
            Ok::<(), LedgerError>(())
        })
        .await;
    match result {
        Ok(_) => Ok(Held {
            batch: id.clone(),
            holder,
            attempt: 1,
            since,
        }),
        Err(LedgerError::IllegalTransition { .. }) => Err(LeaseError::Lost(id.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Takes over the expired lease of `seen` (as read): succeeds only if the record still has the
/// attempt read and its lease is still expired. Returns the lease held and the record written.
pub async fn take_over<S: LedgerStore>(
    ledger: &Ledger<S>,
    seen: &BatchRecord,
    lease: Duration,
) -> Result<(Held, BatchRecord), LeaseError> {
    let holder = holder_id();
    let since = tokio::time::Instant::now();
    let attempt_seen = seen.submit_lease.as_ref().map_or(0, |l| l.attempt);
    let id = seen.id.clone();
    let rec = ledger
        .update_batch(&id, |r| {
            let now = ledger.now();
            let attempt = r.submit_lease.as_ref().map_or(0, |l| l.attempt);
            if r.stage != Stage::Submitting || attempt != attempt_seen || may_be_live(r, lease, now)
            {
                return Err(LeaseError::Lost(r.id.clone()));
            }
            r.submit_lease = Some(match &r.submit_lease {
                Some(l) => l.taken_over(&holder, now, period(lease)),
                None => SubmitLease::new(&holder, now),
            });
            if attempt == 0 {
                // A record from before leases: its POST may have left; say so (see `record_post`).
                if let Some(l) = r.submit_lease.as_mut() {
                    l.post_started_at = r.submit_started_at.or(Some(r.updated_at));
                }
            }
            Ok(())
        })
        .await?;
    Ok((
        Held {
            batch: id,
            holder,
            attempt: attempt_seen + 1,
            since,
        },
        rec,
    ))
}

/// Runs `change` on the batch's lease if this worker still holds it.
async fn with_held<S: LedgerStore>(
    ledger: &Ledger<S>,
    held: &Held,
    mut change: impl FnMut(&mut SubmitLease, DateTime<Utc>) + Send,
) -> Result<BatchRecord, LeaseError> {
    ledger
        .update_batch(&held.batch, |r| {
            let mine = holds(r, held);
            match r.submit_lease.as_mut() {
                Some(l) if mine => {
                    change(l, ledger.now());
                    Ok(())
                }
                _ => Err(LeaseError::Lost(r.id.clone())),
            }
        })
        .await
}

/// Parks the batch whose lease this worker holds, `submitting` → `parked` with `reason`, in one
/// write and only while the lease is still this worker's. For a takeover that proved the dead
/// holder's POST made no import, when the tenant may not send now: sending again is a new send,
/// held back like any other; the lease goes with the stage (the next claim starts afresh).
pub async fn park_held<S: LedgerStore>(
    ledger: &Ledger<S>,
    held: &Held,
    reason: &str,
) -> Result<BatchRecord, LeaseError> {
    ledger
        .update_batch(&held.batch, |r| {
            if !holds(r, held) {
                return Err(LeaseError::Lost(r.id.clone()));
            }
            r.park_unsent(reason, ledger.now())?;
            Ok(())
        })
        .await
}

/// Whether `held` is the lease `r` records, on a batch still `submitting`.
fn holds(r: &BatchRecord, held: &Held) -> bool {
    r.stage == Stage::Submitting
        && r.submit_lease
            .as_ref()
            .is_some_and(|l| l.holder == held.holder && l.attempt == held.attempt)
}

/// Records, before the create request leaves, what identifies the import it will make. The
/// first POST's window and pre-POST listing are kept if one already left (an earlier attempt's
/// import, if any, was looked for and not found). Returns the evidence as recorded.
pub async fn record_post<S: LedgerStore>(
    ledger: &Ledger<S>,
    held: &Held,
    fresh: &Evidence,
) -> Result<Evidence, LeaseError> {
    let rec = with_held(ledger, held, |l, now| {
        if l.post_started_at.is_none() {
            l.post_started_at = Some(fresh.post_started_at);
            l.pre_post_ids = fresh.not_ours.iter().copied().collect();
            l.pre_post_ids.sort_unstable();
        }
        l.user_id = l.user_id.or(Some(fresh.user_id));
        l.files = fresh.files.clone();
        l.renewed_at = now;
        // This holder's request may reach Canvas: its lease running out ends its window.
        l.looked_only = false;
    })
    .await?;
    let l = rec
        .submit_lease
        .ok_or_else(|| LeaseError::Lost(held.batch.clone()))?;
    let mut not_ours = fresh.not_ours.clone();
    not_ours.extend(l.pre_post_ids.iter().copied());
    Ok(Evidence {
        user_id: l.user_id.unwrap_or(fresh.user_id),
        not_ours,
        post_started_at: l.post_started_at.unwrap_or(fresh.post_started_at),
        post_ended_by: None,
        files: l.files,
    })
}

/// Runs `work` while renewing the lease every third of `lease`. `work` is abandoned (dropped:
/// an upload in progress is cut off, and Canvas makes no import of a body it never received)
/// when this worker may no longer send: its lease was taken over ([`LeaseError::Lost`]), or two
/// beats passed without a renewal that landed ([`LeaseError::Unrenewed`]: a renewal that fails,
/// or hangs, past that) — a third of a lease before another worker could take over, left for
/// the request to stop and for clocks that differ. A zero lease (one-shot runs) is not renewed.
pub async fn keep_alive<S: LedgerStore, T>(
    ledger: &Ledger<S>,
    held: &Held,
    lease: Duration,
    work: impl Future<Output = T>,
) -> Result<T, LeaseError> {
    if lease.is_zero() {
        return Ok(work.await);
    }
    let beat = lease / 3;
    let renewing = async {
        let mut confirmed = held.since;
        loop {
            tokio::time::sleep(beat).await;
            let started = tokio::time::Instant::now();
            let abandon_at = confirmed + beat * 2;
            let renewal = with_held(ledger, held, |l, now| l.renewed_at = now);
            match tokio::time::timeout_at(abandon_at, renewal).await {
                Ok(Ok(_)) => confirmed = started,
                Ok(Err(LeaseError::Ledger(e))) => {
                    tracing::warn!(batch = %held.batch, error = %e, "could not renew the submit lease");
                    if tokio::time::Instant::now() >= abandon_at {
                        return LeaseError::Unrenewed(held.batch.clone());
                    }
                }
                Ok(Err(other)) => return other,
                Err(_) => return LeaseError::Unrenewed(held.batch.clone()),
            }
        }
    };
    tokio::pin!(work);
    // Biased: the same order on every run (a simulation's seed replays exactly), the work first.
    tokio::select! {
        biased;
        out = &mut work => Ok(out),
        stop = renewing => Err(stop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{BatchSource, MemoryStore, NewBatch};

    async fn packed() -> (Ledger<MemoryStore>, BatchId) {
        let ledger = Ledger::new(MemoryStore::new());
        let new = NewBatch {
            tenant: "t".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: "in/b1".into(),
                files: vec![],
                ..Default::default()
            },
            content_sha256: "ab".repeat(32),
        };
        let id = ledger.create_batch(new).await.unwrap().record().id.clone();
        for s in [Stage::Validated, Stage::Packed] {
            ledger.transition(&id, s, "test").await.unwrap();
        }
        (ledger, id)
    }

    #[tokio::test]
    async fn of_two_takers_of_one_expired_lease_only_the_first_wins() {
        let (ledger, id) = packed().await;
        let first = claim(&ledger, &id).await.unwrap();
        assert!(matches!(
            claim(&ledger, &id).await,
            Err(LeaseError::Lost(_))
        ));
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        // A zero lease is always expired: both takers read the same record.
        let (taker, rec) = take_over(&ledger, &seen, Duration::ZERO).await.unwrap();
        assert_eq!(taker.attempt, 2);
        assert_eq!(rec.submit_lease.as_ref().unwrap().holder, taker.holder);
        assert!(matches!(
            take_over(&ledger, &seen, Duration::ZERO).await,
            Err(LeaseError::Lost(_))
        ));
        // The first holder's heartbeat finds its lease gone and may not record a POST.
        assert!(matches!(
            with_held(&ledger, &first, |l, now| l.renewed_at = now).await,
            Err(LeaseError::Lost(_))
        ));
    }

    #[tokio::test]
    async fn the_window_of_a_lost_post_closes_when_the_last_holder_that_posted_lost_its_lease() {
        let (ledger, id) = packed().await;
        let lease = |r: &BatchRecord| r.submit_lease.clone().unwrap();
        let posted = |at| Evidence {
            user_id: 7,
            post_started_at: at,
            ..Evidence::default()
        };
        let first = claim(&ledger, &id).await.unwrap();
        record_post(&ledger, &first, &posted(ledger.now()))
            .await
            .unwrap();
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        let first_ended = lease(&seen).renewed_at;
        // A zero lease: each holder's window ends at its last renewal.
        let (looker, rec) = take_over(&ledger, &seen, Duration::ZERO).await.unwrap();
        assert_eq!(lease(&rec).posts_ended_by, Some(first_ended));
        assert!(lease(&rec).looked_only);
        with_held(&ledger, &looker, |l, now| l.renewed_at = now)
            .await
            .unwrap();
        // The second holder only looked (its search gave up, its time ran out): the window a
        // third holder searches is still the first POST's, whenever it comes.
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        let (poster, rec) = take_over(&ledger, &seen, Duration::ZERO).await.unwrap();
        assert_eq!(lease(&rec).posts_ended_by, Some(first_ended));
        // The third found nothing and posts again: its lease bounds the window from then on.
        record_post(&ledger, &poster, &posted(ledger.now()))
            .await
            .unwrap();
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        assert!(!lease(&seen).looked_only);
        let third_ended = lease(&seen).renewed_at;
        let (_, rec) = take_over(&ledger, &seen, Duration::ZERO).await.unwrap();
        assert_eq!(lease(&rec).posts_ended_by, Some(third_ended));
        assert!(third_ended > first_ended);
    }

    #[tokio::test]
    async fn a_renewed_lease_cannot_be_taken_over() {
        let (ledger, id) = packed().await;
        let held = claim(&ledger, &id).await.unwrap();
        let lease = Duration::from_secs(60);
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        assert!(may_be_live(&seen, lease, Utc::now()));
        with_held(&ledger, &held, |l, now| l.renewed_at = now)
            .await
            .unwrap();
        assert!(matches!(
            take_over(&ledger, &seen, lease).await,
            Err(LeaseError::Lost(_))
        ));
        let later = Utc::now() + TimeDelta::seconds(61);
        let rec = ledger.get_batch(&id).await.unwrap().unwrap();
        assert!(
            !may_be_live(&rec, lease, later),
            "expires a lease after its last renewal"
        );
    }

    #[tokio::test]
    async fn only_the_lease_holder_parks_a_submitting_batch_and_a_stale_park_never_does() {
        let (ledger, id) = packed().await;
        let first = claim(&ledger, &id).await.unwrap();
        // A park from a stale read (the batch looked packed) must not land on a batch whose
        // POST may be in flight.
        let stale = ledger
            .transition(
                &id,
                Stage::Parked {
                    reason: "blackout".into(),
                },
                "blackout",
            )
            .await;
        assert!(
            matches!(stale, Err(LedgerError::IllegalTransition { .. })),
            "{stale:?}"
        );
        let seen = ledger.get_batch(&id).await.unwrap().unwrap();
        let (taker, _) = take_over(&ledger, &seen, Duration::ZERO).await.unwrap();
        assert!(matches!(
            park_held(&ledger, &first, "blackout until 03:00").await,
            Err(LeaseError::Lost(_))
        ));
        let parked = park_held(&ledger, &taker, "blackout until 03:00")
            .await
            .unwrap();
        assert_eq!(
            parked.stage,
            Stage::Parked {
                reason: "blackout until 03:00".into()
            }
        );
        assert!(
            parked.submit_lease.is_none(),
            "the lease goes with the stage"
        );
        // Parked, it is claimed afresh later like any packed batch (after validation).
        assert!(matches!(
            park_held(&ledger, &taker, "again").await,
            Err(LeaseError::Lost(_))
        ));
    }

    /// How the holder's ledger answers its writes.
    const ANSWERS: u8 = 0;
    const FAILS: u8 = 1;
    const HANGS: u8 = 2;

    /// A ledger store whose updates answer, fail or never answer, as `mode` says (a holder cut
    /// off from its ledger).
    #[derive(Clone)]
    struct CutOff {
        inner: MemoryStore,
        mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    }

    impl LedgerStore for CutOff {
        async fn get(
            &self,
            key: &str,
        ) -> Result<Option<(Vec<u8>, crate::ledger::Version)>, LedgerError> {
            self.inner.get(key).await
        }
        async fn create(
            &self,
            key: &str,
            body: &[u8],
        ) -> Result<crate::ledger::Version, LedgerError> {
            self.inner.create(key, body).await
        }
        async fn update(
            &self,
            key: &str,
            body: &[u8],
            expected: &crate::ledger::Version,
        ) -> Result<crate::ledger::Version, LedgerError> {
            match self.mode.load(std::sync::atomic::Ordering::SeqCst) {
                FAILS => {
                    let cut = std::io::Error::other("the ledger does not answer");
                    Err(LedgerError::io(key, cut))
                }
                HANGS => std::future::pending().await,
                _ => self.inner.update(key, body, expected).await,
            }
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
            self.inner.list(prefix).await
        }
        async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
            self.inner.put_blob(key, body).await
        }
        async fn put_blob_file(
            &self,
            key: &str,
            path: &std::path::Path,
        ) -> Result<(), LedgerError> {
            self.inner.put_blob_file(key, path).await
        }
        async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
            self.inner.get_blob(key).await
        }
    }

    /// At most one import per batch when the holder cannot renew: its slow upload is abandoned
    /// after two beats without a renewal (its ledger failing, or not answering at all), a third
    /// of a lease before anyone may take over; with its ledger answering, the same upload runs
    /// to its end.
    #[tokio::test(start_paused = true)]
    async fn a_holder_that_cannot_renew_abandons_its_request_before_its_lease_can_run_out() {
        let (memory, id) = {
            let (ledger, id) = packed().await;
            (ledger.store().clone(), id)
        };
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(ANSWERS));
        let store = CutOff {
            inner: memory,
            mode: mode.clone(),
        };
        let ledger = Ledger::new(store);
        let lease = Duration::from_secs(90);
        let upload = || tokio::time::sleep(Duration::from_secs(600));

        let mut held = claim(&ledger, &id).await.unwrap();
        let answered = keep_alive(&ledger, &held, lease, upload()).await;
        assert!(answered.is_ok(), "renewed all along: {answered:?}");

        for cut_off in [FAILS, HANGS] {
            mode.store(ANSWERS, std::sync::atomic::Ordering::SeqCst);
            let seen = ledger.get_batch(&id).await.unwrap().unwrap();
            held = take_over(&ledger, &seen, Duration::ZERO).await.unwrap().0;
            mode.store(cut_off, std::sync::atomic::Ordering::SeqCst);
            let started = tokio::time::Instant::now();
            let cut = keep_alive(&ledger, &held, lease, upload()).await;
            assert!(matches!(cut, Err(LeaseError::Unrenewed(_))), "{cut:?}");
            let after = started.elapsed();
            assert!(
                after >= lease * 2 / 3 && after < lease,
                "abandoned after {after:?}: two beats without a renewal, before the lease ran out"
            );
        }
    }

    /// At most one import per batch when another worker took the lease over (its holder's
    /// clock ran slow, or it stalled): the holder's upload is abandoned at its next beat.
    #[tokio::test(start_paused = true)]
    async fn a_holder_whose_lease_was_taken_over_abandons_its_request() {
        let (ledger, id) = packed().await;
        let lease = Duration::from_secs(90);
        let held = claim(&ledger, &id).await.unwrap();
        let upload = tokio::time::sleep(Duration::from_secs(600));
        let taking = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let seen = ledger.get_batch(&id).await.unwrap().unwrap();
            take_over(&ledger, &seen, Duration::ZERO).await.unwrap()
        };
        let started = tokio::time::Instant::now();
        let (cut, _) = tokio::join!(keep_alive(&ledger, &held, lease, upload), taking);
        assert!(matches!(cut, Err(LeaseError::Lost(_))), "{cut:?}");
        assert_eq!(started.elapsed(), lease / 3, "abandoned at the first beat");
    }
}
