//! The Canvas client against the simulator over real HTTP: every endpoint, both upload flows,
//! pagination, retries and throttling, the never-resend rule for POSTs, auth and account
//! errors, and the token staying out of every error.

use std::time::Duration;

use canvas_sis::canvas::{
    AccountRef, BatchMode, BatchModeTerm, CanvasClient, CanvasError, ClientConfig, ErrorClass,
    ImportOptions, ListFilter, NeededPermission, RestoreOptions, TokenProblem, TransportKind,
    WorkflowState,
};
use serde_json::json;

use crate::common::*;

const ROOT: AccountRef = AccountRef::Id(1);

/// Formats an error both ways and checks that no known token appears.
fn assert_no_token(e: &CanvasError) {
    let shown = format!("{e} || {e:?}");
    for t in [
        "admin-token",
        "import-token",
        "manage-token",
        "none-token",
        "expired-token",
        "revoked-token",
        "scopes-token",
        "bogus-token-value",
        "zz-very-secret-zz",
    ] {
        assert!(
            !shown.contains(t),
            "token {t} leaked into an error: {shown}"
        );
    }
}

/// A manual-clock simulator, an admin client of it and a folder for the zips it sends.
async fn manual_with_client() -> (Sim, CanvasClient, tempfile::TempDir) {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    (s, c, tempfile::tempdir().unwrap())
}

/// An admin client of `s` with `tweak` made to the test client config.
fn client_with(s: &Sim, tweak: impl FnOnce(&mut ClientConfig)) -> CanvasClient {
    let mut cfg = client_config(s, ADMIN);
    tweak(&mut cfg);
    CanvasClient::new(cfg).unwrap()
}

/// Creates an import of `zip` on the root account with the default options.
async fn create(
    c: &CanvasClient,
    zip: &std::path::Path,
) -> Result<canvas_sis::canvas::SisImport, CanvasError> {
    c.create_sis_import(&ROOT, &ImportOptions::default(), zip)
        .await
}

/// Creates an import of the small feed (written into `dir`) on the root account.
async fn create_feed(
    c: &CanvasClient,
    dir: &tempfile::TempDir,
) -> Result<canvas_sis::canvas::SisImport, CanvasError> {
    create(c, &feed_path(dir)).await
}

/// The status of every request the simulator logged, in order.
async fn request_statuses(s: &Sim) -> Vec<serde_json::Value> {
    s.requests()
        .await
        .iter()
        .map(|r| r["status"].clone())
        .collect()
}

/// How many POSTs reached the simulator.
async fn posts_sent(s: &Sim) -> usize {
    s.requests()
        .await
        .iter()
        .filter(|r| r["method"] == "POST")
        .count()
}

fn expect_err<T: std::fmt::Debug>(r: Result<T, CanvasError>) -> CanvasError {
    let e = r.expect_err("expected an error");
    assert_no_token(&e);
    e
}

fn feed_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    write_file(dir, "feed.zip", &small_feed())
}

fn users_with_bad_statuses(n: usize) -> Vec<u8> {
    let mut s = String::from("user_id,login_id,first_name,last_name,email,status\n");
    for i in 0..n {
        s.push_str(&format!(
            "B{i:04},b{i}@example.edu,B,{i},b{i}@example.edu,actve\n"
        ));
    }
    s.push_str("OK1,ok1@example.edu,Ok,One,ok1@example.edu,active\n");
    zip_of(&[("users.csv", &s)])
}

// ---- uploads ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_small_zip_goes_as_a_raw_body_with_its_length_and_ends_imported() {
    let (s, c, dir) = manual_with_client().await;
    let zip = feed_path(&dir);
    let size = std::fs::metadata(&zip).unwrap().len();
    let created = create(&c, &zip).await.unwrap();
    assert_eq!(created.workflow_state, WorkflowState::Created);
    assert_eq!(created.progress, Some(0));
    s.run_to_end(created.id).await;
    let done = c.get_sis_import(&ROOT, created.id).await.unwrap();
    assert_eq!(done.workflow_state, WorkflowState::Imported);
    assert!(done.data.counts["users"] >= 2, "{:?}", done.data.counts);

    let log = s.requests().await;
    let post = log.iter().find(|r| r["method"] == "POST").unwrap();
    let query = post["query"].as_str().unwrap();
    assert!(query.contains("import_type=instructure_csv"), "{query}");
    assert!(query.contains("extension=zip"), "{query}");
    assert!(!query.contains("access_token"), "{query}");
    assert_eq!(header_of(post, "content-type"), Some("application/zip"));
    assert_eq!(
        header_of(post, "content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(
        header_of(post, "transfer-encoding"),
        None,
        "streamed with a known length"
    );
    assert_eq!(post["body_size"], json!(size));
}

