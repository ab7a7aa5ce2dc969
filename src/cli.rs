//! Command-line arguments of `canvas-sis` (clap derive), with examples in `--help`.
//!
//! Exit codes, for every command:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | imported (with or without messages); or the command succeeded |
//! | 1 | Canvas failed or aborted the import |
//! | 2 | usage or configuration error (bad flag, no token, bad token, missing permission) |
//! | 3 | rejected before upload (validation errors, unreadable or hostile input) |
//! | 4 | refused because the previous import of the account failed (see `--after-failure`) |
//! | 5 | gave up: a deadline passed or Canvas stayed unreachable |
//! | 6 | `import` refused a re-run: this token's user imported the same files recently (see `--force`) |

#[cfg(feature = "sim")]
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[cfg(feature = "sim")]
use canvas_sis::sim::TokenSpec;

#[derive(Debug, Parser)]
#[command(
    name = "canvas-sis",
    version,
    about = "Feed SIS CSV exports into Canvas LMS, safely and in order.",
    after_help = "Exit codes: 0 imported; 1 Canvas failed or aborted it; 2 usage or configuration error; \
                  3 rejected before upload; 4 refused after an earlier failed import; 5 gave up (deadline or unreachable); \
                  6 import refused a re-run of files imported recently (--force)."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CANVAS_SIS_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Folder mode: import what is dropped in DIR/inbox, in order, through the durable ledger.
    ///
    /// Examples:
    ///   canvas-sis watch /srv/sis --once          # for cron or a systemd timer
    ///   CANVAS_SIS_CONFIG=/etc/canvas-sis.toml canvas-sis watch /srv/sis
    Watch(WatchArgs),
    /// The cloud worker: take SIS drops from the S3 bucket's SQS FIFO queue, one at a time.
    ///
    /// Examples:
    ///   SIS_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/sis.fifo \
    ///   SIS_STATE_URL=s3://sis-state/canvas-sis/ CANVAS_BASE_URL=https://school.instructure.com \
    ///   CANVAS_TOKEN_FILE=/var/run/secrets/canvas-token canvas-sis run
    ///   canvas-sis run --until-empty          # Kubernetes CronJob: drain the queue, then exit
    Run(RunArgs),
    /// The cloud worker as an AWS Lambda function fed by the SQS FIFO queue (the default when
    /// AWS_LAMBDA_RUNTIME_API is set and no command is given, e.g. as `bootstrap`).
    ///
    /// Example (the function's environment):
    ///
    ///   SIS_STATE_URL=s3://sis-state/canvas-sis/ CANVAS_BASE_URL=https://school.instructure.com
    ///   CANVAS_TOKEN_SECRET_ARN=arn:aws:secretsmanager:... (or CANVAS_TOKEN / CANVAS_TOKEN_FILE)
    Lambda(LambdaArgs),
    /// Validate, pack, check Canvas, upload, wait for the end and report.
    ///
    /// Examples:
    ///   CANVAS_BASE_URL=https://school.instructure.com CANVAS_TOKEN_FILE=~/.canvas-token \
    ///     canvas-sis import exports/2026-11-26/
    ///   canvas-sis import feed.zip --batch-mode-term sis_term_id:FA2026 --change-threshold 10
    ///   canvas-sis import users.csv --dry-run
    Import(ImportArgs),
    /// Check a folder, zip or CSV against Canvas's rules without sending anything.
    ///
    /// Example: canvas-sis validate exports/2026-11-26/ --json
    Validate(ValidateArgs),
    /// Build the deterministic zip Canvas would receive.
    ///
    /// Example: canvas-sis pack exports/2026-11-26/ -o feed.zip
    Pack(PackArgs),
    /// Show the account's recent SIS imports, or with --dir/--state the ledger's tenants and
    /// batches.
    ///
    /// Examples: canvas-sis status --limit 5
    ///           canvas-sis status --dir /srv/sis
    ///           canvas-sis status --state s3://sis-state/canvas-sis/
    Status(StatusArgs),
    /// Serve the read-only status page of a ledger: tenants, their batches, each batch.
    ///
    /// Examples: canvas-sis serve --dir /srv/sis                       # http://127.0.0.1:8080/
    ///           canvas-sis serve --state s3://sis-state/canvas-sis/ --listen 0.0.0.0:8080 \
    ///             --page-basic-auth-file /etc/canvas-sis/page-users
    Serve(ServeArgs),
    /// Close a tenant's gate (term rollover, maintenance): batches keep arriving and park.
    ///
    /// With --json, one JSON object per tenant paused (its fields under --json below).
    ///
    /// Examples: canvas-sis pause --dir /srv/sis --tenant main --reason "term rollover"
    ///           canvas-sis pause --state s3://sis-state/canvas-sis/ --tenant main --json
    Pause(PauseArgs),
    /// Reopen a halted or paused tenant; parked batches go on in arrival order.
    ///
    /// One thing at a time: on a paused tenant it lifts the pause only, and says so when a
    /// failure (perhaps one that landed during the pause) still halts it; resume again to go on
    /// past that failure.
    ///
    /// With --json, one JSON object per tenant; `result` says what was lifted: already_open,
    /// unpaused (the gate may still read halted), acknowledged (the failures in `acknowledged`),
    /// or undo_hold_lifted.
    ///
    /// Examples: canvas-sis resume --dir /srv/sis --tenant main
    ///           canvas-sis resume --dir /srv/sis --json
    Resume(GateArgs),
    /// Let a batch held by the mass-change guard through, once.
    ///
    /// Examples: canvas-sis approve --dir /srv/sis main/00000012-3fa9c1d2e4b5
    ///           canvas-sis approve --dir /srv/sis main/00000012-3fa9c1d2e4b5 --json
    Approve(ApproveArgs),
    /// Roll back what a batch's Canvas import changed (Canvas's restore_states).
    ///
    /// Canvas, account and token are the batch's tenant's (from --config); the tenant is paused
    /// while Canvas restores.
    ///
    /// Example: canvas-sis undo --dir /srv/sis --config /etc/canvas-sis.toml main/00000012-3fa9c1d2e4b5 --undelete-only
    Undo(UndoArgs),
    /// Check the setup: the config, each tenant's Canvas, the queue and the state bucket.
    ///
    /// Per tenant: Canvas answers (https, or http to loopback), the token is accepted, the
    /// account exists and is a root account, the token's user has an SIS permission, SIS imports
    /// are enabled. The queue and the state bucket are checked when given. One line per check
    /// (ok, FAIL with a fix, or skip); exit 0 when all pass, 2 otherwise. Never prints the token.
    ///
    /// Examples: CANVAS_SIS_CONFIG=/etc/canvas-sis.toml canvas-sis doctor
    ///           CANVAS_BASE_URL=https://school.instructure.com CANVAS_TOKEN_FILE=~/.canvas-token canvas-sis doctor
    Doctor(DoctorArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// Examples: canvas-sis completions bash > /etc/bash_completion.d/canvas-sis
    ///           canvas-sis completions zsh > "${fpath[1]}/_canvas-sis"
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout.
    ///
    /// Example: canvas-sis man > /usr/local/share/man/man1/canvas-sis.1
    Man,
    /// Folder mode end to end against a built-in simulated Canvas, on bundled example data.
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
    /// Run a Canvas SIS Imports API simulator (for tests, demos and dry runs of a feed).
    ///
    /// Prints its base URL as the first line of stdout; logs go to stderr.
    ///
    /// Example:
    ///   canvas-sis simulate --listen 127.0.0.1:0 --token sis-bot:s3cret:import_sis,manage_sis
    #[cfg(feature = "sim")]
    Simulate(SimulateArgs),
    /// Built without the simulator (the worker image): `demo` is hidden and only says so,
    /// rather than clap's bare "unrecognized subcommand".
    #[cfg(not(feature = "sim"))]
    #[command(hide = true)]
    Demo(NoSimulator),
    /// Built without the simulator: `simulate` is hidden and only says so.
    #[cfg(not(feature = "sim"))]
    #[command(hide = true)]
    Simulate(NoSimulator),
}

