//! One batch event of the worker, and the tenant stream it joins: fetch the batch from the drop
//! bucket and record it in the ledger (`arrival`), then run the tenant's unfinished batches in
//! arrival order — and the sweep that carries on streams whose messages are gone.
//!
//! Every batch is recorded before anything but a stop can release, delay or drop its message
//! (`arrival` retries S3 and ledger hiccups while the message waits), and no
//! recorded batch depends on a message to move on: the sweep resumes any tenant whose oldest
//! unfinished batch can go on (everything but a batch held for approval), whatever happened to
//! its message (released until the dead-letter queue took it, deleted because it was parked).
//!
//! A batch's message may be deleted only when the batch is finished or parked in the ledger.
//! When the batch waits behind an earlier batch that is held or parked, it is parked too, with
//! that reason. A batch that arrives during a blackout window is recorded and parked at once
//! (reason `blackout until <end>`) and its message deleted; the sweep sends the parked batches
//! in arrival order once the window has ended.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::arrival::Unrecorded;
use super::handler::MessageHandler;
use super::sqs::Received;
use super::worker::{Disposition, WorkerError, WorkerSettings};
use crate::store::{Pin, S3Batches};
use canvas_sis_core::ledger::{BatchId, BatchRecord, LedgerStore, Stage};
use canvas_sis_core::pipeline::staged::{RunError, zip_archive_owed};
use canvas_sis_core::pipeline::tenant::TenantRun;
use canvas_sis_core::trigger::events::{BatchTrigger, FolderMarker, ObjectEvent, classify};
use canvas_sis_core::trigger::runtime::TenantRuntime;
use canvas_sis_rules::batch::{MANIFEST, READY};

/// The key whose event started the batch: the zip, or the folder's marker.
fn trigger_key(trigger: &BatchTrigger) -> Option<String> {
    match trigger {
        BatchTrigger::Zip { key } => Some(key.clone()),
        BatchTrigger::Folder { prefix, marker } => Some(format!(
            "{prefix}{}",
            match marker {
                FolderMarker::Manifest => MANIFEST,
                FolderMarker::Ready => READY,
            }
        )),
        BatchTrigger::Ignore { .. } => None,
    }
}

/// Not sent yet, so its input files are read again (validate, pack); or sent, but its zip is
/// still owed to the archive and must be packed again (`staged::zip_archive_owed`).
fn needs_input(rec: &BatchRecord) -> bool {
    matches!(
        rec.stage,
        Stage::Received | Stage::Validated | Stage::Held { .. } | Stage::Parked { .. }
    ) || zip_archive_owed(rec)
}

/// Past the point where its upload may have been sent: never rejected any more.
fn maybe_sent(stage: &Stage) -> bool {
    matches!(stage, Stage::Submitting | Stage::Submitted { .. })
}