#[tokio::test]
async fn options_travel_in_the_query_string_of_a_raw_upload() {
    let (s, c, dir) = manual_with_client().await;
    // The term must exist and be active for batch mode: import it first.
    let terms = write_file(&dir, "terms.zip", &zip_of(&[("terms.csv", TERMS)]));
    let t = create(&c, &terms).await.unwrap();
    s.run_to_end(t.id).await;
    let opts = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::SisId("T2026".into()))),
        change_threshold: Some(100),
        skip_deletes: true,
        ..Default::default()
    };
    let i = c
        .create_sis_import(&ROOT, &opts, &feed_path(&dir))
        .await
        .unwrap();
    assert_eq!(i.batch_mode, Some(true));
    assert!(i.batch_mode_term_id.is_some());
    assert_eq!(i.change_threshold, Some(100));
    assert_eq!(i.skip_deletes, Some(true));
    assert_eq!(
        i.multi_term_batch_mode, None,
        "multi_term_batch_mode not sent"
    );
}

#[tokio::test]
async fn a_large_zip_uses_the_pre_attachment_flow_and_ends_imported() {
    let s = Sim::manual().await;
    let c = pre_attachment_client(&s);
    let dir = tempfile::tempdir().unwrap();
    let zip = feed_path(&dir);
    let size = std::fs::metadata(&zip).unwrap().len();
    let i = create(&c, &zip).await.unwrap();
    assert!(
        matches!(
            i.workflow_state,
            WorkflowState::Created | WorkflowState::Importing
        ),
        "after the upload the import is queued, got {}",
        i.workflow_state
    );
    s.run_to_end(i.id).await;
    let done = c.get_sis_import(&ROOT, i.id).await.unwrap();
    assert_eq!(done.workflow_state, WorkflowState::Imported);

    let log = s.requests().await;
    let pre = log
        .iter()
        .find(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/sis_imports"))
        .unwrap();
    let q = pre["query"].as_str().unwrap();
    assert!(q.contains("pre_attachment%5Bname%5D=feed.zip"), "{q}");
    assert!(
        q.contains(&format!("pre_attachment%5Bsize%5D={size}")),
        "{q}"
    );
    assert!(
        q.contains("pre_attachment%5Bcontent_type%5D=application%2Fzip"),
        "{q}"
    );
    assert_eq!(pre["body_size"], json!(0), "the preflight carries no file");
    let upload = log
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .starts_with("/files_api/upload/")
        })
        .unwrap();
    assert!(
        header_of(upload, "content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert!(
        header_of(upload, "content-length").is_some(),
        "multipart sent with a known length"
    );
    assert!(upload["body_size"].as_u64().unwrap() > size);
    let uploads = s.imports().await;
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0]["upload"]["size"],
        json!(size),
        "the whole file arrived"
    );
}

/// A client that sends every file through the `pre_attachment` flow.
fn pre_attachment_client(s: &Sim) -> CanvasClient {
    client_with(s, |cfg| cfg.pre_attachment_threshold_bytes = 1)
}

async fn uploads(s: &Sim) -> usize {
    s.requests()
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/files_api/"))
        .count()
}

#[tokio::test]
async fn a_failed_pre_attachment_upload_is_sent_again_while_its_import_waits_for_the_file() {
    let s = Sim::manual().await;
    let c = pre_attachment_client(&s);
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(
        json!({"path_contains": "/files_api/", "action": {"kind": "status", "status": 500}}),
    )
    .await;
    let i = create_feed(&c, &dir)
        .await
        .expect("the second upload goes through");
    assert_eq!(i.workflow_state, WorkflowState::Created, "its file arrived");
    assert_eq!(uploads(&s).await, 2);
    assert_eq!(
        s.imports().await.len(),
        1,
        "one import, never a second POST"
    );
}

#[tokio::test]
async fn a_pre_attachment_upload_that_keeps_failing_aborts_its_import_so_it_is_never_waited_on() {
    let s = Sim::manual().await;
    let c = pre_attachment_client(&s);
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(json!({"path_contains": "/files_api/", "times": null,
        "action": {"kind": "status", "status": 500}}))
        .await;
    let e = expect_err(create_feed(&c, &dir).await);
    let CanvasError::UploadAbandoned {
        import_id,
        upload_host,
        ..
    } = &e
    else {
        panic!("expected UploadAbandoned, got {e:?}");
    };
    assert_eq!(upload_host, "127.0.0.1");
    assert_eq!(
        e.class(),
        ErrorClass::Retryable,
        "nothing imported: send again"
    );
    assert!(e.to_string().contains("HTTP 500"), "{e}");
    assert!(
        !e.to_string().contains("/files_api/upload/"),
        "the upload URL is a credential: {e}"
    );
    let i = c.get_sis_import(&ROOT, *import_id).await.unwrap();
    assert_eq!(
        i.workflow_state,
        WorkflowState::Aborted,
        "never left initializing"
    );
    assert_eq!(uploads(&s).await, 4, "the first upload and 3 retries");
}

