//! The JSON Canvas answers with, as serde types that accept what Canvas's code sends and what its
//! docs claim (docs/canvas-api.md §2 and §7.8).
//!
//! Canvas's code and its doc model disagree (numbers vs strings, flat vs nested lists,
//! `statistics` placement), and hosted Canvas adds keys over time. So every field is optional or
//! defaulted, ids and progress accept a number or a string, unknown keys are ignored and unknown
//! workflow states are kept as [`WorkflowState::Unknown`] rather than refused. Nothing here talks
//! HTTP; the client in `client.rs` fills these types.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// A SIS import (Canvas's SisBatch) as the API renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SisImport {
    #[serde(deserialize_with = "id_number")]
    pub id: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// 0–100. A number in Canvas's JSON, a string in its doc model.
    #[serde(default, deserialize_with = "opt_number")]
    pub progress: Option<u64>,
    pub workflow_state: WorkflowState,
    #[serde(default)]
    pub data: ImportData,
    #[serde(default)]
    pub batch_mode: Option<bool>,
    /// The term's Canvas id. A number in Canvas's JSON, a string in its doc model.
    #[serde(default, deserialize_with = "opt_number")]
    pub batch_mode_term_id: Option<u64>,
    #[serde(default)]
    pub multi_term_batch_mode: Option<bool>,
    #[serde(default)]
    pub override_sis_stickiness: Option<bool>,
    #[serde(default)]
    pub add_sis_stickiness: Option<bool>,
    #[serde(default)]
    pub clear_sis_stickiness: Option<bool>,
    #[serde(default)]
    pub update_sis_id_if_login_claimed: Option<bool>,
    #[serde(default)]
    pub diffing_data_set_identifier: Option<String>,
    #[serde(default)]
    pub diffing_remaster: Option<bool>,
    /// Often `null` even after a diff (docs/canvas-api.md §2); see [`SisImport::diffed_against`].
    #[serde(default, deserialize_with = "opt_number")]
    pub diffed_against_import_id: Option<u64>,
    #[serde(default)]
    pub diffing_drop_status: Option<String>,
    #[serde(default)]
    pub diffing_user_remove_status: Option<String>,
    #[serde(default)]
    pub diffing_threshold_exceeded: Option<bool>,
    #[serde(default)]
    pub skip_deletes: Option<bool>,
    #[serde(default, deserialize_with = "opt_number")]
    pub change_threshold: Option<u64>,
    #[serde(default, deserialize_with = "opt_number")]
    pub diff_row_count_threshold: Option<u64>,
    /// Failure-level messages as `(file, message)`; at most 24 plus a summary pair.
    #[serde(default, deserialize_with = "message_pairs")]
    pub processing_errors: Vec<(Option<String>, String)>,
    /// Warnings as `(file, message)`; at most 24 plus a summary pair.
    #[serde(default, deserialize_with = "message_pairs")]
    pub processing_warnings: Vec<(Option<String>, String)>,
    /// The errors CSV; may appear a little after the state turned terminal
    /// (docs/canvas-api.md §7.9).
    #[serde(default)]
    pub errors_attachment: Option<CanvasFile>,
    #[serde(default)]
    pub user: Option<CanvasUser>,
    /// Flat in Canvas's JSON; the doc's array of arrays is flattened.
    #[serde(default, deserialize_with = "flat_files")]
    pub csv_attachments: Vec<CanvasFile>,
    #[serde(default, deserialize_with = "flat_files")]
    pub diffed_csv_attachments: Vec<CanvasFile>,
    /// Only in the answer to a `pre_attachment` create.
    #[serde(default)]
    pub pre_attachment: Option<PreAttachment>,
}

impl SisImport {
    /// The import this one was diffed against, wherever Canvas put it.
    pub fn diffed_against(&self) -> Option<u64> {
        self.diffed_against_import_id
            .or(self.data.diffed_against_sis_batch_id)
    }

    /// `data.counts.warning_count`, or the number of warnings listed.
    pub fn warning_count(&self) -> i64 {
        self.data
            .counts
            .get("warning_count")
            .copied()
            .unwrap_or(self.processing_warnings.len() as i64)
    }
}

