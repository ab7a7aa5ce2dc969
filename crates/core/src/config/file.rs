//! The config file as written: serde structs that mirror the TOML one to one.
//!
//! Every table refuses unknown keys (`deny_unknown_fields`), so a typo is an error that names the
//! key rather than a setting silently ignored. Every value is optional here; defaults, merging
//! `[defaults]` into each tenant and all checks happen once, in [`super::tenant`]. Nothing in this
//! file reads a secret: a `token` key is accepted by the parser only so that validation can refuse
//! it with a message saying why.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub defaults: Option<RawTenant>,
    #[serde(default)]
    pub tenants: BTreeMap<String, RawTenant>,
}

/// `[defaults]` or `[tenants.<name>]`: the same keys; a tenant's value wins.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    pub canvas_url: Option<String>,
    pub account: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// An AWS Secrets Manager secret holding the token (its ARN or name).
    pub token_secret_arn: Option<String>,
    /// Never allowed; parsed only to be refused with a useful message.
    pub token: Option<toml::Value>,
    pub folder: Option<String>,
    pub s3_prefix: Option<String>,
    pub on_failure: Option<String>,
    pub quiet_period_secs: Option<u64>,
    /// Hours the last successful import may age before the status page shows the tenant stale.
    pub freshness_hours: Option<f64>,
    pub import: Option<ImportOverrides>,
    pub guard: Option<RawGuard>,
    pub blackout: Option<Vec<RawBlackout>>,
    pub notify: Option<crate::notify::config::RawNotify>,
    /// Warnings that reject the tenant's batches: `true` (all), or rule names.
    pub strict: Option<RawStrict>,
    /// The Canvas account has the institutional tags feature on (validate those files as such).
    pub institutional_tags: Option<bool>,
}

/// `strict = true` or `strict = ["bad_date", ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawStrict {
    All(bool),
    Rules(Vec<String>),
}

pub use canvas_sis_rules::batch::ImportOverrides;

/// `[tenants.<name>.guard]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGuard {
    pub enabled: Option<bool>,
    pub max_deleted_percent: Option<f64>,
    pub max_changed_percent: Option<f64>,
    #[serde(default)]
    pub kinds: BTreeMap<String, RawKindGuard>,
}

/// `[tenants.<name>.guard.kinds.<kind>]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKindGuard {
    pub max_deleted_percent: Option<f64>,
    pub max_changed_percent: Option<f64>,
}

/// One entry of `blackout = [...]`: weekly when `days` is given, else a date range.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBlackout {
    pub days: Option<Vec<String>>,
    pub from: String,
    pub to: String,
    pub tz: Option<String>,
}
