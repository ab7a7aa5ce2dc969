//! A scripted, in-memory Canvas behind the `CanvasApi` port: no HTTP, no sockets, no simulator
//! server. `pipeline_port` runs single batches through it; `dst` (deterministic simulation
//! testing, issue 16) drives several workers against one of it with seeded faults.
//!
//! Imports progress with tokio's clock, not with reads: each is `created` for a while, then
//! `importing`, then ends as its content's [`Fate`] says (`imported` unless a test set another),
//! so a paused-time test sees the same account whoever looks. With
//! the default [`CanvasFaults`] (none) every import is `imported` the moment it is first seen
//! and no call fails or waits, which is what a single-batch test wants. The account keeps every
//! zip posted to it and every breach of "one import at a time" it witnessed, for a test's
//! invariants.

use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use canvas_sis::canvas::{
    AccountRef, CanvasApi, CanvasError, CanvasFile, CanvasFuture, CanvasUser, ImportOptions,
    ListFilter, Progress as RestoreProgress, RestoreOptions, SisImport, WorkflowState,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::time::Instant;

use super::sim_clock;
use super::trace::Trace;

/// The id of the token's user in the scripted Canvas: every import it creates is this user's.
pub const OUR_USER: u64 = 7;

/// What the scripted Canvas does wrong, and how slowly: drawn from its seeded RNG per call.
/// The default is a perfect, instant Canvas.
#[derive(Debug, Clone, Default)]
pub struct CanvasFaults {
    /// Each call waits up to this long (tokio time) before it is answered, and a create also
    /// after it made the import: the windows in which a killed worker dies mid-call.
    pub latency: Duration,
    /// Chance that a read answers a transient 5xx or 429 instead.
    pub p_transient: f64,
    /// Chance that a create is refused with a 429 before it makes anything.
    pub p_throttle_create: f64,
    /// Chance that a create makes its import and its answer is lost (`CreateOutcomeUnknown`).
    pub p_lose_answer: f64,
    /// An import stays `created` up to this long, then `importing` up to this long again.
    pub max_stage: Duration,
    /// A create's upload takes up to this long before Canvas makes the import (a large zip on
    /// a slow link): the window in which a lease must be kept alive.
    pub max_upload: Duration,
    /// Chance that an upload cut off before its end (its sender killed, or abandoning it) leaves
    /// an import in `initializing` that never gets its file, as a `pre_attachment` create does
    /// (docs/canvas-api.md, "Stuck in `initializing`"): Canvas never processes it.
    pub p_orphan_of_cut_upload: f64,
}

/// What Canvas makes of a batch's content, whoever sends it and however often: set per content
/// by a test ([`ScriptedCanvas::set_fate`]); a content without one is imported cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fate {
    #[default]
    Imported,
    /// Imported, with a warning about a row.
    ImportedWithMessages,
    /// The import runs and fails (`failed_with_messages`, an error about a row).
    Failed,
    /// The create itself is refused with a 400, as Canvas refuses batch mode without a term it
    /// can find (docs/canvas-api.md §1.2, `batch_mode`): no import is made.
    Refused,
}

/// One import Canvas made, and when its stages end.
#[derive(Debug, Clone)]
pub struct Made {
    pub import: SisImport,
    /// The bytes of the zip its create received.
    pub zip: Vec<u8>,
    pub created: Instant,
    pub queued_for: Duration,
    pub runs_for: Duration,
    /// How it ends.
    pub fate: Fate,
    /// When the create request that made it was sent (its upload then took a while).
    pub sent_at: DateTime<Utc>,
}

/// A create Canvas refused (`Fate::Refused`): nothing was made.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub at: Instant,
    pub zip: Vec<u8>,
    /// When the refused create was sent (its upload then took a while).
    pub sent_at: DateTime<Utc>,
}

impl Made {
    /// The user who created it.
    pub fn by(&self) -> u64 {
        self.import
            .user
            .as_ref()
            .and_then(|u| u.id)
            .unwrap_or(OUR_USER)
    }

    /// When Canvas ends it (tokio time).
    pub fn ends(&self) -> Instant {
        self.created + self.queued_for + self.runs_for
    }

