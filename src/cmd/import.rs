//! `canvas-sis import PATH`: the one-shot pipeline, printed for people or as JSON.

use std::time::Duration;

use anyhow::Context;

use canvas_sis::canvas::{
    BatchMode, BatchModeTerm, Diffing, EnrollmentDropStatus, ImportOptions, Stickiness,
    UserRemoveStatus,
};
use canvas_sis::pipeline::{ImportRequest, Outcome, WaitPolicy};

use crate::cli::{DropStatus, ImportArgs, ImportOptionArgs, UserRemove};
use crate::cmd::{connect, output, progress::TerminalObserver};

pub async fn run(args: ImportArgs) -> anyhow::Result<u8> {
    let (client, account) =
        connect::client(&args.canvas, Some(args.pre_attachment_mib * 1024 * 1024))?;
    let work_dir = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::path::PathBuf::from("canvas-sis-runs")
            .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating the work directory {}", work_dir.display()))?;
    let req = ImportRequest {
        path: args.path.clone(),
        account,
        options: import_options(&args.options)?,
        after_failure: args.after_failure,
        dry_run: args.dry_run,
        wait: WaitPolicy {
            busy_max: secs(args.busy_wait_secs, "--busy-wait-secs")?,
            deadline: secs(args.deadline_secs, "--deadline-secs")?,
            poll_min: secs(args.poll_secs, "--poll-secs")?,
            poll_max: Duration::from_secs(30).max(secs(args.poll_secs, "--poll-secs")?),
            stuck_after: secs(args.stuck_after_secs, "--stuck-after-secs")?,
            ..WaitPolicy::default()
        },
        work_dir,
        validate: Default::default(),
        pack: Default::default(),
        limits: Default::default(),
    };
    let outcome = canvas_sis::pipeline::import(&client, &req, &TerminalObserver::new()).await;
    print(&outcome, args.json);
    Ok(outcome.exit_code())
}

pub fn print(outcome: &Outcome, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&output::outcome_json(outcome)).unwrap_or_default()
        );
    } else {
        print!("{}", output::outcome_text(outcome));
    }
}

pub fn secs(v: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a number of seconds above 0, got {v}"))
}

/// The typed Canvas options from the flags; contradictions are refused before anything is sent.
pub fn import_options(a: &ImportOptionArgs) -> anyhow::Result<ImportOptions> {
    let batch_mode = match (&a.batch_mode_term, a.multi_term_batch_mode) {
        (Some(_), true) => anyhow::bail!(
            "--batch-mode-term and --multi-term-batch-mode exclude each other; pick one"
        ),
        (Some(t), false) => Some(BatchMode::Term(term(t))),
        (None, true) => Some(BatchMode::MultiTerm),
        (None, false) => None,
    };
    let diffing = a.diffing_data_set.as_ref().map(|id| Diffing {
        remaster: a.diffing_remaster,
        drop_status: a.diffing_drop_status.map(drop_status),
        user_remove_status: a.diffing_user_remove_status.map(|u| match u {
            UserRemove::Deleted => UserRemoveStatus::Deleted,
            UserRemove::Suspended => UserRemoveStatus::Suspended,
        }),
        row_count_threshold: a.diff_row_count_threshold,
        ..Diffing::new(id.clone())
    });
    if diffing.is_none()
        && (a.diffing_remaster
            || a.diffing_drop_status.is_some()
            || a.diffing_user_remove_status.is_some()
            || a.diff_row_count_threshold.is_some())
    {
        anyhow::bail!(
            "the --diffing-* and --diff-row-count-threshold options need --diffing-data-set"
        );
    }
    let options = ImportOptions {
        batch_mode,
        batch_mode_enrollment_drop_status: a.batch_mode_enrollment_drop_status.map(drop_status),
        diffing,
        stickiness: Stickiness {
            override_sticky: a.override_sis_stickiness,
            add: a.add_sis_stickiness,
            clear: a.clear_sis_stickiness,
        },
        skip_deletes: a.skip_deletes,
        update_sis_id_if_login_claimed: a.update_sis_id_if_login_claimed,
        change_threshold: a.change_threshold,
    };
    options.validate().context("checking the import options")?;
    Ok(options)
}

fn term(t: &str) -> BatchModeTerm {
    match t.parse::<u64>() {
        Ok(id) => BatchModeTerm::Id(id),
        Err(_) => BatchModeTerm::SisId(t.strip_prefix("sis_term_id:").unwrap_or(t).to_owned()),
    }
}

fn drop_status(d: DropStatus) -> EnrollmentDropStatus {
    match d {
        DropStatus::Deleted => EnrollmentDropStatus::Deleted,
        DropStatus::Completed => EnrollmentDropStatus::Completed,
        DropStatus::Inactive => EnrollmentDropStatus::Inactive,
        DropStatus::DeletedLastCompleted => EnrollmentDropStatus::DeletedLastCompleted,
    }
}
