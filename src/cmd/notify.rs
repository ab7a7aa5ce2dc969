//! The notifier of the unattended commands (`watch`, `run`): built from the config, put next to
//! the command's own observer, flushed before the process exits.

use std::sync::Arc;

use anyhow::Context;

use canvas_sis::config::Config;
use canvas_sis::notify::{LedgerHint, Notifier, TopicPublisher};
use canvas_sis::pipeline::{Observer, Tee};

/// How long an exiting process waits for notifications still being delivered.
pub const FLUSH_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(20);

/// The notifier for `config`, or `None` when no tenant configures notifications. `sns` is
/// used when given; when it is not and a tenant publishes to SNS, a client is built from the
/// environment (in a build without AWS, such a tenant is refused: `NotifyError::NoSnsClient`).
pub async fn build(
    config: &Config,
    hint: LedgerHint,
    sns: Option<Arc<dyn TopicPublisher>>,
) -> anyhow::Result<Option<Notifier>> {
    #[cfg(feature = "aws")]
    let sns = match sns {
        None if Notifier::needs_sns(config) => {
            Some(sns_publisher(canvas_sis::aws::sns_from_env().await))
        }
        given => given,
    };
    warn_ignored_variables(config);
    let process_env = |v: &str| std::env::var(v).ok();
    let fetched = secret_urls(&Notifier::secret_urls(config, &process_env)).await?;
    let env = |v: &str| {
        process_env(v).filter(|x| !x.trim().is_empty()).or_else(|| {
            use secrecy::ExposeSecret as _;
            fetched.get(v).map(|u| u.expose_secret().to_owned())
        })
    };
    Notifier::from_config_with(config, hint, sns, &env).context("setting up notifications")
}

/// The webhook URLs kept in AWS Secrets Manager (`<VARIABLE>_SECRET_ARN`), by variable.
#[cfg(feature = "aws")]
async fn secret_urls(
    wanted: &[(String, String)],
) -> anyhow::Result<std::collections::HashMap<String, secrecy::SecretString>> {
    canvas_sis::aws::secrets::fetch_webhook_urls(wanted)
        .await
        .context("reading a webhook URL from AWS Secrets Manager")
}

/// In a build without AWS, a webhook URL kept in Secrets Manager cannot be read: say so.
#[cfg(not(feature = "aws"))]
async fn secret_urls(
    wanted: &[(String, String)],
) -> anyhow::Result<std::collections::HashMap<String, secrecy::SecretString>> {
    anyhow::ensure!(
        wanted.is_empty(),
        "{}_SECRET_ARN names a webhook URL kept in AWS Secrets Manager, but this canvas-sis was \
         built without AWS (cargo feature `aws`); set {} itself or build with the default features",
        wanted[0].0,
        wanted[0].0
    );
    Ok(Default::default())
}

/// Notices for SNS topics, published with `client`.
#[cfg(feature = "aws")]
pub fn sns_publisher(client: aws_sdk_sns::Client) -> Arc<dyn TopicPublisher> {
    Arc::new(canvas_sis::aws::sns::SnsPublisher { client })
}

/// The `SIS_NOTIFY_*` variables describe the no-config tenant only; with a config file they are
/// not read, which an operator who set them should hear about (unless a `url_env` names one).
fn warn_ignored_variables(config: &Config) {
    use canvas_sis::config::ConfigSource;
    use canvas_sis::notify::config::UrlSource;
    if config.source == ConfigSource::Environment {
        return;
    }
    let named = |var: &str| {
        config.tenants.iter().any(|t| {
            t.notify
                .webhooks
                .iter()
                .any(|w| w.url == UrlSource::Env(var.to_owned()))
        })
    };
    for var in [
        "SIS_NOTIFY_WEBHOOK_URL",
        "SIS_NOTIFY_WEBHOOK_URL_SECRET_ARN",
        "SIS_NOTIFY_WEBHOOK_FORMAT",
        "SIS_NOTIFY_SNS_TOPIC_ARN",
        "SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS",
    ] {
        let set = std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
        if set && !named(var.trim_end_matches("_SECRET_ARN")) {
            tracing::warn!(
                variable = var,
                "ignored: a config file is used; write notifications in its [defaults.notify] or \
                 [tenants.<name>.notify] table (url_env may name this variable)"
            );
        }
    }
}

/// The command's observer followed by the notifier, if any.
pub fn tee<'a>(own: &'a dyn Observer, notifier: Option<&'a Notifier>) -> Tee<'a> {
    let mut all: Vec<&dyn Observer> = vec![own];
    if let Some(n) = notifier {
        all.push(n);
    }
    Tee(all)
}

/// Waits up to [`FLUSH_AT_EXIT`] for pending notifications.
pub async fn flush(notifier: Option<&Notifier>) {
    if let Some(n) = notifier {
        n.flush(tokio::time::Instant::now() + FLUSH_AT_EXIT).await;
    }
}