    /// The import as Canvas shows it at `now`.
    fn at(&self, now: Instant) -> SisImport {
        let mut i = self.import.clone();
        let age = now.saturating_duration_since(self.created);
        if age >= self.queued_for + self.runs_for {
            let row = (Some("users.csv".to_owned()), String::new());
            match self.fate {
                Fate::Imported | Fate::Refused => i.workflow_state = WorkflowState::Imported,
                Fate::ImportedWithMessages => {
                    i.workflow_state = WorkflowState::ImportedWithMessages;
                    i.processing_warnings = vec![(
                        row.0,
                        "Improper status \"sleeping\" for user u1, skipping".into(),
                    )];
                }
                Fate::Failed => {
                    i.workflow_state = WorkflowState::FailedWithMessages;
                    i.processing_errors = vec![(row.0, "Error while importing CSV".into())];
                }
            }
            i.progress = Some(100);
            let ran = chrono::TimeDelta::from_std(self.queued_for + self.runs_for).unwrap();
            i.ended_at = self.import.created_at.map(|c| c + ran);
        } else if age >= self.queued_for {
            i.workflow_state = WorkflowState::Importing;
            i.progress = Some(50);
        }
        i
    }

    fn running_at(&self, now: Instant) -> bool {
        !self.at(now).workflow_state.is_terminal()
    }
}

/// The account's state: what it holds and what it saw.
#[derive(Debug, Default)]
pub struct Account {
    /// Every import made, oldest first.
    pub made: Vec<Made>,
    /// Set by a test: the next create makes its import and then loses the answer.
    pub lose_next_answer: bool,
    /// Breaches of "never two imports of the account in flight", as Canvas saw them.
    pub overlaps: Vec<String>,
    /// Every create refused for its content, oldest first.
    pub refused: Vec<Refusal>,
    /// Imports left `initializing` by uploads cut off before their end: never processed.
    pub orphans: Vec<SisImport>,
    /// Every `restore_states` Canvas ran (an operator's `undo`), oldest first.
    pub restores: Vec<Restoring>,
    /// Breaches of "nothing sent while a restore runs", as Canvas saw them.
    pub sent_during_restore: Vec<String>,
}

/// One `restore_states` of an import: its progress ends after `runs_for`.
#[derive(Debug, Clone)]
pub struct Restoring {
    pub import_id: u64,
    pub started: Instant,
    pub runs_for: Duration,
}

impl Restoring {
    fn running_at(&self, now: Instant) -> bool {
        now < self.started + self.runs_for
    }
}

impl Account {
    /// The bytes of every zip a create received, in order.
    pub fn posted(&self) -> Vec<Vec<u8>> {
        self.made.iter().map(|m| m.zip.clone()).collect()
    }

    /// Every import as Canvas shows it now, oldest first (orphans included).
    pub fn imports(&self) -> Vec<SisImport> {
        let now = Instant::now();
        let mut all: Vec<SisImport> = self.made.iter().map(|m| m.at(now)).collect();
        all.extend(self.orphans.iter().cloned());
        all.sort_by_key(|i| i.id);
        all
    }

    /// The id the next import gets: one sequence for made imports and orphans.
    fn next_id(&self) -> u64 {
        (self.made.len() + self.orphans.len()) as u64 + 1
    }
}

/// An upload under way: dropped before its end (its sender killed, or abandoning it), it may
/// leave an orphan (`CanvasFaults::p_orphan_of_cut_upload`).
struct Uploading<'a> {
    canvas: &'a ScriptedCanvas,
    sent_at: DateTime<Utc>,
    done: bool,
}

impl Drop for Uploading<'_> {
    fn drop(&mut self) {
        if self.done
            || !self
                .canvas
                .chance(self.canvas.faults().p_orphan_of_cut_upload)
        {
            return;
        }
        let mut a = self.canvas.account();
        let id = a.next_id();
        let mut orphan = new_import(id, self.sent_at, Vec::new());
        orphan.workflow_state = WorkflowState::Initializing;
        a.orphans.push(orphan);
        self.canvas.trace.log(format!(
            "canvas: an upload was cut off; import {id} stays initializing (never processed)"
        ));
    }
}

/// A Canvas that answers from memory (module docs).
#[derive(Debug)]
pub struct ScriptedCanvas {
    base: url::Url,
    state: Mutex<Account>,
    faults: Mutex<CanvasFaults>,
    /// Per content (a zip's `users.csv`), what Canvas makes of it.
    fates: Mutex<Vec<(Vec<u8>, Fate)>>,
    rng: Mutex<fastrand::Rng>,
    trace: Trace,
}

impl Default for ScriptedCanvas {
    fn default() -> Self {
        ScriptedCanvas::new(CanvasFaults::default(), 0, Trace::default())
    }
}

