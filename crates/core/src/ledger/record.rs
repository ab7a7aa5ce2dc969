//! The typed records the ledger keeps: one [`BatchRecord`] per batch, one [`TenantRecord`] per
//! tenant, and the batch [`Stage`] state machine that makes "never uploaded twice" checkable.
//!
//! Records are JSON with a `schema` number. Readers are forward compatible: unknown fields are
//! accepted *and kept* (`extra`, on records and on their nested objects except the tagged
//! `stage`/`gate` ones and `history` entries), so an older canvas-sis that updates a record written by a newer
//! one does not drop the newer fields. A newer `Stage` or `Gate` variant cannot be understood by
//! an older reader; it fails to load with `LedgerError::Corrupt`, whose detail names the schema.
//! These types hold no secrets: no token, no Canvas URL with credentials.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::LedgerError;
use super::store::validate_segment;
use canvas_sis_rules::sis::SisKind;
/// Row and deletion counts of one file kind (rows with `status=deleted`, or the kind's
/// equivalent): the mass-change guard's own, so that what the ledger records is what it compares.
pub use canvas_sis_rules::sis::guard::KindStats;

/// The schema these types write. Bump it when a change is not forward compatible.
pub const SCHEMA_VERSION: u32 = 1;

fn schema_v1() -> u32 {
    SCHEMA_VERSION
}

/// A batch's id: `<tenant>/<arrival_seq:08>-<first 12 hex of content_sha256>`, e.g.
/// `district-a/00000042-0123456789ab`. Unique per tenant (the arrival sequence is), sortable by
/// arrival within a tenant up to 10^8 batches, and readable in logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(String);

impl BatchId {
    /// The id of the batch of `tenant` with `arrival_seq` and content hash `content_sha256`
    /// (64 lowercase hex digits).
    pub fn new(tenant: &str, arrival_seq: u64, content_sha256: &str) -> Result<Self, LedgerError> {
        validate_tenant(tenant)?;
        validate_sha256(content_sha256)?;
        Ok(BatchId(format!(
            "{tenant}/{arrival_seq:08}-{}",
            &content_sha256[..12]
        )))
    }

    /// Parses and checks an id given by an operator or read from a record.
    pub fn parse(s: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::bad_key(s, format!("not a batch id: {why}"));
        let (tenant, rest) = s.split_once('/').ok_or_else(|| bad("no `/`"))?;
        validate_tenant(tenant)?;
        let (seq, sha) = rest
            .split_once('-')
            .ok_or_else(|| bad("expected <seq>-<sha12>"))?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) || seq.parse::<u64>().is_err()
        {
            return Err(bad("the arrival sequence is not a number"));
        }
        if sha.len() != 12 || !is_lower_hex(sha) {
            return Err(bad("expected 12 lowercase hex digits after `-`"));
        }
        Ok(BatchId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant part.
    pub fn tenant(&self) -> &str {
        self.0.split_once('/').map_or("", |(t, _)| t)
    }

    /// The part after the tenant: `<seq>-<sha12>`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('/').map_or(&self.0, |(_, r)| r)
    }

    /// The arrival sequence, if the id is well formed.
    pub fn arrival_seq(&self) -> Option<u64> {
        self.local_part().split_once('-')?.0.parse().ok()
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant name is one safe key segment (`district-a`, `prod_root`).
pub fn validate_tenant(tenant: &str) -> Result<(), LedgerError> {
    validate_segment(tenant)
        .map_err(|reason| LedgerError::bad_key(tenant, format!("not a tenant name: {reason}")))
}

fn validate_sha256(sha: &str) -> Result<(), LedgerError> {
    if sha.len() == 64 && is_lower_hex(sha) {
        Ok(())
    } else {
        Err(LedgerError::bad_key(
            sha,
            "a content hash is 64 lowercase hex digits (sha256)",
        ))
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a batch came from.
///
/// The optional fields are absent from the JSON when unset, so a source written before one
/// existed loads with it unset, and is written back as it was. They are declared in name order
/// after `files`: earlier versions kept them in `extra`, which writes its keys sorted, so a
/// record they wrote is written back byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSource {
    /// `folder`, `zip`, `csv` or `s3`.
    pub kind: String,
    /// The folder path, file path or `s3://bucket/key` the batch was read from. Part of the
    /// dedup key: the same bytes dropped at another location are another batch (and at the same
    /// location, by another delivery, too: [`Self::delivery`]).
    pub location: String,
    /// The input files, in the order they were listed.
    #[serde(default)]
    pub files: Vec<FileIdentity>,
    /// What brought the batch — an S3 object version or event sequencer, a drop in the inbox
    /// (its files' inodes and change times). With the content and the location it is the dedup
    /// key: the same delivery seen twice is one batch, the same content delivered again later is
    /// a new one. Absent on batches recorded before it existed (and where a trigger cannot tell
    /// deliveries apart): then content and location alone are the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The batch's own import options (its manifest's `import`: a `config::ImportOverrides` as
    /// JSON), laid over the tenant's defaults when it is sent. Kept as JSON and read by the
    /// pipeline when it sends the batch: options this version cannot read then reject that
    /// batch, saying why, instead of making its record unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_overrides: Option<serde_json::Value>,
    /// sha256 of the batch's `manifest.json`, when one closed it. Part of the dedup key: the
    /// same files dropped again with a corrected manifest are a new batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// The bucket an S3 batch was read from (with [`Self::s3_trigger_key`], how any worker
    /// fetches it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    /// The ETag of the S3 trigger object, from its event: what pins it in an unversioned bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_etag: Option<String>,
    /// The key whose event started an S3 batch: the zip, or the folder's marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_trigger_key: Option<String>,
    /// The version of the S3 trigger object that was read, when the bucket keeps versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_version_id: Option<String>,
    /// The version read of each object of an S3 batch, by its name in the batch, when the bucket
    /// keeps versions: a batch fetched again is read as it was.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub s3_versions: BTreeMap<String, String>,
    /// The id of the SQS message that brought the batch (the queue worker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_message_id: Option<String>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

pub use canvas_sis_rules::batch::{FileIdentity, content_hash};

/// Where a batch is in its life. Stored as `{"stage": "submitted", "import_id": 7}`.
///
/// The legal moves ([`Stage::can_go_to`]):
/// ```text
/// Received  -> Validated | Parked | Terminal | Superseded
/// Validated -> Held | Parked | Packed | Terminal | Superseded
/// Held      -> Held | Validated | Parked | Packed | Terminal | Superseded
/// Parked    -> Parked | Received | Validated | Held | Packed | Terminal | Superseded
/// Packed    -> Submitting | Held | Parked | Terminal | Superseded
/// Submitting -> Submitted | Terminal
/// Submitted -> Terminal
/// Terminal, Superseded -> (nothing)
/// ```
/// `Submitting` is recorded *before* the POST to Canvas. From then on the batch may exist in
/// Canvas, so it can only move forward to `Submitted` (the import id is known) or `Terminal`;
/// never back to `Packed`, never `Submitting` again, never parked or superseded. Of two workers
/// racing to submit, only the one whose `Packed -> Submitting` write lands may POST; the other's
/// retry sees `Submitting` and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Seen and recorded; nothing checked yet.
    Received,
    /// Collected and validated without errors.
    Validated,
    /// Stopped by the mass-change guard until approved.
    Held { reason: String },
    /// Waiting because the tenant's gate is closed (halted or paused), behind a held batch, or
    /// until a blackout window ends (`blackout until <end>`).
    Parked { reason: String },
    /// The zip is built and archived.
    Packed,
    /// The POST is about to be sent or was sent; after a crash its outcome is unknown and must
    /// be looked up in Canvas, never re-sent blindly.
    Submitting,
    /// Canvas accepted the upload as SIS import `import_id`.
    Submitted { import_id: u64 },
    /// Finished: a Canvas workflow state (`imported`, `failed_with_messages`, ...) or `rejected`
    /// (refused before upload). `ok` says whether the tenant may go on.
    Terminal { state: String, ok: bool },
    /// Replaced by a later batch before it was sent.
    Superseded { by: BatchId },
}

impl Stage {
    /// Terminal and superseded batches never change again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Stage::Terminal { .. } | Stage::Superseded { .. })
    }

    /// The stage's name, as stored (`held`, `submitted`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Validated => "validated",
            Stage::Held { .. } => "held",
            Stage::Parked { .. } => "parked",
            Stage::Packed => "packed",
            Stage::Submitting => "submitting",
            Stage::Submitted { .. } => "submitted",
            Stage::Terminal { .. } => "terminal",
            Stage::Superseded { .. } => "superseded",
        }
    }

