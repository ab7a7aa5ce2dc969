//! `canvas-sis demo`: folder mode end to end against a simulated Canvas started in-process: a
//! small bundled institution (examples/northwind) is dropped into a fresh folder's inbox, one
//! `watch` pass records it in the ledger, validates, guards, packs, uploads, waits and archives
//! it; then what Canvas now holds and what to try next. Needs no Canvas, no network and no
//! configuration.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use canvas_sis::config::Config;
use canvas_sis::ledger::{Ledger, LocalStore};
use canvas_sis::pipeline::{Finished, Observer, Outcome, WaitPolicy};
use canvas_sis::sim::config::TokenStatus;
use canvas_sis::sim::{Permission, SimConfig, TokenSpec};
use canvas_sis::trigger::folder::pass::Pass;
use canvas_sis::trigger::folder::{Layout, ScanPolicy};

use crate::cli::DemoArgs;
use crate::cmd::output::print;
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

    // The folder-mode layout, with the example feed dropped in its inbox as a finished batch.
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().join("sis"));
    let batch = dir.join("inbox").join("northwind-2026-11-26");
    match &args.data {
        Some(d) => copy_csvs(d, &batch)?,
        None => write_example(&batch)?,
    }
    close_batch(&batch)?;
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, &secret)?;
    let toml = format!(
        "[defaults]\ncanvas_url = \"{}\"\ntoken_file = \"{}\"\n",
        sim.url(),
        token_file.display()
    );
    let config = Config::from_toml(&toml, &scratch.path().join("canvas-sis.toml"), &|_| None)?;
    println!(
        "Dropped {} into {} (closed by a READY marker)\n",
        batch.file_name().unwrap_or_default().to_string_lossy(),
        dir.join("inbox").display()
    );

    let layout = Layout::ensure(&dir)?;
    std::fs::create_dir_all(layout.root.join("work"))?;
    let ledger = Ledger::new(LocalStore::open(layout.ledger())?);
    let runtimes = crate::cmd::common::runtimes(&config)?;
    let (terminal, metrics) = (
        TerminalObserver::new(),
        canvas_sis::telemetry::MetricsObserver,
    );
    let obs = canvas_sis::pipeline::Tee(vec![&terminal, &metrics]);
    let pass = Pass {
        layout: &layout,
        config: &config,
        runtimes: &runtimes,
        ledger: &ledger,
        policy: ScanPolicy::default(),
        wait: WaitPolicy {
            poll_min: Duration::from_millis(200),
            poll_max: Duration::from_secs(1),
            deadline: Duration::from_secs(120),
            errors_file_wait: Duration::from_secs(5),
            ..WaitPolicy::default()
        },
        submit_lease: Duration::from_secs(120),
        obs: &obs,
        stop: Default::default(),
    };
    let report = pass.run(&mut HashMap::new()).await?;
    obs.finish();
    let mut ok = !report.archived.is_empty();
    for (id, good) in &report.archived {
        ok &= *good;
        let rec = ledger
            .get_batch(&canvas_sis::ledger::BatchId::parse(id)?)
            .await?;
        if let Some(json) = rec.as_ref().and_then(|r| r.canvas_json.clone()) {
            let import: canvas_sis::canvas::SisImport = serde_json::from_value(json)?;
            let finished = Finished {
                import,
                errors_file: None,
            };
            let outcome = if *good {
                Outcome::Imported(Box::new(finished))
            } else {
                Outcome::CanvasFailed(Box::new(finished))
            };
            print(&outcome, false);
        }
        let kept = match &args.dir {
            Some(_) => "kept",
            None => "a scratch folder, removed when the demo ends",
        };
        println!(
            "batch {id}: recorded in the ledger, inputs archived in {} ({kept})",
            layout.archive().display()
        );
    }
    if let Some(d) = &args.dir {
        println!(
            "\nThe folder stays: see it on the status page with\n  canvas-sis serve --dir {}    # then open http://127.0.0.1:8080/",
            d.display()
        );
    }
    println!("\nWhat the simulated Canvas now holds:");
    for (kind, n) in holdings(&sim) {
        println!("  {n:>4} {kind}");
    }
    println!("{}", next_steps());
    sim.shutdown().await;
    Ok(if ok {
        crate::cmd::exit::OK
    } else {
        crate::cmd::exit::CANVAS_FAILED
    })
}

/// Copies the CSVs of `from` into a new batch folder.
fn copy_csvs(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
            std::fs::copy(&p, to.join(p.file_name().unwrap_or_default()))?;
        }
    }
    Ok(())
}

/// Writes READY and dates the batch back past the quiet period, as a finished SIS export is.
fn close_batch(batch: &std::path::Path) -> anyhow::Result<()> {
    std::fs::write(batch.join("READY"), "")?;
    let when = std::time::SystemTime::now() - Duration::from_secs(300);
    for e in std::fs::read_dir(batch)? {
        std::fs::File::options()
            .write(true)
            .open(e?.path())?
            .set_modified(when)?;
    }
    Ok(())
}

fn write_example(data: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    for (name, body) in NORTHWIND {
        std::fs::write(data.join(name), body).with_context(|| format!("writing {name}"))?;
    }
    Ok(())
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

fn next_steps() -> String {
    "\nTry next:\n  \
     canvas-sis validate examples/northwind                # the checks alone, nothing sent\n  \
     canvas-sis pack examples/northwind -o feed.zip        # the exact zip Canvas would get\n  \
     canvas-sis simulate &                                 # a simulated Canvas that stays up (token: sim-token)\n  \
     export CANVAS_BASE_URL=http://127.0.0.1:8765 CANVAS_TOKEN=sim-token\n  \
     canvas-sis import examples/northwind                  # one-shot\n  \
     canvas-sis watch /srv/sis --once                      # folder mode: drop batches in /srv/sis/inbox\n  \
     canvas-sis status --dir /srv/sis                      # the ledger: gates, held and parked batches\n  \
     canvas-sis serve --dir /srv/sis                       # the same as a status page, http://127.0.0.1:8080/\n\
     Against a real Canvas: CANVAS_BASE_URL=https://<school>.instructure.com and an admin token with import_sis."
        .to_owned()
}
