//! Test harness: starts an in-process simulator on an ephemeral port and talks to it over HTTP.
//!
//! Each test gets its own simulator (fresh state, its own port). Tokens: `admin-token` (both
//! permissions), `import-token` (import_sis), `manage-token` (manage_sis), `none-token` (no SIS
//! permission), `expired-token`, `revoked-token`, `scopes-token`.
pub mod canvas;
pub mod cloud;
pub mod folder;
pub mod moto;
pub mod receiver;
pub mod sim_clock;
mod special;
pub mod staged;
pub mod trace;

pub use special::{mkfifo, set_mtime_nofollow};

use std::io::Write;
use std::time::Duration;

use canvas_sis::sim::{RunningSimulator, SimConfig, TokenSpec};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin-token";

/// Marks a child run of this test binary started by [`alone`]; its value is the test's name.
const ALONE_ENV: &str = "CANVAS_SIS_TEST_ALONE";

/// For a test that measures the whole process (peak memory): every test of this one binary
/// shares its process, so such a test runs in a child process of its own. `name` is the test as
/// the harness names it (`module::test`). In the child, returns true: run the test's body. In
/// the parent, re-runs this binary with only `name`, asserts that it ran and passed, and
/// returns false.
pub fn alone(name: &str) -> bool {
    if std::env::var(ALONE_ENV).is_ok_and(|n| n == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE_ENV, name)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a process of its own: {}\n{stdout}\n{stderr}",
        out.status
    );
    false
}

pub fn tokens() -> Vec<TokenSpec> {
    [
        "admin:admin-token",
        "importer:import-token:import_sis",
        "manager:manage-token:manage_sis",
        "nobody:none-token:none",
        "old:expired-token:import_sis,expired",
        "gone:revoked-token:import_sis,revoked",
        "scoped:scopes-token:import_sis,no_scopes",
    ]
    .iter()
    .map(|s| s.parse().expect("valid token spec"))
    .collect()
}

/// A config with the test tokens and a manual clock (time moves only through `advance`).
pub fn manual_config() -> SimConfig {
    let mut c = SimConfig::with_tokens(tokens());
    c.manual_clock = true;
    c.rows_per_sec = 10.0;
    c.errors_attachment_lag = Duration::from_secs(5);
    c
}

/// A running simulator and an HTTP client for it.
pub struct Sim {
    pub sim: RunningSimulator,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn start(config: SimConfig) -> Sim {
        let sim = canvas_sis::sim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Sim { sim, http }
    }

    pub async fn manual() -> Sim {
        Sim::start(manual_config()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.url(), path)
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    /// The JSON body of an admin GET of `path`.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get_url_json(&self.url(path)).await
    }

    /// The JSON body of an admin GET of a whole URL the simulator handed out (a next page, a
    /// progress).
    pub async fn get_url_json(&self, url: &str) -> Value {
        let resp = self.http.get(url).bearer_auth(ADMIN).send().await.unwrap();
        resp.json().await.expect("a JSON body")
    }

    /// The JSON body of an admin PUT of `path` (an abort, a restore).
    pub async fn put_json(&self, path: &str) -> Value {
        let resp = self.put(path, ADMIN).send().await.unwrap();
        resp.json().await.expect("a JSON body")
    }