    /// Whether the state machine allows `self -> to` (see the table on [`Stage`]).
    pub fn can_go_to(&self, to: &Stage) -> bool {
        use Stage::*;
        match self {
            Received => matches!(
                to,
                Validated | Parked { .. } | Terminal { .. } | Superseded { .. }
            ),
            Validated => matches!(
                to,
                Held { .. } | Parked { .. } | Packed | Terminal { .. } | Superseded { .. }
            ),
            Held { .. } => matches!(
                to,
                Held { .. }
                    | Validated
                    | Parked { .. }
                    | Packed
                    | Terminal { .. }
                    | Superseded { .. }
            ),
            Parked { .. } => matches!(
                to,
                Parked { .. }
                    | Received
                    | Validated
                    | Held { .. }
                    | Packed
                    | Terminal { .. }
                    | Superseded { .. }
            ),
            Packed => matches!(
                to,
                Submitting | Held { .. } | Parked { .. } | Terminal { .. } | Superseded { .. }
            ),
            // Never parked by a move: see `BatchRecord::park_unsent`.
            Submitting => matches!(to, Submitted { .. } | Terminal { .. }),
            Submitted { .. } => matches!(to, Terminal { .. }),
            Terminal { .. } | Superseded { .. } => false,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Held { reason } | Stage::Parked { reason } => {
                write!(f, "{} ({reason})", self.name())
            }
            Stage::Submitted { import_id } => write!(f, "submitted (import {import_id})"),
            Stage::Terminal { state, ok } => {
                write!(
                    f,
                    "terminal ({state}, {})",
                    if *ok { "ok" } else { "not ok" }
                )
            }
            Stage::Superseded { by } => write!(f, "superseded (by {by})"),
            _ => f.write_str(self.name()),
        }
    }
}

/// One recorded stage change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    pub at: DateTime<Utc>,
    pub from: Stage,
    pub to: Stage,
    /// Why, in a few words (`"gate halted by 00000041-..."`, `"approved by ops"`).
    #[serde(default)]
    pub note: String,
}

/// Ledger blob keys of what was archived for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRefs {
    /// The zip that was (or would be) sent.
    #[serde(default)]
    pub zip: Option<String>,
    /// The validation report.
    #[serde(default)]
    pub report: Option<String>,
    /// Canvas's final JSON for the import.
    #[serde(default)]
    pub canvas_json: Option<String>,
    /// Canvas's errors file, captured before it expires.
    #[serde(default)]
    pub errors_file: Option<String>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Everything the ledger knows about one batch. Stored at