impl ScriptedCanvas {
    /// A Canvas with `faults`, drawn from an RNG seeded with `seed`, logging to `trace`.
    pub fn new(faults: CanvasFaults, seed: u64, trace: Trace) -> Self {
        ScriptedCanvas {
            base: "https://canvas.invalid/".parse().unwrap(),
            state: Mutex::new(Account::default()),
            faults: Mutex::new(faults),
            fates: Mutex::new(Vec::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            trace,
        }
    }

    pub fn account(&self) -> MutexGuard<'_, Account> {
        self.state.lock().unwrap()
    }

    /// Replaces the faults from now on (a simulation heals Canvas for its last round).
    pub fn set_faults(&self, faults: CanvasFaults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// From now on, a zip whose `users.csv` is `users` meets `fate`.
    pub fn set_fate(&self, users: &[u8], fate: Fate) {
        self.fates.lock().unwrap().push((users.to_vec(), fate));
    }

    fn fate_of(&self, zip: &[u8]) -> Fate {
        let users = zip_entry(zip, "users.csv").unwrap_or_default();
        let fates = self.fates.lock().unwrap();
        fates
            .iter()
            .find(|(u, _)| *u == users)
            .map_or(Fate::Imported, |(_, f)| *f)
    }

    fn faults(&self) -> CanvasFaults {
        self.faults.lock().unwrap().clone()
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap().f64() < p
    }

    fn up_to(&self, d: Duration) -> Duration {
        if d.is_zero() {
            return d;
        }
        let ms = d.as_millis() as u64;
        Duration::from_millis(self.rng.lock().unwrap().u64(0..=ms))
    }

    /// Waits a seeded share of the latency: a point where a caller's future may be dropped.
    async fn delay(&self, call: &str) {
        let d = self.up_to(self.faults().latency);
        self.trace.detail(|| format!("canvas: {call} waits {d:?}"));
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// A transient failure of a read, when the dice say so.
    fn transient(&self, method: &str, endpoint: &str) -> Result<(), CanvasError> {
        if !self.chance(self.faults().p_transient) {
            return Ok(());
        }
        self.trace
            .log(format!("canvas: {method} {endpoint} answers 503"));
        Err(CanvasError::Server {
            method: method.into(),
            endpoint: endpoint.into(),
            status: 503,
            attempts: 1,
            message: "the scripted Canvas is briefly unavailable".into(),
        })
    }

    /// Records a create of `zip`: the new import, `created`, with the zip's CSVs as Canvas
    /// lists them once it has split the upload.
    async fn create(&self, account: &AccountRef, zip: &Path) -> Result<SisImport, CanvasError> {
        let sent_at = sim_clock::now();
        let bytes = std::fs::read(zip).map_err(|e| CanvasError::Config(e.to_string()))?;
        self.delay("POST sis_imports").await;
        let faults = self.faults();
        if self.chance(faults.p_throttle_create) {
            self.trace
                .log("canvas: create refused with 429 (nothing made)");
            return Err(CanvasError::Throttled {
                method: "POST".into(),
                endpoint: "sis_imports".into(),
                status: 429,
                attempts: 1,
            });
        }
        let upload = self.up_to(faults.max_upload);
        if !upload.is_zero() {
            self.trace
                .detail(|| format!("canvas: the upload takes {upload:?}"));
            let mut uploading = Uploading {
                canvas: self,
                sent_at,
                done: false,
            };
            tokio::time::sleep(upload).await;
            uploading.done = true;
        }
        let fate = self.fate_of(&bytes);
        if fate == Fate::Refused {
            self.trace.log(format!(
                "canvas: create of {} refused with 400 (nothing made)",
                zip_label(&bytes)
            ));
            self.account().refused.push(Refusal {
                at: Instant::now(),
                zip: bytes,
                sent_at,
            });
            return Err(CanvasError::Rejected {
                method: "POST".into(),
                endpoint: "sis_imports".into(),
                status: 400,
                message: "Batch mode specified, but the given batch_mode_term_id cannot be found."
                    .into(),
            });
        }
        let (queued_for, runs_for) = (self.up_to(faults.max_stage), self.up_to(faults.max_stage));
        let lose = self.chance(faults.p_lose_answer);
        let (import, lost) = {
            let now = Instant::now();
            let mut a = self.account();
            if let Some(r) = a.restores.iter().find(|r| r.running_at(now)) {
                let breach = format!(
                    "import {} created while the restore of import {} runs",
                    a.next_id(),
                    r.import_id
                );
                self.trace.log(format!("canvas: BREACH {breach}"));
                a.sent_during_restore.push(breach);
            }
            // Only the token's own imports count: another user's may run beside ours (Canvas
            // queues them), and the pipeline's own check of the account is necessarily racy.
            if let Some(busy) = a
                .made
                .iter()
                .find(|m| m.by() == OUR_USER && m.running_at(now))
            {
                let breach = format!(
                    "import {} created while import {} is still in flight",
                    a.next_id(),
                    busy.import.id
                );
                self.trace.log(format!("canvas: BREACH {breach}"));
                a.overlaps.push(breach);
            }
            let id = a.next_id();
            let import = new_import(id, sim_clock::now(), csv_files(&bytes));
            a.made.push(Made {
                import: import.clone(),
                zip: bytes.clone(),
                created: now,
                queued_for,
                runs_for,
                fate,
                sent_at,
            });
            let lose = lose || std::mem::take(&mut a.lose_next_answer);
            self.trace.log(format!(
                "canvas: create -> import {id} ({}; created {queued_for:?}, importing {runs_for:?}, then {fate:?}){}",
                zip_label(&bytes),
                if lose { ", ANSWER LOST" } else { "" }
            ));
            (import, lose)
        };
        // The answer travels back: a worker killed here never learns the import's id.
        self.delay("answer of POST sis_imports").await;
        if lost {
            return Err(CanvasError::CreateOutcomeUnknown {
                account: account.to_string(),
                sent_at,
                cause: "the scripted Canvas dropped the answer".into(),
            });
        }
        Ok(import)
    }

    /// Another user (an admin's manual upload, another tool) imports a zip of their own on the
    /// same account, which runs for `runs_for`: `users.csv` and `courses.csv` like ours, of
    /// sizes none of ours has.
    pub fn someone_else_imports(&self, user: u64, runs_for: Duration) {
        let queued_for = Duration::ZERO;
        let mut a = self.account();
        let id = a.next_id();
        let files = [("users.csv", 9_999), ("courses.csv", 118)]
            .into_iter()
            .map(|(name, size)| CanvasFile {
                display_name: Some(name.into()),
                size: Some(size),
                ..CanvasFile::default()
            })
            .collect();
        let mut import = new_import(id, sim_clock::now(), files);
        import.user = Some(CanvasUser {
            id: Some(user),
            ..CanvasUser::default()
        });
        a.made.push(Made {
            import,
            zip: Vec::new(),
            created: Instant::now(),
            queued_for,
            runs_for,
            fate: Fate::Imported,
            sent_at: sim_clock::now(),
        });
        self.trace.log(format!(
            "canvas: user {user} creates import {id} by hand (created {queued_for:?}, importing {runs_for:?})"
        ));
    }

    /// Import `id` as Canvas shows it now.
    async fn read(&self, id: u64) -> Result<SisImport, CanvasError> {
        self.delay(&format!("GET sis_imports/{id}")).await;
        self.transient("GET", &format!("sis_imports/{id}"))?;
        let a = self.account();
        a.imports()
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| not_found(id))
    }

    /// The account's imports, newest first, that `keep` selects.
    async fn newest(
        &self,
        keep: impl Fn(&SisImport) -> bool,
    ) -> Result<Vec<SisImport>, CanvasError> {
        self.delay("GET sis_imports (list)").await;
        self.transient("GET", "sis_imports")?;
        let a = self.account();
        Ok(a.imports().into_iter().rev().filter(|i| keep(i)).collect())
    }
}

/// A short name for a posted zip in a trace: its CSVs and their sizes.
pub fn zip_label(zip: &[u8]) -> String {
    let files = csv_files(zip);
    let parts: Vec<_> = files
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f.display_name.as_deref().unwrap_or("?"),
                f.size.unwrap_or(0)
            )
        })
        .collect();
    parts.join(",")
}

