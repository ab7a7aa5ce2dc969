//! What a simulator starts with: accounts, tokens and the knobs that set its pace.
//!
//! Everything is fixed at start (tests build a [`SimConfig`] in code, `canvas-sis simulate` builds
//! one from flags). Faults and per-import controls change at run time through `/__sim/`, not here.

use std::time::Duration;

/// A permission a token's user holds on every root account (docs/canvas-api.md §6.3, §7.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Needed to create imports; also lets the user list, show, abort and read errors.
    ImportSis,
    /// Lets the user list, show, abort, read errors and restore states, but not create.
    ManageSis,
}

/// How Canvas would treat the token itself, before any permission check (docs/canvas-api.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
    /// A scoped developer key that lacks the SIS scopes.
    InsufficientScopes,
}

/// One access token the simulator accepts, and the user it belongs to.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenSpec {
    /// The user's display name (also how logs refer to the token; the secret is never logged).
    pub name: String,
    pub secret: String,
    pub permissions: Vec<Permission>,
    pub status: TokenStatus,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("permissions", &self.permissions)
            .field("status", &self.status)
            .finish()
    }
}

/// Why a `--token` argument was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenSpecError {
    #[error(
        "token spec must be NAME:SECRET[:PERMS], got {0} part(s); example: sis-bot:s3cret:import_sis,manage_sis"
    )]
    Shape(usize),
    #[error("token spec has an empty name or secret; example: sis-bot:s3cret")]
    Empty,
    #[error(
        "unknown permission or status {0:?} in token spec; use import_sis, manage_sis, expired, revoked or no_scopes"
    )]
    Unknown(String),
}

impl std::str::FromStr for TokenSpec {
    type Err = TokenSpecError;

    /// Parses `NAME:SECRET[:PERMS]`, where PERMS is a comma list of `import_sis`, `manage_sis`
    /// and optionally one of `expired`, `revoked`, `no_scopes`. Without PERMS the token has both
    /// permissions; `none` gives an authenticated user with no SIS permission.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.splitn(3, ':').collect();
        if parts.len() < 2 {
            return Err(TokenSpecError::Shape(parts.len()));
        }
        let (name, secret) = (parts[0].trim(), parts[1].trim());
        if name.is_empty() || secret.is_empty() {
            return Err(TokenSpecError::Empty);
        }
        let mut spec = TokenSpec {
            name: name.to_owned(),
            secret: secret.to_owned(),
            permissions: vec![Permission::ImportSis, Permission::ManageSis],
            status: TokenStatus::Active,
        };
        if let Some(perms) = parts.get(2) {
            spec.permissions.clear();
            for word in perms.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                match word {
                    "import_sis" => spec.permissions.push(Permission::ImportSis),
                    "manage_sis" => spec.permissions.push(Permission::ManageSis),
                    "none" => {}
                    "expired" => spec.status = TokenStatus::Expired,
                    "revoked" => spec.status = TokenStatus::Revoked,
                    "no_scopes" => spec.status = TokenStatus::InsufficientScopes,
                    other => return Err(TokenSpecError::Unknown(other.to_owned())),
                }
            }
        }
        Ok(spec)
    }
}

/// An account the simulator knows from the start.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AccountSpec {
    pub id: u64,
    pub name: String,
    pub sis_account_id: Option<String>,
    /// `None` for a root account.
    pub parent_id: Option<u64>,
    /// Canvas's `allow_sis_import` setting (root accounts only).
    pub allow_sis_import: bool,
    /// Whether the `institutional_tags` feature is on (enables those three CSV kinds).
    pub institutional_tags: bool,
    /// Canvas's `allow_assign_to_differentiation_tags` setting, for this account and the
    /// sub-accounts its imports create (without it, differentiation tag rows are refused).
    #[serde(default)]
    pub differentiation_tags: bool,
}

/// The status Canvas answers a throttled request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleStatus {
    /// Canvas's own behaviour: `403` text/plain `403 Forbidden (Rate Limit Exceeded)`.
    Forbidden403,
    /// The variant some deployments are reported to use.
    TooMany429,
}

