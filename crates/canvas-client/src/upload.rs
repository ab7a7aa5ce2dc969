//! Sending a zip to Canvas (`POST .../sis_imports`) and downloading files back.
//!
//! Small files go as a raw `application/zip` body with `extension=zip` and every option in the
//! query string (docs/canvas-api.md §1.2). Files at or over `pre_attachment_threshold_bytes` use
//! the `pre_attachment` flow: a metadata-only POST creates the import and returns an upload URL;
//! the file is POSTed there as multipart (the `upload_params` first, then the file part named by
//! `file_param`), without the token; a redirect to a confirmation URL is followed; the import
//! is then read back. Either way the file is streamed from disk with a known length, never read
//! whole into memory.
//!
//! A `pre_attachment` upload that fails is sent again while its import still waits for the file
//! (`initializing`); if it keeps failing, that import is aborted — Canvas would never process it,
//! and nobody must wait on it — and the caller may send the batch again as a new import.
//!
//! What is never done: sending the create POST twice. See `client.rs` for the retry policy.

use std::path::Path;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Body, Method};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;
use url::Url;

use super::client::{
    AccountRef, Call, CanvasClient, Safety, check_transport, decode, error_chain, file_len,
};
use super::error::{CanvasError, NeededPermission};
use super::model::{PreAttachment, SisImport, WorkflowState};
use super::options::ImportOptions;
use super::response::CallInfo;

const ZIP: &str = "application/zip";

impl CanvasClient {
    /// `POST /api/v1/accounts/:account/sis_imports` with `zip`; returns the new import
    /// (`created`, or `initializing` until a `pre_attachment` upload is processed).
    ///
    /// Options are validated first. If the outcome of the POST is unknown the error is
    /// [`CanvasError::CreateOutcomeUnknown`]: look with
    /// [`find_import_created_since`](Self::find_import_created_since) before sending again.
    pub async fn create_sis_import(
        &self,
        account: &AccountRef,
        opts: &ImportOptions,
        zip: &Path,
    ) -> Result<SisImport, CanvasError> {
        opts.validate()?;
        let size = file_len(zip).await?;
        if size >= self.cfg.pre_attachment_threshold_bytes {
            self.create_with_pre_attachment(account, opts, zip, size)
                .await
        } else {
            self.create_raw(account, opts, zip, size).await
        }
    }

    fn create_url(&self, account: &AccountRef, opts: &ImportOptions) -> Url {
        let mut url = self.api_url(&["accounts", &account.to_string(), "sis_imports"]);
        url.query_pairs_mut()
            .append_pair("import_type", "instructure_csv")
            .extend_pairs(opts.to_query());
        url
    }

    /// The create call; a 404 to it means the account, or the term named for batch mode
    /// (Canvas's `api_find` of `batch_mode_term_id`), does not exist.
    fn create_call(&self, url: &Url, account: &AccountRef, opts: &ImportOptions) -> Call {
        let term = opts
            .to_query()
            .into_iter()
            .find(|(k, _)| k == "batch_mode_term_id")
            .map(|(_, v)| v);
        let what = match term {
            Some(t) => format!("account {account} or its active term {t}"),
            None => format!("account {account}"),
        };
        Call {
            info: CallInfo {
                method: "POST",
                endpoint: url.path().to_owned(),
                account: Some(account.to_string()),
                what,
                needed: NeededPermission::ImportSis,
            },
            safety: Safety::Create,
        }
    }

    async fn create_raw(
        &self,
        account: &AccountRef,
        opts: &ImportOptions,
        zip: &Path,
        size: u64,
    ) -> Result<SisImport, CanvasError> {
        let mut url = self.create_url(account, opts);
        url.query_pairs_mut().append_pair("extension", "zip");
        let call = self.create_call(&url, account, opts);
        let (_, body) = self
            .execute(&call, || async {
                let body = file_body(zip).await?;
                let req = self
                    .http
                    .post(url.clone())
                    .header(CONTENT_TYPE, ZIP)
                    .header(CONTENT_LENGTH, size)
                    .body(body);
                Ok(self.authorize(req, &url, true))
            })
            .await?;
        created(&call, &body)
    }

