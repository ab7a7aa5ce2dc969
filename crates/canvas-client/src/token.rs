//! Where the Canvas access token comes from: the `CANVAS_TOKEN` value or a file
//! (`CANVAS_TOKEN_FILE`, e.g. a mounted Kubernetes secret).
//!
//! The token is a [`SecretString`] from the moment it is read: it has no `Display`, its `Debug`
//! is redacted, and the client exposes it once, when it builds the `Authorization` header.
//! Errors here name the source (variable or path), never the content.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Why no token could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no Canvas token: set CANVAS_TOKEN or CANVAS_TOKEN_FILE (a file holding the token)")]
    Missing,
    #[error(
        "both CANVAS_TOKEN and CANVAS_TOKEN_FILE are set; keep one so it is clear which token is used"
    )]
    Ambiguous,
    #[error("CANVAS_TOKEN is set but empty")]
    EmptyValue,
    #[error("could not read the Canvas token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Canvas token file {path} is empty")]
    EmptyFile { path: PathBuf },
    #[error(
        "the Canvas token from {source_name} contains whitespace or control characters inside it; a token is one word"
    )]
    Malformed { source_name: String },
}

/// Loads the token from `env_value` (the `CANVAS_TOKEN` value) or from `file` (the
/// `CANVAS_TOKEN_FILE` path), trimmed. Exactly one must be given.
pub fn load_token(
    env_value: Option<String>,
    file: Option<&Path>,
) -> Result<SecretString, TokenError> {
    let env_value = env_value.filter(|v| !v.is_empty() || file.is_none());
    match (env_value, file) {
        (Some(_), Some(_)) => Err(TokenError::Ambiguous),
        (None, None) => Err(TokenError::Missing),
        (Some(v), None) => {
            let t = v.trim();
            if t.is_empty() {
                return Err(TokenError::EmptyValue);
            }
            check_shape(t, "CANVAS_TOKEN")?;
            Ok(SecretString::from(t.to_owned()))
        }
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
                path: path.to_owned(),
                source,
            })?;
            let t = raw.trim();
            if t.is_empty() {
                return Err(TokenError::EmptyFile {
                    path: path.to_owned(),
                });
            }
            check_shape(t, &path.display().to_string())?;
            Ok(SecretString::from(t.to_owned()))
        }
    }
}

/// A token that would not survive an HTTP header (or is two things pasted together).
fn check_shape(t: &str, source_name: &str) -> Result<(), TokenError> {
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TokenError::Malformed {
            source_name: source_name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn env_value_is_trimmed() {
        let t = load_token(Some("  abc123\n".into()), None).unwrap();
        assert_eq!(t.expose_secret(), "abc123");
    }

    #[test]
    fn file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cret-token\n").unwrap();
        assert_eq!(
            load_token(None, Some(&p)).unwrap().expose_secret(),
            "s3cret-token"
        );
    }

    #[test]
    fn missing_empty_and_ambiguous_sources_are_refused() {
        assert!(matches!(load_token(None, None), Err(TokenError::Missing)));
        assert!(matches!(
            load_token(Some("  ".into()), None),
            Err(TokenError::EmptyValue)
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "x").unwrap();
        assert!(matches!(
            load_token(Some("y".into()), Some(&p)),
            Err(TokenError::Ambiguous)
        ));
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(
            load_token(None, Some(&p)),
            Err(TokenError::EmptyFile { .. })
        ));
    }

    #[test]
    fn errors_never_show_the_token() {
        let e = load_token(Some("abc def".into()), None).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("abc"), "{shown}");
        let dbg = format!("{:?}", load_token(Some("topsecret".into()), None).unwrap());
        assert!(!dbg.contains("topsecret"), "{dbg}");
    }
}
