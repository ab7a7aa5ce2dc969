//! The notifier: an [`Observer`] that turns recorded batch events into notices and hands them to
//! a background task, plus [`Notifier::flush`] for the end of a process (or of a Lambda
//! invocation).
//!
//! The observer call never blocks and never fails: it builds the notice and `try_send`s one job
//! per target into a bounded channel; when the channel is full the notice is dropped with a
//! warning (the ledger still has the outcome). The dispatcher task starts each job on its own
//! task, at most [`MAX_CONCURRENT`] at a time, so one slow receiver does not hold the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, watch};

use super::config::{NotifyConfig, SecretUrl, UrlSource};
use super::deliver::{Job, Limits, Target, deliver};
use super::message::{LedgerHint, Notice, NoticeKind};
use super::topic::{TopicPublisher, TopicTarget};
use super::webhook::{Webhook, http_client};
use crate::ledger::BatchEvent;

/// Jobs waiting for the dispatcher; more are dropped with a warning.
pub const QUEUE_CAPACITY: usize = 256;
/// Deliveries in flight at once.
pub const MAX_CONCURRENT: usize = 8;

/// Why a notifier cannot be built. Names the tenant and variable, never a URL.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "tenant {tenant}: the webhook URL variable {var} is not set; set it in the service's environment or remove the webhook"
    )]
    UrlEnvMissing { tenant: String, var: String },
    #[error("tenant {tenant}: the webhook URL in {var} {problem}; set it to the full https:// URL")]
    UrlEnvInvalid {
        tenant: String,
        var: String,
        problem: String,
    },
    #[error(
        "tenant {tenant}: an SNS topic is configured but this canvas-sis has no SNS publisher (a \
         build without AWS, cargo feature `aws`): build it with the default features, or remove \
         sns_topic_arn"
    )]
    NoSnsClient { tenant: String },
    #[error("setting up the HTTP client for webhooks: {0}")]
    Http(#[from] reqwest::Error),
}

/// What one tenant's notifications go to.
struct Route {
    targets: Vec<Arc<Target>>,
    limits: Limits,
    on_success_with_warnings: bool,
    halts: bool,
}

/// Sends notices for the tenants that configure them. Build one per process with
/// [`Notifier::for_tenants`] (or `Notifier::from_config`); put it in the pipeline's observer
/// `Tee`.
pub struct Notifier {
    routes: HashMap<String, Route>,
    hint: LedgerHint,
    /// Into the dispatcher task.
    jobs: mpsc::Sender<Job>,
    /// Jobs accepted and not yet finished (delivered or given up); `flush` waits for zero.
    pending: Arc<watch::Sender<usize>>,
    /// The last batch per tenant whose failure was notified: its `Halted` needs no notice of its
    /// own (the failure notice already says the tenant halts and how to resume).
    failed: Mutex<HashMap<String, String>>,
    /// The last `NeedsOperator` reason per tenant and batch: a batch retried on every pass is
    /// alerted once per distinct reason, not once per pass.
    alerted: Mutex<HashMap<(String, String), String>>,
}

impl Notifier {
    /// A notifier for `tenants` (name, settings, whether a failure halts the tenant) that
    /// configure notifications, or `None` when none does. Reads `url_env` variables now, through
    /// `env` (the process's environment, plus URLs read from Secrets Manager). Starts
    /// the dispatcher: call inside a Tokio runtime. `Notifier::from_config` (in `config`) gives
    /// it a config file's tenants.
    pub fn for_tenants<'a>(
        tenants: impl IntoIterator<Item = (&'a str, &'a NotifyConfig, bool)>,
        hint: LedgerHint,
        sns: Option<Arc<dyn TopicPublisher>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Notifier>, NotifyError> {
        let mut routes = HashMap::new();
        for (name, notify, halts) in tenants.into_iter().filter(|t| t.1.is_enabled()) {
            let route = route(name, notify, halts, sns.as_ref(), env)?;
            routes.insert(name.to_owned(), route);
        }
        if routes.is_empty() {
            return Ok(None);
        }
        let (jobs, rx) = mpsc::channel(QUEUE_CAPACITY);
        let pending = Arc::new(watch::Sender::new(0usize));
        tokio::spawn(dispatch(rx, http_client()?, pending.clone()));
        Ok(Some(Notifier {
            routes,
            hint,
            jobs,
            pending,
            failed: Mutex::new(HashMap::new()),
            alerted: Mutex::new(HashMap::new()),
        }))
    }

    /// Waits until every accepted notice is delivered or given up, or until `deadline`.
    /// Returns how many were still pending (0 when all finished); those are logged. The
    /// notifier stays usable (a Lambda flushes at the end of each invocation).
    pub async fn flush(&self, deadline: tokio::time::Instant) -> usize {
        let mut rx = self.pending.subscribe();
        let done = tokio::time::timeout_at(deadline, rx.wait_for(|n| *n == 0))
            .await
            .is_ok();
        if done {
            return 0;
        }
        let left = *self.pending.borrow();
        tracing::warn!(
            pending = left,
            "exiting before these notifications were delivered"
        );
        left
    }

