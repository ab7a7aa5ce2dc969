//! Batch mode with change_threshold, diffing, restore_states, and state kept in a file.

use serde_json::{Value, json};

use crate::common::*;

fn id(j: &Value) -> u64 {
    j["id"].as_u64().unwrap()
}

fn courses(n: usize) -> String {
    let mut s = String::from("course_id,short_name,long_name,term_id,status\n");
    for i in 1..=n {
        s.push_str(&format!("C{i},C{i},Course {i},T2026,active\n"));
    }
    s
}

/// `PUT .../sis_imports/{import}/restore_states{query}` as the admin.
async fn restore(s: &Sim, import: u64, query: &str) -> reqwest::Response {
    s.put(
        &format!("/api/v1/accounts/1/sis_imports/{import}/restore_states{query}"),
        ADMIN,
    )
    .send()
    .await
    .unwrap()
}

/// Imports `users` (a users.csv) with `query` and runs the import to its end.
async fn import_users(s: &Sim, users: &str, query: &str) -> Value {
    let created = s.post_zip(zip_of(&[("users.csv", users)]), query).await;
    s.run_to_end(id(&created)).await
}

/// The workflow_state of the course with this SIS id in the simulated Canvas.
async fn course_state(s: &Sim, sis_id: &str) -> String {
    let content = s.content().await;
    let c = content["courses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sis_id"] == sis_id);
    c.unwrap_or_else(|| panic!("course {sis_id} not in {content}"))["workflow_state"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn seed_term_with_ten_courses(s: &Sim) {
    let seed = s
        .post_zip(
            zip_of(&[("terms.csv", TERMS), ("courses.csv", &courses(10))]),
            "",
        )
        .await;
    assert_eq!(s.run_to_end(id(&seed)).await["workflow_state"], "imported");
}

#[tokio::test]
async fn batch_mode_over_change_threshold_aborts_before_deleting() {
    let s = Sim::manual().await;
    seed_term_with_ten_courses(&s).await;
    let partial = s
        .post_zip(
            zip_of(&[("courses.csv", &courses(8))]),
            "&batch_mode=1&batch_mode_term_id=sis_term_id:T2026&change_threshold=10",
        )
        .await;
    assert_eq!(partial["batch_mode"], json!(true));
    assert!(
        partial["batch_mode_term_id"].is_u64(),
        "the term's Canvas id, as a number"
    );
    let done = s.run_to_end(id(&partial)).await;
    assert_eq!(done["workflow_state"], "aborted", "{done}");
    assert_eq!(done["progress"], json!(100));
    assert_eq!(
        done["processing_warnings"],
        json!([[
            null,
            "2 courses would be deleted and exceeds the set threshold of 10%"
        ]])
    );
    assert_eq!(
        course_state(&s, "C9").await,
        "claimed",
        "nothing was deleted (an SIS-active course is claimed, i.e. unpublished)"
    );
    assert!(
        done["data"]["counts"]
            .get("batch_courses_deleted")
            .is_none()
    );
}

#[tokio::test]
async fn batch_mode_cleanup_deletes_what_the_feed_no_longer_has() {
    let s = Sim::manual().await;
    seed_term_with_ten_courses(&s).await;
    s.add_fault(json!({"method": "POST", "action": {"kind": "import", "rows_per_sec": 0.5}}))
        .await;
    let full = s
        .post_zip(
            zip_of(&[("courses.csv", &courses(8))]),
            "&batch_mode=1&batch_mode_term_id=sis_term_id:T2026&change_threshold=50",
        )
        .await;
    let mut seen = Vec::new();
    let done = loop {
        let j = s.show(id(&full)).await;
        let st = j["workflow_state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        if is_terminal(&j) {
            break j;
        }
        s.advance(1.0).await;
        assert!(seen.len() < 10);
    };
    assert_eq!(
        seen,
        vec!["created", "importing", "cleanup_batch", "imported"]
    );
    assert_eq!(done["data"]["counts"]["batch_courses_deleted"], json!(2));
    assert_eq!(course_state(&s, "C9").await, "deleted");
    assert_eq!(course_state(&s, "C1").await, "claimed");

    // restore_states brings them back (batch_mode → partially_restored).
    let resp = restore(&s, id(&full), "?batch_mode=1").await;
    assert_eq!(resp.status(), 200);
    let progress: Value = resp.json().await.unwrap();
    assert_eq!(progress["context_type"], "SisBatch");
    assert_eq!(progress["context_id"], json!(id(&full)));
    assert_eq!(progress["tag"], "sis_batch_state_restore");
    assert_eq!(progress["workflow_state"], "queued");
    assert_eq!(s.show(id(&full)).await["workflow_state"], "restoring");
    let url = progress["url"].as_str().unwrap().to_owned();
    s.advance(1.0).await;
    let p = s.get_url_json(&url).await;
    assert_eq!(p["workflow_state"], "completed");
    assert_eq!(p["completion"], json!(100));
    assert_eq!(
        s.show(id(&full)).await["workflow_state"],
        "partially_restored"
    );
    assert_eq!(
        course_state(&s, "C9").await,
        "claimed",
        "restored to its state before the cleanup"
    );
}

#[tokio::test]
async fn restore_refuses_both_only_switches_and_unavailable_data() {
    let s = Sim::manual().await;
    let done = s.run_to_end(id(&s.post_zip(small_feed(), "").await)).await;
    let both = restore(&s, id(&done), "?undelete_only=1&unconclude_only=1").await;
    assert_eq!(
        status_json(both).await,
        (
            400,
            json!({"message": "cannot set both undelete_only and unconclude_only"})
        )
    );
    let never_ran = s.post_zip(small_feed(), "").await;
    let resp = restore(&s, id(&never_ran), "").await;
    assert_eq!(
        status_json(resp).await,
        (400, json!({"message": "restore data unavailable"}))
    );
}

#[tokio::test]
async fn full_restore_undoes_an_import() {
    let s = Sim::manual().await;
    let done = s.run_to_end(id(&s.post_zip(small_feed(), "").await)).await;
    let resp = restore(&s, id(&done), "").await;
    assert_eq!(resp.status(), 200);
    s.advance(1.0).await;
    assert_eq!(s.show(id(&done)).await["workflow_state"], "restored");
    assert_ne!(
        course_state(&s, "C1").await,
        "active",
        "what the import created is rolled back"
    );
}

fn users_with(ids: &[(&str, &str)]) -> String {
    let mut s = String::from("user_id,login_id,first_name,last_name,status\n");
    for (id, first) in ids {
        s.push_str(&format!("{id},{id}@example.edu,{first},Doe,active\n"));
    }
    s
}

#[tokio::test]
async fn diffing_applies_only_changes_and_removes_vanished_rows() {
    let s = Sim::manual().await;
    let base = users_with(&[("U1", "Ann"), ("U2", "Bob"), ("U3", "Cy"), ("U4", "Di")]);
    let first = import_users(&s, &base, "&diffing_data_set_identifier=campus").await;
    assert_eq!(first["workflow_state"], "imported");
    assert_eq!(first["diffing_threshold_exceeded"], json!(false));
    assert_eq!(
        first["data"]["counts"]["users"],
        json!(4),
        "nothing to diff against: applied in full"
    );

    let next = users_with(&[("U1", "Annie"), ("U2", "Bob"), ("U3", "Cy")]);
    let second = import_users(
        &s,
        &next,
        "&diffing_data_set_identifier=campus&diffing_user_remove_status=suspended",
    )
    .await;
    assert_eq!(second["workflow_state"], "imported", "{second}");
    assert_eq!(
        second["data"]["diffed_against_sis_batch_id"],
        json!(id(&first))
    );
    assert_eq!(
        second["data"]["counts"]["users"],
        json!(2),
        "one changed, one vanished"
    );
    assert!(
        second["diffed_csv_attachments"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let content = s.content().await;
    let u4 = content["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sis_id"] == "U4")
        .unwrap();
    assert_eq!(u4["workflow_state"], "suspended");

    let same = import_users(&s, &next, "&diffing_data_set_identifier=campus").await;
    assert_eq!(same["workflow_state"], "imported");
    assert!(
        same["data"].get("supplied_batches").is_none(),
        "an empty diff finishes with no batches: {same}"
    );
    assert_eq!(
        same["data"]["counts"],
        json!({"error_count": 0, "warning_count": 0})
    );
}

#[tokio::test]
async fn diffing_size_guard_applies_the_whole_file_with_a_warning() {
    let s = Sim::manual().await;
    let small = users_with(&[("U1", "Ann")]);
    let first = import_users(
        &s,
        &small,
        "&diffing_data_set_identifier=g&change_threshold=5",
    )
    .await;
    assert_eq!(first["workflow_state"], "imported");
    let big = users_csv(50);
    let second = import_users(
        &s,
        &big,
        "&diffing_data_set_identifier=g&change_threshold=5",
    )
    .await;
    assert_eq!(second["workflow_state"], "imported_with_messages");
    assert_eq!(second["diffing_threshold_exceeded"], json!(true));
    assert_eq!(
        second["processing_warnings"],
        json!([[
            null,
            "Diffing not performed because file size difference exceeded threshold"
        ]])
    );
    assert_eq!(second["data"]["counts"]["users"], json!(50));
}

#[tokio::test]
async fn state_survives_a_restart_through_the_state_file() {
    let dir = std::env::temp_dir().join(format!("canvas-sis-sim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let mut c = manual_config();
    c.state_file = Some(path.clone());
    let s = Sim::start(c.clone()).await;
    let done = s.run_to_end(id(&s.post_zip(small_feed(), "").await)).await;
    let queued = s.post_zip(small_feed(), "").await;
    s.sim.shutdown().await;

    let s = Sim::start(c).await;
    let again = s.show(id(&done)).await;
    assert_eq!(again["workflow_state"], "imported");
    assert_eq!(again["data"]["counts"], done["data"]["counts"]);
    assert_eq!(s.content().await["courses"].as_array().unwrap().len(), 2);
    let next = s.post_zip(small_feed(), "").await;
    assert!(id(&next) > id(&queued), "ids continue after a restart");
    assert_eq!(
        s.run_to_end(id(&queued)).await["workflow_state"],
        "imported",
        "queued work resumes"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