/// `tenants/<tenant>/batches/<seq:08>-<sha12>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Record schema number ([`SCHEMA_VERSION`] when written by this version).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    pub id: BatchId,
    pub tenant: String,
    /// Position in the tenant's stream, allocated by the ledger; strictly increasing with
    /// arrival, never reused (may skip a number when two callers race on one drop).
    pub arrival_seq: u64,
    pub source: BatchSource,
    /// sha256 over the batch's content (lowercase hex); with the location, the delivery and the
    /// manifest's hash ([`BatchSource::delivery`], [`BatchSource::manifest_sha256`]), the dedup
    /// key.
    pub content_sha256: String,
    pub stage: Stage,
    pub created_at: DateTime<Utc>,
    /// Set by the ledger on every write.
    pub updated_at: DateTime<Utc>,
    /// Every stage change, oldest first.
    #[serde(default)]
    pub history: Vec<StageChange>,
    /// The Canvas SIS import id, once known.
    #[serde(default)]
    pub canvas_import_id: Option<u64>,
    /// When `Submitting` was recorded: the lower bound for "an import created since the POST".
    #[serde(default)]
    pub submit_started_at: Option<DateTime<Utc>>,
    /// Who holds the `submitting` batch and what it knew before its POST left ([`SubmitLease`]).
    /// Absent on records written before leases (their `submit_started_at` stands in for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_lease: Option<SubmitLease>,
    /// Rows and deleting rows per SIS kind, recorded at validation.
    #[serde(default)]
    pub counts: KindCounts,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    /// Canvas's final JSON for the import (also archived as a blob).
    #[serde(default)]
    pub canvas_json: Option<serde_json::Value>,
    #[serde(default)]
    pub archive: ArchiveRefs,
    /// An operator approved the batch past the mass-change guard.
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub superseded_by: Option<BatchId>,
    /// Set with a `Terminal { ok: false }` stage, in the same write ([`Self::apply_transition`]):
    /// the failure stops the tenant until an operator acknowledges it. A failed batch without
    /// it was recorded before halts were derived; its halt, if any, is the tenant's `Gate::Halted`.
    #[serde(default)]
    pub failure: Option<Failure>,
    // The fields below are absent from the JSON when unset, and declared in name order: earlier
    // versions kept them in `extra` (which writes its keys sorted), so the records they wrote
    // load into them and are written back byte for byte.
    /// The SIS kind validation detected for each file (by its name in the batch), recorded at
    /// validation so packing need not validate again. `None` before validation, and when a
    /// newer canvas-sis recorded a kind this one does not know (this one then validates again,
    /// and does not write the unknown kinds back).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_file_kinds"
    )]
    pub file_kinds: Option<BTreeMap<String, SisKind>>,
    /// When and why the queue message that brought the batch was last handed back unfinished
    /// (the 12-hour cap, a stop, Lambda's deadline); the next delivery resumes from the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_released: Option<MessageRelease>,
    /// The batch's zip as packed, recorded with `packed`. Set with `archive.zip` unset: the zip
    /// is still owed to the archive, and a run that resumes the batch packs it again from its
    /// input (and must get these bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed_zip: Option<ZipDigest>,
    /// The zip built while validating, when validation agreed with the kinds it was packed
    /// with: packing uses it if it is still on disk with this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepacked: Option<ZipDigest>,
    /// Every `undo` of the batch's import in Canvas, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restores: Vec<Restore>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The recorded file kinds, or `None` when a newer canvas-sis recorded a kind this one does not
/// know: the batch's record still loads, and this version validates the batch again.
fn known_file_kinds<'de, D>(d: D) -> Result<Option<BTreeMap<String, SisKind>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(raw).ok())
}

/// A zip as recorded: its size and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZipDigest {
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the zip's bytes, lowercase hex.
    pub sha256: String,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ZipDigest {
    pub fn new(sha256: &str, bytes: u64) -> Self {
        ZipDigest {
            bytes,
            sha256: sha256.to_owned(),
            extra: BTreeMap::new(),
        }
    }
}

/// A queue message handed back before its batch finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRelease {
    pub at: DateTime<Utc>,
    /// Why, in a few words (`"the worker is stopping"`).
    pub why: String,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One restore (`canvas-sis undo`) of a batch's import: what was asked of Canvas and how its
/// progress ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub at: DateTime<Utc>,
    /// Only what batch mode removed was restored.
    pub batch_mode: bool,
    /// The Canvas SIS import whose changes were restored.
    pub import_id: u64,
    /// Canvas's progress message, if it gave one.
    pub message: Option<String>,
    /// The Canvas progress object that followed the restore.
    pub progress_id: u64,
    /// Only unconcluded (nothing undeleted).
    pub unconclude_only: bool,
    /// Only undeleted (nothing unconcluded).
    pub undelete_only: bool,
    /// The progress's last state (`completed`, `failed`, ...).
    pub workflow_state: String,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Rows and deleting rows per SIS kind of a batch, keyed by Canvas's name for the kind
/// (`users`, `enrollments`: `SisKind::counts_key`).
///
/// Stored flat, as canvas-sis has always written it: `{"users": 1200, "users.deleted": 3}` (a
/// kind's rows under its name, its deleting rows under `<kind>.deleted`), so records written
/// before this type load, and versions that read the flat map still read what this one writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindCounts(pub BTreeMap<String, KindStats>);

/// The suffix of a kind's deleting rows in the stored form of [`KindCounts`].
const DELETED_SUFFIX: &str = ".deleted";

impl KindCounts {
    /// The counts of `kind`, if the batch had any.
    pub fn get(&self, kind: &str) -> Option<&KindStats> {
        self.0.get(kind)
    }

    /// The counts of `kind`, created empty if the batch had none.
    pub fn entry(&mut self, kind: &str) -> &mut KindStats {
        self.0.entry(kind.to_owned()).or_default()
    }

    /// Every kind's counts, in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &KindStats)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Rows of every kind together.
    pub fn total_rows(&self) -> u64 {
        self.0.values().map(|s| s.rows).sum()
    }
}

impl Serialize for KindCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // Kinds are lowercase words and `_`, which sort after `.`: kind order is the order of
        // the flat keys, the order earlier versions wrote them in.
        let mut map = s.serialize_map(Some(self.0.len() * 2))?;
        for (kind, stats) in &self.0 {
            map.serialize_entry(kind, &stats.rows)?;
            map.serialize_entry(&format!("{kind}{DELETED_SUFFIX}"), &stats.deleted)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for KindCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Signed, as earlier versions typed them; a negative count reads as none.
        let flat = BTreeMap::<String, i64>::deserialize(d)?;
        let mut counts = KindCounts::default();
        for (key, n) in flat {
            let n = n.max(0) as u64;
            match key.strip_suffix(DELETED_SUFFIX) {
                Some(kind) => counts.entry(kind).deleted = n,
                None => counts.entry(&key).rows = n,
            }
        }
        Ok(counts)
    }
}

/// A batch's failure as its tenant's stream sees it: it halts the stream (unless the tenant's
/// policy continues) until an operator's `resume` acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    /// The note of the terminal stage change (`"Canvas ended it failed"`, the rejection's reason).
    #[serde(default)]
    pub reason: String,
    /// Who let the tenant go on past it, and when; `None` while it halts the tenant.
    #[serde(default)]
    pub acknowledged: Option<Acknowledgement>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// An operator's (or the tenant's policy's) "go on past this failure".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The operator (`$USER` of `canvas-sis resume`), or `on_failure = continue`.
    pub by: String,
    pub at: DateTime<Utc>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The lease on a `submitting` batch: which worker may send its POST, until when, and the
