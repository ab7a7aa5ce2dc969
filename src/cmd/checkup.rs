//! The checks `canvas-sis doctor` runs against one tenant's Canvas, and how a check reads: one
//! line, `ok`, `FAIL` (with what to fix) or `skip` (an earlier check failed, so this one cannot
//! tell).
//!
//! Canvas is asked only what a setup check needs, with the client every command uses (so the
//! token goes only in the `Authorization` header, and no error carries it): who the token is
//! (`GET /users/self`), the account (`GET /accounts/:id`), and one page of its SIS imports
//! (`GET /accounts/:id/sis_imports?per_page=1`), which Canvas answers only to a user with an SIS
//! permission on an account with SIS imports enabled. Nothing is created or changed.

use std::time::Duration;

use canvas_sis::canvas::{
    AccountRef, CanvasClient, CanvasError, ClientConfig, ListFilter, TokenProblem, TransportKind,
};
use canvas_sis::config::Tenant;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Fail,
    Skip,
}

/// One check's outcome: what was checked, what was found and, for a failure, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Verdict::Ok, detail, None)
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, Verdict::Fail, detail, Some(fix.into()))
    }

    pub fn skip(name: impl Into<String>, why: impl Into<String>) -> Check {
        Check::new(name, Verdict::Skip, why, None)
    }

    fn new(
        name: impl Into<String>,
        verdict: Verdict,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name: name.into(),
            verdict,
            detail: detail.into(),
            fix,
        }
    }

    /// `ok    name: detail`, and for a failure a second line `      fix: ...`.
    pub fn lines(&self) -> String {
        let word = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        let mut out = format!("{word:<5} {}: {}", self.name, self.detail);
        if let Some(fix) = &self.fix {
            out.push_str(&format!("\n      fix: {fix}"));
        }
        out
    }
}

/// Every Canvas check of `tenant`, in order; a check that cannot run after a failure is skipped.
pub async fn canvas(tenant: &Tenant, allow_insecure_http: bool) -> Vec<Check> {
    let name = |what: &str| format!("tenant {}: {what}", tenant.name);
    let mut checks = Vec::new();
    let client = match client(tenant, allow_insecure_http) {
        Ok(c) => c,
        Err(failed) => {
            let full = name(&failed.name);
            checks.push(failed.named(&full));
            checks.extend(skipped(
                &name,
                &["account", "SIS permission", "SIS imports"],
                "needs a Canvas client",
            ));
            return checks;
        }
    };
    let user = client.users_self().await;
    checks.extend(url_and_token(&name, client.base_url(), &user));
    if user.is_err() {
        checks.extend(skipped(
            &name,
            &["account", "SIS permission", "SIS imports"],
            "needs an accepted token",
        ));
        return checks;
    }
    let account = account_check(&client, &tenant.account).await;
    let account_ok = account.verdict == Verdict::Ok;
    checks.push(account.named(&name("account")));
    if !account_ok {
        checks.extend(skipped(
            &name,
            &["SIS permission", "SIS imports"],
            "needs the account",
        ));
        return checks;
    }
    checks.extend(sis_checks(&client, &tenant.account, &name).await);
    checks
}

impl Check {
    fn named(mut self, name: &str) -> Check {
        self.name = name.to_owned();
        self
    }
}

fn skipped(name: &dyn Fn(&str) -> String, what: &[&str], why: &str) -> Vec<Check> {
    what.iter().map(|w| Check::skip(name(w), why)).collect()
}

/// The tenant's client: its token read, its URL checked (https, or http to loopback), and few
/// quick retries — a check should answer in seconds, not wait out an outage.
fn client(tenant: &Tenant, allow_insecure_http: bool) -> Result<CanvasClient, Check> {
    let token = tenant.token.load().map_err(|e| {
        Check::fail(
            "token",
            format!("reading the token: {e}"),
            "set CANVAS_TOKEN or CANVAS_TOKEN_FILE (or the tenant's token_env / token_file in the config)",
        )
    })?;
    let mut cfg = ClientConfig::new(tenant.canvas_url.clone(), token);
    cfg.allow_insecure_http = allow_insecure_http;
    cfg.max_retries = 1;
    cfg.backoff_base = Duration::from_millis(200);
    cfg.backoff_max = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.request_timeout = Duration::from_secs(20);
    CanvasClient::new(cfg).map_err(|e| {
        Check::fail(
            "Canvas URL",
            e.to_string(),
            "give the Canvas base URL with https:// (e.g. https://school.instructure.com); plain http only to a loopback host",
        )
    })
}