#[tokio::test]
async fn invalid_options_are_refused_before_anything_is_sent() {
    let (s, c, dir) = manual_with_client().await;
    let opts = ImportOptions {
        batch_mode: Some(BatchMode::MultiTerm),
        ..Default::default()
    };
    let e = expect_err(c.create_sis_import(&ROOT, &opts, &feed_path(&dir)).await);
    assert!(matches!(e, CanvasError::Options(_)), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.to_string().contains("change_threshold"), "{e}");
    assert!(s.requests().await.is_empty(), "nothing reached Canvas");
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn a_missing_zip_is_a_file_error_naming_the_path() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    let e = expect_err(
        c.create_sis_import(
            &ROOT,
            &ImportOptions::default(),
            std::path::Path::new("/nonexistent/feed.zip"),
        )
        .await,
    );
    assert!(matches!(e, CanvasError::File { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/feed.zip"), "{e}");
    assert!(s.requests().await.is_empty());
}

#[tokio::test]
async fn canvas_400_and_404_answers_pass_their_message_through() {
    let (s, c, dir) = manual_with_client().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "status", "status": 400,
        "body": "{\"message\":\"Batch mode specified, but the given batch_mode_term_id cannot be found.\"}"}}))
        .await;
    let e = expect_err(create_feed(&c, &dir).await);
    assert!(
        matches!(e, CanvasError::Rejected { status: 400, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("Batch mode specified, but"), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);

    // An unknown (or inactive) term: Canvas's api_find answers 404.
    let opts = ImportOptions {
        batch_mode: Some(BatchMode::Term(BatchModeTerm::SisId("NO_SUCH_TERM".into()))),
        ..Default::default()
    };
    let e = expect_err(c.create_sis_import(&ROOT, &opts, &feed_path(&dir)).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("Canvas said: The specified resource does not exist."),
        "{e}"
    );
    assert!(e.to_string().contains("sis_term_id:NO_SUCH_TERM"), "{e}");
    assert!(e.is_refusal(), "Canvas refused the batch: no import exists");

    let e = expect_err(c.get_sis_import(&ROOT, 999).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("SIS import 999 on account 1"), "{e}");
}

// ---- reads -----------------------------------------------------------------------------------

#[tokio::test]
async fn listing_follows_next_links_across_pages_newest_first() {
    let (s, c, dir) = manual_with_client().await;
    let zip = feed_path(&dir);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create(&c, &zip).await.unwrap().id);
        s.advance(1.0).await;
    }
    s.clear_requests().await;
    let filter = ListFilter {
        per_page: Some(2),
        ..Default::default()
    };
    let all = c.list_sis_imports(&ROOT, &filter).await.unwrap();
    let got: Vec<u64> = all.iter().map(|i| i.id).collect();
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(got, want);
    let pages = s.requests().await;
    assert_eq!(pages.len(), 3, "5 imports at 2 per page");
    assert!(pages[1]["query"].as_str().unwrap().contains("page=2"));

    // Filters: by state, and by creation time.
    let first = c.get_sis_import(&ROOT, ids[0]).await.unwrap();
    let imported = ListFilter {
        workflow_states: vec![WorkflowState::Imported],
        ..Default::default()
    };
    let only_imported = c.list_sis_imports(&ROOT, &imported).await.unwrap();
    assert!(
        only_imported
            .iter()
            .all(|i| i.workflow_state == WorkflowState::Imported)
    );
    assert!(!only_imported.is_empty());
    let since = ListFilter {
        created_since: first.created_at,
        ..Default::default()
    };
    let later = c.list_sis_imports(&ROOT, &since).await.unwrap();
    assert_eq!(later.len(), 4, "strictly after the first");
}

