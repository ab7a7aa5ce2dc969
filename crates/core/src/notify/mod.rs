//! Notifications: telling people when a batch fails, a tenant halts, a batch is held by the
//! mass-change guard, or (if asked) a batch is imported with warnings — by webhook (the JSON
//! notice, or `{"text": ...}` for Slack and Teams) and/or an SNS topic, per tenant.
//!
//! # Layout
//!
//! - [`config`]: the `notify` table of a tenant and the `SIS_NOTIFY_*` variables, checked at load.
//! - [`message`]: the notice (versioned JSON fields) and its text and subject renderings.
//! - [`notifier`]: the [`Notifier`] that turns batch events into queued notices, and `flush`
//!   (the pipeline feeds it through its `Observer` port; `config` builds it from a config file).
//!
//! This module depends on the ledger only, so that `config` can embed its settings.
//! - [`deliver`]: the retry loop for one notice and one target; [`retry`]: its pure rules.
//! - [`webhook`]: one attempt; [`topic`]: the port an SNS topic is published through (the
//!   publisher is in `canvas-sis-aws`), one attempt.
//!
//! Delivery never blocks or fails an import: the pipeline records first, then tells the
//! observers; a notice that cannot be delivered is retried for a bounded time and then only
//! logged.

pub mod config;
pub mod deliver;
pub mod message;
pub mod notifier;
pub mod retry;
pub mod topic;
pub mod webhook;

pub use config::{NotifyConfig, WebhookFormat};
pub use message::{LedgerHint, Notice, NoticeKind, SCHEMA};
pub use notifier::{Notifier, NotifyError};
pub use topic::{TopicPublisher, TopicTarget};
