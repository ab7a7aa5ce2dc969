//! Canvas tokens kept in AWS Secrets Manager (`CANVAS_TOKEN_SECRET_ARN`, or `token_secret_arn`
//! in the config file): fetched once when a command starts, with the same AWS SDK settings as
//! the worker's other clients (credentials chain, region, `AWS_ENDPOINT_URL`).
//!
//! The secret's `SecretString` is the token, trimmed. It goes straight into a `SecretString`;
//! errors name the secret (its ARN or name), never its value.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use secrecy::SecretString;

use super::Config;
use super::tenant::{FetchedToken, TokenSource};

/// The variable naming the secret in single-tenant mode (no config file).
pub const SECRET_ARN_ENV: &str = "CANVAS_TOKEN_SECRET_ARN";

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
    let wanted = config
        .tenants
        .iter()
        .any(|t| matches!(t.token, TokenSource::SecretsManager { fetched: None, .. }));
    if !wanted {
        return Ok(0);
    }
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_secretsmanager::Client::new(&shared);
    let mut fetched: HashMap<String, FetchedToken> = HashMap::new();
    for t in &mut config.tenants {
        let TokenSource::SecretsManager { arn, fetched: slot } = &mut t.token else {
            continue;
        };
        if slot.is_some() {
            continue;
        }
        let token = match fetched.get(arn.as_str()) {
            Some(f) => f.clone(),
            None => {
                let f = FetchedToken(Arc::new(fetch(&client, arn).await?));
                fetched.insert(arn.clone(), f.clone());
                f
            }
        };
        *slot = Some(token);
    }
    Ok(fetched.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_secret_variable_locates_the_token_without_reading_it() {
        let env = env_of(&[
            ("CANVAS_BASE_URL", "https://a.test"),
            (
                SECRET_ARN_ENV,
                "arn:aws:secretsmanager:eu-west-1:1:secret:canvas",
            ),
        ]);
        let c = Config::single_tenant_from(&env).unwrap();
        let source = &c.tenants[0].token;
        assert_eq!(
            source,
            &TokenSource::SecretsManager {
                arn: "arn:aws:secretsmanager:eu-west-1:1:secret:canvas".into(),
                fetched: None
            }
        );
        let e = source.load().unwrap_err().to_string();
        assert!(e.contains("not fetched"), "{e}");
    }

    #[test]
    fn the_secret_is_exclusive_with_the_other_sources() {
        for other in ["CANVAS_TOKEN", "CANVAS_TOKEN_FILE"] {
            let env = move |k: &str| match k {
                "CANVAS_BASE_URL" => Some("https://a.test".to_owned()),
                SECRET_ARN_ENV => Some("arn:x".to_owned()),
                k if k == other => Some("/x".to_owned()),
                _ => None,
            };
            let e = Config::single_tenant_from(&env).unwrap_err();
            assert_eq!(e.key(), Some(SECRET_ARN_ENV), "{e}");
        }
    }

    #[test]
    fn a_fetched_token_never_shows_in_debug() {
        let f = FetchedToken(Arc::new(SecretString::from("s3cret-value".to_owned())));
        let source = TokenSource::SecretsManager {
            arn: "arn:x".into(),
            fetched: Some(f),
        };
        assert!(!format!("{source:?}").contains("s3cret"));
        use secrecy::ExposeSecret;
        assert_eq!(source.load().unwrap().expose_secret(), "s3cret-value");
    }
}
