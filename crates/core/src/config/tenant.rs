//! One tenant, typed and checked: a Canvas instance or root account with its token source, its
//! inbox folder, its failure policy, default import options, mass-change guard and blackouts.
//!
//! [`resolve`] turns the raw `[defaults]` + `[tenants.<name>]` pair into a [`Tenant`]; every
//! refusal is a [`Problem`] naming the key and what to write instead. The token is only
//! *located* here ([`TokenSource`]); it is read when the Canvas client is built
//! ([`TokenSource::load`]), so parsing a config never touches a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::blackout::{Blackout, parse_day, parse_hhmm, parse_zone};
use super::file::{ImportOverrides, RawBlackout, RawGuard, RawKindGuard, RawStrict, RawTenant};
use canvas_sis_client::token::{TokenError, load_token};
use canvas_sis_client::{AccountRef, EnrollmentDropStatus, UserRemoveStatus};
use canvas_sis_rules::sis::SisKind;
use canvas_sis_rules::sis::validate::{Strict, ValidateOptions};

/// Quiet period when none is configured: a file must be unchanged this long to be picked up.
pub const DEFAULT_QUIET_PERIOD_SECS: u64 = 60;
/// Mass-change guard defaults, in percent of the previous accepted batch's rows.
pub const DEFAULT_MAX_DELETED_PERCENT: f64 = 10.0;
pub const DEFAULT_MAX_CHANGED_PERCENT: f64 = 50.0;

/// A checked tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The key of `[tenants.<name>]` (`default` for a tenant from the environment).
    pub name: String,
    pub canvas_url: Url,
    pub account: AccountRef,
    pub token: TokenSource,
    /// Sub-folder of the watch DIR's `inbox/` (one path component); `None` = the inbox itself,
    /// allowed only when there is one tenant.
    pub folder: Option<String>,
    /// S3 key prefix that selects this tenant in the cloud triggers (parsed, not used yet).
    pub s3_prefix: Option<String>,
    pub on_failure: OnFailure,
    /// A file must be unchanged this long before it is picked up.
    pub quiet_period: Duration,
    /// How old the last successful import may get before the status page shows the tenant as
    /// stale (`freshness_hours`, default [`DEFAULT_FRESHNESS_HOURS`]: a nightly feed and slack).
    pub freshness_hours: f64,
    pub import: ImportDefaults,
    pub guard: GuardConfig,
    pub blackouts: Vec<Blackout>,
    /// Who hears about failed, halted, held (and optionally warned) batches.
    pub notify: crate::notify::NotifyConfig,
    /// How its batches are validated: `strict` (which warnings reject) and `institutional_tags`.
    pub validate: ValidateOptions,
}

/// Where the token is; never the token (except a secret already fetched, which stays secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable holding the token.
    Env(String),
    /// A file holding the token (e.g. a mounted secret).
    File(PathBuf),
    /// A secret in AWS Secrets Manager (its `SecretString` is the token), fetched once at start
    /// by [`crate::config::fetch_secret_tokens`].
    SecretsManager {
        arn: String,
        fetched: Option<FetchedToken>,
    },
}

/// A token fetched from a secret store. Its `Debug` shows nothing and any two compare equal:
/// sources are compared by where they are, not by what they hold.
#[derive(Clone)]
pub struct FetchedToken(pub std::sync::Arc<SecretString>);

impl std::fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FetchedToken(redacted)")
    }
}

impl PartialEq for FetchedToken {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FetchedToken {}

/// Why a located token could not be read. Names the source, never the content.
#[derive(Debug, thiserror::Error)]
pub enum TokenSourceError {
    #[error(
        "the Canvas token variable {var} is not set (or is empty); set it in the service's environment, or use token_file"
    )]
    EnvMissing { var: String },
    #[error(
        "the Canvas token variable {var} holds whitespace or control characters inside it; a token is one word"
    )]
    EnvMalformed { var: String },
    #[error(transparent)]
    File(#[from] TokenError),
    #[error("the Canvas token secret {arn} was not fetched from Secrets Manager before use")]
    NotFetched { arn: String },
}