/// How long the message of a run that stopped on `error` stays hidden: `retry_after`, or
/// `operator_retry_after` when only a person can make the batch pass
/// ([`Outcome::needs_operator`](canvas_sis_core::pipeline::Outcome::needs_operator): Canvas refused the token, a permission or the account, or the
/// import options contradict each other). Coming back every minute would only knock on Canvas
/// with a refused token and spend the message's receive budget until the dead-letter queue
/// takes it, while nobody has fixed anything yet; a transient cause (Canvas unreachable or
/// throttling, the account busy, a ledger write, a stop) comes back soon.
pub fn release_after(settings: &WorkerSettings, error: Option<&RunError>) -> Duration {
    match error.and_then(RunError::cause) {
        Some(cause) if cause.needs_operator() => settings.operator_retry_after,
        _ => settings.retry_after,
    }
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

impl<S: LedgerStore> MessageHandler<'_, S> {
    fn runtime(&self, tenant: &str) -> Option<&TenantRuntime> {
        self.runtimes.iter().find(|r| r.tenant.name == tenant)
    }

    pub(super) fn release(&self, why: impl Into<String>) -> Disposition {
        Disposition::Release {
            after: self.settings.retry_after,
            why: why.into(),
        }
    }

    /// A run that stopped on `error`, released: the one place where the pipeline's typed error
    /// becomes the message's disposition ([`release_after`]).
    fn release_run(&self, error: Option<&RunError>, why: impl Into<String>) -> Disposition {
        Disposition::Release {
            after: release_after(&self.settings, error),
            why: why.into(),
        }
    }

    /// Fetches, records and runs one batch. `Err` ends the message's handling with that
    /// disposition; `Ok` means this batch is finished, parked or a known duplicate.
    pub(super) async fn batch_event(
        &self,
        tenant: &str,
        event: &ObjectEvent,
        trigger: &BatchTrigger,
        m: &Received,
    ) -> Result<(), Disposition> {
        let Some(rt) = self.runtime(tenant) else {
            return Err(Disposition::Poison {
                kind: "unknown_tenant".into(),
                error: format!("tenant {tenant} has no settings in this worker"),
            });
        };
        let key = trigger_key(trigger).unwrap_or_default();
        let dir = self.fresh_dir(&format!(
            "in-{}",
            short_hash(&format!("{}/{key}", event.bucket))
        ))?;
        let result = self.record_and_run(rt, event, trigger, &key, &dir, m).await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn record_and_run(
        &self,
        rt: &TenantRuntime,
        event: &ObjectEvent,
        trigger: &BatchTrigger,
        key: &str,
        dir: &Path,
        m: &Received,
    ) -> Result<(), Disposition> {
        let tenant = &rt.tenant.name;
        let pin = Pin {
            version_id: event.version().map(str::to_owned),
            etag: event.etag.clone(),
            files: BTreeMap::new(),
        };
        // Until the batch is recorded nothing else knows it exists, so its message is kept (the
        // heartbeat hides it and blocks its group) while a transient failure is retried here,
        // for `unrecorded_patience`: released at once, it would spend one receive per retry
        // until the dead-letter queue took it, and the tenant's later batches would go to Canvas
        // before it.
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        let (fetched, rec) = loop {
            match self
                .fetch_and_record(tenant, event, trigger, key, &pin, dir, m)
                .await
            {
                Ok(Some(done)) => break done,
                Ok(None) => return Ok(()),
                Err(Unrecorded::Release(d)) => return Err(d),
                Err(Unrecorded::Retry(why)) => {
                    attempt += 1;
                    self.pause_unrecorded(attempt, started, &why).await?;
                    self.fresh_dir_at(dir)?;
                }
            }
        };
        if let Ok(mut current) = self.in_flight.lock() {
            *current = Some(rec.id.clone());
        }
        if let Err(e) = &fetched {
            if rec.source.kind != super::arrival::UNFETCHABLE {
                // Recorded when it could still be fetched: its pipeline goes on from the
                // ledger (an import under way is waited on; files it still needs are fetched
                // at their recorded versions, and a batch whose files are gone is rejected).
                let run = self.run_stream(rt, None).await?;
                return self.settle_current(&rec.id, run).await;
            }
            let staged = self.staged(rt);
            staged
                .reject_batch(&rec.id, &e.to_string())
                .await
                .map_err(|e| self.release(format!("recording the rejection: {e}")))?;
            return Ok(());
        }
        if self.parked_in_blackout(rt, &rec).await? {
            return Ok(());
        }
        let input = fetched
            .as_ref()
            .map(|f| f.input.clone())
            .unwrap_or_default();
        let run = self.run_stream(rt, Some((rec.id.clone(), input))).await?;
        self.settle_current(&rec.id, run).await
    }

    /// Empties `dir` for another try (a failed fetch may have left some files in it).
    pub(super) fn fresh_dir_at(&self, dir: &Path) -> Result<(), Disposition> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)
            .map_err(|e| self.release(format!("creating {}: {e}", dir.display())))
    }

    fn staged<'s>(
        &'s self,
        rt: &'s TenantRuntime,
    ) -> canvas_sis_core::pipeline::staged::Staged<'s, S> {
        let zips = self.settings.work_dir.join("zips");
        rt.staged(
            self.ledger,
            &zips,
            &self.settings.wait,
            self.settings.submit_lease,
            self.obs,
            &self.stop,
        )
    }

    /// During a blackout window of the tenant, a batch not sent yet is parked (until the window
    /// ends) rather than run: its message can go, and the sweep sends it after the window. The
    /// stream is not run either — its other unsent batches would only be fetched to be parked.
    /// True when the batch was left parked or held. A batch that may already be at Canvas is
    /// not touched: it goes on (waiting on its import sends nothing).
    async fn parked_in_blackout(
        &self,
        rt: &TenantRuntime,
        rec: &BatchRecord,
    ) -> Result<bool, Disposition> {
        let staged = self.staged(rt);
        let Some(reason) = staged.blackout() else {
            return Ok(false);
        };
        match &rec.stage {
            Stage::Received | Stage::Validated | Stage::Packed => {
                staged
                    .park(rec, reason)
                    .await
                    .map_err(|e| self.release(format!("parking the batch: {e}")))?;
                Ok(true)
            }
            Stage::Parked { .. } | Stage::Held { .. } => Ok(true),
            _ => Ok(false),
        }
    }

    /// An empty folder under the work dir.
    fn fresh_dir(&self, name: &str) -> Result<PathBuf, Disposition> {
        let dir = self.settings.work_dir.join(name);
        self.fresh_dir_at(&dir)?;
        Ok(dir)
    }

    /// Runs the tenant's unfinished batches in arrival order. `current` is the batch whose
    /// files were just fetched; older unsent batches are fetched again from their recorded source.
    async fn run_stream(
        &self,
        rt: &TenantRuntime,
        current: Option<(BatchId, PathBuf)>,
    ) -> Result<TenantRun, Disposition> {
        let staged = self.staged(rt);
        std::fs::create_dir_all(&staged.request.work_dir)
            .map_err(|e| self.release(format!("creating the zip folder: {e}")))?;
        let unfinished: Vec<BatchRecord> = self
            .ledger
            .list_batches(&rt.tenant.name)
            .await
            .map_err(|e| self.release(format!("listing the tenant's batches: {e}")))?
            .into_iter()
            .filter(|b| !b.stage.is_terminal())
            .collect();
        let mut inputs: HashMap<BatchId, PathBuf> = HashMap::new();
        let mut refetched = Vec::new();
        for rec in &unfinished {
            match &current {
                Some((id, path)) if *id == rec.id => {
                    inputs.insert(rec.id.clone(), path.clone());
                }
                _ if needs_input(rec) => {
                    let dir = self.fresh_dir(&format!("re-{}", rec.id.local_part()))?;
                    refetched.push(dir.clone());
                    match self.refetch(rec, &dir).await {
                        Ok(path) => {
                            inputs.insert(rec.id.clone(), path);
                        }
                        // Its zip can't be packed again: it goes on, and its record says so.
                        Err(Refetch::Reject(reason)) if maybe_sent(&rec.stage) => {
                            self.obs.note(&format!("batch {}: {reason}", rec.id));
                            inputs.insert(rec.id.clone(), dir);
                        }
                        Err(Refetch::Reject(reason)) => {
                            staged
                                .reject_batch(&rec.id, &reason)
                                .await
                                .map_err(|e| self.release(format!("recording a rejection: {e}")))?;
                        }
                        Err(Refetch::Later(why)) => {
                            cleanup(&refetched);
                            return Err(self.release(why));
                        }
                    }
                }
                _ => {
                    inputs.insert(rec.id.clone(), staged.request.work_dir.clone());
                }
            }
        }
        let run = staged.run_tenant(|rec| inputs.get(&rec.id).cloned()).await;
        cleanup(&refetched);
        let run = run.map_err(|e| self.release_run(Some(&e), e.to_string()))?;
        for done in &run.finished {
            let _ = std::fs::remove_file(staged.zip_path(done, &staged.request));
        }
        Ok(run)
    }

    /// Fetches a recorded batch again — the versions recorded when it was first fetched — and
    /// checks it is still the same content.
    async fn refetch(&self, rec: &BatchRecord, dir: &Path) -> Result<PathBuf, Refetch> {
        let source = &rec.source;
        let (Some(bucket), Some(key)) = (&source.s3_bucket, &source.s3_trigger_key) else {
            return Err(Refetch::Reject(format!(
                "batch {} has no recorded S3 source ({}); it cannot be fetched again: upload it again",
                rec.id, rec.source.location
            )));
        };
        let trigger = classify(key);
        // The trigger object's version (or, in an unversioned bucket, its ETag) and the
        // versions of the files read: the batch as it was.
        let pin = Pin {
            version_id: source.s3_version_id.clone(),
            etag: source.s3_etag.clone(),
            files: source.s3_versions.clone(),
        };
        let fetcher = S3Batches::over(self.objects.clone(), bucket);
        let fetched = tokio::select! {
            biased;
            f = fetcher.fetch_pinned(&trigger, &pin, dir, &self.settings.fetch) => f,
            _ = self.stop.cancelled() => {
                return Err(Refetch::Later("the worker is stopping".into()));
            }
        };
        match fetched {
            Ok(f) if f.content_sha256 == rec.content_sha256 => Ok(f.input),
            Ok(_) => Err(Refetch::Reject(format!(
                "the objects of {} changed after the batch was recorded (it waited parked or held); \
                 nothing was sent. Upload the batch again under a new name",
                rec.source.location
            ))),
            Err(e) if e.is_permanent() => Err(Refetch::Reject(format!(
                "fetching the waiting batch again: {e}"
            ))),
            Err(e) => Err(Refetch::Later(format!(
                "fetching batch {} again: {e}",
                rec.id
            ))),
        }
    }

    /// After the stream ran: the current batch must be finished, held or parked (the pipeline
    /// parks a batch waiting behind a held or parked one), or the message waits.
    async fn settle_current(&self, id: &BatchId, run: TenantRun) -> Result<(), Disposition> {
        let rec = self
            .ledger
            .get_batch(id)
            .await
            .map_err(|e| self.release(format!("reading the batch back: {e}")))?
            .ok_or_else(|| self.release(format!("batch {id} vanished from the ledger")))?;
        match &rec.stage {
            s if s.is_terminal() => Ok(()),
            Stage::Superseded { .. } | Stage::Parked { .. } | Stage::Held { .. } => Ok(()),
            _ => Err(self.release_run(
                run.error.as_ref(),
                match &run.stopped_at {
                    Some((blocker, why)) => format!("batch {}: {why}", blocker.id),
                    None => format!("batch {id} is {}", rec.stage),
                },
            )),
        }
    }

    /// Runs the stream of every tenant that has an unfinished batch able to go on, oldest first:
    /// parked (the gate has opened or the blackout ended since), held and approved, or at any
    /// other stage — its message may be gone (dead-lettered after being released while the
    /// account was busy or Canvas down), and no batch waits on a message. A `submitting` batch
    /// is handed to the pipeline, which decides from its lease. Closed gates, blackouts and
    /// unapproved holds are skipped. True when a stream moved.
    ///
    /// A sweep never holds the worker long: an import that was already `submitted` is looked at
    /// once (the next sweep looks again), and a batch the sweep sends is waited on until one
    /// sweep interval (`sweep_every`) after the sweep began. With several workers a sweep may
    /// look at a stream whose message another worker holds: the ledger keeps that to one POST
    /// (the `submitting` compare-and-swap) and one recorded end.
    pub(crate) async fn sweep(&self) -> Result<bool, WorkerError> {
        let mut moved = false;
        let sweep_end = tokio::time::Instant::now() + self.settings.sweep_every;
        for rt in self.runtimes {
            if self.stop.is_cancelled() {
                break;
            }
            let name = &rt.tenant.name;
            if canvas_sis_core::config::blackout_until(&rt.tenant.blackouts, self.ledger.now())
                .is_some()
            {
                continue;
            }
            let state = self.ledger.tenant(name).await?;
            let gate = canvas_sis_core::pipeline::gate::of_record(
                self.ledger,
                &state,
                rt.tenant.on_failure,
            )
            .await?;
            canvas_sis_telemetry::observer::tenant_seen(name, &state, &gate);
            if !gate.is_open() {
                continue;
            }
            let Some(first) = self
                .ledger
                .list_batches(name)
                .await?
                .into_iter()
                .find(|b| !b.stage.is_terminal())
            else {
                continue;
            };
            if matches!(first.stage, Stage::Held { .. }) && !first.approved {
                continue;
            }
            self.obs
                .note(&format!("tenant {name}: resuming at batch {}", first.id));
            let wait_until = match first.stage {
                Stage::Submitted { .. } => tokio::time::Instant::now(),
                _ => sweep_end,
            };
            // Not raced against the stop token: the pipeline stops between steps by itself.
            if let Err(d) = self.until(wait_until).run_stream(rt, None).await {
                tracing::warn!(tenant = %name, disposition = ?d, "the resumed stream stopped");
            }
            let after = self.ledger.get_batch(&first.id).await?;
            moved |= after.is_some_and(|a| a.stage != first.stage);
        }
        Ok(moved)
    }
}