    async fn create_with_pre_attachment(
        &self,
        account: &AccountRef,
        opts: &ImportOptions,
        zip: &Path,
        size: u64,
    ) -> Result<SisImport, CanvasError> {
        let name = zip
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.to_ascii_lowercase().ends_with(".zip"))
            .unwrap_or_else(|| "sis_import.zip".to_owned());
        let mut url = self.create_url(account, opts);
        url.query_pairs_mut()
            .append_pair("pre_attachment[name]", &name)
            .append_pair("pre_attachment[size]", &size.to_string())
            .append_pair("pre_attachment[content_type]", ZIP);
        let call = self.create_call(&url, account, opts);
        let (_, body) = self
            .execute(&call, || async {
                let req = self.http.post(url.clone()).header(CONTENT_LENGTH, 0);
                Ok(self.authorize(req, &url, false))
            })
            .await?;
        let import = created(&call, &body)?;
        let failed = |cause: String| CanvasError::UploadFailed {
            account: account.to_string(),
            import_id: import.id,
            upload_host: String::new(),
            cause,
        };
        let Some(pre) = import.pre_attachment.clone() else {
            let e = failed("Canvas's answer had no pre_attachment".into());
            return self.abandon_upload(account, import.id, e).await;
        };
        if let Some(moved_on) = self
            .send_file(account, import.id, &pre, zip, &name, size)
            .await?
        {
            return Ok(moved_on);
        }
        tracing::info!(import = import.id, account = %account, bytes = size, "SIS import file uploaded");
        // The import exists and has its file: a failed read here is no reason to send it again
        // (nor, being a GET's answer, a refusal of the batch); the wait reads it again.
        match self.get_sis_import(account, import.id).await {
            Ok(i) => Ok(i),
            Err(e) => {
                tracing::warn!(import = import.id, error = %e, "could not read the SIS import after its upload");
                Ok(import)
            }
        }
    }

    /// The upload step, sent again (up to `max_retries` times) while the import still waits for
    /// its file (`initializing`): Canvas has not got it, so a second upload cannot start a second
    /// processing. `Some` is the import when it moved on although the upload seemed to fail (the
    /// file arrived, the answer was lost). When the upload keeps failing, the import is
    /// abandoned ([`Self::abandon_upload`]).
    async fn send_file(
        &self,
        account: &AccountRef,
        import_id: u64,
        pre: &PreAttachment,
        zip: &Path,
        name: &str,
        size: u64,
    ) -> Result<Option<SisImport>, CanvasError> {
        let mut attempt = 0;
        while let Err(e) = self
            .upload_file(account, import_id, pre, zip, name, size)
            .await
        {
            attempt += 1;
            match self.get_sis_import(account, import_id).await {
                Ok(i) if i.workflow_state != WorkflowState::Initializing => return Ok(Some(i)),
                Ok(_) if attempt <= self.cfg.max_retries => {
                    tracing::info!(import = import_id, account = %account, attempt, error = %e,
                        "the upload of the SIS import's file failed and its import still waits for it: sending the file again");
                    tokio::time::sleep(self.upload_backoff().delay(attempt)).await;
                }
                Ok(_) => return self.abandon_upload(account, import_id, e).await.map(Some),
                // Canvas cannot say whether the file arrived: the outcome stays unknown.
                Err(_) => return Err(e),
            }
        }
        Ok(None)
    }

    fn upload_backoff(&self) -> super::retry::Backoff {
        super::retry::Backoff {
            base: self.cfg.backoff_base,
            max: self.cfg.backoff_max,
        }
    }

    /// Gives up on an import whose file could not be uploaded (`failed`, an `UploadFailed`).
    /// Canvas never processes an import left `initializing` without its file, and a batch must
    /// never be waited on in that state: the import is aborted, so the batch can be sent again
    /// as a new import ([`CanvasError::UploadAbandoned`]). If the import moved on meanwhile (the
    /// file did arrive) it is returned; if Canvas cannot be asked or the abort fails, `failed`
    /// is returned and the outcome stays unknown.
    async fn abandon_upload(
        &self,
        account: &AccountRef,
        import_id: u64,
        failed: CanvasError,
    ) -> Result<SisImport, CanvasError> {
        let CanvasError::UploadFailed {
            upload_host, cause, ..
        } = &failed
        else {
            return Err(failed);
        };
        match self.abort(account, import_id).await {
            Ok(i) if i.workflow_state == WorkflowState::Aborted => {
                tracing::warn!(import = import_id, account = %account, error = %failed,
                    "the SIS import's file never arrived: import aborted");
                Err(CanvasError::UploadAbandoned {
                    account: account.to_string(),
                    import_id,
                    upload_host: upload_host.clone(),
                    cause: cause.clone(),
                })
            }
            Ok(i) => Ok(i),
            Err(_) => Err(failed),
        }
    }

    /// The upload step: multipart to `upload_url`, no token, then the optional confirmation.
    /// Only a connection that never opened is retried here; any other failure is the caller's,
    /// which sends the file again only while its import still waits for it (`initializing`), so
    /// a file that did arrive is never sent twice.
    async fn upload_file(
        &self,
        account: &AccountRef,
        import_id: u64,
        pre: &PreAttachment,
        zip: &Path,
        name: &str,
        size: u64,
    ) -> Result<(), CanvasError> {
        let raw_url = pre.upload_url.as_deref().unwrap_or_default();
        let url = Url::parse(raw_url).ok();
        let host = url
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or("?")
            .to_owned();
        let failed = |cause: String| CanvasError::UploadFailed {
            account: account.to_string(),
            import_id,
            upload_host: host.clone(),
            cause,
        };
        let url =
            url.ok_or_else(|| failed("pre_attachment.upload_url is missing or not a URL".into()))?;
        check_transport(&url, self.cfg.allow_insecure_http).map_err(|e| failed(e.to_string()))?;
        let file_param = pre.file_param.as_deref().unwrap_or("file");
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in &pre.upload_params {
                form = form.text(k.clone(), v.clone());
            }
            let part = reqwest::multipart::Part::stream_with_length(file_body(zip).await?, size)
                .file_name(name.to_owned())
                .mime_str(ZIP)
                .map_err(|e| failed(e.to_string()))?;
            form = form.part(file_param.to_owned(), part);
            let req = self
                .upload_http
                .post(url.clone())
                .timeout(self.cfg.transfer_timeout)
                .multipart(form);
            match req.send().await {
                Ok(r) => break r,
                Err(e) if e.is_connect() && attempt <= self.cfg.max_retries => {
                    tokio::time::sleep(self.upload_backoff().delay(attempt)).await;
                }
                Err(e) => return Err(failed(error_chain(&e.without_url()))),
            }
        };
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| failed(format!("HTTP {status} without a usable Location")))?;
            return self
                .confirm_upload(&location)
                .await
                .map_err(|e| failed(e.to_string()));
        }
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let msg =
                super::response::canvas_message(serde_json::from_slice(&body).ok().as_ref(), &body);
            return Err(failed(format!("HTTP {}: {msg}", status.as_u16())));
        }
        Ok(())
    }

    /// Canvas's upload confirmation: a GET on the redirect target (with the token only if it is
    /// Canvas's own host).
    async fn confirm_upload(&self, location: &Url) -> Result<(), CanvasError> {
        check_transport(location, self.cfg.allow_insecure_http)?;
        let call = Call {
            info: CallInfo {
                method: "GET",
                endpoint: location.path().to_owned(),
                account: None,
                what: "the upload confirmation".into(),
                needed: NeededPermission::ImportSis,
            },
            safety: Safety::Idempotent,
        };
        self.execute(&call, || async {
            let req = self.http.get(location.clone());
            Ok(self.authorize(req, location, false))
        })
        .await?;
        Ok(())
    }

    /// Downloads `url` (e.g. `errors_attachment.url`, which carries its own `verifier`) into
    /// `path`, streamed. The token is sent only if `url` is on Canvas's own origin. The file is
    /// written to `path` + `.part` and renamed when complete. Returns the bytes written.
    pub async fn download_to(&self, url: &str, path: &Path) -> Result<u64, CanvasError> {
        let url = self
            .cfg
            .base_url
            .join(url)
            .map_err(|e| CanvasError::Config(format!("download URL is not a URL: {e}")))?;
        check_transport(&url, self.cfg.allow_insecure_http)?;
        let call = Call {
            info: CallInfo {
                method: "GET",
                endpoint: url.path().to_owned(),
                account: None,
                what: "the file".into(),
                needed: NeededPermission::Either,
            },
            safety: Safety::Idempotent,
        };
        let part = {
            let mut p = path.as_os_str().to_owned();
            p.push(".part");
            std::path::PathBuf::from(p)
        };
        let io = |what: &'static str, p: &Path| {
            let p = p.to_owned();
            move |source| CanvasError::File {
                what,
                path: p,
                source,
            }
        };
        let resp = self.stream(&call, &url).await?;
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(io("cannot create", &part))?;
        let mut written = 0u64;
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| CanvasError::Transport {
                method: "GET".into(),
                endpoint: call.info.endpoint.clone(),
                kind: super::error::TransportKind::Broken,
                attempts: 1,
                detail: error_chain(&e.without_url()),
            });
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    drop(file);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(e);
                }
            };
            file.write_all(&chunk)
                .await
                .map_err(io("cannot write", &part))?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io("cannot write", &part))?;
        file.sync_all().await.map_err(io("cannot sync", &part))?;
        drop(file);
        tokio::fs::rename(&part, path)
            .await
            .map_err(io("cannot rename into place", path))?;
        Ok(written)
    }

    /// A GET whose successful answer is returned unread (for streaming). Throttling, 5xx and
    /// transport failures before the body starts are retried like any safe call.
    async fn stream(&self, call: &Call, url: &Url) -> Result<reqwest::Response, CanvasError> {
        let backoff = super::retry::Backoff {
            base: self.cfg.backoff_base,
            max: self.cfg.backoff_max,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let may_retry = attempt <= self.cfg.max_retries;
            let req = self.authorize(self.http.request(Method::GET, url.clone()), url, true);
            let err = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.unwrap_or_default();
                    answer_error(call, status, &body, attempt)
                }
                Err(e) => CanvasError::Transport {
                    method: "GET".into(),
                    endpoint: call.info.endpoint.clone(),
                    kind: if e.is_timeout() {
                        super::error::TransportKind::Timeout
                    } else if e.is_connect() {
                        super::error::TransportKind::Connect
                    } else {
                        super::error::TransportKind::Broken
                    },
                    attempts: attempt,
                    detail: error_chain(&e.without_url()),
                },
            };
            let transient = matches!(
                err.class(),
                super::error::ErrorClass::Retryable | super::error::ErrorClass::Throttled
            );
            if !(transient && may_retry) {
                return Err(err);
            }
            tokio::time::sleep(backoff.delay(attempt)).await;
        }
    }
}

