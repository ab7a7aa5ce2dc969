//! Test harness of the cloud worker: moto (drop bucket, state bucket, FIFO queue with a FIFO
//! dead-letter queue, EventBridge rules — one per tenant, each its own message group) plus an
//! in-process Canvas simulator, and `canvas-sis run` started as a real process against both.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use std::time::Duration;

use canvas_sis::sim::{AccountSpec, SimConfig};
use serde_json::{Value, json};

use super::moto::Moto;
use super::{ADMIN, Sim, tokens};

pub const DROP: &str = "drop";
pub const STATE: &str = "state";
pub const STATE_URL: &str = "s3://state/canvas-sis/";

/// What a test needs of its cloud.
pub struct CloudOpts {
    /// (tenant, s3 prefix, Canvas account id); empty = no config file: one tenant `default`
    /// from the environment, taking every key, on account 1.
    pub tenants: Vec<(&'static str, &'static str, u64)>,
    pub rows_per_sec: f64,
    /// The main queue's redrive policy sends a message to the DLQ after this many receives.
    pub max_receive: u32,
    /// TOML lines added to every tenant's table of the config file (e.g. a `blackout = [...]`).
    pub tenant_toml: String,
}

impl Default for CloudOpts {
    fn default() -> Self {
        CloudOpts {
            tenants: Vec::new(),
            rows_per_sec: 10_000.0,
            max_receive: 10,
            tenant_toml: String::new(),
        }
    }
}

impl CloudOpts {
    /// Two tenants: `east` (prefix `east/`, account 1) and `west` (`west/`, account 4, a root
    /// account the simulator adds).
    pub fn east_and_west() -> CloudOpts {
        CloudOpts {
            tenants: vec![("east", "east/", 1), ("west", "west/", 4)],
            ..CloudOpts::default()
        }
    }
}

pub struct Cloud {
    pub moto: Moto,
    pub sim: Sim,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dir: tempfile::TempDir,
    config: Option<PathBuf>,
}

impl Cloud {
    pub async fn start(opts: CloudOpts) -> Cloud {
        let moto = Moto::start();
        let mut config = SimConfig::with_tokens(tokens());
        config.rows_per_sec = opts.rows_per_sec;
        config.errors_attachment_lag = Duration::from_millis(100);
        config.throttle.enabled = false;
        for (_, _, account) in &opts.tenants {
            if *account > 3 {
                config.accounts.push(AccountSpec {
                    id: *account,
                    name: format!("Root {account}"),
                    sis_account_id: Some(format!("ROOT_{account}")),
                    parent_id: None,
                    allow_sis_import: true,
                    institutional_tags: false,
                    differentiation_tags: false,
                });
            }
        }
        let sim = Sim::start(config).await;
        moto.create_bucket(DROP).await;
        moto.create_bucket(STATE).await;
        let (dlq_url, dlq_arn) = moto.create_fifo("sis-dlq.fifo", None).await;
        let (queue_url, queue_arn) = moto
            .create_fifo("sis.fifo", Some((&dlq_arn, opts.max_receive)))
            .await;
        let dir = tempfile::tempdir().unwrap();
        let config = if opts.tenants.is_empty() {
            moto.route_bucket_to_fifo(DROP, &queue_arn, "default").await;
            None
        } else {
            let mut toml = format!(
                "[defaults]\ncanvas_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\n\n[defaults.guard]\nenabled = false\n",
                sim.sim.url()
            );
            for (name, prefix, account) in &opts.tenants {
                moto.route_prefix_to_fifo(DROP, prefix, &queue_arn, name)
                    .await;
                toml.push_str(&format!(
                    "\n[tenants.{name}]\naccount = \"{account}\"\ns3_prefix = \"{prefix}\"\n{}\n",
                    opts.tenant_toml
                ));
            }
            let path = dir.path().join("canvas-sis.toml");
            std::fs::write(&path, toml).unwrap();
            Some(path)
        };
        Cloud {
            moto,
            sim,
            queue_url,
            queue_arn,
            dlq_url,
            dir,
            config,
        }
    }

    /// `canvas-sis run` with fast test settings, plus `extra` flags.
    pub fn worker(&self, extra: &[&str]) -> Command {
        let mut cmd = self.command(&["run"]);
        cmd.args([
            "--receive-wait-secs",
            "1",
            "--poll-secs",
            "0.2",
            "--visibility-secs",
            "6",
            "--retry-after-secs",
            "1",
            "--submit-lease-secs",
            "5",
        ])
        .args(extra);
        cmd
    }