#[tokio::test]
async fn listing_stops_at_the_page_limit() {
    let s = Sim::manual().await;
    let c = client_with(&s, |cfg| {
        cfg.max_pages = 2;
    });
    let dir = tempfile::tempdir().unwrap();
    let zip = feed_path(&dir);
    for _ in 0..3 {
        create(&c, &zip).await.unwrap();
    }
    let filter = ListFilter {
        per_page: Some(1),
        ..Default::default()
    };
    let e = expect_err(c.list_sis_imports(&ROOT, &filter).await);
    assert!(
        matches!(e, CanvasError::TooManyPages { limit: 2, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn importing_lists_only_running_imports() {
    let (s, c, dir) = manual_with_client().await;
    assert!(c.importing(&ROOT).await.unwrap().is_empty());
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "rows_per_sec": 0.5}}))
        .await;
    let slow = create_feed(&c, &dir).await.unwrap();
    let queued = create_feed(&c, &dir).await.unwrap();
    s.advance(2.0).await;
    let running = c.importing(&ROOT).await.unwrap();
    let ids: Vec<u64> = running.iter().map(|i| i.id).collect();
    assert_eq!(ids, [slow.id], "the second waits in created");
    assert!(running[0].workflow_state.is_running());
    assert_eq!(
        c.get_sis_import(&ROOT, queued.id)
            .await
            .unwrap()
            .workflow_state,
        WorkflowState::Created
    );
}

