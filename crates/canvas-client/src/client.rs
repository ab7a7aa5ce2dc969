//! The Canvas SIS Imports client: configuration, the request loop, and one method per endpoint.
//!
//! # Retry policy (owned here)
//!
//! - Every call waits out Canvas's throttling (403 "Rate Limit Exceeded" or 429) with jittered
//!   exponential backoff, up to `max_retries` times: Canvas refused those requests before
//!   handling them, so even a POST may be sent again.
//! - A request that never reached Canvas (connection refused, DNS) is retried for every method.
//! - Timeouts, broken connections and 5xx answers are retried only for safe calls (GETs and the
//!   abort PUTs, which have the same effect twice). A POST or a restore is **never** sent again:
//!   the client returns [`CanvasError::CreateOutcomeUnknown`] / [`CanvasError::OutcomeUnknown`],
//!   and the caller looks for the import ([`CanvasClient::find_import_created_since`]) first.
//! - When `X-Rate-Limit-Remaining` drops below 100 the next request waits until Canvas's bucket
//!   has leaked back (capped at `backoff_max`), so a busy worker slows down before it is refused.
//!
//! # The token
//!
//! Sent only as `Authorization: Bearer`, only to the base URL's origin (scheme, host, port), and
//! exposed at exactly one place ([`CanvasClient::auth_header`]). It never goes in a URL, and
//! errors carry paths without queries.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::{CanvasError, NeededPermission, TransportKind};
use super::model::{Progress, SisImport, SisImportError, SisImportErrorList, SisImportList};
use super::options::{ListFilter, RestoreOptions};
use super::pagination::next_link;
use super::response::{CallInfo, Failure, classify};
use super::retry::{Backoff, is_throttled, pacing_delay};
use super::{hook, trace as spans};
use tracing::Instrument as _;

/// How to reach Canvas. Build with [`ClientConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://school.instructure.com/`. HTTPS only, except loopback or `allow_insecure_http`.
    pub base_url: Url,
    pub token: SecretString,
    /// Whole-request limit for API calls (Canvas's own limit is ~60 s).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Whole-request limit for file uploads and downloads, which may be large.
    pub transfer_timeout: Duration,
    /// Allow plain http to a non-loopback host (never in production: the token travels in clear).
    pub allow_insecure_http: bool,
    /// Retries after the first attempt, for what may be retried (see the module doc).
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Files at least this large use the `pre_attachment` upload flow.
    pub pre_attachment_threshold_bytes: u64,
    /// Most pages a list call follows.
    pub max_pages: u32,
}

impl ClientConfig {
    /// Defaults: 60 s requests, 10 s connect, 1 h transfers, 4 retries from 1 s up to 60 s,
    /// `pre_attachment` from 32 MiB, at most 1000 pages.
    pub fn new(base_url: Url, token: SecretString) -> Self {
        ClientConfig {
            base_url,
            token,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            transfer_timeout: Duration::from_secs(3600),
            allow_insecure_http: false,
            max_retries: 4,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            pre_attachment_threshold_bytes: 32 * 1024 * 1024,
            max_pages: 1000,
        }
    }

    /// Refuses what cannot work or would leak the token.
    fn check(&self) -> Result<(), CanvasError> {
        if self.base_url.cannot_be_a_base() || self.base_url.host().is_none() {
            return Err(CanvasError::Config(format!(
                "base_url {} is not an http(s) URL with a host",
                self.base_url.scheme()
            )));
        }
        check_transport(&self.base_url, self.allow_insecure_http)?;
        if self.token.expose_secret().trim().is_empty() {
            return Err(CanvasError::Config("the token is empty".into()));
        }
        if self.backoff_base > self.backoff_max {
            return Err(CanvasError::Config(
                "backoff_base is larger than backoff_max".into(),
            ));
        }
        Ok(())
    }
}

