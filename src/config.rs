//! Where canvas-sis finds its Canvas: one typed settings tree, from the environment then flags,
//! validated once.
//!
//! The token is read from `CANVAS_TOKEN` or the file named by `CANVAS_TOKEN_FILE` and kept as a
//! [`secrecy::SecretString`]; it is exposed only by the Canvas client at the call that sends it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Settings for talking to one Canvas root account.
#[derive(Debug, Clone)]
pub struct CanvasSettings {
    /// `https://canvas.example.edu` (no `/api/v1`).
    pub base_url: url::Url,
    /// `self`, a numeric id, or `sis_account_id:X`.
    pub account: String,
    pub token: SecretString,
    /// Plain `http://` to a non-loopback host is refused unless this is set.
    pub allow_insecure_http: bool,
}

/// Why the settings could not be built. Each message says which variable or flag to set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no Canvas URL: set CANVAS_BASE_URL (e.g. https://school.instructure.com) or pass --canvas-url"
    )]
    MissingBaseUrl,
    #[error(
        "CANVAS_BASE_URL/--canvas-url {value:?} is not a URL ({reason}); use e.g. https://school.instructure.com"
    )]
    BadBaseUrl { value: String, reason: String },
    #[error(
        "no Canvas token: set CANVAS_TOKEN, or CANVAS_TOKEN_FILE to a file holding it (an admin token with the import_sis permission)"
    )]
    MissingToken,
    #[error("could not read the token file {path}: {source}; check CANVAS_TOKEN_FILE/--token-file")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {0} is empty")]
    EmptyTokenFile(PathBuf),
    #[error("{what} must be a number of seconds above 0, got {value:?}")]
    BadDuration { what: &'static str, value: String },
}

/// Raw values, from flags or environment, before validation.
#[derive(Debug, Clone, Default)]
pub struct CanvasInputs {
    pub base_url: Option<String>,
    pub account: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub allow_insecure_http: bool,
}

impl CanvasInputs {
    /// Validates the inputs: a URL, an account (default `self`), a token from the value or file.
    pub fn resolve(self) -> Result<CanvasSettings, ConfigError> {
        let raw = self
            .base_url
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigError::MissingBaseUrl)?;
        let base_url = url::Url::parse(raw.trim()).map_err(|e| ConfigError::BadBaseUrl {
            value: raw.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ConfigError::BadBaseUrl {
                value: raw,
                reason: "the scheme must be https (or http for a local simulator)".into(),
            });
        }
        let token = match (self.token.filter(|t| !t.trim().is_empty()), self.token_file) {
            (Some(t), _) => SecretString::from(t.trim().to_owned()),
            (None, Some(path)) => read_token_file(path)?,
            (None, None) => return Err(ConfigError::MissingToken),
        };
        Ok(CanvasSettings {
            base_url,
            account: self
                .account
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| "self".into()),
            token,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

fn read_token_file(path: PathBuf) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::TokenFile {
        path: path.clone(),
        source,
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(ConfigError::EmptyTokenFile(path));
    }
    Ok(SecretString::from(t.to_owned()))
}

/// Parses a positive number of seconds.
pub fn seconds(what: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| ConfigError::BadDuration {
            what,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn inputs() -> CanvasInputs {
        CanvasInputs {
            base_url: Some("https://school.instructure.com".into()),
            token: Some("  tok  ".into()),
            ..CanvasInputs::default()
        }
    }

    #[test]
    fn account_defaults_to_self_and_token_is_trimmed() {
        let s = inputs().resolve().unwrap();
        assert_eq!(s.account, "self");
        assert_eq!(s.token.expose_secret(), "tok");
    }

    #[test]
    fn token_file_is_read_when_no_token_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "from-file\n").unwrap();
        let s = CanvasInputs {
            token: None,
            token_file: Some(p),
            ..inputs()
        }
        .resolve()
        .unwrap();
        assert_eq!(s.token.expose_secret(), "from-file");
    }

    #[test]
    fn missing_pieces_say_which_variable_to_set() {
        let e = CanvasInputs {
            base_url: None,
            ..inputs()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("CANVAS_BASE_URL"));
        let e = CanvasInputs {
            token: None,
            ..inputs()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("CANVAS_TOKEN"));
        let e = CanvasInputs {
            base_url: Some("ftp://x".into()),
            ..inputs()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let s = CanvasInputs {
            token: Some("supersecret".into()),
            ..inputs()
        }
        .resolve()
        .unwrap();
        assert!(!format!("{s:?}").contains("supersecret"));
    }
}
