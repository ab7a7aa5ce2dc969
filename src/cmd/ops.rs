//! `pause`, `resume`, `approve`, `undo`: an operator's hands on a ledger — a folder-mode
//! directory's (`DIR/ledger`) or the cloud worker's (`s3://bucket/prefix/`), opened through
//! `cmd::ledger_at` (a location that holds no ledger is refused: a typo never starts a new one).

use std::time::Duration;

use anyhow::Context;

use canvas_sis::canvas::{AccountRef, CanvasClient, ClientConfig, RestoreOptions};
use canvas_sis::config::{Config, OnFailure, Tenant, TokenSource};
use canvas_sis::ledger::{BatchId, Ledger, LedgerStore};
use canvas_sis::pipeline::gate;
use canvas_sis::pipeline::operator::{self, Resumed};

use crate::cli::{ApproveArgs, GateArgs, PauseArgs, UndoArgs};
use crate::cmd::exit;
use crate::cmd::gate_report::{GateJson, print_line};
use crate::cmd::ledger_at::{Location, OpsLedger, on_ledger};

async fn chosen_tenants<S: LedgerStore>(
    ledger: &Ledger<S>,
    tenant: &Option<String>,
) -> anyhow::Result<Vec<String>> {
    match tenant {
        Some(t) => Ok(vec![t.clone()]),
        None => {
            let all = operator::tenants(ledger).await?;
            anyhow::ensure!(
                !all.is_empty(),
                "the ledger has no tenant yet; nothing to do"
            );
            Ok(all)
        }
    }
}