/// HTTPS, or http to a loopback host, or http when explicitly allowed.
pub(crate) fn check_transport(url: &Url, allow_insecure_http: bool) -> Result<(), CanvasError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(CanvasError::InsecureUrl {
            host: url.host_str().unwrap_or("").to_owned(),
        }),
        other => Err(CanvasError::Config(format!(
            "unsupported URL scheme {other:?}; use https"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// Which root account: `1`, `self`, or `sis_account_id:X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRef {
    Id(u64),
    /// The token's user's own root account (`self`).
    SelfAccount,
    SisAccountId(String),
}

impl std::fmt::Display for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountRef::Id(id) => write!(f, "{id}"),
            AccountRef::SelfAccount => f.write_str("self"),
            AccountRef::SisAccountId(s) => write!(f, "sis_account_id:{s}"),
        }
    }
}

impl std::str::FromStr for AccountRef {
    type Err = CanvasError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "self" {
            return Ok(AccountRef::SelfAccount);
        }
        if let Some(sis) = s.strip_prefix("sis_account_id:") {
            if sis.is_empty() {
                return Err(CanvasError::Config("sis_account_id: needs an id".into()));
            }
            return Ok(AccountRef::SisAccountId(sis.to_owned()));
        }
        s.parse().map(AccountRef::Id).map_err(|_| {
            CanvasError::Config(format!(
                "account {s:?} is not a number, \"self\" or \"sis_account_id:X\""
            ))
        })
    }
}

/// How a call may be repeated (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Same effect when repeated: retried on timeouts, broken connections and 5xx.
    Idempotent,
    /// The create POST: outcome unknown → `CreateOutcomeUnknown`.
    Create,
    /// Another non-idempotent call: outcome unknown → `OutcomeUnknown`.
    Once,
}

/// One logical request: what it is (for errors) and how it may be repeated.
pub(crate) struct Call {
    pub info: CallInfo,
    pub safety: Safety,
}

