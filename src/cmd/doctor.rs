//! `canvas-sis doctor`: checks the setup the unattended modes would run with, one line per
//! check, and exits 0 when every check passes, 2 otherwise.
//!
//! The config is loaded as `watch` and `run` load it (`--config` / `CANVAS_SIS_CONFIG`, else one
//! tenant from `CANVAS_BASE_URL` etc.); each tenant's Canvas is checked by [`checkup::canvas`];
//! the cloud worker's queue and state bucket are checked when they are given. Read only:
//! nothing is created, sent or recorded, and the token is never printed.

use canvas_sis::config::{Config, ConfigSource};

use crate::cli::DoctorArgs;
use crate::cmd::checkup::{self, Check, Verdict};
use crate::cmd::exit;

pub async fn run(args: DoctorArgs) -> anyhow::Result<u8> {
    let mut checks = Vec::new();
    if let Some(config) = config(&args, &mut checks).await {
        for tenant in &config.tenants {
            if args.tenant.as_ref().is_none_or(|t| t == &tenant.name) {
                checks.extend(checkup::canvas(tenant, args.allow_insecure_http).await);
            }
        }
    }
    checks.extend(cloud(&args).await);
    for c in &checks {
        println!("{}", c.lines());
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    println!(
        "{}",
        match failed {
            0 => "all checks passed".to_owned(),
            n => format!("{n} check(s) failed"),
        }
    );
    Ok(if failed == 0 { exit::OK } else { exit::USAGE })
}

/// The configuration, with the tokens Secrets Manager keeps fetched; `None` when it cannot be
/// used (the failure is among `checks`).
async fn config(args: &DoctorArgs, checks: &mut Vec<Check>) -> Option<Config> {
    let fix = "give --config or CANVAS_SIS_CONFIG (examples/canvas-sis.toml documents every key), \
               or CANVAS_BASE_URL and CANVAS_TOKEN (or CANVAS_TOKEN_FILE) for a single tenant";
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail("config", e.to_string(), fix));
            return None;
        }
    };
    if let Err(e) = crate::cmd::common::fetch_secret_tokens(&mut config).await {
        checks.push(Check::fail(
            "config",
            format!("{e:#}"),
            "the process needs secretsmanager:GetSecretValue on the token's secret, and the ARN must be right",
        ));
        return None;
    }
    if let Some(t) = &args.tenant
        && config.tenant(t).is_none()
    {
        checks.push(Check::fail(
            "config",
            format!("no tenant {t} in the configuration"),
            "give one of the tenants the config names, or leave out --tenant",
        ));
        return None;
    }
    checks.push(Check::ok("config", describe(&config)));
    Some(config)
}

fn describe(config: &Config) -> String {
    let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    let from = match &config.source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Environment => "the environment (CANVAS_BASE_URL ...)".to_owned(),
    };
    format!(
        "{} tenant(s) ({}) from {from}",
        names.len(),
        names.join(", ")
    )
}

/// The queue and the state bucket, each when given.
#[cfg(feature = "aws")]
async fn cloud(args: &DoctorArgs) -> Vec<Check> {
    if args.queue_url.is_none() && args.state.is_none() {
        return Vec::new();
    }
    let clients = canvas_sis::aws::clients(None).await;
    let mut checks = Vec::new();
    if let Some(url) = &args.queue_url {
        checks.push(queue_check(&clients, url).await);
    }
    if let Some(url) = &args.state {
        checks.push(state_check(&clients, url).await);
    }
    checks
}

#[cfg(feature = "aws")]
async fn queue_check(clients: &canvas_sis::aws::AwsClients, url: &str) -> Check {
    let queue = canvas_sis::aws::queue::sqs::SqsQueue::new(clients.sqs.clone(), url);
    match queue.reachable().await {
        Ok(()) => Check::ok("queue", format!("{url} answers")),
        Err(e) => Check::fail(
            "queue",
            e.to_string(),
            "check SIS_QUEUE_URL (region and account), the AWS credentials, and sqs:GetQueueAttributes on the queue",
        ),
    }
}

#[cfg(feature = "aws")]
async fn state_check(clients: &canvas_sis::aws::AwsClients, url: &str) -> Check {
    let fix = "check SIS_STATE_URL (s3://bucket/prefix/), the AWS credentials, and s3:ListBucket on the bucket";
    let store = match canvas_sis::aws::ledger::S3Store::from_url(clients.s3.clone(), url) {
        Ok(s) => s,
        Err(e) => return Check::fail("state", e.to_string(), fix),
    };
    match store.probe().await {
        Ok(true) => Check::ok(
            "state",
            format!("{} answers and holds a ledger", store.url()),
        ),
        Ok(false) => Check::ok(
            "state",
            format!(
                "{} answers; no ledger under the prefix yet (the first worker starts one)",
                store.url()
            ),
        ),
        Err(e) => Check::fail("state", e.to_string(), fix),
    }
}

/// Built without AWS: a queue or state given is said to be unchecked.
#[cfg(not(feature = "aws"))]
async fn cloud(args: &DoctorArgs) -> Vec<Check> {
    let why = "this canvas-sis was built without AWS (cargo feature `aws`)";
    let mut checks = Vec::new();
    if args.queue_url.is_some() {
        checks.push(Check::skip("queue", why));
    }
    if args.state.is_some() {
        checks.push(Check::skip("state", why));
    }
    checks
}
