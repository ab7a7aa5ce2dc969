//! Delivering one notice to one target until it is delivered, refused, or out of time.
//!
//! Policy: retry network errors, timeouts, 5xx and 429 (waiting what `Retry-After` asks, else
//! exponential backoff with jitter), never other 4xx; stop once the next wait would pass the
//! tenant's `retry_for`. Every failed attempt is a warning naming the target's host (or topic)
//! and the status, never the URL; giving up is a warning too, and never an error of the import.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::message::Notice;
use super::retry::{Attempt, backoff};
use super::topic::TopicTarget;
use super::webhook::Webhook;

/// Where a notice goes.
#[derive(Debug, Clone)]
pub enum Target {
    Webhook(Webhook),
    Sns(TopicTarget),
}

impl Target {
    /// Safe to log: the webhook's host or the topic's ARN.
    pub fn label(&self) -> String {
        match self {
            Target::Webhook(w) => format!("webhook {}", w.url.host()),
            Target::Sns(t) => format!("sns {}", t.arn),
        }
    }
}

/// How long a delivery may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub retry_for: Duration,
}

/// One notice for one target, as queued.
#[derive(Debug, Clone)]
pub struct Job {
    pub notice: Arc<Notice>,
    pub target: Arc<Target>,
    pub limits: Limits,
}

/// Tries `job` until it is delivered or given up; returns whether it was delivered.
pub async fn deliver(http: &reqwest::Client, job: &Job) -> bool {
    let start = Instant::now();
    let label = job.target.label();
    let n = &job.notice;
    let mut retry = 0u32;
    loop {
        let attempt = match job.target.as_ref() {
            Target::Webhook(w) => w.attempt(http, n, job.limits.timeout).await,
            Target::Sns(t) => t.publisher.attempt(&t.arn, n, job.limits.timeout).await,
        };
        let (after, why) = match attempt {
            Attempt::Delivered => {
                tracing::info!(target_name = %label, tenant = %n.tenant, batch = %n.batch,
                    event = n.event.as_str(), attempts = retry + 1, "notification delivered");
                return true;
            }
            Attempt::GiveUp { why } => {
                tracing::warn!(target_name = %label, tenant = %n.tenant, batch = %n.batch,
                    event = n.event.as_str(), status = %why, "notification refused; not retried");
                return false;
            }
            Attempt::Retry { after, why } => (after, why),
        };
        retry += 1;
        let wait = after.unwrap_or_else(|| backoff(retry, fastrand::f64()));
        if start.elapsed() + wait > job.limits.retry_for {
            tracing::warn!(target_name = %label, tenant = %n.tenant, batch = %n.batch,
                event = n.event.as_str(), status = %why, attempts = retry,
                "notification not delivered; giving up (retry_for_secs spent)");
            return false;
        }
        tracing::warn!(target_name = %label, tenant = %n.tenant, batch = %n.batch,
            event = n.event.as_str(), status = %why, attempt = retry,
            retry_in_ms = wait.as_millis() as u64, "notification not delivered; will retry");
        tokio::time::sleep(wait).await;
    }
}