/// The `data` object of a SisImport; filled in as the import runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportData {
    #[serde(default)]
    pub import_type: Option<String>,
    #[serde(default, deserialize_with = "number_list")]
    pub downloadable_attachment_ids: Vec<u64>,
    #[serde(default)]
    pub supplied_batches: Vec<String>,
    /// Open map: Canvas adds importers over time; plus `error_count`, `warning_count` and the
    /// `batch_*_deleted` counts.
    #[serde(default, deserialize_with = "counts_map")]
    pub counts: BTreeMap<String, i64>,
    #[serde(default)]
    pub running_immediately: Option<bool>,
    #[serde(default)]
    pub completed_importers: Vec<String>,
    /// `{"total_state_changes": N, "<Type>": {"created": n, ...}, ...}`, kept as JSON.
    #[serde(default)]
    pub statistics: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "opt_number")]
    pub diffed_against_sis_batch_id: Option<u64>,
    #[serde(default, deserialize_with = "number_list")]
    pub diffed_attachment_ids: Vec<u64>,
    /// Why a `failed` import crashed.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// Canvas's twelve SisBatch states, plus any state a newer Canvas may add.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkflowState {
    Initializing,
    Created,
    Importing,
    CleanupBatch,
    Imported,
    ImportedWithMessages,
    Failed,
    FailedWithMessages,
    Aborted,
    Restoring,
    PartiallyRestored,
    Restored,
    /// A state this client does not know; neither terminal, success nor failure.
    Unknown(String),
}

impl WorkflowState {
    pub const ALL: [WorkflowState; 12] = [
        WorkflowState::Initializing,
        WorkflowState::Created,
        WorkflowState::Importing,
        WorkflowState::CleanupBatch,
        WorkflowState::Imported,
        WorkflowState::ImportedWithMessages,
        WorkflowState::Failed,
        WorkflowState::FailedWithMessages,
        WorkflowState::Aborted,
        WorkflowState::Restoring,
        WorkflowState::PartiallyRestored,
        WorkflowState::Restored,
    ];

    pub fn parse(s: &str) -> WorkflowState {
        Self::ALL
            .iter()
            .find(|w| w.as_str() == s)
            .cloned()
            .unwrap_or_else(|| WorkflowState::Unknown(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            WorkflowState::Initializing => "initializing",
            WorkflowState::Created => "created",
            WorkflowState::Importing => "importing",
            WorkflowState::CleanupBatch => "cleanup_batch",
            WorkflowState::Imported => "imported",
            WorkflowState::ImportedWithMessages => "imported_with_messages",
            WorkflowState::Failed => "failed",
            WorkflowState::FailedWithMessages => "failed_with_messages",
            WorkflowState::Aborted => "aborted",
            WorkflowState::Restoring => "restoring",
            WorkflowState::PartiallyRestored => "partially_restored",
            WorkflowState::Restored => "restored",
            WorkflowState::Unknown(s) => s,
        }
    }

    /// The import will not change state again on its own (a restore may still follow).
    pub fn is_terminal(&self) -> bool {
        self.is_success()
            || self.is_failure()
            || matches!(
                self,
                WorkflowState::Aborted | WorkflowState::Restored | WorkflowState::PartiallyRestored
            )
    }

    /// Canvas's `succeeded` scope: data was applied (messages may still need reading).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            WorkflowState::Imported | WorkflowState::ImportedWithMessages
        )
    }

    /// The import failed. `failed_with_messages` may still have applied other files
    /// (docs/canvas-api.md §7.4).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            WorkflowState::Failed | WorkflowState::FailedWithMessages
        )
    }

    /// Canvas's `not_started` scope: waiting to be picked (or stuck in `initializing`).
    pub fn is_pending(&self) -> bool {
        matches!(self, WorkflowState::Initializing | WorkflowState::Created)
    }

    /// Canvas's `importing` scope, plus a running restore.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            WorkflowState::Importing | WorkflowState::CleanupBatch | WorkflowState::Restoring
        )
    }
}

impl fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WorkflowState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkflowState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(WorkflowState::parse(&s))
    }
}

/// A Canvas File object (errors_attachment, csv_attachments, an upload's answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanvasFile {
    #[serde(default, deserialize_with = "opt_number")]
    pub id: Option<u64>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default, rename = "content-type")]
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "opt_number")]
    pub size: Option<u64>,
    /// Carries a `verifier`; downloadable without a token.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The user who posted an import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanvasUser {
    #[serde(default, deserialize_with = "opt_number")]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub sortable_name: Option<String>,
    #[serde(default)]
    pub short_name: Option<String>,
}

/// `GET /api/v1/accounts/:id`: the fields a setup check reads (a root account has no parent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    #[serde(default, deserialize_with = "opt_number")]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_number")]
    pub parent_account_id: Option<u64>,
}