/// The bytes of the entry `name` of a zip, if it has one.
pub fn zip_entry(zip: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut z = zip::ZipArchive::new(Cursor::new(zip)).ok()?;
    let mut f = z.by_name(name).ok()?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).ok()?;
    Some(out)
}

fn new_import(id: u64, created_at: DateTime<Utc>, files: Vec<CanvasFile>) -> SisImport {
    let mut import: SisImport = serde_json::from_value(json!({
        "id": id,
        "workflow_state": "created",
        "progress": 0,
        "user": { "id": OUR_USER },
    }))
    .unwrap();
    import.created_at = Some(created_at);
    import.csv_attachments = files;
    import
}

/// A `Progress` of a restore, in `state`.
fn restore_progress(id: u64, state: &str) -> RestoreProgress {
    serde_json::from_value(json!({
        "id": id,
        "tag": "sis_batch_state_restore",
        "workflow_state": state,
        "completion": if state == "completed" { 100 } else { 0 },
    }))
    .unwrap()
}

/// The CSV entries of a zip with their uncompressed sizes: Canvas's `csv_attachments`.
fn csv_files(zip: &[u8]) -> Vec<CanvasFile> {
    let mut z = zip::ZipArchive::new(Cursor::new(zip)).expect("the pipeline posts a zip");
    (0..z.len())
        .filter_map(|i| {
            let f = z.by_index(i).unwrap();
            let name = f.name().unwrap().into_owned();
            name.ends_with(".csv").then(|| CanvasFile {
                display_name: Some(name),
                size: Some(f.size()),
                ..CanvasFile::default()
            })
        })
        .collect()
}

