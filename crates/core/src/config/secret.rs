//! Canvas tokens kept in a secret store (`CANVAS_TOKEN_SECRET_ARN`, or `token_secret_arn` in
//! the config file): which secrets the config locates, and where a fetched token is kept. The
//! fetch itself (AWS Secrets Manager, once when a command starts) is `canvas-sis-aws`'s
//! `secrets` module; a fetched token goes straight into a `SecretString`.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use super::Config;
use super::tenant::{FetchedToken, TokenSource};

/// The variable naming the secret in single-tenant mode (no config file).
pub const SECRET_ARN_ENV: &str = "CANVAS_TOKEN_SECRET_ARN";

/// The secrets the config locates whose token is not fetched yet, each once.
pub fn unfetched_secrets(config: &Config) -> Vec<String> {
    let mut arns: Vec<String> = Vec::new();
    for t in &config.tenants {
        if let TokenSource::SecretsManager { arn, fetched: None } = &t.token
            && !arns.contains(arn)
        {
            arns.push(arn.clone());
        }
    }
    arns
}

/// Keeps each fetched token in the [`TokenSource`] of every tenant that locates its secret.
pub fn keep_fetched_tokens(config: &mut Config, tokens: &HashMap<String, SecretString>) {
    let shared: HashMap<&str, FetchedToken> = tokens
        .iter()
        .map(|(arn, t)| (arn.as_str(), FetchedToken(Arc::new(t.clone()))))
        .collect();
    for t in &mut config.tenants {
        if let TokenSource::SecretsManager { arn, fetched: slot } = &mut t.token
            && slot.is_none()
        {
            *slot = shared.get(arn.as_str()).cloned();
        }
    }
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

    #[test]
    fn each_secret_is_asked_for_once_and_its_token_kept_for_every_tenant_naming_it() {
        let text = r#"
[tenants.a]
canvas_url = "https://a.test"
token_secret_arn = "arn:aws:secretsmanager:eu-west-1:1:secret:shared"
folder = "a"
[tenants.b]
canvas_url = "https://b.test"
token_secret_arn = "arn:aws:secretsmanager:eu-west-1:1:secret:shared"
folder = "b"
[tenants.c]
canvas_url = "https://c.test"
token_env = "C_TOKEN"
folder = "c"
"#;
        let mut c =
            Config::from_toml(text, std::path::Path::new("/etc/c.toml"), &|_| None).unwrap();
        let shared = "arn:aws:secretsmanager:eu-west-1:1:secret:shared";
        assert_eq!(unfetched_secrets(&c), [shared]);
        let tokens = HashMap::from([(shared.to_owned(), SecretString::from("tok-1".to_owned()))]);
        keep_fetched_tokens(&mut c, &tokens);
        use secrecy::ExposeSecret;
        for t in &c.tenants[..2] {
            assert_eq!(
                t.token.load().unwrap().expose_secret(),
                "tok-1",
                "{}",
                t.name
            );
        }
        assert!(
            matches!(c.tenants[2].token, TokenSource::Env(_)),
            "{:?}",
            c.tenants[2].token
        );
        assert!(unfetched_secrets(&c).is_empty(), "nothing left to fetch");
    }
}
