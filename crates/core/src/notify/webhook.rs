//! One webhook attempt: the body for its format, one POST, the answer classified.
//!
//! The URL is used only in the request; what is logged or returned names its host and the HTTP
//! status, never the path or query (Slack and Teams keep their key there), and never reqwest's
//! error text, which would repeat the URL.

use std::time::Duration;

use super::config::{SecretUrl, WebhookFormat};
use super::message::Notice;
use super::retry::{Attempt, classify_status, parse_retry_after};

/// A webhook with its URL read.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: SecretUrl,
    pub format: WebhookFormat,
}

impl Webhook {
    /// The body this webhook's format asks for.
    pub fn body(&self, notice: &Notice) -> serde_json::Value {
        match self.format {
            WebhookFormat::Json => serde_json::to_value(notice).unwrap_or_default(),
            WebhookFormat::Slack => serde_json::json!({ "text": notice.slack_text() }),
            WebhookFormat::Teams => serde_json::json!({ "text": notice.teams_text() }),
        }
    }

    /// POSTs once; `timeout` bounds the whole exchange.
    pub async fn attempt(
        &self,
        http: &reqwest::Client,
        notice: &Notice,
        timeout: Duration,
    ) -> Attempt {
        let sent = http
            .post(self.url.expose().clone())
            .timeout(timeout)
            .json(&self.body(notice))
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                classify_status(resp.status().as_u16(), retry_after)
            }
            Err(e) => Attempt::Retry {
                after: None,
                why: error_kind(&e).to_owned(),
            },
        }
    }
}

/// What went wrong, without the URL reqwest's `Display` would add.
fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    }
}

/// The HTTP client every webhook shares: no redirects (a redirect would carry the notice, and
/// perhaps the key, somewhere else).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("canvas-sis/", env!("CARGO_PKG_VERSION")))
        .build()
}