fn operator_name() -> String {
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

pub async fn pause(args: PauseArgs) -> anyhow::Result<u8> {
    let ledger = OpsLedger::open(&Location::required(&args.gate.ledger)?).await?;
    on_ledger!(ledger, l => pause_on(l, &args).await)
}

async fn pause_on<S: LedgerStore>(ledger: &Ledger<S>, args: &PauseArgs) -> anyhow::Result<u8> {
    let json = args.gate.json;
    for t in chosen_tenants(ledger, &args.gate.tenant).await? {
        let action = Acted::new(&t, "pause");
        if let Err(e) = operator::pause(ledger, &t, &operator_name(), &args.reason).await {
            return action.refused(json, e.into());
        }
        let done = Acted {
            result: "paused",
            reason: Some(args.reason.clone()),
            ..action
        };
        done.tell(ledger, json, format!("tenant {t} paused: {}", args.reason))
            .await?;
    }
    Ok(exit::OK)
}

pub async fn resume(args: GateArgs) -> anyhow::Result<u8> {
    let ledger = OpsLedger::open(&Location::required(&args.ledger)?).await?;
    on_ledger!(ledger, l => resume_on(l, &args).await)
}

async fn resume_on<S: LedgerStore>(ledger: &Ledger<S>, args: &GateArgs) -> anyhow::Result<u8> {
    for t in chosen_tenants(ledger, &args.tenant).await? {
        let action = Acted::new(&t, "resume");
        let resumed = match operator::resume_by(ledger, &t, &operator_name()).await {
            Ok(r) => r,
            Err(e) => return action.refused(args.json, e.into()),
        };
        let (done, message) = resumed_says(action, &t, resumed);
        done.tell(ledger, args.json, message).await?;
    }
    Ok(exit::OK)
}

/// What a `resume` of tenant `t` did, for the JSON line and in words.
fn resumed_says<'a>(action: Acted<'a>, t: &str, resumed: Resumed) -> (Acted<'a>, String) {
    match resumed {
        Resumed::AlreadyOpen => (
            Acted {
                result: "already_open",
                ..action
            },
            format!("tenant {t} was already open"),
        ),
        Resumed::UndoHoldLifted { mark, gate } => (
            Acted {
                result: "undo_hold_lifted",
                reason: Some(format!(
                    "the undo of batch {} stopped checking in at {}",
                    mark.batch, mark.seen
                )),
                ..action
            },
            format!(
                "tenant {t}: the hold of an undo of batch {} is lifted (it stopped checking in at {}; \
                 Canvas may not have finished restoring import {}: check it in Canvas). The tenant is now {}",
                mark.batch,
                mark.seen,
                mark.import_id,
                gate.describe()
            ),
        ),
        Resumed::Acknowledged { halt, batches } => (
            Acted {
                result: "acknowledged",
                reason: Some(halt.reason.clone()),
                acknowledged: batches.iter().map(ToString::to_string).collect(),
                ..action
            },
            format!(
                "tenant {t} resumed (it was halted by batch {}: {}); parked batches go on in arrival order",
                halt.batch, halt.reason
            ),
        ),
        Resumed::Unpaused {
            paused,
            still_halted,
        } => {
            let message = match &still_halted {
                None => format!("tenant {t} resumed (it was paused: {})", paused.reason),
                Some(halt) => format!(
                    "tenant {t}: the pause is lifted (it was paused: {}), but the tenant is STILL HALTED by batch {}: {}\n  \
                     look at that batch, then `canvas-sis resume` again to go on past it",
                    paused.reason, halt.batch, halt.reason
                ),
            };
            let done = Acted {
                result: "unpaused",
                reason: Some(paused.reason),
                ..action
            };
            (done, message)
        }
    }
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<u8> {
    let ledger = OpsLedger::open(&Location::required(&args.ledger)?).await?;
    on_ledger!(ledger, l => approve_on(l, &args).await)
}

async fn approve_on<S: LedgerStore>(ledger: &Ledger<S>, args: &ApproveArgs) -> anyhow::Result<u8> {
    let tenant = BatchId::parse(&args.batch)
        .map(|id| id.tenant().to_owned())
        .unwrap_or_default();
    let action = Acted {
        batch: Some(args.batch.clone()),
        ..Acted::new(&tenant, "approve")
    };
    let rec = match operator::approve(ledger, &args.batch).await {
        Ok(rec) => rec,
        Err(e) => return action.refused(args.json, e.into()),
    };
    let done = Acted {
        result: "approved",
        reason: Some(rec.stage.to_string()),
        ..action
    };
    let message = format!("batch {} approved: it goes on at the next run", args.batch);
    done.tell(ledger, args.json, message).await?;
    Ok(exit::OK)
}

/// One tenant or batch an operator command acted on: the line `--json` prints (documented in
/// the commands' `--help`; add fields, never rename them).
#[derive(Debug, serde::Serialize)]
struct Acted<'a> {
    tenant: &'a str,
    /// `approve` only: the batch approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<String>,
    action: &'static str,
    /// `paused`; `already_open`, `unpaused`, `acknowledged`, `undo_hold_lifted`; `approved`;
    /// `refused` (then `error` says why, and the command exits 2).
    result: &'static str,
    /// The pause's reason, the failure or pause a resume lifted, the held batch's stage.
    reason: Option<String>,
    /// `resume` past a halt: the failed batches acknowledged.
    acknowledged: Vec<String>,
    /// The tenant's gate after the action (`null` when refused).
    gate: Option<GateJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What the command says in words, without `--json`.
    message: String,
}

impl<'a> Acted<'a> {
    fn new(tenant: &'a str, action: &'static str) -> Self {
        Acted {
            tenant,
            batch: None,
            action,
            result: "refused",
            reason: None,
            acknowledged: Vec::new(),
            gate: None,
            error: None,
            message: String::new(),
        }
    }

    /// Prints `message`, or with `json` this line with the tenant's gate as it is now.
    async fn tell<S: LedgerStore>(
        mut self,
        ledger: &Ledger<S>,
        json: bool,
        message: String,
    ) -> anyhow::Result<()> {
        if !json {
            println!("{message}");
            return Ok(());
        }
        let gate = gate::current(ledger, self.tenant, OnFailure::Halt).await?;
        self.gate = Some(GateJson::from(&gate));
        self.message = message;
        print_line(&self)
    }

    /// The action was refused: with `json` a line says so; the error ends the command (exit 2).
    fn refused(mut self, json: bool, e: anyhow::Error) -> anyhow::Result<u8> {
        if json {
            self.error = Some(format!("{e:#}"));
            self.message = format!("error: {e:#}");
            print_line(&self)?;
        }
        Err(e)
    }
}