/// evidence a worker that takes the batch over needs to tell whether that POST made an import.
///
/// The holder renews `renewed_at` while its POST runs, so the lease expires only when the holder
/// is gone. Taking an expired lease over is a compare-and-swap that checks the `attempt` read
/// and bumps it: of two takers, one wins and the other sees a live lease. The evidence fields
/// (`post_started_at`, `pre_post_ids`, `user_id`, `files`) are written *before* the create
/// request leaves and are kept across takeovers, so "the POST never left" is a recorded fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitLease {
    /// A random id of the worker (process and run) that holds the lease.
    pub holder: String,
    /// 1 for the worker that recorded `submitting`; +1 at each takeover.
    pub attempt: u32,
    /// When this attempt took the lease.
    pub started_at: DateTime<Utc>,
    /// The holder's last heartbeat; the lease expires a lease period after it.
    pub renewed_at: DateTime<Utc>,
    /// Set just before the first create request left; absent: no POST was ever sent.
    #[serde(default)]
    pub post_started_at: Option<DateTime<Utc>>,
    /// The account's newest import ids listed before that POST: none of them is this batch's.
    #[serde(default)]
    pub pre_post_ids: Vec<u64>,
    /// The Canvas user of the token that posted (`users/self`): only its imports can be ours.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// The CSVs in the zip as posted, to compare with an import's `csv_attachments`.
    #[serde(default)]
    pub files: Vec<PostedFile>,
    /// By when every POST an earlier holder may have sent had ended (its lease ran out): the
    /// window in which a lost POST's import can have been created closes then. Set at each
    /// takeover; `None` while no earlier holder posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posts_ended_by: Option<DateTime<Utc>>,
    /// This holder took the lease over and has sent nothing (yet): its lease running out moves
    /// no POST's window. Absent (a first holder, or a record from before this field): it may
    /// have posted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub looked_only: bool,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One CSV of a posted zip: its name in the zip and its uncompressed size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedFile {
    pub name: String,
    pub size: u64,
}

impl SubmitLease {
    /// A first lease for `holder`, taken `now`.
    pub fn new(holder: &str, now: DateTime<Utc>) -> Self {
        SubmitLease {
            holder: holder.to_owned(),
            attempt: 1,
            started_at: now,
            renewed_at: now,
            post_started_at: None,
            pre_post_ids: Vec::new(),
            user_id: None,
            files: Vec::new(),
            posts_ended_by: None,
            looked_only: false,
            extra: BTreeMap::new(),
        }
    }

    /// The lease a taker writes: the next attempt, for `holder`, with the evidence kept. A
    /// holder that may have posted had ended its POST by the time its lease (`lease` long) ran
    /// out; one that only looked moves nothing.
    pub fn taken_over(&self, holder: &str, now: DateTime<Utc>, lease: TimeDelta) -> Self {
        let mut posts_ended_by = self.posts_ended_by;
        if self.post_started_at.is_some() && !self.looked_only {
            let this_one = self.renewed_at.checked_add_signed(lease);
            posts_ended_by = posts_ended_by.max(this_one);
        }
        SubmitLease {
            holder: holder.to_owned(),
            attempt: self.attempt + 1,
            started_at: now,
            renewed_at: now,
            posts_ended_by,
            looked_only: true,
            ..self.clone()
        }
    }
}

/// What a caller knows about a new batch; the ledger adds the id, sequence, stage and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    pub tenant: String,
    pub source: BatchSource,
    pub content_sha256: String,
}

impl BatchRecord {
    /// A failure no one has acknowledged yet: it halts the tenant (unless its policy continues).
    pub fn unacknowledged_failure(&self) -> Option<&Failure> {
        match &self.stage {
            Stage::Terminal { ok: false, .. } => {
                self.failure.as_ref().filter(|f| f.acknowledged.is_none())
            }
            _ => None,
        }
    }

    /// A `Received` record for `new` with the given id and sequence.
    pub fn received(new: &NewBatch, id: BatchId, arrival_seq: u64, now: DateTime<Utc>) -> Self {
        BatchRecord {
            schema: SCHEMA_VERSION,
            id,
            tenant: new.tenant.clone(),
            arrival_seq,
            source: new.source.clone(),
            content_sha256: new.content_sha256.clone(),
            stage: Stage::Received,
            created_at: now,
            updated_at: now,
            history: Vec::new(),
            canvas_import_id: None,
            submit_started_at: None,
            submit_lease: None,
            counts: KindCounts::default(),
            warnings: Vec::new(),
            errors: Vec::new(),
            canvas_json: None,
            archive: ArchiveRefs::default(),
            approved: false,
            superseded_by: None,
            failure: None,
            file_kinds: None,
            message_released: None,
            packed_zip: None,
            prepacked: None,
            restores: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Moves to `to` if the state machine allows it, recording the change in `history` and the
    /// fields the new stage implies (`submit_started_at`, `canvas_import_id`, `superseded_by`,
    /// and `failure` for a terminal stage that is not ok).
    pub fn apply_transition(
        &mut self,
        to: Stage,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        if !self.stage.can_go_to(&to) {
            return Err(LedgerError::IllegalTransition {
                batch: self.id.to_string(),
                from: self.stage.to_string(),
                to: to.to_string(),
            });
        }
        match &to {
            Stage::Submitting => self.submit_started_at = Some(now),
            Stage::Submitted { import_id } => self.canvas_import_id = Some(*import_id),
            Stage::Superseded { by } => self.superseded_by = Some(by.clone()),
            // In the same write as the failure itself: a crash cannot separate them.
            Stage::Terminal { ok: false, .. } => {
                self.failure = Some(Failure {
                    at: now,
                    reason: note.to_owned(),
                    acknowledged: None,
                    extra: BTreeMap::new(),
                })
            }
            _ => {}
        }
        let from = std::mem::replace(&mut self.stage, to.clone());
        self.history.push(StageChange {
            at: now,
            from,
            to,
            note: note.to_owned(),
        });
        Ok(())
    }

    /// `submitting` → `parked` with `reason`, the submit lease dropped: for a batch whose POST
    /// was proven to have made no import (a takeover found none) and that may not be sent now.
    /// Not a move of the state machine — [`Stage::can_go_to`] refuses it, so that a park from a
    /// stale read can never land on a batch whose POST is in flight; only the worker holding the
    /// lease does it (`pipeline::lease::park_held`), and the ledger's guard lets exactly this
    /// through ([`BatchRecord::is_unsent_park_of`]).
    pub fn park_unsent(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), LedgerError> {
        if self.stage != Stage::Submitting {
            return Err(LedgerError::IllegalTransition {
                batch: self.id.to_string(),
                from: self.stage.to_string(),
                to: "parked (unsent)".into(),
            });
        }
        let to = Stage::Parked {
            reason: reason.to_owned(),
        };
        let from = std::mem::replace(&mut self.stage, to.clone());
        self.submit_lease = None;
        self.history.push(StageChange {
            at: now,
            from,
            to,
            note: reason.to_owned(),
        });
        Ok(())
    }

    /// Whether this record is [`BatchRecord::park_unsent`] applied to one at stage `before`.
    pub fn is_unsent_park_of(&self, before: &Stage) -> bool {
        *before == Stage::Submitting
            && matches!(self.stage, Stage::Parked { .. })
            && self.submit_lease.is_none()
    }
}

/// The operator's gate of a tenant. Stored as `{"state": "paused", ...}`.
///
/// A halt is not the gate's: it is derived from the batches (an unacknowledged
/// [`Failure`]) and recorded in [`TenantRecord::halt`], so it survives a pause laid over it.
/// `Halted` is what canvas-sis wrote before that; it still loads and still means halted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Gate {
    Open,
    /// Closed by a failed, aborted or rejected `batch` until an operator resumes (as written by
    /// earlier versions; now [`TenantRecord::halt`]).
    Halted {
        reason: String,
        batch: BatchId,
        at: DateTime<Utc>,
    },
    /// Closed by an operator (`by`).
    Paused {
        reason: String,
        by: String,
        at: DateTime<Utc>,
    },
}

/// What the mass-change guard compares the next batch with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedStats {
    pub batch: BatchId,
    pub at: DateTime<Utc>,
    /// Per file kind (`users`, `enrollments`, ...).
    #[serde(default)]
    pub per_kind: BTreeMap<String, KindStats>,
}