    pub fn put(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token)
    }

    /// Posts a zip as a raw body, as Canvas's guide does with curl. Returns the SisImport JSON.
    pub async fn post_zip(&self, zip: Vec<u8>, query: &str) -> Value {
        self.post_zip_as(ADMIN, zip, query).await
    }

    /// [`Sim::post_zip`] with another token (another Canvas user).
    pub async fn post_zip_as(&self, token: &str, zip: Vec<u8>, query: &str) -> Value {
        let resp = self
            .post(
                &format!("/api/v1/accounts/1/sis_imports?import_type=instructure_csv{query}"),
                token,
            )
            .header("Content-Type", "application/zip")
            .body(zip)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "create answered {:?}",
            resp.text().await
        );
        resp.json().await.unwrap()
    }

    /// [`Sim::post_zip`], for the new import's id alone.
    pub async fn post_zip_id(&self, zip: Vec<u8>, query: &str) -> u64 {
        self.post_zip_id_as(ADMIN, zip, query).await
    }

    /// [`Sim::post_zip_as`], for the new import's id alone.
    pub async fn post_zip_id_as(&self, token: &str, zip: Vec<u8>, query: &str) -> u64 {
        let created = self.post_zip_as(token, zip, query).await;
        created["id"].as_u64().expect("a created import has an id")
    }

    pub async fn show(&self, id: u64) -> Value {
        let resp = self
            .get(&format!("/api/v1/accounts/1/sis_imports/{id}"), ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Moves the manual clock forward.
    pub async fn advance(&self, seconds: f64) {
        let resp = self
            .http
            .post(self.url("/__sim/advance"))
            .json(&json!({"seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }

    /// Advances the manual clock a second at a time until the import is terminal (bounded).
    pub async fn run_to_end(&self, id: u64) -> Value {
        for _ in 0..3600 {
            let j = self.show(id).await;
            if is_terminal(&j) {
                return j;
            }
            self.advance(1.0).await;
        }
        panic!("import {id} did not finish within an hour of simulated time");
    }

    /// Polls (real clock) until the import is terminal, within `limit`.
    pub async fn wait_real(&self, id: u64, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let j = self.show(id).await;
            if is_terminal(&j) {
                return j;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "import {id} not terminal in time: {j}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The JSON of a simulator inspection endpoint (`/__sim/...`, no credentials).
    pub async fn inspect(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn content(&self) -> Value {
        self.inspect("/__sim/accounts/1/content").await
    }

    /// Every import the simulator holds (`/__sim/imports`), oldest first.
    pub async fn imports(&self) -> Vec<Value> {
        let v = self.inspect("/__sim/imports").await;
        v["imports"].as_array().unwrap().clone()
    }

    /// Changes an import by hand (`PATCH /__sim/imports/{id}`): unfreezes it, forces its state.
    pub async fn patch_import(&self, id: u64, change: Value) {
        let resp = self
            .http
            .patch(self.url(&format!("/__sim/imports/{id}")))
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    }

    /// An admin GET of the account's import list (`/api/v1/accounts/1/sis_imports`), as sent.
    pub async fn list_imports(&self) -> reqwest::Response {
        self.list_imports_as(ADMIN).await
    }

    /// [`Sim::list_imports`] with another token.
    pub async fn list_imports_as(&self, token: &str) -> reqwest::Response {
        self.get("/api/v1/accounts/1/sis_imports", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn add_fault(&self, rule: Value) {
        let resp = self
            .http
            .post(self.url("/__sim/faults"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    }
}

/// A simulator answer's status and JSON body, to compare both in one assertion.
pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

pub fn is_terminal(j: &Value) -> bool {
    matches!(
        j["workflow_state"].as_str(),
        Some(
            "imported"
                | "imported_with_messages"
                | "failed"
                | "failed_with_messages"
                | "aborted"
                | "restored"
                | "partially_restored"
        )
    )
}

/// A zip of the given (name, content) files.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, body) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `n` users as a users.csv body.
pub fn users_csv(n: usize) -> String {
    let mut s = String::from("user_id,login_id,first_name,last_name,email,status\n");
    for i in 0..n {
        s.push_str(&format!(
            "U{i:05},user{i}@example.edu,First{i},Last{i},user{i}@example.edu,active\n"
        ));
    }
    s
}

pub const TERMS: &str = "term_id,name,status,start_date,end_date\nT2026,Fall 2026,active,2026-08-20T00:00:00Z,2026-12-20T00:00:00Z\n";
pub const COURSES: &str = "course_id,short_name,long_name,term_id,status\nC1,BIO101,Biology 101,T2026,active\nC2,CHE101,Chemistry 101,T2026,active\n";
pub const SECTIONS: &str =
    "section_id,course_id,name,status\nS1,C1,Biology 101 A,active\nS2,C2,Chemistry 101 A,active\n";
pub const ENROLLMENTS: &str = "course_id,user_id,role,section_id,status\nC1,U00000,student,S1,active\nC1,U00001,teacher,S1,active\nC2,U00001,student,S2,active\n";

/// A small, valid feed: terms, courses, sections, 2 users, enrollments (10 rows).
pub fn small_feed() -> Vec<u8> {
    let users = users_csv(2);
    zip_of(&[
        ("terms.csv", TERMS),
        ("courses.csv", COURSES),
        ("sections.csv", SECTIONS),
        ("users.csv", &users),
        ("enrollments.csv", ENROLLMENTS),
    ])
}

// ---- Canvas client helpers (client tests) ------------------------------------------------------

/// A client config for the simulator: short timeouts and tiny backoff so retry tests stay fast.
pub fn client_config(sim: &Sim, token: &str) -> canvas_sis::canvas::ClientConfig {
    let mut c = canvas_sis::canvas::ClientConfig::new(
        url::Url::parse(sim.sim.url()).unwrap(),
        secrecy::SecretString::from(token.to_owned()),
    );
    c.request_timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(2);
    c.transfer_timeout = Duration::from_secs(10);
    c.max_retries = 3;
    c.backoff_base = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(40);
    c
}

pub fn client(sim: &Sim, token: &str) -> canvas_sis::canvas::CanvasClient {
    canvas_sis::canvas::CanvasClient::new(client_config(sim, token)).expect("client builds")
}

impl Sim {
    /// The simulator's request log (`/__sim/requests`), whole as it answers it.
    pub async fn request_log(&self) -> Value {
        self.inspect("/__sim/requests").await
    }

    /// The requests of the simulator's request log, oldest first.
    pub async fn requests(&self) -> Vec<Value> {
        self.request_log().await["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Empties the simulator's request log, so that what follows is counted alone.
    pub async fn clear_requests(&self) {
        let resp = self
            .http
            .delete(self.url("/__sim/requests"))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }

    /// Sets a token's throttle bucket level (`/__sim/throttle`).
    pub async fn throttle_level(&self, token: &str, level: f64) {
        let resp = self
            .http
            .post(self.url("/__sim/throttle"))
            .json(&json!({"token": token, "level": level}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }
}

/// A simulator for the folder-mode tests: fast imports, the errors file 100 ms after the end.
pub async fn watch_sim() -> Sim {
    let mut c = SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2000.0;
    c.errors_attachment_lag = Duration::from_millis(100);
    Sim::start(c).await
}

/// A batch folder `inbox/<name>` closed by READY, last written `age` ago (so it counts as settled).
pub fn drop_batch(dir: &std::path::Path, name: &str, files: &[(&str, &str)], age: Duration) {
    let b = dir.join("inbox").join(name);
    std::fs::create_dir_all(&b).unwrap();
    let when = std::time::SystemTime::now() - age;
    for (n, body) in files.iter().chain([("READY", "")].iter()) {
        let p = b.join(n);
        std::fs::write(&p, body).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

/// Runs the built `canvas-sis` with `args` to its end, in this process's environment.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"))
        .args(args)
        .output()
        .unwrap()
}

/// Records a batch of tenant `main` from `source` that the guard held (`users went from 100 to
/// 30 rows`), as the operator commands find one. Returns its id.
pub async fn record_held<S: canvas_sis::ledger::LedgerStore>(
    ledger: &canvas_sis::ledger::Ledger<S>,
    source: canvas_sis::ledger::BatchSource,
) -> String {
    use canvas_sis::ledger::{NewBatch, Stage};
    let new = NewBatch {
        tenant: "main".into(),
        source,
        content_sha256: "ab".repeat(32),
    };
    let id = ledger.create_batch(new).await.unwrap().record().id.clone();
    ledger.transition(&id, Stage::Validated, "t").await.unwrap();
    let held = Stage::Held {
        reason: "users went from 100 to 30 rows".into(),
    };
    ledger.transition(&id, held, "t").await.unwrap();
    id.to_string()
}

/// Checks that a finished command said `needle` (on stdout or stderr).
#[track_caller]
pub fn assert_says(o: &std::process::Output, needle: &str) {
    let said = output_text(o);
    assert!(said.contains(needle), "{said}");
}

/// Checks that `status` ended well and shows batch `id` held as [`record_held`] holds it.
#[track_caller]
pub fn assert_status_shows_held(status: &std::process::Output, id: &str) {
    assert_exit(status, 0);
    let said = output_text(status);
    assert!(
        said.contains(id) && said.contains("held (users went from 100 to 30 rows)"),
        "{said}"
    );
}

/// A finished command's stdout, then its stderr, as text (for assertions on what it said).
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Checks a finished command's exit code, showing what it said when it is not `code`.
#[track_caller]
pub fn assert_exit(o: &std::process::Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", output_text(o));
}

/// Runs `cmd` to its end, or kills it once `deadline` has passed and fails the test: for inputs
/// that could block a process forever (a named pipe), a hang must be a failure of the test,
/// never a stuck test run.
pub async fn output_within(
    cmd: &mut tokio::process::Command,
    deadline: Duration,
) -> std::process::Output {
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    match tokio::time::timeout(deadline, cmd.output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => panic!(
            "{:?} was still running after {} s (killed): it blocked instead of refusing its input",
            cmd.as_std(),
            deadline.as_secs()
        ),
    }
}

/// Sends SIGTERM to process `pid` (what Kubernetes, ECS and systemd send before a stop).
pub fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Records batch `id` as the pipeline would have: sent as Canvas SIS import `import`, ended
/// `imported` with Canvas's final JSON `canvas_json`.
pub async fn record_imported<S: canvas_sis::ledger::LedgerStore>(
    ledger: &canvas_sis::ledger::Ledger<S>,
    id: &canvas_sis::ledger::BatchId,
    import: u64,
    canvas_json: Value,
) {
    use canvas_sis::ledger::Stage;
    for stage in [
        Stage::Validated,
        Stage::Packed,
        Stage::Submitting,
        Stage::Submitted { import_id: import },
    ] {
        ledger.transition(id, stage, "t").await.unwrap();
    }
    ledger
        .update_batch(id, |r| {
            r.canvas_json = Some(canvas_json.clone());
            r.apply_transition(
                Stage::Terminal {
                    state: "imported".into(),
                    ok: true,
                },
                "t",
                chrono::Utc::now(),
            )
        })
        .await
        .unwrap();
}
