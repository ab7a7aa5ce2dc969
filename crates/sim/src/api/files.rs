//! File endpoints: downloading a stored file (errors CSV, split CSVs, the upload) and the upload
//! step of the `pre_attachment` flow.
//!
//! Downloads need the file's `verifier` (as in the URL Canvas hands out) or a valid token.
//! The upload URL's secret path segment is the credential of the upload step, as with Canvas's
//! file-upload flow; the file goes in the multipart field named by `file_param` (`file`), after
//! the `upload_params`, or as a raw body.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::auth::MaybeCaller;
use super::error::ApiError;
use super::params::Params;
use crate::state::{SimState, lock};

pub async fn download(
    State(state): State<Arc<SimState>>,
    caller: MaybeCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let params = Params::from_query(uri.query());
    let engine = lock(&state.engine);
    let f = engine.files.get(id).ok_or(ApiError::NotFound)?;
    let verified = params.get("verifier") == Some(f.verifier.as_str());
    if !verified && caller.0.is_none() {
        return Err(ApiError::NoCredentials);
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        f.display_name.replace('"', "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, f.content_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        f.bytes.clone(),
    )
        .into_response())
}

pub async fn upload(
    State(state): State<Arc<SimState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let bytes = file_bytes(&headers, body).await?;
    let now = state.clock.now();
    let done = lock(&state.engine).complete_upload(&token, bytes, now);
    let Some((batch_id, file_id)) = done else {
        return Err(ApiError::NotFound);
    };
    state.persist();
    state.wake.notify_one();
    tracing::info!(
        batch = batch_id,
        file = file_id,
        "pre_attachment upload finished; import queued"
    );
    let engine = lock(&state.engine);
    let f = engine.files.get(file_id).ok_or(ApiError::NotFound)?;
    let mut json = f.to_json(state.base_url());
    json["upload_status"] = "success".into();
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

/// The `file` part of a multipart upload, or the whole body.
async fn file_bytes(headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(boundary) = multer::parse_boundary(&ct) else {
        return Ok(body.to_vec());
    };
    let bad = |e: multer::Error| {
        ApiError::BadRequest(
            serde_json::json!({"errors": [{"message": format!("Malformed multipart body: {e}")}]}),
        )
    };
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        if field.name() == Some("file") {
            return Ok(field.bytes().await.map_err(bad)?.to_vec());
        }
    }
    Err(ApiError::BadRequest(
        serde_json::json!({"errors": [{"message": "No file part named \"file\" in the upload"}]}),
    ))
}
