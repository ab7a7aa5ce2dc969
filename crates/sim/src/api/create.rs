//! `POST /api/v1/accounts/:account_id/sis_imports` — the upload (docs/canvas-api.md §1.2).
//!
//! Three ways in: a multipart `attachment`, a raw body (file type from `extension` or the media
//! type, default zip), or the `pre_attachment` file-upload flow. Parameters are validated in the
//! order Canvas's controller does, including its two quirks: `multi_term_batch_mode` counts when
//! merely present, and the checks that run inside `create_with_attachment` return 400 *after*
//! the batch row exists, leaving an orphan in `initializing` forever.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::{MaybeCaller, authorize};
use super::error::ApiError;
use super::params::Params;
use crate::config::Permission;
use crate::engine::NewBatch;
use crate::engine::batch::{BatchControls, BatchOptions, PendingUpload, WorkflowState};
use crate::engine::render::sis_import_json;
use crate::faults::FaultAction;
use crate::state::{SimState, lock};

const DROP_STATUSES: [&str; 4] = ["deleted", "completed", "inactive", "deleted_last_completed"];
const USER_REMOVE_STATUSES: [&str; 2] = ["deleted", "suspended"];

/// The file of a create request, however it was sent.
enum Source {
    File { filename: String, bytes: Vec<u8> },
    PreAttachment(PendingUpload),
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    fault: Option<axum::Extension<FaultAction>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (account_id, caller) = authorize(&state, caller, &account, &[Permission::ImportSis])?;
    let media = media_type(&headers);
    let mut params = Params::from_query(uri.query());
    let multipart_file = if media == "multipart/form-data" {
        read_multipart(&headers, body.clone(), &mut params).await?
    } else {
        if media == "application/json"
            && let Ok(v) = serde_json::from_slice::<Value>(&body)
        {
            params.extend_json(&v);
        }
        None
    };
    let import_type = params
        .get("import_type")
        .unwrap_or("instructure_csv")
        .to_owned();
    if import_type != "instructure_csv" {
        // Canvas raises "invalid import type parameter", which its API handler turns into a 500.
        return Err(ApiError::Internal(state.next_error_report()));
    }
    let source = choose_source(&state, &params, &headers, &media, multipart_file, body)?;
    let term_id = batch_mode_term(&state, account_id, &params)?;
    let (options, late_error) = options_from(&params, term_id, import_type);
    let controls = controls_from(fault.as_ref().map(|e| &e.0));
    let pending = matches!(source, Source::PreAttachment(_));
    let state_at_create = if late_error.is_some() || pending || controls.1 {
        WorkflowState::Initializing
    } else {
        WorkflowState::Created
    };
    let (upload, pending_upload) = match source {
        Source::File { filename, bytes } => (Some((filename, bytes)), None),
        Source::PreAttachment(p) => (None, Some(p)),
    };
    let now = state.clock.now();
    let id = lock(&state.engine).create_batch(
        NewBatch {
            account_id,
            user_id: caller.user_id,
            options,
            upload,
            pending_upload: pending_upload.clone(),
            controls: controls.0,
            state: state_at_create,
        },
        now,
    );
    state.persist();
    if let Some(body) = late_error {
        tracing::info!(
            batch = id,
            account = account_id,
            "create refused after the batch row existed: orphan left in initializing"
        );
        return Err(ApiError::BadRequest(body));
    }
    state.wake.notify_one();
    tracing::info!(batch = id, account = account_id, user = %caller.name, "SIS import created");
    let mut json = render(&state, id);
    if let Some(p) = pending_upload {
        json["pre_attachment"] = pre_attachment_json(&state, &p);
    }
    Ok(Json(json).into_response())
}