/// Whether Canvas answered at all, and whether it took the token, from `GET /users/self`.
fn url_and_token(
    name: &dyn Fn(&str) -> String,
    url: &url::Url,
    user: &Result<canvas_sis::canvas::CanvasUser, CanvasError>,
) -> Vec<Check> {
    let (url_name, token_name) = (name("Canvas URL"), name("token"));
    let answers = Check::ok(&url_name, format!("Canvas answers at {url}"));
    match user {
        Ok(u) => vec![
            answers,
            Check::ok(
                token_name,
                format!(
                    "accepted (user {}, id {})",
                    u.name.as_deref().unwrap_or("?"),
                    u.id.map_or("?".into(), |i| i.to_string())
                ),
            ),
        ],
        Err(e @ CanvasError::Token { problem, .. }) => vec![
            answers,
            Check::fail(token_name, e.to_string(), token_fix(*problem)),
        ],
        Err(e @ CanvasError::Transport { kind, .. }) => vec![
            Check::fail(url_name, e.to_string(), unreachable_fix(*kind)),
            Check::skip(token_name, "needs Canvas to answer"),
        ],
        Err(e) => vec![
            Check::fail(
                url_name,
                format!("{url} did not answer as Canvas: {e}"),
                "give the Canvas base URL itself (e.g. https://school.instructure.com, without /api/v1)",
            ),
            Check::skip(token_name, "needs Canvas to answer"),
        ],
    }
}

fn token_fix(problem: TokenProblem) -> String {
    match problem {
        TokenProblem::InsufficientScopes => problem.to_string(),
        _ => "generate a new access token for the user (Canvas: Account > Settings > New Access \
              Token) and put it where CANVAS_TOKEN or CANVAS_TOKEN_FILE (or the tenant's token_env \
              or token_file) points"
            .to_owned(),
    }
}

fn unreachable_fix(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Connect => {
            "check the URL (CANVAS_BASE_URL or the tenant's canvas_url), DNS, proxy and firewall"
        }
        TransportKind::Timeout | TransportKind::Broken => {
            "Canvas is slow or the network path drops the connection; try again, then check the proxy and firewall"
        }
    }
}

/// `GET /accounts/:id`: the account exists, the token's user may see it, and it is a root account.
async fn account_check(client: &CanvasClient, account: &AccountRef) -> Check {
    match client.get_account(account).await {
        Ok(a) if a.parent_account_id.is_some() => Check::fail(
            "",
            format!(
                "account {account} ({}) is a sub-account; SIS imports run on root accounts only",
                a.name.as_deref().unwrap_or("?")
            ),
            "give the root account: its id, `self`, or sis_account_id:X (CANVAS_ACCOUNT_ID or the tenant's account)",
        ),
        Ok(a) => Check::ok(
            "",
            format!(
                "account {account} is {} (id {})",
                a.name.as_deref().unwrap_or("?"),
                a.id.map_or("?".into(), |i| i.to_string())
            ),
        ),
        Err(e @ CanvasError::NotFound { .. }) => Check::fail(
            "",
            e.to_string(),
            "check the account (CANVAS_ACCOUNT_ID or the tenant's account): a numeric id, `self`, or sis_account_id:X",
        ),
        Err(e) => Check::fail(
            "",
            e.to_string(),
            "the token's user must be an admin of the account; check the account id and the user's admin role",
        ),
    }
}

/// One page of the account's SIS imports: 200 means an SIS permission and imports enabled.
async fn sis_checks(
    client: &CanvasClient,
    account: &AccountRef,
    name: &dyn Fn(&str) -> String,
) -> Vec<Check> {
    let (perm, enabled) = (name("SIS permission"), name("SIS imports"));
    match client
        .recent_sis_imports(account, &ListFilter::default(), 1)
        .await
    {
        Ok(_) => vec![
            Check::ok(
                perm,
                "the token's user may read SIS imports (import_sis or manage_sis; sending needs import_sis)",
            ),
            Check::ok(enabled, format!("enabled on account {account}")),
        ],
        Err(e @ CanvasError::SisNotEnabled { .. }) => vec![
            Check::skip(perm, "Canvas tells only once SIS imports are enabled"),
            Check::fail(
                enabled,
                e.to_string(),
                "ask Instructure support or a site admin to turn on SIS imports (allow_sis_import) for the account",
            ),
        ],
        Err(e @ (CanvasError::Forbidden { .. } | CanvasError::Token { .. })) => vec![
            Check::fail(
                perm,
                e.to_string(),
                "give the token's user an account role with \"Import SIS data\" (import_sis) and \"Manage SIS data\" (manage_sis), or use another user's token",
            ),
            Check::skip(enabled, "Canvas tells only a user with an SIS permission"),
        ],
        Err(e) => vec![
            Check::fail(
                perm,
                e.to_string(),
                "see what Canvas said; run again, and check the account if it persists",
            ),
            Check::skip(enabled, "the SIS imports list did not answer"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_fail_with_its_fix_on_a_second_line() {
        let c = Check::fail("tenant main: token", "refused", "generate a new one");
        assert_eq!(
            c.lines(),
            "FAIL  tenant main: token: refused\n      fix: generate a new one"
        );
        assert_eq!(Check::ok("config", "fine").lines(), "ok    config: fine");
        assert_eq!(Check::skip("x", "why").lines(), "skip  x: why");
    }
}
