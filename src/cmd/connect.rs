//! Builds the Canvas client from flags and environment.

use anyhow::Context;

use canvas_sis::canvas::{AccountRef, CanvasClient, ClientConfig, load_token};

use crate::cli::CanvasArgs;

/// The client and the account it works on. Errors here are configuration errors (exit 2).
pub fn client(
    args: &CanvasArgs,
    pre_attachment_bytes: Option<u64>,
) -> anyhow::Result<(CanvasClient, AccountRef)> {
    let raw_url = args
        .base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .context("no Canvas URL: set CANVAS_BASE_URL (e.g. https://school.instructure.com) or pass --canvas-url")?;
    let base_url = url::Url::parse(raw_url.trim())
        .with_context(|| format!("CANVAS_BASE_URL/--canvas-url {raw_url:?} is not a URL; use e.g. https://school.instructure.com"))?;
    let token = load_token(
        std::env::var("CANVAS_TOKEN").ok(),
        args.token_file.as_deref(),
    )
    .context("reading the Canvas token")?;
    let mut cfg = ClientConfig::new(base_url, token);
    cfg.allow_insecure_http = args.allow_insecure_http;
    if let Some(bytes) = pre_attachment_bytes {
        cfg.pre_attachment_threshold_bytes = bytes;
    }
    let client = CanvasClient::new(cfg).context("setting up the Canvas client")?;
    let account: AccountRef = args.account.parse().with_context(|| {
        format!(
            "--account/CANVAS_ACCOUNT_ID {:?} must be self, a number or sis_account_id:X",
            args.account
        )
    })?;
    Ok((client, account))
}