enum Refetch {
    /// The batch can never be fetched as recorded: reject it.
    Reject(String),
    /// Try again later.
    Later(String),
}

fn cleanup(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canvas_sis_client::{CanvasError, TokenProblem};
    use canvas_sis_core::ledger::{BatchSource, NewBatch};
    use canvas_sis_core::pipeline::Outcome;

    fn submitted(packed: bool, archived: bool) -> BatchRecord {
        let new = NewBatch {
            tenant: "t".into(),
            source: BatchSource {
                kind: "s3-folder".into(),
                location: "s3://b/t/b1/".into(),
                files: Vec::new(),
                ..Default::default()
            },
            content_sha256: "ab".repeat(32),
        };
        let id = BatchId::new("t", 1, &new.content_sha256).unwrap();
        let mut rec = BatchRecord::received(&new, id, 1, chrono::Utc::now());
        rec.stage = Stage::Submitted { import_id: 7 };
        if packed {
            rec.packed_zip = Some(canvas_sis_core::ledger::ZipDigest::new("00", 1));
        }
        if archived {
            rec.archive.zip = Some("tenants/t/archive/1/batch.zip".into());
        }
        rec
    }

    #[test]
    fn a_run_only_a_person_can_fix_comes_back_after_the_operator_wait_anything_else_soon() {
        let settings = WorkerSettings::default();
        let id = BatchId::parse("main/00000001-0123456789ab").unwrap();
        let stopped = |cause: Outcome| RunError::Stage {
            batch: id.clone(),
            cause: Box::new(cause),
        };
        let refused_token = stopped(Outcome::Canvas {
            error: Box::new(CanvasError::Token {
                method: "POST".into(),
                endpoint: "/api/v1/accounts/1/sis_imports".into(),
                problem: TokenProblem::Invalid,
                message: "Invalid access token.".into(),
            }),
            import_id: None,
        });
        let contradictory = stopped(Outcome::Config {
            reason: "diffing_drop_status without diffing_data_set".into(),
        });
        let unreachable = stopped(Outcome::GaveUp {
            reason: "Canvas unreachable".into(),
            import_id: None,
        });
        let busy = RunError::Busy(id.clone());
        let operator = settings.operator_retry_after;
        assert!(operator > settings.retry_after, "{operator:?}");
        assert_eq!(release_after(&settings, Some(&refused_token)), operator);
        assert_eq!(release_after(&settings, Some(&contradictory)), operator);
        assert_eq!(
            release_after(&settings, Some(&unreachable)),
            settings.retry_after
        );
        assert_eq!(release_after(&settings, Some(&busy)), settings.retry_after);
        assert_eq!(release_after(&settings, None), settings.retry_after);
    }

    #[test]
    fn a_sent_batch_needs_its_input_only_while_its_zip_is_owed_to_the_archive() {
        assert!(needs_input(&submitted(true, false)), "owed: packed again");
        assert!(!needs_input(&submitted(true, true)), "archived");
        assert!(
            !needs_input(&submitted(false, false)),
            "packed elsewhere (one-shot): nothing owed"
        );
        assert!(maybe_sent(&submitted(true, false).stage));
        assert!(!maybe_sent(&Stage::Packed));
    }

    #[test]
    fn trigger_keys_name_the_object_that_started_the_batch() {
        assert_eq!(
            trigger_key(&classify("main/b1/manifest.json")).as_deref(),
            Some("main/b1/manifest.json")
        );
        assert_eq!(
            trigger_key(&classify("main/b1/READY")).as_deref(),
            Some("main/b1/READY")
        );
        assert_eq!(
            trigger_key(&classify("main/x.zip")).as_deref(),
            Some("main/x.zip")
        );
        assert_eq!(trigger_key(&classify("main/x.csv")), None);
    }
}
