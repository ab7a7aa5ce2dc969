//! The config file of unattended modes: tenants, their token sources, inbox folders, policies,
//! default import options, mass-change guard and blackout windows — read once, checked once.
//!
//! Where it comes from: `--config PATH`, else `CANVAS_SIS_CONFIG`, else no file at all
//! ([`Config::single_tenant_from_env`]: one tenant `default` from the variables `canvas-sis
//! import` reads). Layers, lowest first: built-in defaults → `[defaults]` → `[tenants.<name>]` →
//! environment overrides `CANVAS_SIS_<TENANT>_<KEY>` (tenant name upper-cased, `-` → `_`; keys
//! `CANVAS_URL`, `ACCOUNT`, `TOKEN_ENV`, `TOKEN_FILE`, `ON_FAILURE`, `QUIET_PERIOD_SECS`).
//!
//! A file with `[defaults]` and no `[tenants]` describes one tenant named `default`.
//! Every refusal is a [`ConfigError`] that names the file, the dotted key and what to write
//! instead. No secret is read here: a tenant only says where its token is ([`TokenSource`]);
//! tokens kept in AWS Secrets Manager are fetched once at start by [`fetch_secret_tokens`].
//! `examples/canvas-sis.toml` documents every key.

pub mod blackout;
mod file;
mod notifier;
pub mod secret;
pub mod tenant;

use std::path::{Path, PathBuf};

pub use blackout::{Blackout, blackout_until};
pub use file::ImportOverrides;
pub use secret::SECRET_ARN_ENV;
pub use tenant::import_problem;
pub use tenant::{
    DEFAULT_FRESHNESS_HOURS, GuardConfig, GuardLimits, ImportDefaults, OnFailure, Problem, Tenant,
    TokenSource, TokenSourceError,
};

use file::{RawFile, RawTenant};
use tenant::{merge, problem, resolve};

/// The variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "CANVAS_SIS_CONFIG";

/// Why the configuration cannot be used. Never contains a token value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the config file {path}: {source}; check --config or {CONFIG_ENV}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}:{column}: {message}; fix that line (examples/canvas-sis.toml lists every key)"
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {key}: {problem}; {fix}")]
    Invalid {
        /// The file, or `environment`.
        origin: String,
        /// Dotted key, e.g. `tenants.main.canvas_url`, or the variable name.
        key: String,
        problem: String,
        fix: String,
    },
}

impl ConfigError {
    fn at(origin: &str, p: Problem) -> ConfigError {
        ConfigError::Invalid {
            origin: origin.to_owned(),
            key: p.key,
            problem: p.problem,
            fix: p.fix,
        }
    }

    /// The dotted key (or variable) at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Environment,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: ConfigSource,
    /// Sorted by name; never empty.
    pub tenants: Vec<Tenant>,
}

