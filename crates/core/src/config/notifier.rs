//! A config file's notifications: the [`Notifier`] for its tenants. Here rather than in `notify`
//! because `config` embeds notify's settings, so notify must not know the config.

use std::sync::Arc;

use super::{Config, OnFailure};
use crate::notify::{LedgerHint, Notifier, NotifyError, TopicPublisher};

impl Notifier {
    /// True when some tenant publishes to SNS (the caller then builds an SNS client).
    pub fn needs_sns(config: &Config) -> bool {
        config
            .tenants
            .iter()
            .any(|t| t.notify.sns_topic_arn.is_some())
    }

    /// A notifier for the tenants of `config` that configure notifications, or `None` when none
    /// does ([`Notifier::for_tenants`]).
    pub fn from_config(
        config: &Config,
        hint: LedgerHint,
        sns: Option<Arc<dyn TopicPublisher>>,
    ) -> Result<Option<Notifier>, NotifyError> {
        let tenants = config
            .tenants
            .iter()
            .map(|t| (t.name.as_str(), &t.notify, t.on_failure == OnFailure::Halt));
        Notifier::for_tenants(tenants, hint, sns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::{UrlSource, WebhookFormat};

    #[test]
    fn the_example_config_gives_every_tenant_the_default_webhook() {
        let text = include_str!("../../../../examples/canvas-sis.toml");
        let c = Config::from_toml(text, std::path::Path::new("/etc/canvas-sis.toml"), &|_| {
            None
        })
        .unwrap();
        for t in &c.tenants {
            assert_eq!(t.notify.webhooks.len(), 1, "{}", t.name);
            assert_eq!(t.notify.webhooks[0].format, WebhookFormat::Slack);
            assert_eq!(
                t.notify.webhooks[0].url,
                UrlSource::Env("SLACK_WEBHOOK_URL".into())
            );
        }
    }
}