/// The upload preflight of the `pre_attachment` flow: where to POST the file, and with what.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreAttachment {
    #[serde(default)]
    pub upload_url: Option<String>,
    /// Sent as form fields, in order, before the file part.
    #[serde(default, deserialize_with = "string_map")]
    pub upload_params: Vec<(String, String)>,
    /// The name of the file part (`file` in Canvas's flow).
    #[serde(default)]
    pub file_param: Option<String>,
}

impl fmt::Debug for PreAttachment {
    /// The upload URL and params are the credential of the upload step: only the host is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self
            .upload_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        f.debug_struct("PreAttachment")
            .field("upload_host", &host)
            .field(
                "upload_params",
                &self
                    .upload_params
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .field("file_param", &self.file_param)
            .finish()
    }
}

/// One row of the errors endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SisImportError {
    #[serde(default, deserialize_with = "opt_number")]
    pub sis_import_id: Option<u64>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub message: String,
    /// 1-based, the header row counts (first data row is 2). Not every importer fills it.
    #[serde(default, deserialize_with = "opt_number")]
    pub row: Option<u64>,
    /// The raw offending line (newer Canvas).
    #[serde(default)]
    pub row_info: Option<String>,
}

/// A Canvas Progress object (restore_states answers one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(deserialize_with = "id_number")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_number")]
    pub context_id: Option<u64>,
    #[serde(default)]
    pub context_type: Option<String>,
    #[serde(default, deserialize_with = "opt_number")]
    pub user_id: Option<u64>,
    #[serde(default)]
    pub tag: Option<String>,
    /// 0–100 (Canvas sends a number; accept a string or float too).
    #[serde(default, deserialize_with = "opt_number")]
    pub completion: Option<u64>,
    /// `queued`, `running`, `completed` or `failed`.
    #[serde(default)]
    pub workflow_state: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Progress {
    pub fn is_terminal(&self) -> bool {
        matches!(self.workflow_state.as_str(), "completed" | "failed")
    }
}

/// `{"sis_imports": [...]}`, the wrapped list answer.
#[derive(Debug, Deserialize)]
pub struct SisImportList {
    #[serde(default)]
    pub sis_imports: Vec<SisImport>,
}

/// `{"sis_import_errors": [...]}`.
#[derive(Debug, Deserialize)]
pub struct SisImportErrorList {
    #[serde(default)]
    pub sis_import_errors: Vec<SisImportError>,
}

// ---- tolerant field readers -------------------------------------------------------------------

/// A number, a numeric string, or (for progress) a float, as u64.
fn number_of(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64)),
        serde_json::Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| *f >= 0.0)
                    .map(|f| f.round() as u64)
            })
        }
        _ => None,
    }
}

fn id_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    number_of(&v).ok_or_else(|| de::Error::custom(format!("expected a numeric id, got {v}")))
}

/// Null, absent, empty or unparseable become `None` (tolerance over strictness for echo fields).
fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(number_of))
}

fn number_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let v = Option::<Vec<serde_json::Value>>::deserialize(d)?;
    Ok(v.unwrap_or_default().iter().filter_map(number_of).collect())
}

fn counts_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    let v = Option::<BTreeMap<String, serde_json::Value>>::deserialize(d)?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let n = match &v {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            n.map(|n| (k, n))
        })
        .collect())
}

/// `[[file, message], ...]`; `file` may be null; anything else in the list is skipped.
fn message_pairs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(Option<String>, String)>, D::Error> {
    let v = Option::<Vec<serde_json::Value>>::deserialize(d)?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    Ok(v.unwrap_or_default()
        .iter()
        .filter_map(|pair| match pair.as_array()?.as_slice() {
            [file, message] => Some((text(file), text(message).unwrap_or_default())),
            [message] => Some((None, text(message).unwrap_or_default())),
            _ => None,
        })
        .collect())
}

/// A flat list of File objects, also accepting the doc's array of arrays.
fn flat_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CanvasFile>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    let mut out = Vec::new();
    collect_files(v.unwrap_or(serde_json::Value::Null), &mut out).map_err(de::Error::custom)?;
    Ok(out)
}

fn collect_files(v: serde_json::Value, out: &mut Vec<CanvasFile>) -> Result<(), serde_json::Error> {
    match v {
        serde_json::Value::Array(items) => {
            for item in items {
                collect_files(item, out)?;
            }
        }
        obj @ serde_json::Value::Object(_) => out.push(serde_json::from_value(obj)?),
        _ => {}
    }
    Ok(())
}

/// A JSON object of scalars, kept in order, as `(key, value)` strings.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let v = Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}
