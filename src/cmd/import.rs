//! `canvas-sis import PATH`: the one-shot pipeline, printed for people or as JSON.

use std::time::Duration;

use anyhow::Context;

use canvas_sis::canvas::{EnrollmentDropStatus, ImportOptions, UserRemoveStatus};
use canvas_sis::config::ImportDefaults;
use canvas_sis::pipeline::{ImportRequest, Preflight, Rerun, WaitPolicy};

use crate::cli::{DropStatus, ImportArgs, ImportOptionArgs, UserRemove};
use crate::cmd::common::secs;
use crate::cmd::output::print;
use crate::cmd::{connect, exit, progress::TerminalObserver};

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
        preflight: Preflight::OneShot(if args.force {
            Rerun::Force
        } else {
            Rerun::Refuse
        }),
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
    // One trace for the one-shot import: its Canvas calls are the batch span's children.
    let span = canvas_sis::telemetry::spans::batch("local", "import");
    // The metrics hear the run through the observer port, next to the progress display.
    let (terminal, metrics) = (
        TerminalObserver::new(),
        canvas_sis::telemetry::MetricsObserver,
    );
    let obs = canvas_sis::pipeline::Tee(vec![&terminal, &metrics]);
    let outcome =
        tracing::Instrument::instrument(canvas_sis::pipeline::import(&client, &req, &obs), span)
            .await;
    print(&outcome, args.json);
    Ok(exit::of_outcome(&outcome))
}

/// The typed Canvas options from the flags, through the same mapping as the config file's
/// `[tenants.<name>.import]`; contradictions are refused before anything is sent.
pub fn import_options(a: &ImportOptionArgs) -> anyhow::Result<ImportOptions> {
    if a.batch_mode_term.is_some() && a.multi_term_batch_mode {
        anyhow::bail!("--batch-mode-term and --multi-term-batch-mode exclude each other; pick one");
    }
    if a.diffing_data_set.is_none()
        && (a.diffing_remaster
            || a.diffing_drop_status.is_some()
            || a.diffing_user_remove_status.is_some()
            || a.diff_row_count_threshold.is_some())
    {
        anyhow::bail!(
            "the --diffing-* and --diff-row-count-threshold options need --diffing-data-set"
        );
    }
    let defaults = ImportDefaults {
        batch_mode_term: a.batch_mode_term.clone(),
        multi_term_batch_mode: a.multi_term_batch_mode,
        change_threshold: a.change_threshold,
        batch_mode_enrollment_drop_status: a.batch_mode_enrollment_drop_status.map(drop_status),
        diffing_data_set: a.diffing_data_set.clone(),
        diffing_remaster: a.diffing_remaster,
        diffing_drop_status: a.diffing_drop_status.map(drop_status),
        diffing_user_remove_status: a.diffing_user_remove_status.map(|u| match u {
            UserRemove::Deleted => UserRemoveStatus::Deleted,
            UserRemove::Suspended => UserRemoveStatus::Suspended,
        }),
        diff_row_count_threshold: a.diff_row_count_threshold,
        override_sis_stickiness: a.override_sis_stickiness,
        add_sis_stickiness: a.add_sis_stickiness,
        clear_sis_stickiness: a.clear_sis_stickiness,
        skip_deletes: a.skip_deletes,
        update_sis_id_if_login_claimed: a.update_sis_id_if_login_claimed,
    };
    defaults.to_options().context("checking the import options")
}

fn drop_status(d: DropStatus) -> EnrollmentDropStatus {
    match d {
        DropStatus::Deleted => EnrollmentDropStatus::Deleted,
        DropStatus::Completed => EnrollmentDropStatus::Completed,
        DropStatus::Inactive => EnrollmentDropStatus::Inactive,
        DropStatus::DeletedLastCompleted => EnrollmentDropStatus::DeletedLastCompleted,
    }
}