#[tokio::test]
async fn accounts_by_self_and_sis_id_reach_the_same_imports() {
    let (s, c, dir) = manual_with_client().await;
    let i = create_feed(&c, &dir).await.unwrap();
    for acc in ["self", "sis_account_id:SIM_ROOT"] {
        let a: AccountRef = acc.parse().unwrap();
        assert_eq!(c.get_sis_import(&a, i.id).await.unwrap().id, i.id, "{acc}");
    }
    // A SIS id with a slash stays one path segment.
    let odd = AccountRef::SisAccountId("A/B".into());
    let e = expect_err(c.get_sis_import(&odd, i.id).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    let log = s.requests().await;
    assert!(
        log.last().unwrap()["path"]
            .as_str()
            .unwrap()
            .contains("sis_account_id:A%2FB"),
        "{log:?}"
    );
}

// ---- abort, errors, restore -------------------------------------------------------------------

#[tokio::test]
async fn abort_and_abort_all_pending() {
    let (s, c, dir) = manual_with_client().await;
    s.add_fault(
        json!({"method": "POST", "times": 3, "action": {"kind": "import", "stuck_in": "created"}}),
    )
    .await;
    let a = create_feed(&c, &dir).await.unwrap();
    let b = create_feed(&c, &dir).await.unwrap();
    let d = create_feed(&c, &dir).await.unwrap();
    let aborted = c.abort(&ROOT, a.id).await.unwrap();
    assert_eq!(aborted.workflow_state, WorkflowState::Aborted);
    assert!(c.abort_all_pending(&ROOT).await.unwrap());
    for id in [b.id, d.id] {
        assert_eq!(
            c.get_sis_import(&ROOT, id).await.unwrap().workflow_state,
            WorkflowState::Aborted
        );
    }
    // Aborting a finished import: Canvas answers 404; an aborted one is returned as is.
    assert_eq!(
        c.abort(&ROOT, a.id).await.unwrap().workflow_state,
        WorkflowState::Aborted
    );
    let ok = create_feed(&c, &dir).await.unwrap();
    s.run_to_end(ok.id).await;
    let e = expect_err(c.abort(&ROOT, ok.id).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("running or pending"), "{e}");
}

#[tokio::test]
async fn errors_are_listed_across_pages_and_filtered_by_failure() {
    let (s, c, dir) = manual_with_client().await;
    let zip = write_file(&dir, "bad.zip", &users_with_bad_statuses(130));
    let i = create(&c, &zip).await.unwrap();
    s.run_to_end(i.id).await;
    let done = c.get_sis_import(&ROOT, i.id).await.unwrap();
    assert_eq!(done.workflow_state, WorkflowState::ImportedWithMessages);
    s.clear_requests().await;
    let errors = c.list_errors(&ROOT, i.id, false).await.unwrap();
    assert_eq!(errors.len(), 130);
    assert_eq!(s.requests().await.len(), 2, "two pages of 100");
    assert!(errors.iter().all(|e| e.sis_import_id == Some(i.id)));
    assert!(
        errors
            .iter()
            .all(|e| e.file.as_deref() == Some("users.csv") && e.row.is_some())
    );
    assert!(
        errors[0].message.contains("Improper status"),
        "{:?}",
        errors[0]
    );
    assert!(
        c.list_errors(&ROOT, i.id, true).await.unwrap().is_empty(),
        "warnings only"
    );
    assert_eq!(
        c.list_account_errors(&ROOT, false).await.unwrap().len(),
        130
    );

    // A failure-level error is kept by failure_only.
    let junk = write_file(
        &dir,
        "junk.zip",
        &zip_of(&[("mystery.csv", "foo,bar\n1,2\n")]),
    );
    let f = create(&c, &junk).await.unwrap();
    s.run_to_end(f.id).await;
    let failures = c.list_errors(&ROOT, f.id, true).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(c.list_account_errors(&ROOT, true).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_errors_file_downloads_without_the_token_to_a_file() {
    let (s, c, dir) = manual_with_client().await;
    let zip = write_file(&dir, "bad.zip", &users_with_bad_statuses(3));
    let i = create(&c, &zip).await.unwrap();
    s.run_to_end(i.id).await;
    s.advance(6.0).await; // the errors file appears after a lag
    let done = c.get_sis_import(&ROOT, i.id).await.unwrap();
    let url = done
        .errors_attachment
        .as_ref()
        .and_then(|f| f.url.clone())
        .expect("errors_attachment");
    let out = dir.path().join("errors.csv");
    let n = c.download_to(&url, &out).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(n as usize, text.len());
    assert!(text.starts_with("sis_import_id,file,message,row"), "{text}");
    assert_eq!(text.lines().count(), 4);
    assert!(!dir.path().join("errors.csv.part").exists());
}

/// A one-shot HTTP server that records the raw request it receives.
async fn capture_server() -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
            .await
            .unwrap();
        String::from_utf8_lossy(&got).into_owned()
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn the_token_is_not_sent_to_another_host() {
    let (_s, c, dir) = manual_with_client().await;
    let (other, seen) = capture_server().await;
    let n = c
        .download_to(
            &format!("{other}/files/1/download?verifier=abc"),
            &dir.path().join("f"),
        )
        .await
        .unwrap();
    assert_eq!(n, 5);
    let request = seen.await.unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with("get /files/1/download?verifier=abc"),
        "{request}"
    );
    assert!(
        !request.contains("authorization"),
        "token sent to a foreign host: {request}"
    );
    assert!(!request.contains("admin-token"), "{request}");
}

#[tokio::test]
async fn restore_returns_a_progress_that_completes() {
    let (s, c, dir) = manual_with_client().await;
    let i = create_feed(&c, &dir).await.unwrap();
    s.run_to_end(i.id).await;
    let p = c
        .restore_states(
            &ROOT,
            i.id,
            RestoreOptions {
                undelete_only: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.context_id, Some(i.id));
    assert_eq!(p.context_type.as_deref(), Some("SisBatch"));
    assert!(!p.is_terminal());
    for _ in 0..60 {
        if c.get_progress(p.id).await.unwrap().is_terminal() {
            break;
        }
        s.advance(1.0).await;
    }
    let p = c.get_progress(p.id).await.unwrap();
    assert_eq!(p.workflow_state, "completed");
    let after = c.get_sis_import(&ROOT, i.id).await.unwrap();
    assert_eq!(after.workflow_state, WorkflowState::PartiallyRestored);

    let both = RestoreOptions {
        undelete_only: true,
        unconclude_only: true,
        batch_mode: false,
    };
    let e = expect_err(c.restore_states(&ROOT, i.id, both).await);
    assert!(matches!(e, CanvasError::Options(_)), "{e:?}");
    let e = expect_err(c.get_progress(9999).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("progress 9999"), "{e}");
}

// ---- retries, throttling, uncertain POSTs ------------------------------------------------------

#[tokio::test]
async fn a_throttled_get_is_retried_and_succeeds() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    s.add_fault(json!({"method": "GET", "times": 2, "action": {"kind": "throttle"}}))
        .await;
    assert!(c.importing(&ROOT).await.unwrap().is_empty());
    let statuses = request_statuses(&s).await;
    assert_eq!(statuses, [json!(403), json!(403), json!(200)]);
}

#[tokio::test]
async fn a_throttled_create_is_retried_once_refused_and_creates_one_import() {
    let (s, c, dir) = manual_with_client().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "throttle"}}))
        .await;
    let i = create_feed(&c, &dir).await.unwrap();
    assert_eq!(s.imports().await.len(), 1);
    assert_eq!(s.imports().await[0]["id"], json!(i.id));
    let posts: Vec<_> = s
        .requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        posts,
        [json!(403), json!(200)],
        "refused unhandled, then sent again"
    );
}

#[tokio::test]
async fn a_full_bucket_is_waited_out_on_a_real_clock() {
    let mut cfg = manual_config();
    cfg.manual_clock = false;
    let s = Sim::start(cfg).await;
    let c = client_with(&s, |cfg| {
        cfg.backoff_base = Duration::from_millis(20);
    });
    s.throttle_level(ADMIN, 600.0).await;
    assert!(c.importing(&ROOT).await.unwrap().is_empty());
    let statuses = request_statuses(&s).await;
    assert_eq!(statuses.first(), Some(&json!(403)), "first refused");
    assert_eq!(statuses.last(), Some(&json!(200)), "then admitted");
}

