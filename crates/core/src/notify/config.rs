//! Who hears about a tenant's batches: the `notify` table of a tenant (or of `[defaults]`),
//! checked once at load, plus the `SIS_NOTIFY_*` variables of the no-config case.
//!
//! ```toml
//! [defaults.notify]                      # or [tenants.<name>.notify]; a tenant's table wins whole
//! on_success_with_warnings = false
//! sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:canvas-sis"
//! [[defaults.notify.webhook]]
//! url_env = "SLACK_WEBHOOK_URL"          # or url = "https://hooks.slack.com/services/..."
//! format = "slack"                       # "json" (default) | "slack" | "teams"
//! ```
//!
//! A webhook URL is a secret (Slack's and Teams' carry a key in the path): its `Debug` shows the
//! host only, and an `url_env` URL is read only when the notifier is built, never here.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// A setting that cannot be used: its dotted key, what is wrong, how to fix it. The config file's
/// refusals are this type too (`config::Problem`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}; {fix}")]
pub struct Problem {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

pub(crate) fn problem(
    key: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> Problem {
    Problem {
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Per-attempt timeout of a webhook call or SNS publish when none is configured.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// How long one notification is retried, in total, when nothing is configured.
pub const DEFAULT_RETRY_FOR_SECS: u64 = 300;

/// `[tenants.<name>.notify]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    #[serde(default)]
    pub webhook: Vec<RawWebhook>,
    pub sns_topic_arn: Option<String>,
    pub on_success_with_warnings: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub retry_for_secs: Option<u64>,
}

/// One `[[...notify.webhook]]` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub format: Option<String>,
}

/// A tenant's checked notification settings; `Default` notifies nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub webhooks: Vec<WebhookConfig>,
    pub sns_topic_arn: Option<String>,
    /// Also notify when a batch was imported but Canvas or validation left warnings.
    pub on_success_with_warnings: bool,
    /// One attempt's limit.
    pub timeout: Duration,
    /// Retries stop once this much time has passed since the first attempt.
    pub retry_for: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            sns_topic_arn: None,
            on_success_with_warnings: false,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            retry_for: Duration::from_secs(DEFAULT_RETRY_FOR_SECS),
        }
    }
}

impl NotifyConfig {
    /// True when there is somewhere to send to.
    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty() || self.sns_topic_arn.is_some()
    }
}

/// One webhook: where (located, maybe not yet read) and in which body format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: UrlSource,
    pub format: WebhookFormat,
}

/// Where a webhook URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Inline(SecretUrl),
    /// An environment variable holding the URL, read when the notifier is built.
    Env(String),
}

/// A URL whose path and query are a secret: `Debug` and `Display` show the host only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses and checks (http or https, with a host); the error never repeats the value.
    pub fn parse(v: &str) -> Result<SecretUrl, String> {
        let url = Url::parse(v.trim()).map_err(|e| format!("is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("is not an http(s) URL with a host".into());
        }
        Ok(SecretUrl(url))
    }

    /// The host (and port), safe to log.
    pub fn host(&self) -> String {
        let host = self.0.host_str().unwrap_or("?");
        match self.0.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        }
    }

    /// The whole URL: only for the call that sends to it.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({}/…)", self.host())
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.host())
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// The versioned JSON notice ([`super::Notice`]).
    #[default]
    Json,
    /// `{"text": ...}` in Slack's mrkdwn.
    Slack,
    /// `{"text": ...}` in the Markdown Teams renders.
    Teams,
}

impl WebhookFormat {
    pub fn parse(v: &str) -> Option<WebhookFormat> {
        match v.trim().to_ascii_lowercase().as_str() {
            "json" => Some(WebhookFormat::Json),
            "slack" => Some(WebhookFormat::Slack),
            "teams" => Some(WebhookFormat::Teams),
            _ => None,
        }
    }
}