/// A Canvas SIS Imports API client. Cheap to share by reference; calls may run concurrently,
/// though Canvas advises one request at a time per token (docs/canvas-api.md §6.4).
pub struct CanvasClient {
    pub(crate) cfg: ClientConfig,
    pub(crate) http: reqwest::Client,
    /// No redirects followed, no token: for the `pre_attachment` upload step.
    pub(crate) upload_http: reqwest::Client,
    /// Requests wait until this instant (set when the rate-limit budget runs low).
    pace_until: Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for CanvasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanvasClient")
            .field("base_url", &self.cfg.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl CanvasClient {
    /// The Canvas instance this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.cfg.base_url
    }

    pub fn new(cfg: ClientConfig) -> Result<Self, CanvasError> {
        cfg.check()?;
        let allow_insecure = cfg.allow_insecure_http;
        // Follow a few redirects, never to plain http off loopback. reqwest drops the
        // Authorization header when a redirect changes origin.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if check_transport(attempt.url(), allow_insecure).is_err() {
                attempt.error("redirect to plain http refused")
            } else {
                attempt.follow()
            }
        });
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .connect_timeout(cfg.connect_timeout)
                .user_agent(concat!("canvas-sis/", env!("CARGO_PKG_VERSION")))
                .redirect(redirects)
                .build()
                .map_err(|e| CanvasError::Config(format!("HTTP client: {e}")))
        };
        Ok(CanvasClient {
            http: build(policy)?,
            upload_http: build(reqwest::redirect::Policy::none())?,
            cfg,
            pace_until: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    // ---- endpoints ---------------------------------------------------------------------------

    /// `GET /api/v1/accounts/:account/sis_imports/:id`.
    pub async fn get_sis_import(
        &self,
        account: &AccountRef,
        id: u64,
    ) -> Result<SisImport, CanvasError> {
        let url = self.api_url(&[
            "accounts",
            &account.to_string(),
            "sis_imports",
            &id.to_string(),
        ]);
        let call = self.read_call(
            Method::GET,
            &url,
            account,
            format!("SIS import {id} on account {account}"),
        );
        self.json(&call, Method::GET, url).await
    }

    /// `GET .../sis_imports` with filters, following `next` links (newest first).
    pub async fn list_sis_imports(
        &self,
        account: &AccountRef,
        filter: &ListFilter,
    ) -> Result<Vec<SisImport>, CanvasError> {
        let mut url = self.api_url(&["accounts", &account.to_string(), "sis_imports"]);
        url.query_pairs_mut().extend_pairs(filter.to_query());
        let call = self.read_call(Method::GET, &url, account, format!("account {account}"));
        let pages: Vec<SisImportList> = self.all_pages(&call, url).await?;
        Ok(pages.into_iter().flat_map(|p| p.sis_imports).collect())
    }

    /// The newest imports matching `filter`: one page of at most `limit` (capped at 100),
    /// without following `next` links — for "what ran last?" checks that must stay cheap on an
    /// account with years of history.
    pub async fn recent_sis_imports(
        &self,
        account: &AccountRef,
        filter: &ListFilter,
        limit: usize,
    ) -> Result<Vec<SisImport>, CanvasError> {
        let limit = limit.clamp(1, 100);
        let filter = ListFilter {
            per_page: Some(limit as u32),
            ..filter.clone()
        };
        let mut url = self.api_url(&["accounts", &account.to_string(), "sis_imports"]);
        url.query_pairs_mut().extend_pairs(filter.to_query());
        let call = self.read_call(Method::GET, &url, account, format!("account {account}"));
        let page: SisImportList = self.json(&call, Method::GET, url).await?;
        Ok(page.sis_imports.into_iter().take(limit).collect())
    }

    /// `GET .../sis_imports/importing`: imports in `importing` or `cleanup_batch`.
    pub async fn importing(&self, account: &AccountRef) -> Result<Vec<SisImport>, CanvasError> {
        let url = self.api_url(&["accounts", &account.to_string(), "sis_imports", "importing"]);
        let call = self.read_call(Method::GET, &url, account, format!("account {account}"));
        let list: SisImportList = self.json(&call, Method::GET, url).await?;
        Ok(list.sis_imports)
    }

    /// `PUT .../sis_imports/:id/abort`. Retried like a read: aborting twice is aborting once.
    /// If a retry finds the import already finished (404 after an answer was lost), the import
    /// is fetched and returned when it is `aborted`.
    pub async fn abort(&self, account: &AccountRef, id: u64) -> Result<SisImport, CanvasError> {
        let url = self.api_url(&[
            "accounts",
            &account.to_string(),
            "sis_imports",
            &id.to_string(),
            "abort",
        ]);
        let call = self.read_call(
            Method::PUT,
            &url,
            account,
            format!("a running or pending SIS import {id} on account {account}"),
        );
        match self.json::<SisImport>(&call, Method::PUT, url).await {
            Err(CanvasError::NotFound {
                method,
                endpoint,
                what,
                message,
            }) => {
                // A finished import answers 404; if it is aborted, our earlier attempt (or
                // someone else) did it.
                match self.get_sis_import(account, id).await {
                    Ok(i) if i.workflow_state == super::model::WorkflowState::Aborted => Ok(i),
                    _ => Err(CanvasError::NotFound {
                        method,
                        endpoint,
                        what,
                        message,
                    }),
                }
            }
            other => other,
        }
    }

    /// `PUT .../sis_imports/abort_all_pending`: aborts every `initializing`/`created` import.
    /// Returns Canvas's `aborted` flag.
    pub async fn abort_all_pending(&self, account: &AccountRef) -> Result<bool, CanvasError> {
        let url = self.api_url(&[
            "accounts",
            &account.to_string(),
            "sis_imports",
            "abort_all_pending",
        ]);
        let call = self.read_call(Method::PUT, &url, account, format!("account {account}"));
        let v: serde_json::Value = self.json(&call, Method::PUT, url).await?;
        Ok(v.get("aborted").and_then(|a| a.as_bool()).unwrap_or(false))
    }

    /// `PUT .../sis_imports/:id/restore_states` (needs `manage_sis`). Never repeated blindly.
    pub async fn restore_states(
        &self,
        account: &AccountRef,
        id: u64,
        opts: RestoreOptions,
    ) -> Result<Progress, CanvasError> {
        opts.validate()?;
        let mut url = self.api_url(&[
            "accounts",
            &account.to_string(),
            "sis_imports",
            &id.to_string(),
            "restore_states",
        ]);
        url.query_pairs_mut().extend_pairs(opts.to_query());
        let mut call = self.read_call(
            Method::PUT,
            &url,
            account,
            format!("SIS import {id} on account {account}"),
        );
        call.info.needed = NeededPermission::ManageSis;
        call.safety = Safety::Once;
        self.json(&call, Method::PUT, url).await
    }

    /// `GET /api/v1/progress/:id`.
    pub async fn get_progress(&self, id: u64) -> Result<Progress, CanvasError> {
        let url = self.api_url(&["progress", &id.to_string()]);
        let call = Call {
            info: CallInfo {
                method: "GET",
                endpoint: url.path().to_owned(),
                account: None,
                what: format!("progress {id}"),
                needed: NeededPermission::Either,
            },
            safety: Safety::Idempotent,
        };
        self.json(&call, Method::GET, url).await
    }

    /// `GET /api/v1/accounts/:account`: the account itself (its name, and whether it is a root
    /// account), for a setup check before any SIS call.
    pub async fn get_account(
        &self,
        account: &AccountRef,
    ) -> Result<super::model::Account, CanvasError> {
        let url = self.api_url(&["accounts", &account.to_string()]);
        let call = self.read_call(Method::GET, &url, account, format!("account {account}"));
        self.json(&call, Method::GET, url).await
    }

    /// `GET /api/v1/users/self`: the user the token belongs to — the `user` Canvas records on
    /// every import this client creates, which tells our imports from anyone else's.
    pub async fn users_self(&self) -> Result<super::model::CanvasUser, CanvasError> {
        let url = self.api_url(&["users", "self"]);
        let call = Call {
            info: CallInfo {
                method: "GET",
                endpoint: url.path().to_owned(),
                account: None,
                what: "the token's user".into(),
                needed: NeededPermission::Either,
            },
            safety: Safety::Idempotent,
        };
        self.json(&call, Method::GET, url).await
    }

    /// `GET .../sis_imports/:id/errors` (all pages); `failure_only` keeps failure-level errors.
    pub async fn list_errors(
        &self,
        account: &AccountRef,
        id: u64,
        failure_only: bool,
    ) -> Result<Vec<SisImportError>, CanvasError> {
        let mut url = self.api_url(&[
            "accounts",
            &account.to_string(),
            "sis_imports",
            &id.to_string(),
            "errors",
        ]);
        self.errors_query(&mut url, failure_only);
        let call = self.read_call(
            Method::GET,
            &url,
            account,
            format!("SIS import {id} on account {account}"),
        );
        let pages: Vec<SisImportErrorList> = self.all_pages(&call, url).await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.sis_import_errors)
            .collect())
    }

    /// `GET .../sis_import_errors`: errors of every import of the account (all pages).
    pub async fn list_account_errors(
        &self,
        account: &AccountRef,
        failure_only: bool,
    ) -> Result<Vec<SisImportError>, CanvasError> {
        let mut url = self.api_url(&["accounts", &account.to_string(), "sis_import_errors"]);
        self.errors_query(&mut url, failure_only);
        let call = self.read_call(Method::GET, &url, account, format!("account {account}"));
        let pages: Vec<SisImportErrorList> = self.all_pages(&call, url).await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.sis_import_errors)
            .collect())
    }

    /// The imports of `account` created after `since` by `user_id` (any user when `None`),
    /// oldest first. After [`CanvasError::CreateOutcomeUnknown`], call this with the error's
    /// `sent_at` minus an allowance for clock skew between this host and Canvas.
    pub async fn imports_created_since(
        &self,
        account: &AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> Result<Vec<SisImport>, CanvasError> {
        let filter = ListFilter {
            created_since: Some(since),
            per_page: Some(100),
            ..ListFilter::default()
        };
        let mut found: Vec<SisImport> = self
            .list_sis_imports(account, &filter)
            .await?
            .into_iter()
            .filter(|i| user_id.is_none() || i.user.as_ref().and_then(|u| u.id) == user_id)
            .collect();
        found.sort_by_key(|i| (i.created_at, i.id));
        Ok(found)
    }

    /// The oldest import created after `since` (by `user_id` when given), if any: what a caller
    /// checks before sending a create again after [`CanvasError::CreateOutcomeUnknown`].
    /// Several matches are logged; the oldest is the one the lost request most likely made.
    pub async fn find_import_created_since(
        &self,
        account: &AccountRef,
        since: DateTime<Utc>,
        user_id: Option<u64>,
    ) -> Result<Option<SisImport>, CanvasError> {
        let found = self.imports_created_since(account, since, user_id).await?;
        if found.len() > 1 {
            tracing::warn!(
                account = %account,
                count = found.len(),
                ids = ?found.iter().map(|i| i.id).collect::<Vec<_>>(),
                "several SIS imports created since the lost request; taking the oldest"
            );
        }
        Ok(found.into_iter().next())
    }

    // ---- request machinery -------------------------------------------------------------------

    /// `base_url` + `api/v1/` + the segments, each percent-encoded as one path segment.
    pub(crate) fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("api").push("v1");
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    fn errors_query(&self, url: &mut Url, failure_only: bool) {
        let mut q = url.query_pairs_mut();
        q.append_pair("per_page", "100");
        if failure_only {
            q.append_pair("failure", "true");
        }
    }

    pub(crate) fn read_call(
        &self,
        method: Method,
        url: &Url,
        account: &AccountRef,
        what: String,
    ) -> Call {
        Call {
            info: CallInfo {
                method: method_name(&method),
                endpoint: url.path().to_owned(),
                account: Some(account.to_string()),
                what,
                needed: NeededPermission::Either,
            },
            safety: Safety::Idempotent,
        }
    }

    /// Same scheme, host and port as the base URL: the only place the token may go.
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.cfg.base_url.scheme()
            && url.host_str() == self.cfg.base_url.host_str()
            && url.port_or_known_default() == self.cfg.base_url.port_or_known_default()
    }

    /// The single place the token is exposed: a sensitive `Authorization` header value.
    fn auth_header(&self) -> Option<HeaderValue> {
        let mut v =
            HeaderValue::from_str(&format!("Bearer {}", self.cfg.token.expose_secret())).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Adds the token when `url` is Canvas's origin, and the timeout for the kind of call.
    pub(crate) fn authorize(
        &self,
        req: RequestBuilder,
        url: &Url,
        transfer: bool,
    ) -> RequestBuilder {
        let timeout = if transfer {
            self.cfg.transfer_timeout
        } else {
            self.cfg.request_timeout
        };
        let req = req.timeout(timeout);
        match self.auth_header() {
            Some(h) if self.same_origin(url) => req.header(AUTHORIZATION, h),
            _ => req,
        }
    }

    /// A JSON call without a body.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call,
        method: Method,
        url: Url,
    ) -> Result<T, CanvasError> {
        let (_, body) = self
            .execute(call, || {
                let req = self.http.request(method.clone(), url.clone());
                async { Ok(self.authorize(req, &url, false)) }
            })
            .await?;
        decode(call, &body)
    }

    /// Follows `next` links from `first`, decoding each page.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call,
        first: Url,
    ) -> Result<Vec<T>, CanvasError> {
        let mut pages = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if pages.len() as u32 >= self.cfg.max_pages {
                return Err(CanvasError::TooManyPages {
                    endpoint: call.info.endpoint.clone(),
                    limit: self.cfg.max_pages,
                });
            }
            let (headers, body) = self
                .execute(call, || {
                    let req = self.http.get(url.clone());
                    async { Ok(self.authorize(req, &url, false)) }
                })
                .await?;
            pages.push(decode(call, &body)?);
            next = match next_link(&headers) {
                None => None,
                Some(link) => Some(self.follow_link(call, &link)?),
            };
        }
        Ok(pages)
    }

    /// A `next` link, checked to point at Canvas (the token goes with it).
    fn follow_link(&self, call: &Call, link: &str) -> Result<Url, CanvasError> {
        let url = self
            .cfg
            .base_url
            .join(link)
            .map_err(|e| CanvasError::Decode {
                method: call.info.method.to_owned(),
                endpoint: call.info.endpoint.clone(),
                detail: format!("unreadable next link: {e}"),
            })?;
        if !self.same_origin(&url) {
            return Err(CanvasError::ForeignLink {
                endpoint: call.info.endpoint.clone(),
                host: url.host_str().unwrap_or("").to_owned(),
            });
        }
        Ok(url)
    }

    /// Sends a request built by `build` (called again for each attempt), retrying per the policy
    /// in the module doc; returns the headers and the whole body of a 2xx answer.
    pub(crate) async fn execute<F, Fut>(
        &self,
        call: &Call,
        mut build: F,
    ) -> Result<(HeaderMap, Bytes), CanvasError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<RequestBuilder, CanvasError>>,
    {
        let backoff = Backoff {
            base: self.cfg.backoff_base,
            max: self.cfg.backoff_max,
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let may_retry = attempt <= self.cfg.max_retries;
            self.wait_for_pace().await;
            let req = build().await?;
            let sent_at = Utc::now();
            let failure = match self.attempt(req, &call.info).await {
                Ok(done) => return Ok(done),
                Err(f) => f.sorted(&call.info),
            };
            let retry = match &failure {
                Attempted::Throttled { .. } => true,
                Attempted::Transport(TransportKind::Connect, _) => true,
                Attempted::Transport(..) | Attempted::Server { .. } => {
                    call.safety == Safety::Idempotent
                }
                Attempted::Final(_) | Attempted::Answer { .. } => false,
            };
            if retry && may_retry {
                let wait = backoff.delay(attempt);
                tracing::debug!(
                    method = call.info.method,
                    endpoint = %call.info.endpoint,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    failure = %failure.summary(),
                    "retrying Canvas request"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(self.give_up(call, failure, attempt, sent_at));
        }
    }

    /// One attempt: send, note rate-limit headers, read the body; in an HTTP client span,
    /// counted in the request metrics.
    async fn attempt(
        &self,
        req: RequestBuilder,
        info: &CallInfo,
    ) -> Result<(HeaderMap, Bytes), Attempted> {
        let (client, request) = req.build_split();
        let request = request.map_err(Attempted::transport)?;
        let route = spans::route_template(request.url().path());
        let host = request.url().host_str().unwrap_or("").to_owned();
        let span = spans::http_client(info.method, request.url(), &route);
        let started = std::time::Instant::now();
        let counted = |status: Option<u16>, throttled: bool| {
            let took = started.elapsed();
            if let Some(h) = hook::get() {
                h.request(info.method, &route, &host, status, took, throttled);
            }
        };
        let answered = async {
            let resp: Response = client.execute(request).await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .instrument(span.clone())
        .await;
        let (status, headers, body) = match answered {
            Ok(a) => a,
            Err(e) => {
                span.record(
                    "error.type",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "transport"
                    },
                );
                spans::mark_error(&span);
                counted(None, false);
                return Err(Attempted::transport(e));
            }
        };
        self.note_rate_limit(&headers, &host);
        span.record("http.response.status_code", status);
        if (200..300).contains(&status) {
            counted(Some(status), false);
            return Ok((headers, body));
        }
        span.record("error.type", status.to_string().as_str());
        spans::mark_error(&span);
        counted(Some(status), is_throttled(status, &body));
        Err(Attempted::Answer { status, body })
    }

    /// The error to return once no more attempts will be made.
    fn give_up(
        &self,
        call: &Call,
        failure: Attempted,
        attempts: u32,
        sent_at: DateTime<Utc>,
    ) -> CanvasError {
        let (method, endpoint) = (call.info.method.to_owned(), call.info.endpoint.clone());
        let unknown = |cause: String| match call.safety {
            Safety::Create => CanvasError::CreateOutcomeUnknown {
                account: call.info.account.clone().unwrap_or_default(),
                sent_at,
                cause,
            },
            _ => CanvasError::OutcomeUnknown {
                method: method.clone(),
                endpoint: endpoint.clone(),
                sent_at,
                cause,
            },
        };
        match failure {
            Attempted::Throttled { status } => CanvasError::Throttled {
                method,
                endpoint,
                status,
                attempts,
            },
            Attempted::Transport(TransportKind::Connect, detail) => CanvasError::Transport {
                method,
                endpoint,
                kind: TransportKind::Connect,
                attempts,
                detail,
            },
            Attempted::Transport(kind, detail) if call.safety != Safety::Idempotent => {
                unknown(format!("{kind}: {detail}"))
            }
            Attempted::Transport(kind, detail) => CanvasError::Transport {
                method,
                endpoint,
                kind,
                attempts,
                detail,
            },
            Attempted::Server { status, message } if call.safety != Safety::Idempotent => {
                unknown(format!("HTTP {status}: {message}"))
            }
            Attempted::Server { status, message } => CanvasError::Server {
                method,
                endpoint,
                status,
                attempts,
                message,
            },
            Attempted::Final(e) => e,
            // `sorted` never leaves an unclassified answer; keep the status if it ever does.
            Attempted::Answer { status, .. } => CanvasError::Rejected {
                method,
                endpoint,
                status,
                message: "unclassified answer".into(),
            },
        }
    }

    /// Logs Canvas's rate-limit headers and, when the budget is low, holds the next request.
    fn note_rate_limit(&self, headers: &HeaderMap, host: &str) {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let remaining = read("x-rate-limit-remaining");
        let cost = read("x-request-cost");
        if let Some(r) = remaining
            && let Some(h) = hook::get()
        {
            h.rate_limit(host, r);
        }
        if remaining.is_some() || cost.is_some() {
            tracing::debug!(?remaining, ?cost, "Canvas rate limit");
        }
        if let Some(wait) = remaining.and_then(|r| pacing_delay(r, self.cfg.backoff_max)) {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "rate-limit budget low; slowing down"
            );
            let until = tokio::time::Instant::now() + wait;
            if let Ok(mut p) = self.pace_until.lock() {
                *p = Some(p.map_or(until, |old| old.max(until)));
            }
        }
    }

    async fn wait_for_pace(&self) {
        let until = self.pace_until.lock().ok().and_then(|mut p| p.take());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// What one attempt ended with, before the retry decision.
enum Attempted {
    Transport(TransportKind, String),
    Answer { status: u16, body: Bytes },
    Throttled { status: u16 },
    Server { status: u16, message: String },
    Final(CanvasError),
}

impl Attempted {
    fn transport(e: reqwest::Error) -> Attempted {
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Broken
        };
        Attempted::Transport(kind, error_chain(&e.without_url()))
    }

    /// Turns an unclassified answer into Throttled / Server / Final.
    fn sorted(self, info: &CallInfo) -> Attempted {
        match self {
            Attempted::Answer { status, body } => match classify(info, status, &body) {
                Failure::Throttled { status } => Attempted::Throttled { status },
                Failure::Server { status, message } => Attempted::Server { status, message },
                Failure::Final(e) => Attempted::Final(e),
            },
            other => other,
        }
    }

    fn summary(&self) -> String {
        match self {
            Attempted::Transport(kind, _) => kind.to_string(),
            Attempted::Answer { status, .. }
            | Attempted::Throttled { status }
            | Attempted::Server { status, .. } => {
                format!("HTTP {status}")
            }
            Attempted::Final(e) => e.to_string(),
        }
    }
}

/// The error and its causes, one line, without URLs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    call: &Call,
    body: &[u8],
) -> Result<T, CanvasError> {
    serde_json::from_slice(body).map_err(|e| CanvasError::Decode {
        method: call.info.method.to_owned(),
        endpoint: call.info.endpoint.clone(),
        detail: e.to_string(),
    })
}

/// Reads a file's length, with an error that names it.
pub(crate) async fn file_len(path: &Path) -> Result<u64, CanvasError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|source| CanvasError::File {
            what: "cannot read the zip",
            path: path.to_owned(),
            source,
        })?;
    if !meta.is_file() {
        return Err(CanvasError::File {
            what: "not a regular file",
            path: path.to_owned(),
            source: std::io::Error::other("expected a zip file"),
        });
    }
    Ok(meta.len())
}