#[tokio::test]
async fn throttling_that_never_ends_is_a_throttled_error() {
    let s = Sim::manual().await; // the bucket never leaks on a manual clock
    let c = client(&s, ADMIN);
    s.throttle_level(ADMIN, 600.0).await;
    let e = expect_err(c.importing(&ROOT).await);
    assert!(
        matches!(
            e,
            CanvasError::Throttled {
                attempts: 4,
                status: 403,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Throttled);
    assert_eq!(s.requests().await.len(), 4, "1 + max_retries");
}

#[tokio::test]
async fn a_429_counts_as_throttling() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    s.add_fault(
        json!({"method": "GET", "action": {"kind": "status", "status": 429, "body": "slow down"}}),
    )
    .await;
    assert!(c.importing(&ROOT).await.is_ok());
    assert_eq!(s.requests().await.len(), 2);
}

#[tokio::test]
async fn a_low_rate_limit_budget_slows_the_next_request() {
    let s = Sim::manual().await;
    let c = client_with(&s, |cfg| {
        cfg.backoff_max = Duration::from_millis(400);
    });
    s.throttle_level(ADMIN, 560.0).await; // remaining ≈ 39 after the next request
    c.importing(&ROOT).await.unwrap();
    let t = std::time::Instant::now();
    c.importing(&ROOT).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "the second request should wait for the bucket, took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_503_on_a_get_is_retried_and_succeeds() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    s.add_fault(json!({"method": "GET", "times": 2, "action": {"kind": "status", "status": 503}}))
        .await;
    assert!(
        c.list_sis_imports(&ROOT, &ListFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.requests().await.len(), 3);
}

#[tokio::test]
async fn a_persistent_500_on_a_get_is_a_retryable_server_error_with_canvas_message() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    s.add_fault(
        json!({"method": "GET", "times": null, "action": {"kind": "status", "status": 500}}),
    )
    .await;
    let e = expect_err(c.importing(&ROOT).await);
    assert!(
        matches!(
            e,
            CanvasError::Server {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert!(e.to_string().contains("An error occurred."), "{e}");
}

#[tokio::test]
async fn a_503_on_the_create_is_not_resent_and_its_outcome_is_unknown() {
    let (s, c, dir) = manual_with_client().await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "status", "status": 503}}))
        .await;
    let e = expect_err(create_feed(&c, &dir).await);
    assert!(
        matches!(e, CanvasError::CreateOutcomeUnknown { .. }),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Uncertain);
    assert!(e.to_string().contains("HTTP 503"), "{e}");
    let posts = posts_sent(&s).await;
    assert_eq!(posts, 1, "a POST is never blindly retried");
}

#[tokio::test]
async fn a_connection_dropped_after_the_create_is_found_again_without_a_duplicate() {
    let mut cfg = manual_config();
    cfg.manual_clock = false; // created_at on the same clock as the client's sent_at
    let s = Sim::start(cfg).await;
    let c = client(&s, ADMIN);
    let dir = tempfile::tempdir().unwrap();
    let zip = feed_path(&dir);
    let earlier = create(&c, &zip).await.unwrap();
    let me = earlier.user.as_ref().and_then(|u| u.id);
    assert!(me.is_some());
    s.add_fault(json!({"method": "POST", "action": {"kind": "drop_after"}}))
        .await;
    let e = expect_err(create(&c, &zip).await);
    let CanvasError::CreateOutcomeUnknown {
        account, sent_at, ..
    } = &e
    else {
        panic!("expected CreateOutcomeUnknown, got {e:?}");
    };
    assert_eq!(account, "1");
    assert_eq!(e.class(), ErrorClass::Uncertain);
    let found = c
        .find_import_created_since(&ROOT, *sent_at, me)
        .await
        .unwrap()
        .expect("the lost import");
    assert_ne!(found.id, earlier.id);
    let all = s.imports().await;
    assert_eq!(all.len(), 2, "no duplicate was sent");
    assert_eq!(all[1]["id"], json!(found.id));
    assert_eq!(
        c.imports_created_since(&ROOT, *sent_at, me)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        c.find_import_created_since(&ROOT, *sent_at, Some(4242))
            .await
            .unwrap()
            .is_none(),
        "other users' imports are not ours"
    );
}