    /// `canvas-sis ARGS` with the cloud's environment: moto, the state URL, the work folder,
    /// the config file or the single tenant's Canvas URL and token.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SIS_QUEUE_URL", &self.queue_url)
            .env("SIS_STATE_URL", STATE_URL)
            .env("SIS_WORK_DIR", self.dir.path().join("work"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        match &self.config {
            Some(path) => {
                cmd.env("CANVAS_SIS_CONFIG", path).env("SIM_TOKEN", ADMIN);
            }
            None => {
                cmd.env("CANVAS_BASE_URL", self.sim.sim.url())
                    .env("CANVAS_TOKEN", ADMIN);
            }
        }
        cmd
    }

    /// Runs a worker with `--until-empty` to its end (bounded).
    pub fn drain(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--until-empty"];
        args.extend_from_slice(extra);
        wait_output(self.spawn(&args), Duration::from_secs(120))
    }

    /// [`Cloud::drain`], which must end successfully (its stderr shown when not).
    #[track_caller]
    pub fn drain_ok(&self, extra: &[&str]) -> Output {
        let out = self.drain(extra);
        assert_success(&out);
        out
    }

    /// Starts a worker whose output goes to files (a pipe nobody reads would stall it).
    pub fn spawn(&self, extra: &[&str]) -> Worker {
        self.spawn_command(self.worker(extra))
    }

    /// Starts `cmd` with its output going to files.
    pub fn spawn_command(&self, mut cmd: Command) -> Worker {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.dir.path().join(format!("worker-{n}.out"));
        let err = self.dir.path().join(format!("worker-{n}.err"));
        let child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("worker starts");
        Worker { child, out, err }
    }

    /// Another canvas-sis command (status, pause, resume, approve) against the same state.
    pub fn ops(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SIS_STATE_URL", STATE_URL);
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("canvas-sis runs")
    }

    /// Puts a zip batch and returns its key.
    pub async fn drop_zip(&self, key: &str, zip: Vec<u8>) {
        self.moto.put(DROP, key, zip).await;
    }

    /// Puts a folder batch: the CSVs, then the manifest that closes it.
    pub async fn drop_folder(&self, prefix: &str, files: &[(&str, String)], manifest: Value) {
        for (name, body) in files {
            self.moto
                .put(DROP, &format!("{prefix}{name}"), body.clone().into_bytes())
                .await;
        }
        self.moto
            .put(
                DROP,
                &format!("{prefix}manifest.json"),
                manifest.to_string().into_bytes(),
            )
            .await;
    }

    /// Sends a raw body to the main queue in `group`.
    pub async fn send(&self, body: &str, group: &str) {
        self.moto
            .sqs()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .expect("send");
    }

    /// Every object under `prefix` in the state bucket, parsed as JSON, in key order.
    pub async fn state_json(&self, prefix: &str) -> Vec<(String, Value)> {
        let s3 = self.moto.s3().await;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(STATE)
                .prefix(format!("canvas-sis/{prefix}"))
                .set_continuation_token(token.clone())
                .send()
                .await
                .expect("list state");
            for o in page.contents.unwrap_or_default() {
                let key = o.key.unwrap_or_default();
                if !key.ends_with(".json") {
                    continue;
                }
                let body = s3
                    .get_object()
                    .bucket(STATE)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                out.push((key, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            }
            token = page.next_continuation_token;
            if token.is_none() {
                break;
            }
        }
        out
    }

    /// The batch records of `tenant`, in arrival order.
    pub async fn batches(&self, tenant: &str) -> Vec<Value> {
        let mut v: Vec<Value> = self
            .state_json(&format!("tenants/{tenant}/batches/"))
            .await
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        v.sort_by_key(|b| b["arrival_seq"].as_u64());
        v
    }

    /// Messages in the DLQ (peeked, left there).
    pub async fn dead_letters(&self) -> Vec<String> {
        self.moto.peek(&self.dlq_url, 10).await
    }
}

/// A worker process started by [`Cloud::spawn`].
pub struct Worker {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Worker {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (a Lambda function never exits by itself) and returns its output.
    pub fn stop(mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait");
        self.output(status)
    }

    fn output(&mut self, status: std::process::ExitStatus) -> Output {
        Output {
            status,
            stdout: std::fs::read(&self.out).unwrap_or_default(),
            stderr: std::fs::read(&self.err).unwrap_or_default(),
        }
    }
}

/// Waits for a worker with a limit, killing it past the limit (a hung worker fails the test).
pub fn wait_output(mut w: Worker, limit: Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = w.child.try_wait() {
            return w.output(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = w.child.kill();
            let status = w.child.wait().expect("wait");
            let out = w.output(status);
            panic!(
                "worker still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A users.csv whose ids carry `tag`, so an import can be traced to its batch.
pub fn tagged_users(tag: &str, n: usize) -> String {
    let mut s = String::from("user_id,login_id,first_name,last_name,email,status\n");
    for i in 0..n {
        s.push_str(&format!(
            "{tag}-{i},{tag}-{i}@example.edu,First,Last,{tag}-{i}@example.edu,active\n"
        ));
    }
    s
}

/// The sha256 (hex) of a string, as the simulator reports CSV files.
/// The digests [`imported_users`] lists for batches of [`tagged_users`] `(tag, rows)`, in order.
pub fn tagged_shas(tags: &[&str], rows: usize) -> Vec<String> {
    tags.iter().map(|t| sha(&tagged_users(t, rows))).collect()
}

pub fn sha(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The users.csv sha256 of every import the simulator holds for `account`, oldest first.
pub async fn imported_users(sim: &Sim, account: u64) -> Vec<String> {
    sim.imports()
        .await
        .iter()
        .filter(|i| i["account_id"].as_u64() == Some(account))
        .filter_map(|i| {
            i["csv_files"]
                .as_array()?
                .iter()
                .find(|f| {
                    f["kind"] == json!("user")
                        || f["name"].as_str().is_some_and(|n| n.ends_with("users.csv"))
                })
                .and_then(|f| f["sha256"].as_str().map(str::to_owned))
        })
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks that a worker (or another command) ended successfully, showing its stderr when not.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}
