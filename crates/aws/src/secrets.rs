//! Canvas tokens kept in AWS Secrets Manager (`CANVAS_TOKEN_SECRET_ARN`, or `token_secret_arn`
//! in the config file; which secrets, and where their tokens are kept: `config::secret` in
//! `canvas-sis-core`): fetched once when a command starts, with the same AWS SDK settings as
//! the worker's other clients (credentials chain, region, `AWS_ENDPOINT_URL`).
//!
//! The secret's `SecretString` is the token, trimmed. It goes straight into a `SecretString`;
//! errors name the secret (its ARN or name), never its value.

use std::collections::HashMap;

use aws_config::BehaviorVersion;
use secrecy::SecretString;

use canvas_sis_core::config::Config;
use canvas_sis_core::config::secret::{keep_fetched_tokens, unfetched_secrets};

/// Why a token could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "reading the Canvas token secret {arn} from Secrets Manager: {detail}; the role needs \
         secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
    )]
    Fetch { arn: String, detail: String },
    #[error(
        "the Canvas token secret {arn} holds no text (SecretString); store the token as plain text"
    )]
    NotText { arn: String },
    #[error("the Canvas token secret {arn} is empty")]
    Empty { arn: String },
    #[error(
        "the Canvas token secret {arn} contains whitespace or control characters inside it; store \
         the token alone, as plain text"
    )]
    Malformed { arn: String },
}

/// Fetches every token the config locates in Secrets Manager (each secret once) and keeps it in
/// its tenant's [`TokenSource`]. Nothing is called when no tenant uses a secret.
pub async fn fetch_secret_tokens(config: &mut Config) -> Result<usize, SecretError> {
    let wanted = unfetched_secrets(config);
    if wanted.is_empty() {
        return Ok(0);
    }
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_secretsmanager::Client::new(&shared);
    let mut tokens = HashMap::new();
    for arn in wanted {
        let token = fetch(&client, &arn).await?;
        tokens.insert(arn, token);
    }
    keep_fetched_tokens(config, &tokens);
    Ok(tokens.len())
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
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
                arn: arn.to_owned(),
                detail,
            }
        })?;
    let text = out.secret_string().ok_or_else(|| SecretError::NotText {
        arn: arn.to_owned(),
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(SecretError::Empty {
            arn: arn.to_owned(),
        });
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SecretError::Malformed {
            arn: arn.to_owned(),
        });
    }
    Ok(SecretString::from(t.to_owned()))
}