/// Reads one environment variable; injectable so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// `--config` if given, else `CANVAS_SIS_CONFIG`, else [`Config::single_tenant_from_env`].
    pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
        let path = flag.map(Path::to_path_buf).or_else(|| {
            process_env(CONFIG_ENV)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        match path {
            Some(p) => Config::from_file(&p, &process_env),
            None => Config::single_tenant_from_env(),
        }
    }

    /// Reads and checks a config file; `env` supplies the override variables.
    pub fn from_file(path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path, env)
    }

    /// Checks config text; `path` is used in messages and to resolve a relative `token_file`.
    pub fn from_toml(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
        let origin = path.display().to_string();
        let defaults = raw.defaults.unwrap_or_default();
        refuse_per_tenant_keys_in_defaults(&defaults).map_err(|p| ConfigError::at(&origin, p))?;
        let mut named: Vec<(String, RawTenant)> = raw.tenants.into_iter().collect();
        if named.is_empty() {
            named.push(("default".to_owned(), RawTenant::default()));
        }
        let base_dir = path.parent();
        let mut tenants = Vec::new();
        for (name, t) in &named {
            let mut merged = merge(&defaults, t);
            apply_env(name, &mut merged, env).map_err(|p| ConfigError::at("environment", p))?;
            let key = format!("tenants.{name}");
            let tenant =
                resolve(name, &key, &merged, base_dir).map_err(|p| ConfigError::at(&origin, p))?;
            tenants.push(tenant);
        }
        check_folders(&tenants).map_err(|p| ConfigError::at(&origin, p))?;
        Ok(Config {
            source: ConfigSource::File(path.to_owned()),
            tenants,
        })
    }

    /// One tenant `default` from `CANVAS_BASE_URL`, `CANVAS_ACCOUNT_ID` (default `self`) and
    /// `CANVAS_TOKEN` or `CANVAS_TOKEN_FILE` — the variables of `canvas-sis import` — with
    /// notifications from `SIS_NOTIFY_*` ([`crate::notify::config::raw_from_env`]). The token is
    /// located, not read.
    pub fn single_tenant_from_env() -> Result<Config, ConfigError> {
        Config::single_tenant_from(&process_env)
    }

    /// [`Config::single_tenant_from_env`] with an injectable environment.
    pub fn single_tenant_from(env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let set = |n: &str| env(n).filter(|v| !v.is_empty());
        let err = |key: &str, problem: &str, fix: &str| ConfigError::Invalid {
            origin: "environment".into(),
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        };
        let token_file = set("CANVAS_TOKEN_FILE");
        let token_set = set("CANVAS_TOKEN").is_some();
        let mut raw = RawTenant {
            canvas_url: set("CANVAS_BASE_URL"),
            account: set("CANVAS_ACCOUNT_ID"),
            ..RawTenant::default()
        };
        let secret_arn = set(secret::SECRET_ARN_ENV);
        if secret_arn.is_some() && (token_set || token_file.is_some()) {
            return Err(err(
                secret::SECRET_ARN_ENV,
                "is set together with CANVAS_TOKEN or CANVAS_TOKEN_FILE",
                "keep one so it is clear which token is used",
            ));
        }
        match (token_set, token_file) {
            (false, None) if secret_arn.is_some() => raw.token_secret_arn = secret_arn,
            (true, Some(_)) => {
                return Err(err(
                    "CANVAS_TOKEN_FILE",
                    "both CANVAS_TOKEN and CANVAS_TOKEN_FILE are set",
                    "keep one so it is clear which token is used",
                ));
            }
            (false, None) => {
                return Err(err(
                    "CANVAS_TOKEN",
                    "no Canvas token source",
                    &format!(
                        "set CANVAS_TOKEN, CANVAS_TOKEN_FILE (a file holding the token) or CANVAS_TOKEN_SECRET_ARN (an AWS Secrets Manager secret), or give a config file with --config or {CONFIG_ENV}"
                    ),
                ));
            }
            (true, None) => raw.token_env = Some("CANVAS_TOKEN".into()),
            (false, Some(f)) => raw.token_file = Some(PathBuf::from(f)),
        }
        if raw.canvas_url.is_none() {
            return Err(err(
                "CANVAS_BASE_URL",
                "is not set",
                &format!(
                    "set CANVAS_BASE_URL=https://school.instructure.com, or give a config file with --config or {CONFIG_ENV}"
                ),
            ));
        }
        apply_env("default", &mut raw, env).map_err(|p| ConfigError::at("environment", p))?;
        raw.notify = crate::notify::config::raw_from_env(env)
            .map_err(|p| ConfigError::at("environment", p))?;
        let tenant = resolve("default", "default", &raw, None)
            .map_err(|p| ConfigError::at("environment", env_key(p)))?;
        Ok(Config {
            source: ConfigSource::Environment,
            tenants: vec![tenant],
        })
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

/// Names the variable rather than a key nobody wrote, for a tenant built from the environment.
fn env_key(mut p: Problem) -> Problem {
    let var = match p.key.rsplit('.').next() {
        Some("canvas_url") => "CANVAS_BASE_URL",
        Some("account") => "CANVAS_ACCOUNT_ID",
        Some("token_env") => "CANVAS_TOKEN",
        Some("token_file") => "CANVAS_TOKEN_FILE",
        Some("token_secret_arn") => secret::SECRET_ARN_ENV,
        Some("sns_topic_arn") => "SIS_NOTIFY_SNS_TOPIC_ARN",
        Some("url") => "SIS_NOTIFY_WEBHOOK_URL",
        Some("format") => "SIS_NOTIFY_WEBHOOK_FORMAT",
        _ => return p,
    };
    p.key = var.to_owned();
    p
}

/// Line and column from the parser's byte span; the source line itself is not echoed, since it
/// may hold a pasted token.
fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

/// `folder` and `s3_prefix` pick one tenant; a shared default would give every tenant the same.
fn refuse_per_tenant_keys_in_defaults(d: &RawTenant) -> Result<(), Problem> {
    if d.token.is_some() {
        return Err(tenant::token_key_refused("defaults"));
    }
    for (set, key) in [
        (d.folder.is_some(), "folder"),
        (d.s3_prefix.is_some(), "s3_prefix"),
    ] {
        if set {
            return Err(problem(
                format!("defaults.{key}"),
                "picks one tenant, so it cannot be a default",
                format!("move {key} into each [tenants.<name>] table"),
            ));
        }
    }
    Ok(())
}

/// With several tenants each needs its own inbox folder — unless it is a cloud tenant, chosen by
/// its `s3_prefix` (folder mode refuses those at start); names must differ.
fn check_folders(tenants: &[Tenant]) -> Result<(), Problem> {
    if tenants.len() < 2 {
        return Ok(());
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for t in tenants {
        let Some(f) = t.folder.as_deref() else {
            if t.s3_prefix.is_some() {
                continue;
            }
            return Err(problem(
                format!("tenants.{}.folder", t.name),
                "is missing: with several tenants each one needs its own sub-folder of inbox/ \
                 (or, for the cloud worker, its own s3_prefix)",
                format!("write folder = \"{}\"", t.name),
            ));
        };
        if let Some((other, _)) = seen.iter().find(|(_, g)| g.eq_ignore_ascii_case(f)) {
            return Err(problem(
                format!("tenants.{}.folder", t.name),
                format!("{f:?} is already the folder of tenant {other}"),
                "give each tenant a different folder",
            ));
        }
        seen.push((&t.name, f));
    }
    Ok(())
}

/// `CANVAS_SIS_<TENANT>_<KEY>` overrides, applied over the file's values.
fn apply_env(tenant: &str, raw: &mut RawTenant, env: EnvLookup<'_>) -> Result<(), Problem> {
    let prefix: String = format!("CANVAS_SIS_{tenant}_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let get = |k: &str| env(&format!("{prefix}{k}")).filter(|v| !v.is_empty());
    if let Some(v) = get("CANVAS_URL") {
        raw.canvas_url = Some(v);
    }
    if let Some(v) = get("ACCOUNT") {
        raw.account = Some(v);
    }
    if let Some(v) = get("TOKEN_ENV") {
        raw.token_env = Some(v);
        raw.token_file = None;
        raw.token_secret_arn = None;
    }
    if let Some(v) = get("TOKEN_FILE") {
        raw.token_file = Some(PathBuf::from(v));
        raw.token_env = None;
        raw.token_secret_arn = None;
    }
    if let Some(v) = get("ON_FAILURE") {
        raw.on_failure = Some(v);
    }
    if let Some(v) = get("QUIET_PERIOD_SECS") {
        let secs = v.trim().parse().map_err(|_| {
            problem(
                format!("{prefix}QUIET_PERIOD_SECS"),
                format!("{v:?} is not a whole number of seconds"),
                "set it to e.g. 60",
            )
        })?;
        raw.quiet_period_secs = Some(secs);
    }
    Ok(())
}