/// One per tenant, at `tenants/<tenant>/tenant.json`. Created on first write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    #[serde(default = "schema_v1")]
    pub schema: u32,
    pub tenant: String,
    pub gate: Gate,
    /// The arrival sequence the next batch gets (starts at 1).
    pub next_arrival_seq: u64,
    #[serde(default)]
    pub last_accepted: Option<AcceptedStats>,
    /// The failure that halts the tenant, recorded after the batch's own failure so that every
    /// stage need not list the batches to see it. The truth is the batches' [`Failure`]s: a
    /// halt lost between the two writes is recorded again by the next run of the tenant.
    #[serde(default)]
    pub halt: Option<Halt>,
    /// An undo restoring one of the tenant's imports in Canvas: nothing of the tenant is sent
    /// while it is set (`canvas-sis undo` sets it, renews it and clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restoring: Option<RestoreMark>,
    pub updated_at: DateTime<Utc>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl TenantRecord {
    /// The record of a tenant never written before: gate open, first sequence 1.
    pub fn new(tenant: &str, now: DateTime<Utc>) -> Self {
        TenantRecord {
            schema: SCHEMA_VERSION,
            tenant: tenant.to_owned(),
            gate: Gate::Open,
            next_arrival_seq: 1,
            last_accepted: None,
            halt: None,
            restoring: None,
            updated_at: now,
            extra: BTreeMap::new(),
        }
    }

    /// The recorded halt: [`Self::halt`], or a `Gate::Halted` written by an earlier version.
    pub fn recorded_halt(&self) -> Option<Halt> {
        match &self.gate {
            Gate::Halted { reason, batch, at } => Some(Halt {
                batch: batch.clone(),
                reason: reason.clone(),
                at: *at,
                extra: BTreeMap::new(),
            }),
            _ => self.halt.clone(),
        }
    }

    /// Moves a `Gate::Halted` of an earlier version into [`Self::halt`], leaving the gate to the
    /// operator's pause. Call it before changing the gate, so the halt is not written over.
    pub fn lift_legacy_halt(&mut self) {
        if let Some(h) = self.recorded_halt() {
            self.halt.get_or_insert(h);
        }
        if matches!(self.gate, Gate::Halted { .. }) {
            self.gate = Gate::Open;
        }
    }
}

/// An undo under way: Canvas restoring the import of `batch`. `seen` is when the undo last said
/// it was alive (it renews the mark while it follows the restore); a mark left by an undo that
/// died still holds the tenant, until an operator's `resume` lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreMark {
    pub batch: BatchId,
    pub import_id: u64,
    pub seen: DateTime<Utc>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A tenant halted by a failed, aborted or rejected batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub batch: BatchId,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// Fields written by a newer canvas-sis, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Marks a batch's dedup key as taken. Stored at `tenants/<tenant>/claims/<hash>.json`, created
/// once (create-if-absent) and never changed: whoever creates it owns the drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    #[serde(default = "schema_v1")]
    pub schema: u32,
    pub batch: BatchId,
    pub arrival_seq: u64,
    pub content_sha256: String,
    pub location: String,
    /// The batch's [`BatchSource::delivery`], when it had one (claims written before it existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    pub claimed_at: DateTime<Utc>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A record type the ledger stores as JSON.
pub trait Record: Serialize + serde::de::DeserializeOwned + Clone + Send {
    /// What it is, for error messages.
    const WHAT: &'static str;
    /// Stamps the time of a write.
    fn touch(&mut self, now: DateTime<Utc>);
}

impl Record for BatchRecord {
    const WHAT: &'static str = "batch record";
    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
    }
}

impl Record for TenantRecord {
    const WHAT: &'static str = "tenant record";
    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
    }
}

impl Record for ClaimRecord {
    const WHAT: &'static str = "batch claim";
    fn touch(&mut self, _now: DateTime<Utc>) {}
}