fn render(state: &SimState, id: u64) -> Value {
    let engine = lock(&state.engine);
    let Some(b) = engine.batches.get(&id) else {
        return Value::Null;
    };
    sis_import_json(
        b,
        &engine.files,
        state.user_json(b.user_id),
        state.base_url(),
        state.clock.now(),
    )
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Reads form fields into `params` and returns the `attachment` part, if any.
async fn read_multipart(
    headers: &HeaderMap,
    body: Bytes,
    params: &mut Params,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let bad = |what: &str| {
        ApiError::BadRequest(
            json!({"errors": [{"message": format!("Malformed multipart body: {what}")}]}),
        )
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(ct).map_err(|_| bad("no boundary"))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut attachment = None;
    while let Some(field) = mp.next_field().await.map_err(|e| bad(&e.to_string()))? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| bad(&e.to_string()))?;
        match filename {
            Some(f) if name == "attachment" => attachment = Some((f, data.to_vec())),
            _ => params.push(name, String::from_utf8_lossy(&data).into_owned()),
        }
    }
    Ok(attachment)
}

/// Where the file comes from, with Canvas's 400s for the impossible combinations.
fn choose_source(
    state: &SimState,
    params: &Params,
    headers: &HeaderMap,
    media: &str,
    multipart_file: Option<(String, Vec<u8>)>,
    body: Bytes,
) -> Result<Source, ApiError> {
    let has_attachment = multipart_file.is_some() || params.has("attachment");
    if has_attachment && params.has("pre_attachment") {
        return Err(ApiError::BadRequest(
            json!({"error": true, "error_message": "Cannot specify both attachment and pre_attachment"}),
        ));
    }
    if let Some((filename, bytes)) = multipart_file {
        return Ok(Source::File { filename, bytes });
    }
    if params.has("pre_attachment") {
        return Ok(Source::PreAttachment(pending_upload(state, params)));
    }
    if media == "multipart/form-data" {
        return Err(ApiError::BadRequest(
            json!({"error": true, "error_message": "Missing attachment"}),
        ));
    }
    if let Some(charset) = charset(headers)
        && !matches!(charset.as_str(), "utf-8" | "utf8")
    {
        return Err(ApiError::BadRequest(
            json!({"error": "Invalid content type, UTF-8 required"}),
        ));
    }
    let ext = match params.present("extension") {
        Some(e) => e.trim_start_matches('.').to_ascii_lowercase(),
        None => match media {
            "text/xml" => "xml".into(),
            "text/plain" | "text/csv" => "csv".into(),
            _ => "zip".into(),
        },
    };
    Ok(Source::File {
        filename: format!("sis_import.{ext}"),
        bytes: body.to_vec(),
    })
}

fn charset(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset"))
            .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    })
}

fn pending_upload(state: &SimState, params: &Params) -> PendingUpload {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{}:{:?}:{:?}",
        state.clock.now(),
        params.pairs(),
        std::time::Instant::now()
    );
    PendingUpload {
        upload_token: hex::encode(&Sha256::digest(seed.as_bytes())[..12]),
        filename: params
            .present("pre_attachment[name]")
            .unwrap_or("sis_import.zip")
            .to_owned(),
        content_type: params
            .present("pre_attachment[content_type]")
            .map(str::to_owned),
        size: params
            .integer("pre_attachment[size]")
            .and_then(|n| u64::try_from(n).ok()),
    }
}

/// The preflight answer of Canvas's file-upload flow: where to POST the file, and with what.
fn pre_attachment_json(state: &SimState, p: &PendingUpload) -> Value {
    json!({
        "upload_url": format!("{}/files_api/upload/{}", state.base_url(), p.upload_token),
        "upload_params": {
            "filename": p.filename,
            "content_type": p.content_type.clone().unwrap_or_else(|| crate::engine::files::content_type_for(&p.filename).to_owned()),
        },
        "file_param": "file",
        "progress": null,
    })
}