/// Checks a raw `notify` table; `key` is its dotted name (`tenants.main.notify`).
pub fn resolve(raw: Option<&RawNotify>, key: &str) -> Result<NotifyConfig, Problem> {
    let Some(raw) = raw else {
        return Ok(NotifyConfig::default());
    };
    let webhooks = raw
        .webhook
        .iter()
        .enumerate()
        .map(|(i, w)| webhook(w, &format!("{key}.webhook[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let sns_topic_arn = match raw.sns_topic_arn.as_deref() {
        Some(arn) => Some(topic_arn(arn, &format!("{key}.sns_topic_arn"))?),
        None => None,
    };
    Ok(NotifyConfig {
        webhooks,
        sns_topic_arn,
        on_success_with_warnings: raw.on_success_with_warnings.unwrap_or(false),
        timeout: secs_in(
            raw.timeout_secs,
            DEFAULT_TIMEOUT_SECS,
            1..=120,
            key,
            "timeout_secs",
        )?,
        retry_for: secs_in(
            raw.retry_for_secs,
            DEFAULT_RETRY_FOR_SECS,
            0..=3600,
            key,
            "retry_for_secs",
        )?,
    })
}

fn webhook(w: &RawWebhook, key: &str) -> Result<WebhookConfig, Problem> {
    let fix_url = "write exactly one of url = \"https://hooks.example.com/...\" or url_env = \
                   \"SLACK_WEBHOOK_URL\" (a variable holding the URL; keeps the key out of the file)";
    let url = match (&w.url, &w.url_env) {
        (Some(_), Some(_)) => {
            return Err(problem(
                format!("{key}.url"),
                "both url and url_env are set",
                fix_url,
            ));
        }
        (None, None) => return Err(problem(format!("{key}.url"), "is missing", fix_url)),
        (Some(u), None) => UrlSource::Inline(
            SecretUrl::parse(u).map_err(|p| problem(format!("{key}.url"), p, fix_url))?,
        ),
        (None, Some(var)) => UrlSource::Env(env_name(var, &format!("{key}.url_env"))?),
    };
    let format = match w.format.as_deref() {
        None => WebhookFormat::Json,
        Some(f) => WebhookFormat::parse(f).ok_or_else(|| {
            problem(
                format!("{key}.format"),
                format!("{f:?} is not a webhook format"),
                "write format = \"json\" (the documented JSON notice), \"slack\" or \"teams\" \
                 ({\"text\": ...} for their incoming webhooks)",
            )
        })?,
    };
    Ok(WebhookConfig { url, format })
}

fn env_name(var: &str, key: &str) -> Result<String, Problem> {
    let ok = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(var.to_owned());
    }
    Err(problem(
        key,
        "is not an environment variable name",
        "write the variable's name, not the URL, e.g. url_env = \"SLACK_WEBHOOK_URL\"",
    ))
}

/// `arn:<partition>:sns:<region>:<account>:<name>`.
pub fn topic_arn(arn: &str, key: &str) -> Result<String, Problem> {
    let parts: Vec<&str> = arn.trim().split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && parts[3..].iter().all(|p| !p.is_empty());
    if ok {
        return Ok(arn.trim().to_owned());
    }
    Err(problem(
        key,
        format!("{arn:?} is not an SNS topic ARN"),
        "write the topic's ARN, e.g. sns_topic_arn = \"arn:aws:sns:eu-west-1:123456789012:canvas-sis\"",
    ))
}

fn secs_in(
    v: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    key: &str,
    name: &str,
) -> Result<Duration, Problem> {
    let secs = v.unwrap_or(default);
    if range.contains(&secs) {
        return Ok(Duration::from_secs(secs));
    }
    Err(problem(
        format!("{key}.{name}"),
        format!("{secs} is out of range"),
        format!(
            "write a number of seconds from {} to {} (default {default})",
            range.start(),
            range.end()
        ),
    ))
}

/// The variable that may hold, instead of webhook URL variable `var`, the ARN of an AWS Secrets
/// Manager secret whose text is the URL (`SLACK_WEBHOOK_URL_SECRET_ARN`): for a Lambda function,
/// which has no secret injection. The secret is read once when the notifier is built.
pub fn secret_url_variable(var: &str) -> String {
    format!("{var}_SECRET_ARN")
}

/// The `SIS_NOTIFY_*` variables, for a tenant built from the environment (no config file):
/// `SIS_NOTIFY_WEBHOOK_URL` (or `SIS_NOTIFY_WEBHOOK_URL_SECRET_ARN`: [`secret_url_variable`]),
/// `SIS_NOTIFY_WEBHOOK_FORMAT`, `SIS_NOTIFY_SNS_TOPIC_ARN`,
/// `SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS` (`true`/`false`). `None` when none is set.
pub fn raw_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<RawNotify>, Problem> {
    let get = |n: &str| env(n).filter(|v| !v.trim().is_empty());
    let url = get("SIS_NOTIFY_WEBHOOK_URL");
    // The URL kept in Secrets Manager instead: read through the variable when the notifier is
    // built (`secret_url_variable`).
    let url_in_secret =
        url.is_none() && get(&secret_url_variable("SIS_NOTIFY_WEBHOOK_URL")).is_some();
    let format = get("SIS_NOTIFY_WEBHOOK_FORMAT");
    let arn = get("SIS_NOTIFY_SNS_TOPIC_ARN");
    let warn = get("SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS");
    if url.is_none() && !url_in_secret && arn.is_none() {
        if format.is_some() || warn.is_some() {
            return Err(problem(
                "SIS_NOTIFY_WEBHOOK_URL",
                "notification settings are set but no destination",
                "set SIS_NOTIFY_WEBHOOK_URL or SIS_NOTIFY_SNS_TOPIC_ARN",
            ));
        }
        return Ok(None);
    }
    let on_success_with_warnings = match warn.as_deref().map(str::trim) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            return Err(problem(
                "SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS",
                format!("{other:?} is not true or false"),
                "set it to true or false",
            ));
        }
    };
    let webhook = match (url, url_in_secret) {
        (Some(u), _) => vec![RawWebhook {
            url: Some(u),
            url_env: None,
            format,
        }],
        (None, true) => vec![RawWebhook {
            url: None,
            url_env: Some("SIS_NOTIFY_WEBHOOK_URL".into()),
            format,
        }],
        (None, false) => Vec::new(),
    };
    Ok(Some(RawNotify {
        webhook,
        sns_topic_arn: arn,
        on_success_with_warnings,
        ..RawNotify::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NotifyConfig, Problem> {
        let raw: RawNotify = toml::from_str(text).unwrap();
        resolve(Some(&raw), "tenants.main.notify")
    }

    #[test]
    fn webhooks_and_topic_are_read_with_their_defaults() {
        let c = parse(
            r#"
            sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:t"
            [[webhook]]
            url = "https://hooks.slack.com/services/T0/B0/secretkey"
            format = "slack"
            [[webhook]]
            url_env = "HOOK"
            "#,
        )
        .unwrap();
        assert_eq!(c.webhooks.len(), 2);
        assert_eq!(c.webhooks[0].format, WebhookFormat::Slack);
        assert_eq!(c.webhooks[1].format, WebhookFormat::Json);
        assert_eq!(c.webhooks[1].url, UrlSource::Env("HOOK".into()));
        assert!(!c.on_success_with_warnings);
        assert_eq!(c.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    }

    #[test]
    fn a_webhook_url_shows_its_host_only() {
        let c = parse("[[webhook]]\nurl = \"https://hooks.slack.com/services/T0/B0/secretkey\"")
            .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("hooks.slack.com"), "{shown}");
        assert!(!shown.contains("secretkey"), "{shown}");
    }

    #[test]
    fn refusals_name_the_key_and_never_echo_the_url() {
        let e = parse("[[webhook]]\nurl = \"ftp://x/secretkey\"").unwrap_err();
        assert_eq!(e.key, "tenants.main.notify.webhook[0].url");
        assert!(!e.to_string().contains("secretkey"), "{e}");
        let e = parse("[[webhook]]\nurl = \"https://x/\"\nformat = \"discord\"").unwrap_err();
        assert_eq!(e.key, "tenants.main.notify.webhook[0].format");
        let e = parse("sns_topic_arn = \"canvas-sis\"").unwrap_err();
        assert_eq!(e.key, "tenants.main.notify.sns_topic_arn");
        let e = parse("[[webhook]]\nformat = \"json\"").unwrap_err();
        assert!(e.problem.contains("missing"), "{e}");
        let e = parse("timeout_secs = 0").unwrap_err();
        assert_eq!(e.key, "tenants.main.notify.timeout_secs");
    }

    #[test]
    fn environment_variables_describe_one_webhook() {
        let env = |n: &str| match n {
            "SIS_NOTIFY_WEBHOOK_URL" => Some("https://h/x".to_owned()),
            "SIS_NOTIFY_WEBHOOK_FORMAT" => Some("teams".to_owned()),
            _ => None,
        };
        let raw = raw_from_env(&env).unwrap().unwrap();
        let c = resolve(Some(&raw), "SIS_NOTIFY").unwrap();
        assert_eq!(c.webhooks[0].format, WebhookFormat::Teams);
        assert!(raw_from_env(&|_: &str| None).unwrap().is_none());
        let only_format = |n: &str| (n == "SIS_NOTIFY_WEBHOOK_FORMAT").then(|| "json".to_owned());
        assert!(raw_from_env(&only_format).is_err());
    }
}
