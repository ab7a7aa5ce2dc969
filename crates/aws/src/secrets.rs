//! Secrets kept in AWS Secrets Manager, fetched once when a command starts, with the same AWS
//! SDK settings as the worker's other clients (credentials chain, region, `AWS_ENDPOINT_URL`):
//! Canvas tokens (`CANVAS_TOKEN_SECRET_ARN`, or `token_secret_arn` in the config file; which
//! secrets, and where their tokens are kept: `config::secret` in `canvas-sis-core`) and webhook
//! URLs (`<VARIABLE>_SECRET_ARN` beside an unset URL variable: `Notifier::secret_urls`), for a
//! Lambda function, which has no secret injection.
//!
//! The secret's `SecretString` is the value, trimmed. It goes straight into a `SecretString`;
//! errors name the secret (its ARN or name) and what it holds, never its value.

use std::collections::HashMap;

use aws_config::BehaviorVersion;
use secrecy::SecretString;

use canvas_sis_core::config::Config;
use canvas_sis_core::config::secret::{keep_fetched_tokens, unfetched_secrets};

/// Why a secret could not be fetched (`what`: what it holds, e.g. "Canvas token").
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "reading the {what} secret {arn} from Secrets Manager: {detail}; the role needs \
         secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
    )]
    Fetch {
        what: String,
        arn: String,
        detail: String,
    },
    #[error("the {what} secret {arn} holds no text (SecretString); store it as plain text")]
    NotText { what: String, arn: String },
    #[error("the {what} secret {arn} is empty")]
    Empty { what: String, arn: String },
    #[error(
        "the {what} secret {arn} contains whitespace or control characters inside it; store the \
         value alone, as plain text"
    )]
    Malformed { what: String, arn: String },
}

/// What a Canvas token's secret holds, for errors.
const TOKEN: &str = "Canvas token";

/// Fetches every token the config locates in Secrets Manager (each secret once) and keeps it in
/// its tenant's [`TokenSource`]. Nothing is called when no tenant uses a secret.
pub async fn fetch_secret_tokens(config: &mut Config) -> Result<usize, SecretError> {
    let wanted = unfetched_secrets(config);
    if wanted.is_empty() {
        return Ok(0);
    }
    let client = client().await;
    let mut tokens = HashMap::new();
    for arn in wanted {
        let token = fetch(&client, &arn, TOKEN).await?;
        tokens.insert(arn, token);
    }
    keep_fetched_tokens(config, &tokens);
    Ok(tokens.len())
}

/// Fetches the webhook URLs of `wanted` (variable, secret ARN), by variable. Nothing is called
/// when it is empty.
pub async fn fetch_webhook_urls(
    wanted: &[(String, String)],
) -> Result<HashMap<String, SecretString>, SecretError> {
    let mut urls = HashMap::new();
    if wanted.is_empty() {
        return Ok(urls);
    }
    let client = client().await;
    for (var, arn) in wanted {
        let what = format!("webhook URL ({var})");
        urls.insert(var.clone(), fetch(&client, arn, &what).await?);
    }
    Ok(urls)
}

/// A Secrets Manager client from the SDK's default chain (credentials, region, endpoint).
async fn client() -> aws_sdk_secretsmanager::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_secretsmanager::Client::new(&shared)
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    what: &str,
) -> Result<SecretString, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            let detail = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            };
            SecretError::Fetch {
                what: what.to_owned(),
                arn: arn.to_owned(),
                detail,
            }
        })?;
    let text = out.secret_string().ok_or_else(|| SecretError::NotText {
        what: what.to_owned(),
        arn: arn.to_owned(),
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(SecretError::Empty {
            what: what.to_owned(),
            arn: arn.to_owned(),
        });
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SecretError::Malformed {
            what: what.to_owned(),
            arn: arn.to_owned(),
        });
    }
    Ok(SecretString::from(t.to_owned()))
}