/// Serializes a record as pretty JSON with a final newline (operators read these files).
pub fn encode<T: Record>(key: &str, rec: &T) -> Result<Vec<u8>, LedgerError> {
    let mut body = serde_json::to_vec_pretty(rec).map_err(|e| {
        LedgerError::io(key, std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?;
    body.push(b'\n');
    Ok(body)
}

/// Parses a record; on failure, says where it is, what is wrong, and whether a newer canvas-sis
/// wrote it.
pub fn decode<T: Record>(key: &str, location: String, body: &[u8]) -> Result<T, LedgerError> {
    serde_json::from_slice(body).map_err(|e| {
        let newer = serde_json::from_slice::<SchemaPeek>(body)
            .ok()
            .filter(|p| p.schema > SCHEMA_VERSION)
            .map(|p| {
                format!(
                    " (written with schema {}, this canvas-sis reads schema {SCHEMA_VERSION}: \
                     upgrade canvas-sis)",
                    p.schema
                )
            })
            .unwrap_or_default();
        LedgerError::Corrupt {
            key: key.to_owned(),
            location,
            detail: format!("not a valid {}: {e}{newer}", T::WHAT),
        }
    })
}

#[derive(Deserialize)]
struct SchemaPeek {
    schema: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn new_batch() -> NewBatch {
        NewBatch {
            tenant: "district-a".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: "inbox/district-a/2026-03-01".into(),
                files: vec![FileIdentity {
                    name: "users.csv".into(),
                    size: 120,
                    sha256: SHA.into(),
                }],
                ..Default::default()
            },
            content_sha256: SHA.into(),
        }
    }

    fn record() -> BatchRecord {
        let id = BatchId::new("district-a", 42, SHA).unwrap();
        BatchRecord::received(&new_batch(), id, 42, t0())
    }

    #[test]
    fn content_hash_is_order_free_and_sees_names_and_digests() {
        let f = |name: &str, sha: &str| FileIdentity {
            name: name.into(),
            size: 1,
            sha256: sha.into(),
        };
        let ab = content_hash(&[f("a.csv", "11"), f("b.csv", "22")]);
        assert_eq!(ab, content_hash(&[f("b.csv", "22"), f("a.csv", "11")]));
        assert_ne!(ab, content_hash(&[f("a.csv", "22"), f("b.csv", "11")]));
        assert_ne!(ab, content_hash(&[f("a.csv", "11"), f("c.csv", "22")]));
        assert_eq!(ab.len(), 64);
    }

    #[test]
    fn batch_ids_carry_tenant_padded_sequence_and_short_hash() {
        let id = BatchId::new("district-a", 42, SHA).unwrap();
        assert_eq!(id.as_str(), "district-a/00000042-0123456789ab");
        assert_eq!(id.tenant(), "district-a");
        assert_eq!(id.arrival_seq(), Some(42));
        assert_eq!(BatchId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn malformed_batch_ids_and_tenants_are_refused() {
        assert!(BatchId::new("../x", 1, SHA).is_err());
        assert!(BatchId::new("a/b", 1, SHA).is_err());
        assert!(BatchId::new("a", 1, "ABC").is_err());
        for s in [
            "a",
            "a/",
            "a/1-xyz",
            "a/x-0123456789ab",
            "../1-0123456789ab",
            "a/1",
        ] {
            assert!(BatchId::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn once_submitting_only_submitted_or_terminal_may_follow() {
        let submitting = Stage::Submitting;
        let by = BatchId::new("a", 2, SHA).unwrap();
        for bad in [
            Stage::Received,
            Stage::Validated,
            Stage::Packed,
            Stage::Submitting,
            Stage::Held { reason: "x".into() },
            Stage::Parked { reason: "x".into() },
            Stage::Superseded { by },
        ] {
            assert!(!submitting.can_go_to(&bad), "submitting -> {bad}");
        }
        assert!(submitting.can_go_to(&Stage::Submitted { import_id: 1 }));
        assert!(submitting.can_go_to(&Stage::Terminal {
            state: "failed".into(),
            ok: false
        }));
    }

    #[test]
    fn submitted_goes_only_to_terminal_and_terminal_goes_nowhere() {
        let submitted = Stage::Submitted { import_id: 7 };
        assert!(!submitted.can_go_to(&Stage::Packed));
        assert!(!submitted.can_go_to(&Stage::Submitting));
        assert!(!submitted.can_go_to(&Stage::Submitted { import_id: 8 }));
        let done = Stage::Terminal {
            state: "imported".into(),
            ok: true,
        };
        assert!(submitted.can_go_to(&done));
        assert!(done.is_terminal());
        for to in [
            Stage::Received,
            Stage::Packed,
            Stage::Submitting,
            done.clone(),
        ] {
            assert!(!done.can_go_to(&to), "terminal -> {to}");
        }
    }

    #[test]
    fn the_ordinary_path_is_allowed() {
        let path = [
            Stage::Received,
            Stage::Validated,
            Stage::Held {
                reason: "mass change".into(),
            },
            Stage::Packed,
            Stage::Submitting,
            Stage::Submitted { import_id: 9 },
            Stage::Terminal {
                state: "imported".into(),
                ok: true,
            },
        ];
        for w in path.windows(2) {
            assert!(w[0].can_go_to(&w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(!Stage::Received.can_go_to(&Stage::Packed));
        assert!(!Stage::Validated.can_go_to(&Stage::Submitting));
    }

    #[test]
    fn apply_transition_records_history_and_implied_fields() {
        let mut r = record();
        let now = t0() + chrono::TimeDelta::seconds(5);
        r.apply_transition(Stage::Validated, "ok", now).unwrap();
        r.apply_transition(Stage::Packed, "", now).unwrap();
        r.apply_transition(Stage::Submitting, "", now).unwrap();
        assert_eq!(r.submit_started_at, Some(now));
        r.apply_transition(Stage::Submitted { import_id: 77 }, "", now)
            .unwrap();
        assert_eq!(r.canvas_import_id, Some(77));
        assert_eq!(r.history.len(), 4);
        assert_eq!(r.history[0].from, Stage::Received);
        let e = r.apply_transition(Stage::Packed, "", now).unwrap_err();
        assert!(
            matches!(&e, LedgerError::IllegalTransition { batch, .. } if batch == r.id.as_str()),
            "{e}"
        );
        assert_eq!(r.stage, Stage::Submitted { import_id: 77 });
        assert_eq!(r.history.len(), 4);
    }

    #[test]
    fn batch_records_round_trip_through_json() {
        let mut r = record();
        r.apply_transition(
            Stage::Terminal {
                state: "rejected".into(),
                ok: false,
            },
            "bad",
            t0(),
        )
        .unwrap();
        r.counts.entry("users").rows = 3;
        r.counts.entry("users").deleted = 1;
        r.packed_zip = Some(ZipDigest::new(SHA, 9));
        r.canvas_json = Some(serde_json::json!({"id": 1, "workflow_state": "imported"}));
        r.archive.zip = Some("tenants/a/archive/x/batch.zip".into());
        let body = encode("k", &r).unwrap();
        let back: BatchRecord = decode("k", "k".into(), &body).unwrap();
        assert_eq!(back, r);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(r#""stage": "terminal""#), "{text}");
        assert!(text.contains(r#""schema": 1"#), "{text}");
    }

    #[test]
    fn tenant_records_round_trip_with_every_gate() {
        let id = BatchId::new("a", 1, SHA).unwrap();
        for gate in [
            Gate::Open,
            Gate::Halted {
                reason: "import failed".into(),
                batch: id.clone(),
                at: t0(),
            },
            Gate::Paused {
                reason: "term rollover".into(),
                by: "ops".into(),
                at: t0(),
            },
        ] {
            let mut t = TenantRecord::new("a", t0());
            t.gate = gate;
            t.last_accepted = Some(AcceptedStats {
                batch: id.clone(),
                at: t0(),
                per_kind: [(
                    "users".to_owned(),
                    KindStats {
                        rows: 10,
                        deleted: 1,
                    },
                )]
                .into(),
            });
            let body = encode("k", &t).unwrap();
            assert_eq!(decode::<TenantRecord>("k", "k".into(), &body).unwrap(), t);
        }
    }

    #[test]
    fn a_record_from_a_newer_version_loads_and_keeps_its_unknown_fields() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&encode("k", &record()).unwrap()).unwrap();
        v["schema"] = 2.into();
        v["priority"] = "high".into();
        v["source"]["etag"] = "abc".into();
        v["archive"]["manifest"] = "m.json".into();
        let body = serde_json::to_vec(&v).unwrap();
        let r: BatchRecord = decode("k", "k".into(), &body).unwrap();
        assert_eq!(r.schema, 2);
        assert_eq!(r.extra["priority"], "high");
        let again: serde_json::Value = serde_json::from_slice(&encode("k", &r).unwrap()).unwrap();
        assert_eq!(
            again["priority"], "high",
            "unknown fields survive a rewrite"
        );
        assert_eq!(again["source"]["etag"], "abc");
        assert_eq!(again["archive"]["manifest"], "m.json");
    }

    #[test]
    fn a_claim_written_before_deliveries_loads_without_one_and_is_written_back_the_same() {
        let old = r#"{"schema": 1, "batch": "t/00000001-aaaaaaaaaaaa", "arrival_seq": 1,
            "content_sha256": "aa", "location": "inbox/t/1",
            "claimed_at": "2026-01-01T00:00:00Z"}"#;
        let c: ClaimRecord = decode("k", "k".into(), old.as_bytes()).unwrap();
        assert_eq!(c.delivery, None);
        let again: serde_json::Value = serde_json::from_slice(&encode("k", &c).unwrap()).unwrap();
        assert!(again.get("delivery").is_none(), "{again}");
    }

    #[test]
    fn a_submitting_record_from_before_leases_loads_and_a_lease_round_trips() {
        let mut r = record();
        r.apply_transition(Stage::Validated, "", t0()).unwrap();
        r.apply_transition(Stage::Packed, "", t0()).unwrap();
        r.apply_transition(Stage::Submitting, "", t0()).unwrap();
        let old = encode("k", &r).unwrap();
        assert!(!String::from_utf8_lossy(&old).contains("submit_lease"));
        let back: BatchRecord = decode("k", "k".into(), &old).unwrap();
        assert_eq!(back.submit_lease, None);
        let mut lease = SubmitLease::new("w1", t0());
        lease.post_started_at = Some(t0());
        lease.pre_post_ids = vec![4, 5];
        lease.files = vec![PostedFile {
            name: "users.csv".into(),
            size: 10,
        }];
        r.submit_lease = Some(lease.taken_over("w2", t0(), TimeDelta::seconds(30)));
        let back: BatchRecord = decode("k", "k".into(), &encode("k", &r).unwrap()).unwrap();
        assert_eq!(back, r);
        let l = back.submit_lease.unwrap();
        assert_eq!((l.attempt, l.holder.as_str()), (2, "w2"));
        assert_eq!(
            l.pre_post_ids,
            vec![4, 5],
            "evidence kept across a takeover"
        );
        assert_eq!(l.posts_ended_by, Some(t0() + TimeDelta::seconds(30)));
        assert!(l.looked_only);
    }

    #[test]
    fn an_unknown_stage_from_a_newer_version_is_corrupt_and_says_upgrade() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&encode("k", &record()).unwrap()).unwrap();
        v["schema"] = 3.into();
        v["stage"] = serde_json::json!({"stage": "quarantined"});
        let body = serde_json::to_vec(&v).unwrap();
        let e = decode::<BatchRecord>("k", "/ledger/k".into(), &body).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LedgerError::Corrupt { .. }));
        assert!(
            msg.contains("/ledger/k") && msg.contains("upgrade canvas-sis"),
            "{msg}"
        );
    }

    #[test]
    fn a_failure_is_recorded_in_the_same_change_as_its_terminal_stage() {
        let mut r = record();
        let failed = Stage::Terminal {
            state: "failed".into(),
            ok: false,
        };
        r.apply_transition(Stage::Validated, "", t0()).unwrap();
        assert!(r.failure.is_none());
        r.apply_transition(failed, "Canvas ended it failed", t0())
            .unwrap();
        let f = r.unacknowledged_failure().expect("a failure halts");
        assert_eq!((f.reason.as_str(), f.at), ("Canvas ended it failed", t0()));
        r.failure.as_mut().unwrap().acknowledged = Some(Acknowledgement {
            by: "ops".into(),
            at: t0(),
            extra: BTreeMap::new(),
        });
        assert!(r.unacknowledged_failure().is_none());
        let back: BatchRecord = decode("k", "k".into(), &encode("k", &r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn records_of_the_version_before_derived_halts_still_load_and_a_halted_gate_still_halts() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&encode("k", &record()).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("failure");
        let r: BatchRecord = decode("k", "k".into(), &serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(r.failure.is_none());
        let old = r#"{"schema": 1, "tenant": "a", "next_arrival_seq": 3,
            "gate": {"state": "halted", "reason": "import failed",
                     "batch": "a/00000002-0123456789ab", "at": "2026-03-01T08:00:00Z"},
            "updated_at": "2026-03-01T08:00:00Z"}"#;
        let mut t: TenantRecord = decode("k", "k".into(), old.as_bytes()).unwrap();
        let h = t.recorded_halt().expect("still halted");
        assert_eq!(h.batch.as_str(), "a/00000002-0123456789ab");
        t.lift_legacy_halt();
        assert_eq!(t.gate, Gate::Open);
        assert_eq!(t.recorded_halt(), Some(h), "moved, not lost");
    }

    /// A batch record as canvas-sis wrote it while it kept its own state in `extra` (an S3
    /// batch, released once, imported, then undone): every key it wrote.
    const STATE_IN_EXTRA: &str =
        include_str!("../../../../tests/fixtures/ledger/batch_record_state_in_extra.json");

    #[test]
    fn a_record_written_with_its_state_in_extra_is_written_back_byte_for_byte() {
        let r: BatchRecord = decode("k", "k".into(), STATE_IN_EXTRA.as_bytes()).unwrap();
        let again = String::from_utf8(encode("k", &r).unwrap()).unwrap();
        assert_eq!(again, STATE_IN_EXTRA);
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_record_written_with_its_state_in_extra_loads_it_into_typed_fields() {
        let r: BatchRecord = decode("k", "k".into(), STATE_IN_EXTRA.as_bytes()).unwrap();
        assert!(r.extra.is_empty(), "left in extra: {:?}", r.extra.keys());
        let s = &r.source;
        assert!(
            s.extra.is_empty(),
            "left in source.extra: {:?}",
            s.extra.keys()
        );
        let version = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY";
        assert_eq!(s.delivery, Some(format!("s3-version:{version}")));
        assert_eq!(
            s.manifest_sha256.as_deref(),
            Some("b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c")
        );
        assert_eq!(
            s.sqs_message_id.as_deref(),
            Some("6f2c4e1a-8b3d-4c5e-9f70-1a2b3c4d5e6f")
        );
        let o = s
            .import_overrides
            .as_ref()
            .expect("the manifest's import options");
        assert_eq!(
            (
                o["batch_mode_term"].as_str(),
                o["change_threshold"].as_u64(),
                o["skip_deletes"].as_bool()
            ),
            (Some("2026-spring"), Some(10), Some(true))
        );
        assert_eq!(s.s3_bucket.as_deref(), Some("sis-drop"));
        assert_eq!(
            s.s3_etag.as_deref(),
            Some("\"5d41402abc4b2a76b9719d911017c592\"")
        );
        assert_eq!(
            s.s3_trigger_key.as_deref(),
            Some("district-a/2026-03-01/manifest.json")
        );
        assert_eq!(s.s3_version_id.as_deref(), Some(version));
        assert_eq!(s.s3_versions.len(), 3);
        assert_eq!(s.s3_versions["manifest.json"], version);
        assert_eq!(
            s.s3_versions["users.csv"],
            "nSdKxa2IOIWqUk.gXV4dTV0Yu6nMHl2p"
        );
        let kinds = r.file_kinds.as_ref().expect("the kinds validation found");
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds["users.csv"], SisKind::User);
        assert_eq!(kinds["enrollments.csv"], SisKind::Enrollment);
        let zip = ZipDigest::new(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            2048,
        );
        assert_eq!(r.packed_zip.as_ref(), Some(&zip));
        assert_eq!(r.prepacked.as_ref(), Some(&zip));
        let released = r.message_released.as_ref().expect("released once");
        assert_eq!(released.at, at("2026-03-01T20:00:00.125Z"));
        assert_eq!(released.why, "the 12-hour visibility cap");
        assert_eq!(r.counts.iter().count(), 2);
        assert_eq!(
            r.counts.get("users"),
            Some(&KindStats {
                rows: 12,
                deleted: 1
            })
        );
        assert_eq!(
            r.counts.get("enrollments"),
            Some(&KindStats {
                rows: 40,
                deleted: 3
            })
        );
        assert_eq!(r.counts.total_rows(), 52);
        let [restore] = r.restores.as_slice() else {
            panic!("one restore: {:?}", r.restores)
        };
        assert_eq!(restore.at, at("2026-03-02T09:30:00.250Z"));
        assert_eq!(
            (restore.import_id, restore.progress_id),
            (4242, 88),
            "{restore:?}"
        );
        assert_eq!(restore.workflow_state, "completed");
        assert_eq!(restore.message, None);
        assert_eq!(
            (
                restore.batch_mode,
                restore.undelete_only,
                restore.unconclude_only
            ),
            (false, true, false)
        );
    }

    /// A batch record as the first versions wrote it: none of those fields, rows counted without
    /// their deletions.
    const BEFORE_ALL_OF_THEM: &str = r#"{"schema": 1, "id": "district-a/00000001-0123456789ab",
        "tenant": "district-a", "arrival_seq": 1,
        "source": {"kind": "folder", "location": "inbox/district-a/1", "files": []},
        "content_sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "stage": {"stage": "validated"},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "counts": {"users": 5}}"#;

    #[test]
    fn a_record_written_before_any_of_them_loads_with_them_unset_and_writes_none_of_them() {
        let r: BatchRecord = decode("k", "k".into(), BEFORE_ALL_OF_THEM.as_bytes()).unwrap();
        let s = &r.source;
        assert_eq!(
            (&s.delivery, &s.manifest_sha256, &s.sqs_message_id),
            (&None, &None, &None)
        );
        assert_eq!(
            (
                &s.s3_bucket,
                &s.s3_etag,
                &s.s3_trigger_key,
                &s.s3_version_id
            ),
            (&None, &None, &None, &None)
        );
        assert!(s.import_overrides.is_none() && s.s3_versions.is_empty() && s.extra.is_empty());
        assert!(r.file_kinds.is_none() && r.message_released.is_none());
        assert!(r.packed_zip.is_none() && r.prepacked.is_none() && r.restores.is_empty());
        assert!(r.extra.is_empty(), "{:?}", r.extra);
        assert_eq!(
            r.counts.get("users"),
            Some(&KindStats {
                rows: 5,
                deleted: 0
            })
        );
        let written: serde_json::Value = serde_json::from_slice(&encode("k", &r).unwrap()).unwrap();
        for key in [
            "file_kinds",
            "message_released",
            "packed_zip",
            "prepacked",
            "restores",
        ] {
            assert!(written.get(key).is_none(), "{key}: {written}");
        }
        let source = written["source"].as_object().unwrap();
        let keys: Vec<&str> = source.keys().map(String::as_str).collect();
        assert_eq!(keys, ["files", "kind", "location"]);
    }

    #[test]
    fn file_kinds_naming_a_kind_this_version_does_not_know_load_as_unknown() {
        let mut v: serde_json::Value = serde_json::from_str(STATE_IN_EXTRA).unwrap();
        v["file_kinds"]["badges.csv"] = "badge".into();
        let r: BatchRecord = decode("k", "k".into(), &serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(r.file_kinds, None, "validated again instead");
        assert!(r.packed_zip.is_some());
    }

    #[test]
    fn truncated_json_is_corrupt_and_names_the_file() {
        let body = encode("k", &record()).unwrap();
        let e =
            decode::<BatchRecord>("k", "/ledger/k".into(), &body[..body.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("/ledger/k"), "{e}");
        assert!(e.to_string().contains("batch record"), "{e}");
    }
}