impl TokenSource {
    /// Reads the token now. Call this where the Canvas client is built, not at config time.
    pub fn load(&self) -> Result<SecretString, TokenSourceError> {
        match self {
            TokenSource::File(path) => Ok(load_token(None, Some(path))?),
            TokenSource::Env(var) => {
                let value = std::env::var(var).unwrap_or_default();
                let t = value.trim();
                if t.is_empty() {
                    return Err(TokenSourceError::EnvMissing { var: var.clone() });
                }
                if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(TokenSourceError::EnvMalformed { var: var.clone() });
                }
                Ok(SecretString::from(t.to_owned()))
            }
            TokenSource::SecretsManager {
                fetched: Some(t), ..
            } => Ok(SecretString::from(t.0.expose_secret().to_owned())),
            TokenSource::SecretsManager { arn, fetched: None } => {
                Err(TokenSourceError::NotFetched { arn: arn.clone() })
            }
        }
    }
}

/// What happens to a tenant's later batches after a failed, aborted or rejected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Park later batches until an operator resumes the tenant (docs/design.md invariant 2).
    #[default]
    Halt,
    /// Go on with the next batch.
    Continue,
}

/// Default import options of a tenant, named like `canvas-sis import`'s flags. The caller maps
/// them to `canvas::ImportOptions` (whose `validate` checks the combinations); only single values
/// are checked here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportDefaults {
    pub batch_mode_term: Option<String>,
    pub multi_term_batch_mode: bool,
    /// Percent, 1..=100.
    pub change_threshold: Option<u32>,
    pub batch_mode_enrollment_drop_status: Option<EnrollmentDropStatus>,
    pub diffing_data_set: Option<String>,
    pub diffing_remaster: bool,
    pub diffing_drop_status: Option<EnrollmentDropStatus>,
    pub diffing_user_remove_status: Option<UserRemoveStatus>,
    /// Rows, > 0.
    pub diff_row_count_threshold: Option<u64>,
    pub override_sis_stickiness: bool,
    pub add_sis_stickiness: bool,
    pub clear_sis_stickiness: bool,
    pub skip_deletes: bool,
    pub update_sis_id_if_login_claimed: bool,
}

/// The mass-change guard of a tenant (percentages of the previous accepted batch's rows).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    pub enabled: bool,
    pub max_deleted_percent: f64,
    pub max_changed_percent: f64,
    /// Per-kind overrides, keyed by the plural kind name (`enrollments`, `users`, ...).
    pub kinds: BTreeMap<String, GuardLimits>,
}

/// The thresholds that apply to one kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardLimits {
    pub max_deleted_percent: f64,
    pub max_changed_percent: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            enabled: true,
            max_deleted_percent: DEFAULT_MAX_DELETED_PERCENT,
            max_changed_percent: DEFAULT_MAX_CHANGED_PERCENT,
            kinds: BTreeMap::new(),
        }
    }
}

impl GuardConfig {
    /// Thresholds for a kind (plural name as in Canvas's counts: `enrollments`).
    pub fn limits(&self, kind: &str) -> GuardLimits {
        self.kinds.get(kind).copied().unwrap_or(GuardLimits {
            max_deleted_percent: self.max_deleted_percent,
            max_changed_percent: self.max_changed_percent,
        })
    }
}

/// A refusal: the dotted key, what is wrong, what to write instead ([`super::ConfigError`] adds
/// where it came from). One type for every setting, defined where the lowest of them (notify's)
/// lives so the notification settings speak the same words.
pub use crate::notify::config::Problem;
pub(crate) use crate::notify::config::problem;

/// Merges `[defaults]` under a tenant: every key the tenant sets wins; `import` and `guard`
/// merge key by key; a tenant's `blackout` list and `notify` table replace the default ones.
pub(crate) fn merge(defaults: &RawTenant, t: &RawTenant) -> RawTenant {
    let d = defaults.clone();
    RawTenant {
        canvas_url: t.canvas_url.clone().or(d.canvas_url),
        account: t.account.clone().or(d.account),
        token_env: t.token_env.clone().or(d.token_env),
        token_file: t.token_file.clone().or(d.token_file),
        token_secret_arn: t.token_secret_arn.clone().or(d.token_secret_arn),
        token: t.token.clone().or(d.token),
        folder: t.folder.clone(),
        s3_prefix: t.s3_prefix.clone(),
        on_failure: t.on_failure.clone().or(d.on_failure),
        quiet_period_secs: t.quiet_period_secs.or(d.quiet_period_secs),
        freshness_hours: t.freshness_hours.or(d.freshness_hours),
        import: merge_import(d.import, t.import.clone()),
        guard: merge_guard(d.guard, t.guard.clone()),
        blackout: t.blackout.clone().or(d.blackout),
        notify: t.notify.clone().or(d.notify),
        strict: t.strict.clone().or(d.strict),
        institutional_tags: t.institutional_tags.or(d.institutional_tags),
    }
}