/// The arguments of `demo` and `simulate` in a build without the simulator: whatever they are,
/// the command only explains that this binary has no simulator.
#[cfg(not(feature = "sim"))]
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct NoSimulator {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ignored: Vec<String>,
}

/// Where Canvas is. The token is never a flag (flags show in `ps`): CANVAS_TOKEN or a token file.
#[derive(Debug, Args, Clone)]
pub struct CanvasArgs {
    /// Canvas base URL, e.g. https://school.instructure.com.
    #[arg(long = "canvas-url", env = "CANVAS_BASE_URL")]
    pub base_url: Option<String>,
    /// Root account: `self`, a numeric id, or `sis_account_id:X`.
    #[arg(long, env = "CANVAS_ACCOUNT_ID", default_value = "self")]
    pub account: String,
    /// File holding the token (otherwise CANVAS_TOKEN is read).
    #[arg(long, env = "CANVAS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow plain http:// to a non-loopback host (the token would travel in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The folder: inbox/, processing/, archive/, failed/, logs/ and ledger/ are kept under it.
    pub dir: PathBuf,
    /// Process what is ready, then exit (exit 1 if a tenant is left halted).
    #[arg(long)]
    pub once: bool,
    /// The config file (tenants); without one, a single tenant from CANVAS_BASE_URL etc.
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds between passes when watching.
    #[arg(long, default_value_t = 30.0)]
    pub interval_secs: f64,
    /// Serve the status page, /healthz, /readyz and /metrics on this address (e.g.
    /// 0.0.0.0:9464); off when unset.
    #[arg(long, env = "SIS_LISTEN_ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub waits: UnattendedWaits,
}

