//! The port a notice is published to a topic through: SNS (`canvas-sis-aws` implements it), so
//! that core needs no AWS SDK. One attempt per call; the retry loop in
//! [`deliver`](super::deliver) decides what happens next from the [`Attempt`] it returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::message::Notice;
use super::retry::Attempt;

/// Publishes one notice to a topic, once, within `timeout`.
pub trait TopicPublisher: Send + Sync + fmt::Debug {
    fn attempt<'a>(
        &'a self,
        topic_arn: &'a str,
        notice: &'a Notice,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Attempt> + Send + 'a>>;
}

/// A topic a tenant's notices go to, and the publisher that reaches it.
#[derive(Debug, Clone)]
pub struct TopicTarget {
    pub publisher: Arc<dyn TopicPublisher>,
    pub arn: String,
}