fn merge_import(d: Option<ImportOverrides>, t: Option<ImportOverrides>) -> Option<ImportOverrides> {
    match (d, t) {
        (Some(d), Some(t)) => Some(t.over(&d)),
        (d, t) => t.or(d),
    }
}

fn merge_guard(d: Option<RawGuard>, t: Option<RawGuard>) -> Option<RawGuard> {
    let (d, t) = match (d, t) {
        (Some(d), Some(t)) => (d, t),
        (d, t) => return t.or(d),
    };
    let mut kinds = d.kinds.clone();
    for (k, tk) in t.kinds {
        let dk = kinds.remove(&k).unwrap_or_default();
        let merged = RawKindGuard {
            max_deleted_percent: tk.max_deleted_percent.or(dk.max_deleted_percent),
            max_changed_percent: tk.max_changed_percent.or(dk.max_changed_percent),
        };
        kinds.insert(k, merged);
    }
    Some(RawGuard {
        enabled: t.enabled.or(d.enabled),
        max_deleted_percent: t.max_deleted_percent.or(d.max_deleted_percent),
        max_changed_percent: t.max_changed_percent.or(d.max_changed_percent),
        kinds,
    })
}

/// Checks a merged raw tenant. `base_dir` resolves a relative `token_file` (the config file's
/// folder). `key` is the dotted prefix used in messages (`tenants.main`).
pub(crate) fn resolve(
    name: &str,
    key: &str,
    raw: &RawTenant,
    base_dir: Option<&Path>,
) -> Result<Tenant, Problem> {
    check_name(name, key)?;
    if raw.token.is_some() {
        return Err(token_key_refused(key));
    }
    let import = match &raw.import {
        Some(o) => ImportDefaults::default().with(o, &format!("{key}.import"))?,
        None => ImportDefaults::default(),
    };
    Ok(Tenant {
        name: name.to_owned(),
        canvas_url: canvas_url(raw.canvas_url.as_deref(), key)?,
        account: account(raw.account.as_deref(), key)?,
        token: token_source(raw, key, base_dir)?,
        folder: folder(raw.folder.as_deref(), key)?,
        s3_prefix: s3_prefix(raw.s3_prefix.as_deref(), key)?,
        on_failure: on_failure(raw.on_failure.as_deref(), key)?,
        quiet_period: quiet_period(raw.quiet_period_secs, key)?,
        freshness_hours: freshness_hours(raw.freshness_hours, key)?,
        import,
        guard: guard(raw.guard.as_ref(), &format!("{key}.guard"))?,
        blackouts: blackouts(raw.blackout.as_deref(), &format!("{key}.blackout"))?,
        notify: crate::notify::config::resolve(raw.notify.as_ref(), &format!("{key}.notify"))?,
        validate: validate_options(raw, key)?,
    })
}

/// `strict` and `institutional_tags`: an unknown rule name is refused with the known ones.
fn validate_options(raw: &RawTenant, key: &str) -> Result<ValidateOptions, Problem> {
    let strict = match &raw.strict {
        None | Some(RawStrict::All(false)) => Strict::Off,
        Some(RawStrict::All(true)) => Strict::All,
        Some(RawStrict::Rules(names)) => Strict::rules(names).map_err(|e| {
            problem(
                format!("{key}.strict"),
                format!("{:?} is not a validation rule", e.name),
                format!(
                    "write true (every warning rejects) or a list of rules from: {}",
                    canvas_sis_rules::sis::validate::RULES.join(", ")
                ),
            )
        })?,
    };
    Ok(ValidateOptions {
        institutional_tags: raw.institutional_tags.unwrap_or(false),
        strict,
        ..ValidateOptions::default()
    })
}

fn check_name(name: &str, key: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(problem(
        key,
        format!("the tenant name {name:?} is not usable in folder and ledger names"),
        "use letters, digits, '-' and '_' only (at most 64), e.g. [tenants.main]",
    ))
}

pub(crate) fn token_key_refused(key: &str) -> Problem {
    problem(
        format!("{key}.token"),
        "the token itself must not be written in the config file: config files get copied, \
         committed and printed, and the token would leak with them",
        "keep the token in an environment variable and write token_env = \"CANVAS_TOKEN_MAIN\", \
         or in a file only this service can read and write token_file = \"/run/secrets/canvas\"",
    )
}

