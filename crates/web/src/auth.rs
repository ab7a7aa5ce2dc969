//! Who may read the status page: anyone who reaches the listener (the default: bind it where
//! only the right people reach it), or only those who send a bearer token or basic-auth
//! credentials that match the ones read from a file at start.
//!
//! The probes and `/metrics` are not behind it (a kubelet and Prometheus send no credentials);
//! only the page's routes are. The comparison takes the same time wherever the first difference
//! is, and the credentials never reach a log or an error.

use std::path::{Path, PathBuf};

use base64::Engine;

/// The page's access rule.
#[derive(Clone, Default)]
pub enum Access {
    /// No credentials asked.
    #[default]
    Open,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64(user:password)>`: the header value expected.
    Basic(String),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Open => "Open",
            Access::Bearer(_) => "Bearer(<redacted>)",
            Access::Basic(_) => "Basic(<redacted>)",
        })
    }
}

/// A credentials file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read the status page's credentials file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the status page's credentials file {path} is empty; put the token (or `user:password`) on its first line"
    )]
    Empty { path: PathBuf },
    #[error(
        "the status page's basic-auth file {path} has no `user:password` line; write one, e.g. `admin:<a long random password>`"
    )]
    NoColon { path: PathBuf },
    #[error("give either a bearer token file or a basic-auth file for the status page, not both")]
    Both,
}

impl Access {
    /// The rule from the operator's files (`--page-token-file`, `--page-basic-auth-file`).
    pub fn from_files(token: Option<&Path>, basic: Option<&Path>) -> Result<Access, AccessError> {
        match (token, basic) {
            (None, None) => Ok(Access::Open),
            (Some(_), Some(_)) => Err(AccessError::Both),
            (Some(path), None) => Ok(Access::Bearer(first_line(path)?)),
            (None, Some(path)) => {
                let line = first_line(path)?;
                if !line.contains(':') {
                    return Err(AccessError::NoColon { path: path.into() });
                }
                let encoded = base64::engine::general_purpose::STANDARD.encode(line.as_bytes());
                Ok(Access::Basic(encoded))
            }
        }
    }

    /// Whether a request with this `Authorization` header value may read the page.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let given = authorization.unwrap_or("").trim();
        let (scheme, value) = given.split_once(' ').unwrap_or((given, ""));
        match self {
            Access::Open => true,
            Access::Bearer(t) => scheme.eq_ignore_ascii_case("bearer") && same(value.trim(), t),
            Access::Basic(b) => scheme.eq_ignore_ascii_case("basic") && same(value.trim(), b),
        }
    }

    /// The `WWW-Authenticate` challenge of a refusal, if the rule asks for credentials.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Access::Open => None,
            Access::Bearer(_) => Some("Bearer realm=\"canvas-sis\""),
            Access::Basic(_) => Some("Basic realm=\"canvas-sis\", charset=\"UTF-8\""),
        }
    }
}

fn first_line(path: &Path) -> Result<String, AccessError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccessError::Unreadable {
        path: path.into(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("").trim().to_owned();
    if line.is_empty() {
        return Err(AccessError::Empty { path: path.into() });
    }
    Ok(line)
}

/// Equal, in a time that depends only on the lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn a_bearer_token_from_its_file_lets_in_only_that_token() {
        let f = file("s3cret-page-token\n");
        let a = Access::from_files(Some(f.path()), None).unwrap();
        assert!(a.allows(Some("Bearer s3cret-page-token")));
        assert!(a.allows(Some("bearer  s3cret-page-token ")));
        assert!(!a.allows(Some("Bearer s3cret-page-toke")));
        assert!(!a.allows(Some("Basic s3cret-page-token")));
        assert!(!a.allows(None));
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn basic_auth_from_its_file_lets_in_only_that_user_and_password() {
        let f = file("admin:pa55word\n");
        let a = Access::from_files(None, Some(f.path())).unwrap();
        let good = base64::engine::general_purpose::STANDARD.encode("admin:pa55word");
        let bad = base64::engine::general_purpose::STANDARD.encode("admin:pa55wore");
        assert!(a.allows(Some(&format!("Basic {good}"))));
        assert!(!a.allows(Some(&format!("Basic {bad}"))));
        assert!(!a.allows(Some(&format!("Bearer {good}"))));
    }

    #[test]
    fn unusable_credentials_files_are_refused_saying_what_to_write() {
        let empty = file("\n");
        let e = Access::from_files(Some(empty.path()), None).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let no_colon = file("justapassword\n");
        let e = Access::from_files(None, Some(no_colon.path())).unwrap_err();
        assert!(e.to_string().contains("user:password"), "{e}");
        assert!(!e.to_string().contains("justapassword"));
        let e = Access::from_files(Some(empty.path()), Some(no_colon.path())).unwrap_err();
        assert!(matches!(e, AccessError::Both));
        assert!(Access::from_files(None, None).unwrap().allows(None));
    }
}
