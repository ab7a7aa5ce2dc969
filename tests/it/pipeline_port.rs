//! The staged pipeline against a scripted, in-memory Canvas through the `CanvasApi` port: no
//! HTTP, no sockets, no simulator server. This is the seam deterministic simulation testing
//! (issue 16) drives the pipeline through; here it runs one batch to `imported`, and once with
//! the POST's answer lost after Canvas made the import, which must never become a second import.

use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use canvas_sis::canvas::{
    AccountRef, CanvasApi, CanvasError, CanvasFile, CanvasFuture, CanvasUser, ImportOptions,
    ListFilter, Progress as RestoreProgress, RestoreOptions, SisImport, WorkflowState,
};
use canvas_sis::ledger::{BatchId, BatchRecord, BatchSource, Ledger, MemoryStore, NewBatch, Stage};
use canvas_sis::pipeline::staged::{OnFailure, Progress, Staged};
use canvas_sis::pipeline::{ImportRequest, LogObserver, WaitPolicy};
use canvas_sis::sis::guard::Thresholds;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::common::{COURSES, users_csv};

/// The id of the token's user in the scripted Canvas: every import it creates is this user's.
const OUR_USER: u64 = 7;

/// A Canvas that answers from memory. Imports go `created` → `imported` on their first read;
/// `lose_next_answer` makes the next create record its import and then report the answer lost
/// ([`CanvasError::CreateOutcomeUnknown`]), as a dropped connection after the POST would.
#[derive(Debug)]
struct ScriptedCanvas {
    base: url::Url,
    state: Mutex<Account>,
}

#[derive(Debug, Default)]
struct Account {
    imports: Vec<SisImport>,
    /// The bytes of every zip a create received, in order.
    posted: Vec<Vec<u8>>,
    lose_next_answer: bool,
}

impl ScriptedCanvas {
    fn new() -> Self {
        ScriptedCanvas {
            base: "https://canvas.invalid/".parse().unwrap(),
            state: Mutex::new(Account::default()),
        }
    }

    fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().unwrap()
    }

    /// Records a create of `zip`: the new import, `created`, with the zip's CSVs as Canvas
    /// lists them once it has split the upload.
    fn create(&self, account: &AccountRef, zip: &Path) -> Result<SisImport, CanvasError> {
        let bytes = std::fs::read(zip).map_err(|e| CanvasError::Config(e.to_string()))?;
        let sent_at = Utc::now();
        let mut a = self.account();
        let import = new_import(a.imports.len() as u64 + 1, sent_at, csv_files(&bytes));
        a.imports.push(import.clone());
        a.posted.push(bytes);
        if std::mem::take(&mut a.lose_next_answer) {
            return Err(CanvasError::CreateOutcomeUnknown {
                account: account.to_string(),
                sent_at,
                cause: "the scripted Canvas dropped the answer".into(),
            });
        }
        Ok(import)
    }

    /// Import `id` as Canvas shows it now; an unfinished one finishes on this read.
    fn read(&self, id: u64) -> Result<SisImport, CanvasError> {
        let mut a = self.account();
        let Some(import) = a.imports.iter_mut().find(|i| i.id == id) else {
            return Err(not_found(id));
        };
        if !import.workflow_state.is_terminal() {
            import.workflow_state = WorkflowState::Imported;
            import.progress = Some(100);
            import.ended_at = Some(Utc::now());
        }
        Ok(import.clone())
    }

    /// The account's imports, newest first, that `keep` selects.
    fn newest(&self, keep: impl Fn(&SisImport) -> bool) -> Vec<SisImport> {
        let a = self.account();
        a.imports
            .iter()
            .rev()
            .filter(|i| keep(i))
            .cloned()
            .collect()
    }
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
        Box::pin(async move { self.read(id) })
    }

    fn recent_sis_imports<'a>(
        &'a self,
        _account: &'a AccountRef,
        filter: &'a ListFilter,
        limit: usize,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(async move {
            let listed = self.newest(|i| {
                (filter.workflow_states.is_empty()
                    || filter.workflow_states.contains(&i.workflow_state))
                    && filter
                        .created_since
                        .is_none_or(|since| i.created_at.is_some_and(|c| c >= since))
            });
            Ok(listed.into_iter().take(limit.clamp(1, 100)).collect())
        })
    }

    fn importing<'a>(&'a self, _account: &'a AccountRef) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(async move { Ok(self.newest(|i| i.workflow_state.is_running())) })
    }

    fn create_sis_import<'a>(
        &'a self,
        account: &'a AccountRef,
        _opts: &'a ImportOptions,
        zip: &'a Path,
    ) -> CanvasFuture<'a, SisImport> {
        Box::pin(async move { self.create(account, zip) })
    }

    fn imports_created_since<'a>(
        &'a self,
        _account: &'a AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> CanvasFuture<'a, Vec<SisImport>> {
        Box::pin(async move {
            let mut found = self.newest(|i| {
                i.created_at.is_some_and(|c| c >= since)
                    && (user_id.is_none() || i.user.as_ref().and_then(|u| u.id) == user_id)
            });
            found.reverse();
            Ok(found)
        })
    }

    fn users_self(&self) -> CanvasFuture<'_, CanvasUser> {
        Box::pin(async move {
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
        _id: u64,
        _opts: RestoreOptions,
    ) -> CanvasFuture<'a, RestoreProgress> {
        Box::pin(async move { Err(not_scripted("restore")) })
    }

    fn get_progress(&self, _id: u64) -> CanvasFuture<'_, RestoreProgress> {
        Box::pin(async move { Err(not_scripted("progress")) })
    }
}