fn canvas_url(v: Option<&str>, key: &str) -> Result<Url, Problem> {
    let k = format!("{key}.canvas_url");
    let fix = "write the Canvas base URL, e.g. canvas_url = \"https://school.instructure.com\"";
    let Some(v) = v else {
        return Err(problem(k, "is missing", fix));
    };
    let url =
        Url::parse(v.trim()).map_err(|e| problem(&k, format!("{v:?} is not a URL ({e})"), fix))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(problem(
            k,
            format!("{v:?} is not an http(s) URL with a host"),
            fix,
        ));
    }
    Ok(url)
}

fn account(v: Option<&str>, key: &str) -> Result<AccountRef, Problem> {
    v.unwrap_or("self").parse().map_err(|_| {
        problem(
            format!("{key}.account"),
            format!("{:?} is not an account", v.unwrap_or_default()),
            "write a Canvas account id (account = \"1\"), \"self\" (the default: the token's root \
             account) or \"sis_account_id:X\"",
        )
    })
}

fn token_source(
    raw: &RawTenant,
    key: &str,
    base_dir: Option<&Path>,
) -> Result<TokenSource, Problem> {
    let fix = "write exactly one of token_env = \"CANVAS_TOKEN_MAIN\" (a variable holding the \
               token), token_file = \"/run/secrets/canvas\" (a file holding it) or \
               token_secret_arn = \"arn:aws:secretsmanager:…\" (an AWS Secrets Manager secret)";
    if let Some(arn) = &raw.token_secret_arn {
        if raw.token_env.is_some() || raw.token_file.is_some() {
            return Err(problem(
                format!("{key}.token_secret_arn"),
                "token_secret_arn is set together with token_env or token_file, so it is unclear \
                 which token is used",
                fix,
            ));
        }
        if arn.trim().is_empty() {
            return Err(problem(format!("{key}.token_secret_arn"), "is empty", fix));
        }
        return Ok(TokenSource::SecretsManager {
            arn: arn.trim().to_owned(),
            fetched: None,
        });
    }
    match (&raw.token_env, &raw.token_file) {
        (Some(_), Some(_)) => Err(problem(
            format!("{key}.token_env"),
            "both token_env and token_file are set, so it is unclear which token is used",
            fix,
        )),
        (None, None) => Err(problem(
            format!("{key}.token_env"),
            "no token source is set",
            fix,
        )),
        (Some(var), None) => {
            let ok = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(problem(
                    format!("{key}.token_env"),
                    format!("{var:?} is not an environment variable name"),
                    "write the variable's name, not its value, e.g. token_env = \"CANVAS_TOKEN_MAIN\"",
                ));
            }
            Ok(TokenSource::Env(var.clone()))
        }
        (None, Some(path)) => {
            if path.as_os_str().is_empty() {
                return Err(problem(format!("{key}.token_file"), "is empty", fix));
            }
            Ok(TokenSource::File(match base_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.clone(),
            }))
        }
    }
}

fn folder(v: Option<&str>, key: &str) -> Result<Option<String>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let ok = !v.is_empty()
        && v != "."
        && v != ".."
        && !v.starts_with('.')
        && !v.contains(['/', '\\', ':']);
    if !ok {
        return Err(problem(
            format!("{key}.folder"),
            format!("{v:?} is not a plain folder name"),
            "write one folder name under the watch folder's inbox/, without '/', '..' or a \
             leading '.', e.g. folder = \"main\"",
        ));
    }
    Ok(Some(v.to_owned()))
}

fn s3_prefix(v: Option<&str>, key: &str) -> Result<Option<String>, Problem> {
    match v {
        Some(p) if p.is_empty() || p.starts_with('/') => Err(problem(
            format!("{key}.s3_prefix"),
            format!("{p:?} is not an S3 key prefix"),
            "write the key prefix without a leading '/', e.g. s3_prefix = \"main/\"",
        )),
        _ => Ok(v.map(str::to_owned)),
    }
}

fn on_failure(v: Option<&str>, key: &str) -> Result<OnFailure, Problem> {
    match v {
        None | Some("halt") => Ok(OnFailure::Halt),
        Some("continue") => Ok(OnFailure::Continue),
        Some(other) => Err(problem(
            format!("{key}.on_failure"),
            format!("{other:?} is not a policy"),
            "write on_failure = \"halt\" (park later batches until an operator resumes; the \
             default) or on_failure = \"continue\"",
        )),
    }
}

