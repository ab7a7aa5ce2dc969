//! Helpers shared by several commands: the unattended modes' tenants and their runtimes, the
//! stop signal, duration flags. A command module uses these, never another command's module
//! (checked by `architecture_test`).

use std::time::Duration;

use anyhow::Context;

use canvas_sis::canvas::{CanvasClient, ClientConfig};
use canvas_sis::config::Config;

use canvas_sis::trigger::runtime::TenantRuntime;

/// Fetches the Canvas tokens the config keeps in AWS Secrets Manager (nothing is called when
/// no tenant does).
#[cfg(feature = "aws")]
pub async fn fetch_secret_tokens(config: &mut Config) -> anyhow::Result<()> {
    canvas_sis::aws::secrets::fetch_secret_tokens(config)
        .await
        .context("reading the Canvas token from AWS Secrets Manager")?;
    Ok(())
}

/// In a build without AWS (cargo feature `aws`), a token kept in Secrets Manager cannot be read:
/// say so instead of going on without it.
#[cfg(not(feature = "aws"))]
pub async fn fetch_secret_tokens(config: &mut Config) -> anyhow::Result<()> {
    let wanted = canvas_sis::config::secret::unfetched_secrets(config);
    anyhow::ensure!(
        wanted.is_empty(),
        "the Canvas token is kept in AWS Secrets Manager ({}), but this canvas-sis was built \
         without AWS (cargo feature `aws`); build it with the default features (`cargo build`)",
        wanted.join(", ")
    );
    Ok(())
}

/// `--s3-checksums` as the AWS clients take it.
#[cfg(feature = "aws")]
pub fn s3_checksums(
    flag: Option<crate::cli::S3Checksums>,
) -> Option<canvas_sis::aws::ChecksumMode> {
    use crate::cli::S3Checksums;
    use canvas_sis::aws::ChecksumMode;
    flag.map(|f| match f {
        S3Checksums::WhenSupported => ChecksumMode::WhenSupported,
        S3Checksums::WhenRequired => ChecksumMode::WhenRequired,
    })
}

/// A duration flag in seconds, above 0.
pub fn secs(v: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a number of seconds above 0, got {v}"))
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// A client and the checked default options for every tenant; the tokens are read here.
pub fn runtimes(config: &Config) -> anyhow::Result<Vec<TenantRuntime>> {
    config
        .tenants
        .iter()
        .map(|t| {
            let token = t
                .token
                .load()
                .with_context(|| format!("tenant {}: reading the token", t.name))?;
            let client = CanvasClient::new(ClientConfig::new(t.canvas_url.clone(), token))
                .with_context(|| format!("tenant {}: setting up the Canvas client", t.name))?;
            let options = t
                .import
                .to_options()
                .with_context(|| format!("tenant {}: import options", t.name))?;
            Ok(TenantRuntime::over_http(t.clone(), client, options))
        })
        .collect()
}

/// The queue modes' tenants: the config (tokens from Secrets Manager fetched), the key-prefix
/// router and each tenant's runtime. Shared by `run` and `lambda`.
#[cfg(feature = "aws")]
pub async fn load_tenants(
    path: Option<&std::path::Path>,
) -> anyhow::Result<(
    Config,
    canvas_sis::trigger::events::Router,
    Vec<TenantRuntime>,
)> {
    let mut config = Config::load(path).context("loading the configuration")?;
    fetch_secret_tokens(&mut config).await?;
    let router = canvas_sis::trigger::events::Router::new(
        config
            .tenants
            .iter()
            .map(|t| (t.name.clone(), t.s3_prefix.clone())),
    )
    .context("routing keys to tenants")?;
    let runtimes = runtimes(&config)?;
    Ok((config, router, runtimes))
}
