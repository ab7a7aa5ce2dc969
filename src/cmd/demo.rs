//! `canvas-sis demo`: the whole one-shot import against a simulated Canvas started in-process,
//! on a small bundled institution (examples/northwind), then what Canvas now holds and what to
//! try next. Needs no Canvas, no network and no configuration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;

use canvas_sis::canvas::{AccountRef, CanvasClient, ClientConfig};
use canvas_sis::pipeline::{ImportRequest, WaitPolicy};
use canvas_sis::sim::config::TokenStatus;
use canvas_sis::sim::{Permission, SimConfig, TokenSpec};

use crate::cli::DemoArgs;
use crate::cmd::import::print;
use crate::cmd::progress::TerminalObserver;

/// The example institution, bundled so the demo works from any directory.
const NORTHWIND: [(&str, &str); 6] = [
    (
        "accounts.csv",
        include_str!("../../examples/northwind/accounts.csv"),
    ),
    (
        "terms.csv",
        include_str!("../../examples/northwind/terms.csv"),
    ),
    (
        "courses.csv",
        include_str!("../../examples/northwind/courses.csv"),
    ),
    (
        "sections.csv",
        include_str!("../../examples/northwind/sections.csv"),
    ),
    (
        "users.csv",
        include_str!("../../examples/northwind/users.csv"),
    ),
    (
        "enrollments.csv",
        include_str!("../../examples/northwind/enrollments.csv"),
    ),
];

pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let data = match args.data {
        Some(d) => d,
        None => write_example(scratch.path())?,
    };
    let secret = format!("demo-{:016x}", fastrand::u64(..));
    let mut config = SimConfig::with_tokens(vec![TokenSpec {
        name: "canvas-sis demo".into(),
        secret: secret.clone(),
        permissions: vec![Permission::ImportSis, Permission::ManageSis],
        status: TokenStatus::Active,
    }]);
    config.rows_per_sec = 400.0;
    config.errors_attachment_lag = Duration::from_millis(300);
    let sim = canvas_sis::sim::start(config, "127.0.0.1:0".parse()?)
        .await
        .context("starting the simulator")?;
    println!(
        "Simulated Canvas running at {} (account 1, \"Simulated University\")",
        sim.url()
    );
    println!("Importing {} …\n", data.display());

    let base = url::Url::parse(sim.url())?;
    let client = CanvasClient::new(ClientConfig::new(base, SecretString::from(secret)))?;
    let req = ImportRequest {
        path: data.clone(),
        account: AccountRef::SelfAccount,
        options: Default::default(),
        after_failure: false,
        dry_run: false,
        wait: WaitPolicy {
            poll_min: Duration::from_millis(200),
            poll_max: Duration::from_secs(1),
            deadline: Duration::from_secs(120),
            errors_file_wait: Duration::from_secs(5),
            ..WaitPolicy::default()
        },
        work_dir: scratch.path().join("run"),
        validate: Default::default(),
        pack: Default::default(),
        limits: Default::default(),
    };
    std::fs::create_dir_all(&req.work_dir)?;
    let outcome = canvas_sis::pipeline::import(&client, &req, &TerminalObserver::new()).await;
    print(&outcome, false);
    println!("\nWhat the simulated Canvas now holds:");
    for (kind, n) in holdings(&sim) {
        println!("  {n:>4} {kind}");
    }
    println!("{}", next_steps(&data));
    sim.shutdown().await;
    Ok(outcome.exit_code())
}

fn write_example(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let data = dir.join("northwind");
    std::fs::create_dir_all(&data)?;
    for (name, body) in NORTHWIND {
        std::fs::write(data.join(name), body).with_context(|| format!("writing {name}"))?;
    }
    Ok(data)
}

/// Non-empty tables of account 1, as (kind, count).
fn holdings(sim: &canvas_sis::sim::RunningSimulator) -> Vec<(String, usize)> {
    let engine = canvas_sis::sim::state::lock(&sim.state().engine);
    let Some(root) = engine.accounts.get(&1) else {
        return vec![];
    };
    let json = root.content.to_inspection_json();
    json.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    v.as_array()
                        .filter(|a| !a.is_empty())
                        .map(|a| (k.clone(), a.len()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn next_steps(data: &std::path::Path) -> String {
    format!(
        "\nTry next:\n  \
         canvas-sis validate {d}                 # the checks alone, nothing sent\n  \
         canvas-sis pack {d} -o feed.zip         # the exact zip Canvas would get\n  \
         canvas-sis simulate &                   # a simulated Canvas that stays up (token: sim-token)\n  \
         CANVAS_BASE_URL=http://127.0.0.1:8765 CANVAS_TOKEN=sim-token canvas-sis import {d}\n  \
         CANVAS_BASE_URL=http://127.0.0.1:8765 CANVAS_TOKEN=sim-token canvas-sis status\n\
         Against a real Canvas: CANVAS_BASE_URL=https://<school>.instructure.com and an admin token with import_sis.",
        d = if data.starts_with(std::env::temp_dir()) {
            "examples/northwind".into()
        } else {
            data.display().to_string()
        }
    )
}