/// Canvas's leaky bucket (docs/canvas-api.md §6.4), per token.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub high_water_mark: f64,
    pub maximum: f64,
    pub outflow_per_sec: f64,
    pub up_front_cost: f64,
    /// What one request costs once it finishes (Canvas measures CPU and DB time).
    pub request_cost: f64,
    pub status: ThrottleStatus,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            high_water_mark: 600.0,
            maximum: 800.0,
            outflow_per_sec: 10.0,
            up_front_cost: 50.0,
            request_cost: 1.0,
            status: ThrottleStatus::Forbidden403,
        }
    }
}

/// Everything a simulator is started with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub accounts: Vec<AccountSpec>,
    pub tokens: Vec<TokenSpec>,
    /// Import speed: CSV rows applied per (simulated) second.
    pub rows_per_sec: f64,
    /// Canvas's `sis_batch_process_start_delay`: how long a new batch waits before it may start.
    pub start_delay: Duration,
    /// How long after the end of an import its `errors_attachment` appears.
    pub errors_attachment_lag: Duration,
    /// How long the next batch waits after an abort (Canvas: 10 minutes).
    pub abort_hold: Duration,
    /// Largest body of a Canvas API request (a raw or multipart create included).
    pub max_body_bytes: usize,
    /// Largest file accepted by the `pre_attachment` upload URL (the flow for large files).
    pub max_upload_bytes: usize,
    pub throttle: ThrottleConfig,
    /// Time moves only when a test calls `/__sim/advance` (no background ticking).
    pub manual_clock: bool,
    /// Save the state here after every change of an import, and load it at start.
    pub state_file: Option<std::path::PathBuf>,
    /// Answer 401 (older Canvas) instead of 403 to an authenticated user lacking permission.
    pub legacy_unauthorized_401: bool,
}

impl SimConfig {
    /// The default accounts: 1 (root, SIS allowed), 2 (its sub-account), 3 (root, SIS not allowed).
    pub fn default_accounts() -> Vec<AccountSpec> {
        vec![
            AccountSpec {
                id: 1,
                name: "Simulated University".into(),
                sis_account_id: Some("SIM_ROOT".into()),
                parent_id: None,
                allow_sis_import: true,
                institutional_tags: false,
                differentiation_tags: false,
            },
            AccountSpec {
                id: 2,
                name: "Simulated Sub-Account".into(),
                sis_account_id: Some("SIM_SUB".into()),
                parent_id: Some(1),
                allow_sis_import: true,
                institutional_tags: false,
                differentiation_tags: false,
            },
            AccountSpec {
                id: 3,
                name: "Closed College".into(),
                sis_account_id: Some("SIM_CLOSED".into()),
                parent_id: None,
                allow_sis_import: false,
                institutional_tags: false,
                differentiation_tags: false,
            },
        ]
    }

    /// A config with the default accounts and the given tokens.
    pub fn with_tokens(tokens: Vec<TokenSpec>) -> Self {
        SimConfig {
            accounts: Self::default_accounts(),
            tokens,
            rows_per_sec: 500.0,
            start_delay: Duration::ZERO,
            errors_attachment_lag: Duration::from_secs(1),
            abort_hold: Duration::from_secs(600),
            max_body_bytes: 512 * 1024 * 1024,
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            throttle: ThrottleConfig::default(),
            manual_clock: false,
            state_file: None,
            legacy_unauthorized_401: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_without_perms_has_both() {
        let t: TokenSpec = "bot:abc".parse().unwrap();
        assert_eq!(
            t.permissions,
            vec![Permission::ImportSis, Permission::ManageSis]
        );
        assert_eq!(t.status, TokenStatus::Active);
    }

    #[test]
    fn token_secret_may_not_contain_colon_but_perms_parse() {
        let t: TokenSpec = "viewer:xyz:manage_sis".parse().unwrap();
        assert_eq!(t.permissions, vec![Permission::ManageSis]);
        let t: TokenSpec = "old:xyz:import_sis,expired".parse().unwrap();
        assert_eq!(t.status, TokenStatus::Expired);
    }

    #[test]
    fn bad_token_specs_say_what_to_do() {
        assert_eq!(
            "justname".parse::<TokenSpec>().unwrap_err(),
            TokenSpecError::Shape(1)
        );
        let e = "a:b:admin".parse::<TokenSpec>().unwrap_err();
        assert!(e.to_string().contains("import_sis"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t: TokenSpec = "bot:supersecret".parse().unwrap();
        assert!(!format!("{t:?}").contains("supersecret"));
    }
}