/// The status page's default freshness target: a nightly feed, with two hours of slack.
pub const DEFAULT_FRESHNESS_HOURS: f64 = 26.0;

fn freshness_hours(v: Option<f64>, key: &str) -> Result<f64, Problem> {
    let hours = v.unwrap_or(DEFAULT_FRESHNESS_HOURS);
    if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0) {
        return Err(problem(
            format!("{key}.freshness_hours"),
            format!("{hours} is out of range"),
            "write a number of hours above 0 and at most 8784 (default 26: a nightly feed); the \
             status page shows the tenant as stale when its last successful import is older",
        ));
    }
    Ok(hours)
}

fn quiet_period(v: Option<u64>, key: &str) -> Result<Duration, Problem> {
    let secs = v.unwrap_or(DEFAULT_QUIET_PERIOD_SECS);
    if !(1..=86_400).contains(&secs) {
        return Err(problem(
            format!("{key}.quiet_period_secs"),
            format!("{secs} is out of range"),
            "write a number of seconds from 1 to 86400 (default 60); files unchanged that long \
             are taken as complete",
        ));
    }
    Ok(Duration::from_secs(secs))
}

impl ImportDefaults {
    /// `self` with the options `o` sets; `key` prefixes messages (`tenants.main.import`, or
    /// `manifest.json import`).
    pub fn with(&self, o: &ImportOverrides, key: &str) -> Result<ImportDefaults, Problem> {
        let mut d = self.clone();
        let k = |name: &str| format!("{key}.{name}");
        if let Some(t) = &o.batch_mode_term {
            if t.trim().is_empty() {
                return Err(problem(
                    k("batch_mode_term"),
                    "is empty",
                    "write a Canvas term id or \"sis_term_id:X\"",
                ));
            }
            d.batch_mode_term = Some(t.clone());
        }
        if let Some(c) = o.change_threshold {
            if !(1..=100).contains(&c) {
                return Err(problem(
                    k("change_threshold"),
                    format!("{c} is not a percent from 1 to 100"),
                    "write e.g. change_threshold = 10",
                ));
            }
            d.change_threshold = Some(c);
        }
        if let Some(s) = &o.batch_mode_enrollment_drop_status {
            d.batch_mode_enrollment_drop_status =
                Some(drop_status(s, &k("batch_mode_enrollment_drop_status"))?);
        }
        if let Some(s) = &o.diffing_drop_status {
            d.diffing_drop_status = Some(drop_status(s, &k("diffing_drop_status"))?);
        }
        if let Some(s) = &o.diffing_user_remove_status {
            d.diffing_user_remove_status = Some(match s.as_str() {
                "deleted" => UserRemoveStatus::Deleted,
                "suspended" => UserRemoveStatus::Suspended,
                _ => {
                    return Err(problem(
                        k("diffing_user_remove_status"),
                        format!("{s:?} is not a status"),
                        "write \"deleted\" or \"suspended\"",
                    ));
                }
            });
        }
        if let Some(id) = &o.diffing_data_set {
            if id.is_empty() || id.len() > 128 {
                return Err(problem(
                    k("diffing_data_set"),
                    "must be 1 to 128 bytes",
                    "write a short stable name, e.g. diffing_data_set = \"nightly-full\"",
                ));
            }
            d.diffing_data_set = Some(id.clone());
        }
        if let Some(n) = o.diff_row_count_threshold {
            if n == 0 {
                return Err(problem(
                    k("diff_row_count_threshold"),
                    "must be more than 0",
                    "write a row count, e.g. diff_row_count_threshold = 5000",
                ));
            }
            d.diff_row_count_threshold = Some(n);
        }
        let set = |slot: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut d.multi_term_batch_mode, o.multi_term_batch_mode);
        set(&mut d.diffing_remaster, o.diffing_remaster);
        set(&mut d.override_sis_stickiness, o.override_sis_stickiness);
        set(&mut d.add_sis_stickiness, o.add_sis_stickiness);
        set(&mut d.clear_sis_stickiness, o.clear_sis_stickiness);
        set(&mut d.skip_deletes, o.skip_deletes);
        set(
            &mut d.update_sis_id_if_login_claimed,
            o.update_sis_id_if_login_claimed,
        );
        Ok(d)
    }
}