/// The status page's access and what it shows (`watch`, `run` with `--listen`, and `serve`).
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Ask the status page's readers for this bearer token (the file's first line). /healthz,
    /// /readyz and /metrics stay open.
    #[arg(long, env = "SIS_PAGE_TOKEN_FILE", value_name = "FILE")]
    pub page_token_file: Option<PathBuf>,
    /// Ask the status page's readers for these basic-auth credentials (a `user:password` line).
    #[arg(
        long,
        env = "SIS_PAGE_BASIC_AUTH_FILE",
        value_name = "FILE",
        conflicts_with = "page_token_file"
    )]
    pub page_basic_auth_file: Option<PathBuf>,
    /// Show Canvas's message texts and the validation findings on the status page, and let it
    /// serve the archived zip and errors file: they hold people's data (off: classes and counts).
    #[arg(long, env = "SIS_PAGE_ROW_SAMPLES")]
    pub page_row_samples: bool,
}

/// Where the queue modes (`run`, `lambda`) take batches from and where they work on them.
#[derive(Debug, Args)]
pub struct DropArgs {
    /// Accept events from these buckets only (comma-separated); others are poison. Default: any.
    #[arg(long = "bucket", env = "SIS_BUCKET", value_delimiter = ',')]
    pub buckets: Vec<String>,
    /// Where batches are downloaded and zips built (default: the system temp dir; Lambda: /tmp).
    #[arg(long, env = "SIS_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// How long a manifest naming files not uploaded yet waits for them before the batch is rejected.
    #[arg(long, default_value_t = 900.0)]
    pub incomplete_wait_secs: f64,
    /// S3 checksums: when-required for S3-compatible stores that refuse the SDK's default.
    #[arg(long, env = "SIS_S3_CHECKSUMS", value_enum)]
    pub s3_checksums: Option<S3Checksums>,
}

/// Whether the S3 client computes and checks request/response checksums (`--s3-checksums`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3Checksums {
    /// The SDK's default: CRC32 on every upload, checked on every download that has one.
    WhenSupported,
    /// Only where the API demands it: for S3-compatible stores that refuse trailing checksums.
    WhenRequired,
}