#[tokio::test]
async fn a_hang_beyond_the_timeout_is_a_timeout_error() {
    let s = Sim::manual().await;
    let c = client_with(&s, |cfg| {
        cfg.request_timeout = Duration::from_millis(200);
        cfg.max_retries = 1;
    });
    s.add_fault(json!({"method": "GET", "times": null, "action": {"kind": "hang"}}))
        .await;
    let e = expect_err(c.importing(&ROOT).await);
    assert!(
        matches!(
            e,
            CanvasError::Transport {
                kind: TransportKind::Timeout,
                attempts: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[tokio::test]
async fn a_single_hang_on_a_get_is_retried() {
    let s = Sim::manual().await;
    let c = client_with(&s, |cfg| {
        cfg.request_timeout = Duration::from_millis(200);
    });
    s.add_fault(json!({"method": "GET", "action": {"kind": "hang"}}))
        .await;
    assert!(c.importing(&ROOT).await.is_ok());
}

#[tokio::test]
async fn a_hang_on_the_create_leaves_its_outcome_unknown() {
    let s = Sim::manual().await;
    let c = client_with(&s, |cfg| {
        cfg.transfer_timeout = Duration::from_millis(300);
    });
    let dir = tempfile::tempdir().unwrap();
    s.add_fault(json!({"method": "POST", "action": {"kind": "hang"}}))
        .await;
    let e = expect_err(create_feed(&c, &dir).await);
    assert!(
        matches!(e, CanvasError::CreateOutcomeUnknown { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    let posts = posts_sent(&s).await;
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = ClientConfig::new(
        format!("http://127.0.0.1:{port}/").parse().unwrap(),
        secrecy::SecretString::from("admin-token".to_owned()),
    );
    cfg.backoff_base = Duration::from_millis(1);
    cfg.backoff_max = Duration::from_millis(5);
    cfg.max_retries = 2;
    let c = CanvasClient::new(cfg).unwrap();
    let e = expect_err(c.importing(&ROOT).await);
    assert!(
        matches!(
            e,
            CanvasError::Transport {
                kind: TransportKind::Connect,
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    // Never sent, so even a create may say so plainly instead of "outcome unknown".
    let dir = tempfile::tempdir().unwrap();
    let e = expect_err(create_feed(&c, &dir).await);
    assert!(
        matches!(
            e,
            CanvasError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
}

// ---- auth and accounts ------------------------------------------------------------------------

#[tokio::test]
async fn token_problems_are_auth_errors_that_say_what_is_wrong() {
    let s = Sim::manual().await;
    let cases = [
        ("bogus-token-value", TokenProblem::Invalid, "invalid"),
        ("expired-token", TokenProblem::Expired, "expired"),
        ("revoked-token", TokenProblem::Revoked, "revoked"),
        ("scopes-token", TokenProblem::InsufficientScopes, "scopes"),
    ];
    for (token, problem, word) in cases {
        let c = client(&s, token);
        let e = expect_err(c.importing(&ROOT).await);
        assert!(
            matches!(&e, CanvasError::Token { problem: p, .. } if *p == problem),
            "{token}: {e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Auth);
        assert!(e.to_string().contains(word), "{token}: {e}");
    }
    let posts = s.requests().await.len();
    assert_eq!(posts, 4, "auth errors are not retried");
}

#[tokio::test]
async fn permission_errors_name_the_missing_permission() {
    let s = Sim::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let manager = client(&s, "manage-token");
    let e = expect_err(create_feed(&manager, &dir).await);
    assert!(
        matches!(
            e,
            CanvasError::Forbidden {
                status: 403,
                needed: NeededPermission::ImportSis,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("import_sis"), "{e}");
    assert_eq!(e.class(), ErrorClass::Auth);
    assert!(
        manager.importing(&ROOT).await.is_ok(),
        "manage_sis may read"
    );

    let admin = client(&s, ADMIN);
    let i = create_feed(&admin, &dir).await.unwrap();
    s.run_to_end(i.id).await;
    let importer = client(&s, "import-token");
    let e = expect_err(
        importer
            .restore_states(&ROOT, i.id, RestoreOptions::default())
            .await,
    );
    assert!(
        matches!(
            e,
            CanvasError::Forbidden {
                needed: NeededPermission::ManageSis,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("manage_sis"), "{e}");

    let nobody = client(&s, "none-token");
    let e = expect_err(nobody.list_sis_imports(&ROOT, &ListFilter::default()).await);
    assert!(
        matches!(
            e,
            CanvasError::Forbidden {
                needed: NeededPermission::Either,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("import_sis or manage_sis"), "{e}");
}

#[tokio::test]
async fn legacy_401_permission_answers_are_permission_errors_too() {
    let mut cfg = manual_config();
    cfg.legacy_unauthorized_401 = true;
    let s = Sim::start(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let e = expect_err(create_feed(&client(&s, "manage-token"), &dir).await);
    assert!(
        matches!(
            e,
            CanvasError::Forbidden {
                status: 401,
                needed: NeededPermission::ImportSis,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn sub_accounts_disabled_and_unknown_accounts_are_refused_clearly() {
    let (_s, c, dir) = manual_with_client().await;
    let e = expect_err(
        c.create_sis_import(
            &AccountRef::Id(2),
            &ImportOptions::default(),
            &feed_path(&dir),
        )
        .await,
    );
    assert!(matches!(e, CanvasError::NotRootAccount { .. }), "{e:?}");
    assert!(e.to_string().contains("root accounts"), "{e}");
    let e = expect_err(
        c.create_sis_import(
            &AccountRef::Id(3),
            &ImportOptions::default(),
            &feed_path(&dir),
        )
        .await,
    );
    assert!(matches!(e, CanvasError::SisNotEnabled { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    let e = expect_err(c.importing(&AccountRef::Id(99)).await);
    assert!(matches!(e, CanvasError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("account 99"), "{e}");
}

// ---- configuration and secrecy ------------------------------------------------------------------

#[test]
fn plain_http_is_refused_except_loopback_or_when_allowed() {
    let token = || secrecy::SecretString::from("zz-very-secret-zz".to_owned());
    let make = |u: &str, insecure: bool| {
        let mut c = ClientConfig::new(u.parse().unwrap(), token());
        c.allow_insecure_http = insecure;
        CanvasClient::new(c)
    };
    let e = expect_err(make("http://canvas.example.edu/", false));
    assert!(matches!(e, CanvasError::InsecureUrl { .. }), "{e:?}");
    assert!(e.to_string().contains("canvas.example.edu"), "{e}");
    assert!(e.to_string().contains("https"), "{e}");
    assert!(make("http://canvas.example.edu/", true).is_ok());
    assert!(make("https://canvas.example.edu/", false).is_ok());
    for local in [
        "http://127.0.0.1:8080/",
        "http://127.1.2.3/",
        "http://localhost:3000/",
        "http://[::1]:9000/",
    ] {
        assert!(make(local, false).is_ok(), "{local}");
    }
    let e = expect_err(make("ftp://canvas.example.edu/", false));
    assert!(matches!(e, CanvasError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_debug_output() {
    let mut cfg = manual_config();
    cfg.tokens
        .push("secret-bot:zz-very-secret-zz:import_sis".parse().unwrap());
    let s = Sim::start(cfg).await;
    let c = client(&s, "zz-very-secret-zz");
    let dir = tempfile::tempdir().unwrap();
    assert!(!format!("{c:?} {:?}", c.config()).contains("zz-very-secret-zz"));
    let mut errors = Vec::new();
    errors.push(c.importing(&AccountRef::Id(2)).await.unwrap_err());
    errors.push(c.importing(&AccountRef::Id(3)).await.unwrap_err());
    errors.push(c.get_sis_import(&ROOT, 77).await.unwrap_err());
    errors.push(
        c.restore_states(&ROOT, 1, RestoreOptions::default())
            .await
            .unwrap_err(),
    );
    s.add_fault(json!({"method": "POST", "action": {"kind": "drop_after"}}))
        .await;
    errors.push(create_feed(&c, &dir).await.unwrap_err());
    s.add_fault(
        json!({"method": "GET", "times": null, "action": {"kind": "status", "status": 502}}),
    )
    .await;
    errors.push(c.importing(&ROOT).await.unwrap_err());
    assert_eq!(errors.len(), 6);
    for e in &errors {
        assert_no_token(e);
    }
    let log = serde_json::to_string(&s.requests().await).unwrap();
    assert!(
        !log.contains("zz-very-secret-zz"),
        "the token went somewhere other than the header"
    );
    assert!(!log.contains("access_token"), "never a query-string token");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_self_is_the_user_canvas_records_on_the_imports_this_token_creates() {
    let s = Sim::manual().await;
    let c = client(&s, ADMIN);
    let me = c.users_self().await.unwrap();
    assert!(me.id.is_some(), "{me:?}");
    let dir = tempfile::tempdir().unwrap();
    let import = create_feed(&c, &dir).await.unwrap();
    assert_eq!(import.user.and_then(|u| u.id), me.id);
    let other = client(&s, "import-token").users_self().await.unwrap();
    assert_ne!(other.id, me.id);
    let e = expect_err(client(&s, "bogus-token-value").users_self().await);
    assert_no_token(&e);
    assert_eq!(e.class(), ErrorClass::Auth, "{e}");
}

/// Writes `bytes` as `name` in `dir` and returns the path.
fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A recorded request's header, by lower-case name.
fn header_of<'a>(req: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    req["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}