fn drop_status(s: &str, key: &str) -> Result<EnrollmentDropStatus, Problem> {
    Ok(match s {
        "deleted" => EnrollmentDropStatus::Deleted,
        "completed" => EnrollmentDropStatus::Completed,
        "inactive" => EnrollmentDropStatus::Inactive,
        "deleted_last_completed" => EnrollmentDropStatus::DeletedLastCompleted,
        _ => {
            return Err(problem(
                key,
                format!("{s:?} is not a status"),
                "write \"deleted\", \"completed\", \"inactive\" or \"deleted_last_completed\"",
            ));
        }
    })
}

fn guard(raw: Option<&RawGuard>, key: &str) -> Result<GuardConfig, Problem> {
    let Some(raw) = raw else {
        return Ok(GuardConfig::default());
    };
    let del = percent(
        raw.max_deleted_percent,
        DEFAULT_MAX_DELETED_PERCENT,
        &format!("{key}.max_deleted_percent"),
    )?;
    let chg = percent(
        raw.max_changed_percent,
        DEFAULT_MAX_CHANGED_PERCENT,
        &format!("{key}.max_changed_percent"),
    )?;
    let mut kinds = BTreeMap::new();
    for (kind, k) in &raw.kinds {
        let kkey = format!("{key}.kinds.{kind}");
        if !SisKind::ALL.iter().any(|s| s.counts_key() == kind) {
            let names: Vec<&str> = SisKind::ALL.iter().map(|s| s.counts_key()).collect();
            return Err(problem(
                &kkey,
                format!("{kind:?} is not a kind of SIS data"),
                format!("use one of: {}", names.join(", ")),
            ));
        }
        let limits = GuardLimits {
            max_deleted_percent: percent(
                k.max_deleted_percent,
                del,
                &format!("{kkey}.max_deleted_percent"),
            )?,
            max_changed_percent: percent(
                k.max_changed_percent,
                chg,
                &format!("{kkey}.max_changed_percent"),
            )?,
        };
        kinds.insert(kind.clone(), limits);
    }
    Ok(GuardConfig {
        enabled: raw.enabled.unwrap_or(true),
        max_deleted_percent: del,
        max_changed_percent: chg,
        kinds,
    })
}

fn percent(v: Option<f64>, default: f64, key: &str) -> Result<f64, Problem> {
    let p = v.unwrap_or(default);
    if !(0.0..=100.0).contains(&p) {
        return Err(problem(
            key,
            format!("{p} is not a percent"),
            "write a number from 0 to 100",
        ));
    }
    Ok(p)
}

fn blackouts(raw: Option<&[RawBlackout]>, key: &str) -> Result<Vec<Blackout>, Problem> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, b)| blackout(b, &format!("{key}[{i}]")))
        .collect()
}

fn blackout(b: &RawBlackout, key: &str) -> Result<Blackout, Problem> {
    match &b.days {
        Some(days) => weekly(days, b, key),
        None => range(b, key),
    }
}