/// How the unattended modes (`watch`, `run`) wait on Canvas.
#[derive(Debug, Args)]
pub struct UnattendedWaits {
    /// First polling interval of Canvas, in seconds (backs off to 30).
    #[arg(long, default_value_t = 2.0)]
    pub poll_secs: f64,
    /// Longest wait for one import, in seconds; past it the batch stays submitted and a later
    /// pass (or the message's next receive) waits on it again (never re-uploads).
    #[arg(long, default_value_t = 21600.0)]
    pub deadline_secs: f64,
    /// The lease on a batch being submitted: its worker renews it every third of this while
    /// its POST runs; a batch whose lease was renewed more recently is left to its worker.
    #[arg(long, default_value_t = 120.0)]
    pub submit_lease_secs: f64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A folder of CSV files, a .zip, or a single .csv.
    pub path: PathBuf,
    #[command(flatten)]
    pub canvas: CanvasArgs,
    #[command(flatten)]
    pub options: ImportOptionArgs,
    /// Go ahead even if the previous import of the account failed or was aborted.
    #[arg(long)]
    pub after_failure: bool,
    /// Do everything up to the upload, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the files even if this token's user imported the same files (names and sizes) in
    /// the last 12 hours; without it such a re-run is refused with exit code 6.
    #[arg(long)]
    pub force: bool,
    /// Longest wait for an earlier import of the account to end, in seconds.
    #[arg(long, default_value_t = 1800.0)]
    pub busy_wait_secs: f64,
    /// Longest wait for this import to end, in seconds.
    #[arg(long, default_value_t = 21600.0)]
    pub deadline_secs: f64,
    /// First polling interval, in seconds (backs off to 30).
    #[arg(long, default_value_t = 2.0)]
    pub poll_secs: f64,
    /// Report an import still created/initializing after this many seconds as stuck.
    #[arg(long, default_value_t = 600.0)]
    pub stuck_after_secs: f64,
    /// Files from this size (MiB) are uploaded with Canvas's pre_attachment flow.
    #[arg(long, default_value_t = 32)]
    pub pre_attachment_mib: u64,
    /// Where the built zip and the errors file go (default: canvas-sis-runs/<UTC time>).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The create options of Canvas's SIS import API.
#[derive(Debug, Args, Clone, Default)]
pub struct ImportOptionArgs {
    /// Batch mode for one term: its Canvas id, or `sis_term_id:X`. Objects of the term missing
    /// from the feed are deleted; use with --change-threshold.
    #[arg(long, value_name = "TERM")]
    pub batch_mode_term: Option<String>,
    /// Batch mode for every term in the feed's terms file (needs --change-threshold).
    #[arg(long)]
    pub multi_term_batch_mode: bool,
    /// Percent (1-100): Canvas aborts batch mode that would delete more, and skips diffing that
    /// would change more.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub change_threshold: Option<u32>,
    /// Status for enrollments removed by batch mode: deleted, completed, inactive, deleted_last_completed.
    #[arg(long, value_enum)]
    pub batch_mode_enrollment_drop_status: Option<DropStatus>,
    /// Diffing data set: only rows changed since the last import of this data set are applied.
    #[arg(long, value_name = "ID")]
    pub diffing_data_set: Option<String>,
    /// Apply the whole feed but join the diffing chain.
    #[arg(long)]
    pub diffing_remaster: bool,
    /// Status for enrollments that vanished between diffed imports.
    #[arg(long, value_enum)]
    pub diffing_drop_status: Option<DropStatus>,
    /// Status for users that vanished between diffed imports: deleted or suspended.
    #[arg(long, value_enum)]
    pub diffing_user_remove_status: Option<UserRemove>,
    /// Skip diffing when the diff has more rows than this.
    #[arg(long)]
    pub diff_row_count_threshold: Option<u64>,
    /// SIS data overwrites fields changed in Canvas's UI.
    #[arg(long)]
    pub override_sis_stickiness: bool,
    /// With --override-sis-stickiness: mark the changed fields sticky.
    #[arg(long)]
    pub add_sis_stickiness: bool,
    /// With --override-sis-stickiness: clear stickiness.
    #[arg(long)]
    pub clear_sis_stickiness: bool,
    /// Ignore rows whose status is `deleted`.
    #[arg(long)]
    pub skip_deletes: bool,
    /// Replace a login's SIS id when its login_id is claimed by another SIS id.
    #[arg(long)]
    pub update_sis_id_if_login_claimed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DropStatus {
    Deleted,
    Completed,
    Inactive,
    DeletedLastCompleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UserRemove {
    Deleted,
    Suspended,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A folder of CSV files, a .zip, or a single .csv.
    pub path: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The Canvas account has the institutional tags feature on.
    #[arg(long)]
    pub institutional_tags: bool,
    /// Every warning rejects the batch (by default only what fails Canvas's import does).
    #[arg(long)]
    pub strict: bool,
    /// Warnings of this rule reject the batch (repeatable), e.g. --strict-rule bad_date.
    #[arg(long = "strict-rule", value_name = "RULE")]
    pub strict_rules: Vec<String>,
    /// List every finding, one line each (by default one line per rule, with a count).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A folder of CSV files, a .zip, or a single .csv.
    pub path: PathBuf,
    /// The zip to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Pack without validating: the files as they are, in Canvas's order by the kind each
    /// header names (faster; Canvas reports what is wrong after the upload instead).
    #[arg(long)]
    pub no_validate: bool,
    /// Deflate level, 1-9. The default 6 is tuned: about zlib level 6's size on SIS CSVs for
    /// less CPU; the other levels are zlib's.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub level: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub ledger: LedgerChoice,
    #[command(flatten)]
    pub canvas: CanvasArgs,
    /// How many recent imports to show (with --dir/--state: finished batches per tenant).
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// Print JSON (with --dir/--state: each tenant's gate, freshness, waiting and recent batches).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// Where to serve the page; port 0 picks a free one (the address is logged).
    #[arg(long, env = "SIS_LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The config file: each tenant's `freshness_hours` and `on_failure` (defaults: 26 h, halt).
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// The ledger an operator command acts on: exactly one of a folder-mode directory or the cloud
/// worker's S3 state. AWS credentials, region and `AWS_ENDPOINT_URL` come from the environment.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct LedgerArgs {
    /// The folder-mode directory (the one `watch` is given); its ledger is DIR/ledger.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The cloud worker's ledger: s3://bucket/prefix/ (the bucket must exist).
    #[arg(long, value_name = "URL", env = "SIS_STATE_URL")]
    pub state: Option<String>,
}

/// `status`'s optional ledger: with one of these it shows the ledger instead of Canvas.
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct LedgerChoice {
    /// The folder-mode directory (the one `watch` is given): show its ledger instead of Canvas.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The cloud worker's ledger, s3://bucket/prefix/: show it instead of Canvas.
    #[arg(long, value_name = "URL", env = "SIS_STATE_URL")]
    pub state: Option<String>,
}

/// Which ledger and tenant(s) an operator command acts on.
#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The tenant (default: every tenant in the ledger).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print one JSON object per tenant acted on (JSON Lines on stdout): `tenant`, `action`,
    /// `result`, `reason`, `acknowledged` (failed batches a resume went past), `gate` (the
    /// tenant's gate after it: `state` open|paused|restoring|halted, `paused`, `halted`, `undo`),
    /// `message`; a refusal prints `result: "refused"` with `error`, and exits 2.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[command(flatten)]
    pub gate: GateArgs,
    /// Why, for `status` and the other operators.
    #[arg(long, default_value = "paused by an operator")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The batch id, as `status --dir/--state` shows it (tenant/sequence-hash).
    pub batch: String,
    /// Print one JSON object (one line on stdout): `tenant`, `batch`, `action`, `result`
    /// (approved|refused), `reason` (the batch's stage), `gate` (the tenant's gate: `state`
    /// open|paused|restoring|halted, `paused`, `halted`, `undo`), `message`, and `error` when refused.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The batch id, as `status --dir/--state` shows it.
    pub batch: String,
    /// The config file naming the batch's tenant: its Canvas URL, account and token source are
    /// the ones used. Without one, a single tenant `default` from CANVAS_BASE_URL etc.
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Checked only: must be the Canvas URL of the batch's tenant, or undo refuses.
    #[arg(long = "canvas-url", env = "CANVAS_BASE_URL")]
    pub base_url: Option<String>,
    /// Checked only: must be the account of the batch's tenant, or undo refuses.
    #[arg(long, env = "CANVAS_ACCOUNT_ID")]
    pub account: Option<String>,
    /// Checked only: must be the token file of the batch's tenant, or undo refuses.
    #[arg(long, env = "CANVAS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow plain http:// to a non-loopback host (the token would travel in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Only restore what batch mode removed.
    #[arg(long)]
    pub batch_mode: bool,
    /// Only undelete (leave conclusions).
    #[arg(long, conflicts_with = "unconclude_only")]
    pub undelete_only: bool,
    /// Only unconclude (leave deletions).
    #[arg(long)]
    pub unconclude_only: bool,
    /// Longest wait for Canvas's restore, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub wait_secs: u64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The config file (tenants); without one, a single tenant from CANVAS_BASE_URL,
    /// CANVAS_ACCOUNT_ID and CANVAS_TOKEN/CANVAS_TOKEN_FILE.
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Check only this tenant (default: every tenant of the config).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The cloud worker's SQS queue: checked when given (GetQueueAttributes).
    #[arg(long, env = "SIS_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// The cloud worker's state, s3://bucket/prefix/: checked when given (a list of the prefix).
    #[arg(long = "state", value_name = "URL", env = "SIS_STATE_URL")]
    pub state: Option<String>,
    /// Allow plain http:// to a non-loopback host (the token would travel in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Drop the CSVs of this folder instead of the bundled example institution.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep the folder-mode directory (inbox, archive, ledger) here instead of in a scratch
    /// folder removed at the end; `canvas-sis serve --dir DIR` then shows it on the status page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,

    /// An accepted token: NAME:SECRET[:PERMS]. PERMS is a comma list of import_sis, manage_sis
    /// (default both), `none`, and optionally expired, revoked or no_scopes. Repeatable.
    /// Without any, one token admin:sim-token with both permissions is accepted.
    #[arg(long = "token", value_name = "NAME:SECRET[:PERMS]")]
    pub tokens: Vec<TokenSpec>,

    /// Import speed, in CSV rows per second.
    #[arg(long, default_value_t = 500.0)]
    pub rows_per_second: f64,

    /// How long a new import waits before it may start (Canvas's sis_batch_process_start_delay).
    #[arg(long, default_value_t = 0.0)]
    pub start_delay_secs: f64,

    /// How long after an import ends its errors_attachment appears.
    #[arg(long, default_value_t = 1.0)]
    pub errors_attachment_lag_secs: f64,

    /// How long the next import waits after an abort (Canvas: 600).
    #[arg(long, default_value_t = 600.0)]
    pub abort_hold_secs: f64,

    /// Keep the state (content, imports, files) in this JSON file across restarts.
    #[arg(long)]
    pub state_file: Option<PathBuf>,

    /// Status of a throttled answer: 403 (Canvas) or 429.
    #[arg(long, default_value_t = 403)]
    pub throttle_status: u16,

    /// Turn the request throttle off.
    #[arg(long)]
    pub no_throttle: bool,

    /// What one request costs in the throttle's bucket (Canvas: CPU + DB seconds).
    #[arg(long, default_value_t = 1.0)]
    pub request_cost: f64,

    /// Largest API request body accepted (raw and multipart creates), in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest file accepted by the pre_attachment upload URL, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Time moves only through POST /__sim/advance (for reproducible tests).
    #[arg(long)]
    pub manual_clock: bool,

    /// Answer 401 instead of 403 to a user who lacks the SIS permission (older Canvas).
    #[arg(long)]
    pub legacy_401: bool,

    /// Turn on the institutional_tags feature on every root account.
    #[arg(long)]
    pub institutional_tags: bool,

    /// Turn on the allow_assign_to_differentiation_tags setting on every account (without it
    /// differentiation tag rows are refused, as in Canvas).
    #[arg(long)]
    pub differentiation_tags: bool,
}

/// `canvas-sis run`: the SQS FIFO cloud worker.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct RunArgs {
    /// The SQS queue (FIFO) the drop bucket's events arrive on.
    #[arg(long, env = "SIS_QUEUE_URL")]
    pub queue_url: String,
    /// Where the ledger and archives live: s3://bucket/prefix/ (or a local directory).
    #[arg(long = "state", env = "SIS_STATE_URL")]
    pub state: String,
    /// The config file (tenants by s3_prefix); without one, a single tenant from CANVAS_BASE_URL etc.
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Exit 0 once the queue is drained (exit 1 if a tenant is left halted): for a CronJob.
    /// Batches parked in a blackout window wait in the ledger; a run after the window sends them.
    #[arg(long)]
    pub until_empty: bool,
    /// Handle up to N messages at once, each tenant (message group) by one of them: one
    /// tenant's long import then holds back none of the next N-1 tenants. Memory and the work
    /// folder's space grow with N (one batch's download and zip each).
    #[arg(long, env = "SIS_PARALLEL", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Exit after handling this many messages that carried a batch (with --parallel 1 only).
    #[arg(long)]
    pub max_batches: Option<u64>,
    /// Visibility timeout of a received message, renewed every third of it while it is worked on.
    #[arg(long, default_value_t = 300.0)]
    pub visibility_secs: f64,
    /// How long a message that could not be finished now stays hidden before it is retried.
    #[arg(long, default_value_t = 60.0)]
    pub retry_after_secs: f64,
    /// Long-poll wait of one receive, at most 20.
    #[arg(long, default_value_t = 20.0)]
    pub receive_wait_secs: f64,
    #[command(flatten)]
    pub drop: DropArgs,
    #[command(flatten)]
    pub waits: UnattendedWaits,
    /// How often an idle worker looks for parked batches of resumed tenants.
    #[arg(long, default_value_t = 60.0)]
    pub sweep_secs: f64,
    /// SQS's 12-hour cap on one receipt, in seconds (lower it only to test the release).
    #[arg(long, default_value_t = 43200.0, hide = true)]
    pub visibility_cap_secs: f64,
    /// How long before the cap the message is released, in seconds.
    #[arg(long, default_value_t = 600.0, hide = true)]
    pub cap_margin_secs: f64,
    /// Serve the status page, /healthz, /readyz and /metrics on this address (e.g.
    /// 0.0.0.0:9464); off when unset.
    #[arg(long, env = "SIS_LISTEN_ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// `canvas-sis lambda`: one Lambda invocation per SQS batch of messages.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct LambdaArgs {
    /// Where the ledger and archives live: s3://bucket/prefix/ (or a local directory).
    #[arg(long = "state", env = "SIS_STATE_URL")]
    pub state: Option<String>,
    /// The queue the event source mapping reads: the function sets when the messages it reports
    /// come back, and copies poison messages to the dead-letter queue of its redrive policy.
    #[arg(long = "queue-url", env = "SIS_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// The config file (tenants by s3_prefix); without one, a single tenant from CANVAS_BASE_URL etc.
    #[arg(long, env = "CANVAS_SIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub drop: DropArgs,
    #[command(flatten)]
    pub waits: UnattendedWaits,
    /// How long a reported message stays hidden when its import is still running at Canvas or
    /// a failure may pass by itself (Canvas unreachable, throttling): the time between one
    /// invocation's last look at an import and the next invocation's first.
    #[arg(long, env = "SIS_LAMBDA_RETRY_AFTER_SECS", default_value_t = 60.0)]
    pub retry_after_secs: f64,
    /// Stop waiting on Canvas this many seconds before the invocation's deadline; the message
    /// comes back and a later invocation waits on the same import. Half of it is kept to record
    /// and answer.
    #[arg(long, env = "SIS_LAMBDA_MARGIN_SECS", default_value_t = 60.0)]
    pub margin_secs: f64,
}