fn not_found(id: u64) -> CanvasError {
    CanvasError::NotFound {
        method: "GET".into(),
        endpoint: format!("sis_imports/{id}"),
        what: format!("SIS import {id}"),
        message: "not found".into(),
    }
}

/// What the pipeline must never ask of this Canvas in these tests.
fn not_scripted(what: &str) -> CanvasError {
    CanvasError::Config(format!("the scripted Canvas has no {what}"))
}

impl CanvasApi for ScriptedCanvas {
    fn base_url(&self) -> &url::Url {
        &self.base
    }

    fn get_sis_import<'a>(
        &'a self,
        _account: &'a AccountRef,
        id: u64,
    ) -> CanvasFuture<'a, SisImport> {
        Box::pin(self.read(id))
    }

    fn recent_sis_imports<'a>(
        &'a self,
        _account: &'a AccountRef,
        filter: &'a ListFilter,
        limit: usize,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(async move {
            let listed = self
                .newest(|i| {
                    (filter.workflow_states.is_empty()
                        || filter.workflow_states.contains(&i.workflow_state))
                        && filter
                            .created_since
                            .is_none_or(|since| i.created_at.is_some_and(|c| c >= since))
                })
                .await?;
            Ok(listed.into_iter().take(limit.clamp(1, 100)).collect())
        })
    }

    fn importing<'a>(&'a self, _account: &'a AccountRef) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(self.newest(|i| i.workflow_state.is_running()))
    }

    fn create_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        _opts: &'a ImportOptions,
        zip: &'a Path,
    ) -> CanvasFuture<'a, SisImport> {
        Box::pin(self.create(account, zip))
    }

    fn imports_created_since<'a>(
        &'a self,
        _account: &'a AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(async move {
            let mut found = self
                .newest(|i| {
                    i.created_at.is_some_and(|c| c >= since)
                        && (user_id.is_none() || i.user.as_ref().and_then(|u| u.id) == user_id)
                })
                .await?;
            found.reverse();
            Ok(found)
        })
    }

    fn users_self(&self) -> CanvasFuture<'_, CanvasUser> {
        Box::pin(async move {
            self.delay("GET users/self").await;
            self.transient("GET", "users/self")?;
            Ok(CanvasUser {
                id: Some(OUR_USER),
                ..CanvasUser::default()
            })
        })
    }

    fn download_to<'a>(&'a self, _url: &'a str, _path: &'a Path) -> CanvasFuture<'a, u64> {
        Box::pin(async move { Err(not_scripted("files to download")) })
    }

    fn restore_states<'a>(
        &'a self,
        _account: &'a AccountRef,
        id: u64,
        _opts: RestoreOptions,
    ) -> CanvasFuture<'a, RestoreProgress> {
        Box::pin(async move {
            self.delay("PUT sis_imports/:id/restore_states").await;
            self.transient("PUT", "sis_imports/:id/restore_states")?;
            // A restore takes a while even on a healthy Canvas.
            let runs_for = Duration::from_secs(1) + self.up_to(Duration::from_secs(5));
            let mut a = self.account();
            if !a.made.iter().any(|m| m.import.id == id) {
                return Err(not_found(id));
            }
            a.restores.push(Restoring {
                import_id: id,
                started: Instant::now(),
                runs_for,
            });
            let progress = a.restores.len() as u64;
            self.trace.log(format!(
                "canvas: restore of import {id} runs {runs_for:?} (progress {progress})"
            ));
            Ok(restore_progress(progress, "queued"))
        })
    }

    fn get_progress(&self, id: u64) -> CanvasFuture<'_, RestoreProgress> {
        Box::pin(async move {
            self.delay("GET progress/:id").await;
            self.transient("GET", "progress/:id")?;
            let a = self.account();
            let r = a
                .restores
                .get((id as usize).wrapping_sub(1))
                .ok_or_else(|| not_scripted("an unknown progress"))?;
            let state = if r.running_at(Instant::now()) {
                "running"
            } else {
                "completed"
            };
            Ok(restore_progress(id, state))
        })
    }
}