/// `batch_mode` needs a term or `multi_term_batch_mode`; a named term must be active (404).
fn batch_mode_term(
    state: &SimState,
    account_id: u64,
    params: &Params,
) -> Result<Option<u64>, ApiError> {
    if !params.truthy("batch_mode") {
        return Ok(None);
    }
    let mut term = None;
    if let Some(t) = params.present("batch_mode_term_id") {
        let engine = lock(&state.engine);
        let content = engine.accounts.get(&account_id).map(|a| &a.content);
        term = Some(
            content
                .and_then(|c| c.find_active_term(t))
                .ok_or(ApiError::NotFound)?,
        );
    }
    if term.is_none() && !params.has("multi_term_batch_mode") {
        return Err(ApiError::BadRequest(
            json!({"message": "Batch mode specified, but the given batch_mode_term_id cannot be found."}),
        ));
    }
    Ok(term)
}

/// The stored options, and the 400 body of a check Canvas runs only after creating the batch.
fn options_from(
    params: &Params,
    term_id: Option<u64>,
    import_type: String,
) -> (BatchOptions, Option<Value>) {
    let mut o = BatchOptions {
        import_type,
        change_threshold: params
            .integer("change_threshold")
            .and_then(|n| u32::try_from(n).ok()),
        skip_deletes: params.truthy("skip_deletes"),
        update_sis_id_if_login_claimed: params.truthy("update_sis_id_if_login_claimed"),
        ..BatchOptions::default()
    };
    let mut late_error = None;
    if let Some(term) = term_id {
        o.batch_mode = Some(true);
        o.batch_mode_term_id = Some(term);
    } else if params.has("multi_term_batch_mode") {
        // Presence, not truth: `multi_term_batch_mode=false` still enters this branch.
        o.batch_mode = Some(true);
        o.multi_term_batch_mode = Some(params.truthy("multi_term_batch_mode"));
        if o.change_threshold.is_none() {
            late_error = Some(
                json!({"message": "change_threshold is required to use multi term_batch mode."}),
            );
        }
    } else if let Some(ident) = params.present("diffing_data_set_identifier") {
        o.diffing_data_set_identifier = Some(ident.to_owned());
        o.diffing_remaster = Some(params.truthy("diffing_remaster_data_set"));
    }
    if params.truthy("override_sis_stickiness") {
        o.override_sis_stickiness = Some(true);
        if params.truthy("clear_sis_stickiness") {
            o.clear_sis_stickiness = Some(true);
        } else if params.truthy("add_sis_stickiness") {
            o.add_sis_stickiness = Some(true);
        }
    }
    if let Some(n) = params
        .integer("diff_row_count_threshold")
        .filter(|n| *n > 0)
    {
        o.diff_row_count_threshold = u64::try_from(n).ok();
    }
    let checks: [(&str, &[&str]); 3] = [
        ("diffing_drop_status", &DROP_STATUSES),
        ("diffing_user_remove_status", &USER_REMOVE_STATUSES),
        ("batch_mode_enrollment_drop_status", &DROP_STATUSES),
    ];
    for (key, allowed) in checks {
        let Some(v) = params.present(key) else {
            continue;
        };
        if !allowed.contains(&v) {
            late_error.get_or_insert_with(|| json!({"message": format!("Invalid {key}")}));
            continue;
        }
        let slot = match key {
            "diffing_drop_status" => &mut o.diffing_drop_status,
            "diffing_user_remove_status" => &mut o.diffing_user_remove_status,
            _ => &mut o.batch_mode_enrollment_drop_status,
        };
        *slot = Some(v.to_owned());
    }
    (o, late_error)
}

/// Controls asked for by an `import` fault rule; the flag says "leave it in initializing".
fn controls_from(fault: Option<&FaultAction>) -> (BatchControls, bool) {
    let Some(FaultAction::Import {
        stuck_in,
        rows_per_sec,
        final_state,
    }) = fault
    else {
        return (BatchControls::default(), false);
    };
    let controls = BatchControls {
        frozen: stuck_in.as_deref() == Some("created"),
        rows_per_sec: *rows_per_sec,
        final_state: final_state.as_deref().and_then(WorkflowState::parse),
    };
    (controls, stuck_in.as_deref() == Some("initializing"))
}