/// One tenant's ledger, its batch folders and the scripted Canvas.
struct World {
    canvas: ScriptedCanvas,
    ledger: Ledger<MemoryStore>,
    work: tempfile::TempDir,
    inputs: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        World {
            canvas: ScriptedCanvas::new(),
            ledger: Ledger::new(MemoryStore::new()),
            work: tempfile::tempdir().unwrap(),
            inputs: tempfile::tempdir().unwrap(),
        }
    }

    fn staged(&self) -> Staged<'_, MemoryStore> {
        Staged {
            ledger: &self.ledger,
            client: &self.canvas,
            tenant: "main".into(),
            request: ImportRequest {
                path: self.work.path().to_owned(),
                account: AccountRef::Id(1),
                options: Default::default(),
                after_failure: true,
                dry_run: false,
                preflight: canvas_sis::pipeline::Preflight::Unattended,
                wait: WaitPolicy {
                    poll_min: Duration::from_millis(1),
                    poll_max: Duration::from_millis(5),
                    ..WaitPolicy::default()
                },
                work_dir: self.work.path().to_owned(),
                validate: Default::default(),
                pack: Default::default(),
                limits: Default::default(),
            },
            on_failure: OnFailure::Halt,
            guard: Thresholds::default(),
            submit_lease: Duration::ZERO,
            import_defaults: None,
            obs: &LogObserver,
            blackouts: Vec::new(),
            stop: Default::default(),
        }
    }

    /// A batch folder of three users and two courses, recorded in the ledger as received.
    async fn batch(&self) -> (BatchId, std::path::PathBuf) {
        let dir = self.inputs.path().join("b1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.csv"), users_csv(3)).unwrap();
        std::fs::write(dir.join("courses.csv"), COURSES).unwrap();
        let new = NewBatch {
            tenant: "main".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: dir.display().to_string(),
                ..Default::default()
            },
            content_sha256: "b1".repeat(32),
        };
        let created = self.ledger.create_batch(new).await.unwrap();
        (created.record().id.clone(), dir)
    }

    /// One run of the batch, which must finish it.
    async fn run(&self, id: &BatchId, dir: &Path) -> BatchRecord {
        match self.staged().run_batch(id, dir).await.unwrap() {
            Progress::Finished(r) => *r,
            Progress::Blocked(r) => panic!("blocked at {}", r.stage),
        }
    }

    /// The zip the ledger archived for the batch: the one it packed and sent.
    async fn archived_zip(&self, rec: &BatchRecord) -> Vec<u8> {
        let key = rec.archive.zip.as_ref().expect("the zip is archived");
        self.ledger.get_archive(key).await.unwrap().unwrap()
    }
}

fn imported() -> Stage {
    Stage::Terminal {
        state: "imported".into(),
        ok: true,
    }
}

#[tokio::test]
async fn a_batch_runs_to_imported_against_a_canvas_without_http() {
    let w = World::new();
    let (id, dir) = w.batch().await;
    let rec = w.run(&id, &dir).await;
    assert_eq!(rec.stage, imported());
    let (imports, posted) = {
        let a = w.canvas.account();
        (a.imports.clone(), a.posted.clone())
    };
    assert_eq!(imports.len(), 1, "exactly one import");
    assert_eq!(rec.canvas_import_id, Some(imports[0].id));
    assert_eq!(
        posted,
        [w.archived_zip(&rec).await],
        "the packed zip, sent once"
    );
    let names: Vec<_> = rec.history.iter().map(|h| h.to.name()).collect();
    assert_eq!(
        names,
        ["validated", "packed", "submitting", "submitted", "terminal"]
    );
}

#[tokio::test]
async fn a_lost_create_answer_is_found_in_canvas_and_never_sent_again() {
    let w = World::new();
    w.canvas.account().lose_next_answer = true;
    let (id, dir) = w.batch().await;
    let rec = w.run(&id, &dir).await;
    let (imports, posted) = {
        let a = w.canvas.account();
        (a.imports.clone(), a.posted.clone())
    };
    assert_eq!(posted.len(), 1, "the POST is never repeated");
    assert_eq!(imports.len(), 1, "no second import");
    assert_eq!(
        rec.canvas_import_id,
        Some(imports[0].id),
        "the lost POST's import is adopted"
    );
    assert_eq!(rec.stage, imported());
    assert_eq!(posted, [w.archived_zip(&rec).await]);
}
