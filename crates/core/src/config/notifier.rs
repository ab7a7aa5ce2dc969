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
        Notifier::from_config_with(config, hint, sns, &|v| std::env::var(v).ok())
    }

    /// [`Notifier::from_config`], reading `url_env` variables through `env`.
    pub fn from_config_with(
        config: &Config,
        hint: LedgerHint,
        sns: Option<Arc<dyn TopicPublisher>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Notifier>, NotifyError> {
        let tenants = config
            .tenants
            .iter()
            .map(|t| (t.name.as_str(), &t.notify, t.on_failure == OnFailure::Halt));
        Notifier::for_tenants(tenants, hint, sns, env)
    }

    /// The webhook URL variables of `config` that are not set (per `env`) while their
    /// [`secret_url_variable`](crate::notify::config::secret_url_variable) is: (variable, the
    /// secret's ARN), each once. The caller reads those secrets before building the notifier.
    pub fn secret_urls(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        use crate::notify::config::{UrlSource, secret_url_variable};
        let set = |v: &str| env(v).filter(|x| !x.trim().is_empty());
        let mut wanted: Vec<(String, String)> = Vec::new();
        for w in config.tenants.iter().flat_map(|t| &t.notify.webhooks) {
            if let UrlSource::Env(var) = &w.url
                && set(var).is_none()
                && let Some(arn) = set(&secret_url_variable(var))
                && !wanted.iter().any(|(v, _)| v == var)
            {
                wanted.push((var.clone(), arn.trim().to_owned()));
            }
        }
        wanted
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

    #[test]
    fn a_webhook_url_variable_left_unset_is_read_from_the_secret_its_arn_variable_names() {
        let text = "[defaults]\ncanvas_url = \"https://c.test\"\ntoken_env = \"T\"\n\
            [[defaults.notify.webhook]]\nurl_env = \"HOOK\"\n\
            [tenants.a]\nfolder = \"a\"\n[tenants.b]\nfolder = \"b\"\n";
        let c = Config::from_toml(text, std::path::Path::new("/etc/c.toml"), &|_| None).unwrap();
        let arn = "arn:aws:secretsmanager:eu-west-1:1:secret:hook";
        let only_arn = |v: &str| (v == "HOOK_SECRET_ARN").then(|| arn.to_owned());
        assert_eq!(
            Notifier::secret_urls(&c, &only_arn),
            vec![("HOOK".to_owned(), arn.to_owned())],
            "each variable once, though two tenants name it"
        );
        let both = |v: &str| match v {
            "HOOK" => Some("https://h.test/x".to_owned()),
            _ => only_arn(v),
        };
        assert!(
            Notifier::secret_urls(&c, &both).is_empty(),
            "a set variable wins"
        );
        assert!(Notifier::secret_urls(&c, &|_| None).is_empty());
    }

    #[test]
    fn the_no_config_tenants_webhook_may_be_kept_in_secrets_manager() {
        use crate::notify::config::raw_from_env;
        let env = |v: &str| match v {
            "SIS_NOTIFY_WEBHOOK_URL_SECRET_ARN" => Some("arn:x".to_owned()),
            "SIS_NOTIFY_WEBHOOK_FORMAT" => Some("teams".to_owned()),
            _ => None,
        };
        let raw = raw_from_env(&env).unwrap().expect("a destination");
        assert_eq!(raw.webhook.len(), 1);
        assert_eq!(raw.webhook[0].url, None);
        assert_eq!(
            raw.webhook[0].url_env.as_deref(),
            Some("SIS_NOTIFY_WEBHOOK_URL")
        );
        assert_eq!(raw.webhook[0].format.as_deref(), Some("teams"));
    }
}