/// Restores the batch's import on its tenant's Canvas: URL, account and token come from the
/// tenant's configuration, never from flags (which, when given, must agree with it).
pub async fn undo(args: UndoArgs) -> anyhow::Result<u8> {
    let ledger = OpsLedger::open(&Location::required(&args.ledger)?).await?;
    let id = BatchId::parse(&args.batch).with_context(|| {
        format!(
            "{:?} is not a batch id; `canvas-sis status` lists them",
            args.batch
        )
    })?;
    let (client, account) = tenant_client(&args, id.tenant()).await?;
    let opts = RestoreOptions {
        batch_mode: args.batch_mode,
        undelete_only: args.undelete_only,
        unconclude_only: args.unconclude_only,
    };
    let limit = Duration::from_secs(args.wait_secs);
    let entry = on_ledger!(ledger, l => {
        operator::undo(l, &client, &account, &args.batch, opts, limit).await
    })?;
    println!(
        "batch {}: Canvas restore {} ({})",
        args.batch,
        entry["workflow_state"].as_str().unwrap_or("?"),
        entry["message"].as_str().unwrap_or("")
    );
    Ok(exit::OK)
}

/// The Canvas client and account of tenant `name`, from the configuration; refuses flags (or
/// their variables) that name another instance, account or token file.
async fn tenant_client(args: &UndoArgs, name: &str) -> anyhow::Result<(CanvasClient, AccountRef)> {
    let mut config = Config::load(args.config.as_deref()).context("loading the configuration")?;
    crate::cmd::common::fetch_secret_tokens(&mut config).await?;
    let tenant = config.tenant(name).with_context(|| {
        format!(
            "the batch's tenant {name} is not in the configuration; give the config file \
             `canvas-sis watch`/`run` use (--config or CANVAS_SIS_CONFIG)"
        )
    })?;
    refuse_other_canvas(args, tenant)?;
    let token = tenant
        .token
        .load()
        .with_context(|| format!("tenant {name}: reading the token"))?;
    let mut cfg = ClientConfig::new(tenant.canvas_url.clone(), token);
    cfg.allow_insecure_http = args.allow_insecure_http;
    let client = CanvasClient::new(cfg)
        .with_context(|| format!("tenant {name}: setting up the Canvas client"))?;
    Ok((client, tenant.account.clone()))
}

/// A `--canvas-url`, `--account` or `--token-file` (or CANVAS_BASE_URL, CANVAS_ACCOUNT_ID,
/// CANVAS_TOKEN_FILE) that disagrees with the tenant: the operator meant another Canvas.
fn refuse_other_canvas(args: &UndoArgs, tenant: &Tenant) -> anyhow::Result<()> {
    let name = &tenant.name;
    if let Some(raw) = args.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
        let given = url::Url::parse(raw.trim())
            .with_context(|| format!("--canvas-url/CANVAS_BASE_URL {raw:?} is not a URL"))?;
        anyhow::ensure!(
            same_instance(&given, &tenant.canvas_url),
            "--canvas-url/CANVAS_BASE_URL names {given}, but batch's tenant {name} is on {}; \
             undo restores a batch only on its own tenant's Canvas: drop the flag (or unset the variable)",
            tenant.canvas_url
        );
    }
    if let Some(raw) = args.account.as_deref().filter(|a| !a.trim().is_empty()) {
        let given: AccountRef = raw
            .parse()
            .with_context(|| format!("--account/CANVAS_ACCOUNT_ID {raw:?}"))?;
        anyhow::ensure!(
            given == tenant.account,
            "--account/CANVAS_ACCOUNT_ID names account {given}, but batch's tenant {name} is \
             account {}: drop the flag (or unset the variable)",
            tenant.account
        );
    }
    if let Some(file) = &args.token_file {
        anyhow::ensure!(
            matches!(&tenant.token, TokenSource::File(f) if f == file),
            "--token-file/CANVAS_TOKEN_FILE {} is not the token source of batch's tenant {name}; \
             undo uses the tenant's own: drop the flag (or unset the variable)",
            file.display()
        );
    }
    Ok(())
}

/// Same scheme, host, port and path (a trailing `/` aside).
fn same_instance(a: &url::Url, b: &url::Url) -> bool {
    let key = |u: &url::Url| {
        (
            u.scheme().to_owned(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
            u.path().trim_end_matches('/').to_owned(),
        )
    };
    key(a) == key(b)
}