fn weekly(days: &[String], b: &RawBlackout, key: &str) -> Result<Blackout, Problem> {
    let example =
        "e.g. { days = [\"sat\", \"sun\"], from = \"00:00\", to = \"06:00\", tz = \"UTC\" }";
    if days.is_empty() {
        return Err(problem(
            format!("{key}.days"),
            "is empty",
            format!("list the days, {example}"),
        ));
    }
    let days = days
        .iter()
        .map(|d| {
            parse_day(d).ok_or_else(|| {
                problem(
                    format!("{key}.days"),
                    format!("{d:?} is not a day"),
                    "write mon, tue, wed, thu, fri, sat or sun",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time = |v: &str, name: &str| {
        parse_hhmm(v).ok_or_else(|| {
            problem(
                format!("{key}.{name}"),
                format!("{v:?} is not a time of day"),
                format!("write HH:MM from 00:00 to 24:00, {example}"),
            )
        })
    };
    let from_secs = time(&b.from, "from")?;
    let to_secs = time(&b.to, "to")?;
    if from_secs == to_secs || from_secs == 86_400 {
        return Err(problem(
            format!("{key}.to"),
            "the window is empty or starts at 24:00",
            "for a whole day write from = \"00:00\", to = \"24:00\"",
        ));
    }
    let tz = b.tz.as_deref().unwrap_or("UTC");
    let zone = parse_zone(tz).ok_or_else(|| {
        problem(
            format!("{key}.tz"),
            format!("{tz:?} is not a time zone"),
            "write an IANA zone such as tz = \"America/Chicago\" (it follows daylight saving), \
             tz = \"UTC\", or a fixed offset such as tz = \"+02:00\"",
        )
    })?;
    Ok(Blackout::Weekly {
        days,
        from_secs,
        to_secs,
        zone,
    })
}

fn range(b: &RawBlackout, key: &str) -> Result<Blackout, Problem> {
    let fix = "write RFC 3339 instants, e.g. { from = \"2026-12-20T00:00:00Z\", to = \"2027-01-05T00:00:00Z\" }, or add days = [...] for a weekly window";
    if b.tz.is_some() {
        return Err(problem(
            format!("{key}.tz"),
            "a date range carries its offset in from and to",
            fix,
        ));
    }
    let instant = |v: &str, name: &str| {
        chrono::DateTime::parse_from_rfc3339(v.trim())
            .map(|t| t.to_utc())
            .map_err(|_| {
                problem(
                    format!("{key}.{name}"),
                    format!("{v:?} is not an RFC 3339 instant"),
                    fix,
                )
            })
    };
    let from = instant(&b.from, "from")?;
    let to = instant(&b.to, "to")?;
    if to <= from {
        return Err(problem(format!("{key}.to"), "is not after from", fix));
    }
    Ok(Blackout::Range { from, to })
}

impl ImportDefaults {
    /// The Canvas create options these defaults stand for, checked the way the client checks
    /// them before sending (e.g. multi-term batch mode without a change threshold is refused).
    pub fn to_options(
        &self,
    ) -> Result<canvas_sis_client::ImportOptions, canvas_sis_client::OptionsError> {
        use canvas_sis_client::{BatchMode, BatchModeTerm, Diffing, ImportOptions, Stickiness};
        let batch_mode = match (&self.batch_mode_term, self.multi_term_batch_mode) {
            (Some(t), false) => Some(BatchMode::Term(match t.parse::<u64>() {
                Ok(id) => BatchModeTerm::Id(id),
                Err(_) => {
                    BatchModeTerm::SisId(t.strip_prefix("sis_term_id:").unwrap_or(t).to_owned())
                }
            })),
            (_, true) => Some(BatchMode::MultiTerm),
            (None, false) => None,
        };
        let diffing = self.diffing_data_set.as_ref().map(|id| Diffing {
            remaster: self.diffing_remaster,
            drop_status: self.diffing_drop_status,
            user_remove_status: self.diffing_user_remove_status,
            row_count_threshold: self.diff_row_count_threshold,
            ..Diffing::new(id.clone())
        });
        let options = ImportOptions {
            batch_mode,
            batch_mode_enrollment_drop_status: self.batch_mode_enrollment_drop_status,
            diffing,
            stickiness: Stickiness {
                override_sticky: self.override_sis_stickiness,
                add: self.add_sis_stickiness,
                clear: self.clear_sis_stickiness,
            },
            skip_deletes: self.skip_deletes,
            update_sis_id_if_login_claimed: self.update_sis_id_if_login_claimed,
            change_threshold: self.change_threshold,
        };
        options.validate()?;
        Ok(options)
    }
}

impl GuardConfig {
    /// The mass-change guard's settings.
    pub fn thresholds(&self) -> canvas_sis_rules::sis::guard::Thresholds {
        use canvas_sis_rules::sis::guard::{Limits, Thresholds};
        let limits = |l: GuardLimits| Limits {
            max_deleted_percent: l.max_deleted_percent,
            max_changed_percent: l.max_changed_percent,
        };
        Thresholds {
            enabled: self.enabled,
            default: Limits {
                max_deleted_percent: self.max_deleted_percent,
                max_changed_percent: self.max_changed_percent,
            },
            per_kind: self
                .kinds
                .iter()
                .map(|(k, l)| (k.clone(), limits(*l)))
                .collect(),
            ..Thresholds::default()
        }
    }
}

/// Why the manifest's import options cannot be used, if they cannot.
pub fn import_problem(m: &canvas_sis_rules::batch::Manifest) -> Option<String> {
    let o = m.import.as_ref()?;
    ImportDefaults::default()
        .with(o, "manifest.json import")
        .err()
        .map(|p| p.to_string())
}