    fn enqueue(&self, tenant: &str, notice: Notice) {
        let Some(route) = self.routes.get(tenant) else {
            return;
        };
        let notice = Arc::new(notice);
        for target in &route.targets {
            let job = Job {
                notice: notice.clone(),
                target: target.clone(),
                limits: route.limits,
            };
            self.pending.send_modify(|n| *n += 1);
            if self.jobs.try_send(job).is_err() {
                self.pending.send_modify(|n| *n -= 1);
                tracing::warn!(target_name = %target.label(), tenant, event = notice.event.as_str(),
                    "notification dropped: the delivery queue is full");
            }
        }
    }

    fn remember_failure(&self, tenant: &str, batch: &str) {
        if let Ok(mut f) = self.failed.lock() {
            f.insert(tenant.to_owned(), batch.to_owned());
        }
    }

    /// True the first time `reason` is seen for this batch (remembered in memory only: a
    /// restarted process alerts once more).
    fn first_alert(&self, tenant: &str, batch: &str, reason: &str) -> bool {
        let Ok(mut a) = self.alerted.lock() else {
            return true;
        };
        let key = (tenant.to_owned(), batch.to_owned());
        a.insert(key, reason.to_owned()).as_deref() != Some(reason)
    }

    fn failure_was_notified(&self, tenant: &str, batch: &str) -> bool {
        self.failed
            .lock()
            .map(|f| f.get(tenant).is_some_and(|b| b == batch))
            .unwrap_or(false)
    }
}

impl Notifier {
    /// Queues the notice `event` calls for, if `tenant` has notifications and the event is one
    /// to tell (the pipeline's `Observer` port calls this).
    pub fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        let Some(route) = self.routes.get(tenant) else {
            return;
        };
        let notice = match event {
            BatchEvent::Finished(r) => {
                let n =
                    Notice::finished(r, route.halts, route.on_success_with_warnings, &self.hint);
                if n.as_ref()
                    .is_some_and(|n| n.event == NoticeKind::BatchFailed)
                {
                    self.remember_failure(tenant, r.id.as_str());
                }
                n
            }
            BatchEvent::Held(r) => Some(Notice::held(r, &self.hint)),
            BatchEvent::Halted { batch, reason } => (!self
                .failure_was_notified(tenant, batch.as_str()))
            .then(|| Notice::halted(tenant, batch, reason, &self.hint)),
            BatchEvent::Parked(_) => None,
            BatchEvent::NeedsOperator { batch, reason } => self
                .first_alert(tenant, batch.as_str(), reason)
                .then(|| Notice::needs_operator(tenant, batch, reason, &self.hint)),
        };
        if let Some(n) = notice {
            self.enqueue(tenant, n);
        }
    }
}

/// A tenant's targets, with `url_env` variables read through `env`.
fn route(
    tenant: &str,
    c: &NotifyConfig,
    halts: bool,
    sns: Option<&Arc<dyn TopicPublisher>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Route, NotifyError> {
    let mut targets = Vec::new();
    for w in &c.webhooks {
        let url = match &w.url {
            UrlSource::Inline(u) => u.clone(),
            UrlSource::Env(var) => {
                let v = env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    NotifyError::UrlEnvMissing {
                        tenant: tenant.into(),
                        var: var.clone(),
                    }
                })?;
                SecretUrl::parse(&v).map_err(|problem| NotifyError::UrlEnvInvalid {
                    tenant: tenant.into(),
                    var: var.clone(),
                    problem,
                })?
            }
        };
        targets.push(Arc::new(Target::Webhook(Webhook {
            url,
            format: w.format,
        })));
    }
    if let Some(arn) = &c.sns_topic_arn {
        let publisher = sns.ok_or_else(|| NotifyError::NoSnsClient {
            tenant: tenant.into(),
        })?;
        targets.push(Arc::new(Target::Sns(TopicTarget {
            publisher: publisher.clone(),
            arn: arn.clone(),
        })));
    }
    Ok(Route {
        targets,
        limits: Limits {
            timeout: c.timeout,
            retry_for: c.retry_for,
        },
        on_success_with_warnings: c.on_success_with_warnings,
        halts,
    })
}

/// The background task: starts each job on its own task, [`MAX_CONCURRENT`] at most, and counts
/// it finished when it is delivered or given up. Ends when the notifier is dropped.
async fn dispatch(
    mut rx: mpsc::Receiver<Job>,
    http: reqwest::Client,
    pending: Arc<watch::Sender<usize>>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let http = http.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            deliver(&http, &job).await;
            drop(permit);
            pending.send_modify(|n| *n = n.saturating_sub(1));
        });
    }
}