/// A failed answer of a streamed GET, as the common classification would say.
fn answer_error(call: &Call, status: u16, body: &[u8], attempts: u32) -> CanvasError {
    use super::response::{Failure, classify};
    match classify(&call.info, status, body) {
        Failure::Throttled { status } => CanvasError::Throttled {
            method: "GET".into(),
            endpoint: call.info.endpoint.clone(),
            status,
            attempts,
        },
        Failure::Server { status, message } => CanvasError::Server {
            method: "GET".into(),
            endpoint: call.info.endpoint.clone(),
            status,
            attempts,
            message,
        },
        Failure::Final(e) => e,
    }
}

/// The zip as a streamed body (reopened for each attempt).
async fn file_body(zip: &Path) -> Result<Body, CanvasError> {
    let file = tokio::fs::File::open(zip)
        .await
        .map_err(|source| CanvasError::File {
            what: "cannot open the zip",
            path: zip.to_owned(),
            source,
        })?;
    Ok(Body::wrap_stream(ReaderStream::with_capacity(
        file,
        64 * 1024,
    )))
}

/// The SisImport of a 2xx create answer; an unreadable one leaves the outcome unknown.
fn created(call: &Call, body: &[u8]) -> Result<SisImport, CanvasError> {
    decode::<SisImport>(call, body).map_err(|e| CanvasError::CreateOutcomeUnknown {
        account: call.info.account.clone().unwrap_or_default(),
        sent_at: chrono::Utc::now(),
        cause: format!("Canvas answered 2xx but the import could not be read: {e}"),
    })
}
