//! The import engine over HTTP with a manual clock: states, progress, the per-account FIFO queue,
//! final states and messages, errors files, abort semantics and the hold after an abort.

use serde_json::{Value, json};

use crate::common::*;

fn id(j: &Value) -> u64 {
    j["id"].as_u64().unwrap()
}

/// Creates an import of `users` users, then one of the small feed queued behind it.
async fn big_then_small(s: &Sim, users: usize) -> (Value, Value) {
    let big = s
        .post_zip(zip_of(&[("users.csv", &users_csv(users))]), "")
        .await;
    (big, s.post_zip(small_feed(), "").await)
}

#[tokio::test]
async fn small_import_runs_immediately_and_ends_imported_with_counts() {
    let s = Sim::manual().await;
    let created = s.post_zip(small_feed(), "").await;
    s.advance(0.0).await;
    let running = s.show(id(&created)).await;
    assert_eq!(running["workflow_state"], "importing");
    assert_eq!(running["data"]["running_immediately"], json!(true));
    assert!(running["started_at"].is_string());
    let done = s.run_to_end(id(&created)).await;
    assert_eq!(done["workflow_state"], "imported", "{done}");
    assert_eq!(done["progress"], json!(100));
    assert!(done["ended_at"].is_string());
    let data = &done["data"];
    assert_eq!(
        data["supplied_batches"],
        json!(["term", "course", "section", "user", "enrollment"])
    );
    assert_eq!(data["counts"]["terms"], json!(1));
    assert_eq!(data["counts"]["courses"], json!(2));
    assert_eq!(data["counts"]["sections"], json!(2));
    assert_eq!(data["counts"]["users"], json!(2));
    assert_eq!(data["counts"]["enrollments"], json!(3));
    assert_eq!(data["counts"]["error_count"], json!(0));
    assert_eq!(data["counts"]["warning_count"], json!(0));
    assert_eq!(
        data["counts"]["user_observers"],
        json!(0),
        "every importer key is listed"
    );
    assert_eq!(data["statistics"]["Course"]["created"], json!(2));
    assert_eq!(data["statistics"]["Enrollment"]["created"], json!(3));
    assert!(data["statistics"]["total_state_changes"].as_u64().unwrap() >= 10);
    assert!(
        done.get("statistics").is_none(),
        "statistics sits under data"
    );
    let csv = done["csv_attachments"]
        .as_array()
        .expect("flat list of files");
    assert_eq!(csv.len(), 5);
    assert!(csv[0]["url"].as_str().unwrap().contains("verifier="));
    let content = s.content().await;
    assert_eq!(content["courses"].as_array().unwrap().len(), 2);
    assert_eq!(content["enrollments"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn progress_moves_while_a_large_import_runs() {
    let s = Sim::manual().await; // 10 rows per second
    let created = s
        .post_zip(zip_of(&[("users.csv", &users_csv(200))]), "")
        .await;
    s.advance(0.0).await;
    s.advance(5.0).await;
    let mid = s.show(id(&created)).await;
    assert_eq!(mid["workflow_state"], "importing");
    assert_eq!(mid["data"]["running_immediately"], json!(false));
    let p = mid["progress"].as_u64().unwrap();
    assert!(
        (15..=35).contains(&p),
        "about 50 of 200 rows after 5 s, got {p}%"
    );
    s.advance(10.0).await;
    let later = s.show(id(&created)).await["progress"].as_u64().unwrap();
    assert!(later > p, "progress only grows: {p} then {later}");
    let done = s.run_to_end(id(&created)).await;
    assert_eq!(done["workflow_state"], "imported");
    assert_eq!(done["data"]["counts"]["users"], json!(200));
    let imports_running: Value = s.get_json("/api/v1/accounts/1/sis_imports/importing").await;
    assert_eq!(imports_running, json!({"sis_imports": []}));
}

#[tokio::test]
async fn one_import_per_account_at_a_time_in_creation_order() {
    let s = Sim::manual().await;
    let (first, second) = big_then_small(&s, 100).await;
    s.advance(2.0).await;
    assert_eq!(s.show(id(&first)).await["workflow_state"], "importing");
    assert_eq!(
        s.show(id(&second)).await["workflow_state"],
        "created",
        "waits for the first"
    );
    let importing: Value = s.get_json("/api/v1/accounts/1/sis_imports/importing").await;
    let ids: Vec<u64> = importing["sis_imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(
        ids,
        vec![id(&first)],
        "importing lists only running batches, not created ones"
    );
    let first_done = s.run_to_end(id(&first)).await;
    let second_done = s.run_to_end(id(&second)).await;
    assert!(first_done["ended_at"].as_str() <= second_done["started_at"].as_str());
    assert_eq!(second_done["workflow_state"], "imported");
}

#[tokio::test]
async fn row_warnings_end_imported_with_messages_and_the_errors_file_comes_late() {
    let s = Sim::manual().await;
    let enrollments = "course_id,user_id,role,status\nC1,U00000,student,active\nC1,NOBODY,student,active\nC1,U00001,wizard,active\n";
    let feed = zip_of(&[
        ("courses.csv", COURSES),
        ("users.csv", &users_csv(2)),
        ("enrollments.csv", enrollments),
    ]);
    let created = s.post_zip(feed, "").await;
    let done = s.run_to_end(id(&created)).await;
    assert_eq!(done["workflow_state"], "imported_with_messages", "{done}");
    assert_eq!(done["progress"], json!(100));
    let warnings = done["processing_warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|w| w[0] == "enrollments.csv"));
    assert_eq!(done["data"]["counts"]["warning_count"], json!(2));
    assert_eq!(done["data"]["counts"]["enrollments"], json!(1));
    assert!(done.get("processing_errors").is_none());
    assert!(
        done.get("errors_attachment").is_none(),
        "the errors file lags behind the state"
    );
    s.advance(6.0).await;
    let later = s.show(id(&created)).await;
    let url = later["errors_attachment"]["url"]
        .as_str()
        .expect("errors file attached after the lag");
    assert_eq!(
        later["errors_attachment"]["display_name"],
        format!("sis_errors_attachment_{}.csv", id(&created))
    );
    let csv = s.http.get(url).send().await.unwrap().text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("sis_import_id,file,message,row"));
    assert_eq!(lines.count(), 2);
    assert!(csv.contains("NOBODY"), "{csv}");
}

#[tokio::test]
async fn unknown_headers_fail_the_batch_but_other_files_still_import() {
    let s = Sim::manual().await;
    let feed = zip_of(&[
        ("users.csv", &users_csv(2)),
        ("mystery.csv", "foo,bar\n1,2\n"),
    ]);
    let created = s.post_zip(feed, "").await;
    let done = s.run_to_end(id(&created)).await;
    assert_eq!(done["workflow_state"], "failed_with_messages");
    assert_eq!(
        done["processing_errors"],
        json!([["mystery.csv", "Couldn't find Canvas CSV import headers"]])
    );
    assert_eq!(
        done["data"]["counts"]["users"],
        json!(2),
        "the other file was imported"
    );
    assert_eq!(s.content().await["users"].as_array().unwrap().len(), 2);
    assert!(
        done["progress"].as_u64().unwrap() < 100 || done["progress"] == json!(0),
        "failure does not force 100"
    );
}

#[tokio::test]
async fn invalid_utf8_is_a_failure() {
    let s = Sim::manual().await;
    let mut bad = b"user_id,login_id,status\nU1,caf".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b",active\n");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("users.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, &bad).unwrap();
    let created = s.post_zip(w.finish().unwrap().into_inner(), "").await;
    let done = s.run_to_end(id(&created)).await;
    assert_eq!(done["workflow_state"], "failed_with_messages");
    assert_eq!(
        done["processing_errors"][0],
        json!(["users.csv", "Invalid UTF-8"])
    );
}

#[tokio::test]
async fn non_csv_entries_are_skipped_with_a_warning() {
    let s = Sim::manual().await;
    let feed = zip_of(&[("users.csv", &users_csv(1)), ("readme.txt", "hello")]);
    let done = s.run_to_end(id(&s.post_zip(feed, "").await)).await;
    assert_eq!(done["workflow_state"], "imported_with_messages");
    assert_eq!(
        done["processing_warnings"],
        json!([["readme.txt", "Skipping unknown file type"]])
    );
}

#[tokio::test]
async fn messages_are_capped_at_24_plus_a_summary_and_all_are_in_the_errors_listing() {
    let s = Sim::manual().await;
    let mut users = String::from("user_id,login_id,status\n");
    for i in 0..30 {
        users.push_str(&format!("U{i},login{i},bogus\n"));
    }
    let done = s
        .run_to_end(id(&s.post_zip(zip_of(&[("users.csv", &users)]), "").await))
        .await;
    assert_eq!(done["workflow_state"], "imported_with_messages");
    let w = done["processing_warnings"].as_array().unwrap();
    assert_eq!(w.len(), 25);
    assert_eq!(
        w[24],
        json!([
            "and 6 more warnings that were not included",
            "Download the error file to see all warnings."
        ])
    );
    let resp = s
        .get(
            &format!(
                "/api/v1/accounts/1/sis_imports/{}/errors?per_page=100",
                id(&done)
            ),
            ADMIN,
        )
        .send()
        .await
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("rel=\"last\""),
        "errors listing has last: {link}"
    );
    let body: Value = resp.json().await.unwrap();
    let errors = body["sis_import_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 30);
    assert_eq!(errors[0]["sis_import_id"], json!(id(&done)));
    assert_eq!(errors[0]["file"], "users.csv");
    assert!(
        errors.iter().all(|e| e["row"].as_u64().unwrap() >= 2),
        "rows are 1-based with the header as row 1"
    );
}

#[tokio::test]
async fn abort_stops_a_running_import_and_holds_the_queue_ten_minutes() {
    let s = Sim::manual().await;
    let (first, second) = big_then_small(&s, 300).await;
    s.advance(3.0).await;
    let before = s.show(id(&first)).await;
    assert_eq!(before["workflow_state"], "importing");
    let aborted: Value = s
        .put_json(&format!(
            "/api/v1/accounts/1/sis_imports/{}/abort",
            id(&first)
        ))
        .await;
    assert_eq!(aborted["workflow_state"], "aborted");
    assert_eq!(
        aborted["progress"], before["progress"],
        "abort leaves progress alone"
    );
    let applied = s.content().await["users"].as_array().unwrap().len();
    assert!(
        applied > 0 && applied < 300,
        "rows already written stay written: {applied}"
    );
    s.advance(599.0).await;
    assert_eq!(
        s.show(id(&second)).await["workflow_state"],
        "created",
        "held for 10 minutes after an abort"
    );
    s.advance(2.0).await;
    let done = s.run_to_end(id(&second)).await;
    assert_eq!(done["workflow_state"], "imported");
    let again = s
        .put(
            &format!("/api/v1/accounts/1/sis_imports/{}/abort", id(&done)),
            ADMIN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        404,
        "a finished batch cannot be found by abort"
    );
}

#[tokio::test]
async fn abort_hold_is_configurable() {
    let mut c = manual_config();
    c.abort_hold = std::time::Duration::from_secs(30);
    let s = Sim::start(c).await;
    let (first, second) = big_then_small(&s, 300).await;
    s.advance(1.0).await;
    s.put(
        &format!("/api/v1/accounts/1/sis_imports/{}/abort", id(&first)),
        ADMIN,
    )
    .send()
    .await
    .unwrap();
    s.advance(29.0).await;
    assert_eq!(s.show(id(&second)).await["workflow_state"], "created");
    s.advance(2.0).await;
    assert_ne!(s.show(id(&second)).await["workflow_state"], "created");
}

#[tokio::test]
async fn abort_all_pending_aborts_queued_imports_but_not_the_running_one() {
    let s = Sim::manual().await;
    let (running, queued) = big_then_small(&s, 300).await;
    s.advance(1.0).await;
    let resp: Value = s
        .put_json("/api/v1/accounts/1/sis_imports/abort_all_pending")
        .await;
    assert_eq!(resp, json!({"aborted": true}));
    let q = s.show(id(&queued)).await;
    assert_eq!(q["workflow_state"], "aborted");
    assert_eq!(q["progress"], json!(100));
    assert_eq!(s.show(id(&running)).await["workflow_state"], "importing");
}

#[tokio::test]
async fn list_is_newest_first_filtered_and_paginated_without_last() {
    let s = Sim::manual().await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(id(&s
            .post_zip(zip_of(&[("users.csv", &users_csv(1))]), "")
            .await));
        s.advance(1.0).await;
    }
    let resp = s.list_imports().await;
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("rel=\"next\"") && !link.contains("rel=\"last\""),
        "{link}"
    );
    let page1: Value = resp.json().await.unwrap();
    let got: Vec<u64> = page1["sis_imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    let newest: Vec<u64> = ids.iter().rev().take(10).copied().collect();
    assert_eq!(got, newest, "newest first, 10 per page");
    let next = link
        .split(',')
        .find(|l| l.contains("rel=\"next\""))
        .unwrap();
    let next_url = next
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap();
    let page2 = s.get_url_json(next_url).await;
    assert_eq!(page2["sis_imports"].as_array().unwrap().len(), 2);

    let filtered: Value = s.get_json("/api/v1/accounts/1/sis_imports?workflow_state[]=imported&workflow_state[]=bogus&per_page=100").await;
    assert!(
        filtered["sis_imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["workflow_state"] == "imported")
    );
    assert!(!filtered["sis_imports"].as_array().unwrap().is_empty());

    let third = s.show(ids[2]).await;
    let since = third["created_at"].as_str().unwrap();
    let after: Value = s
        .get_json(&format!(
            "/api/v1/accounts/1/sis_imports?per_page=100&created_since={since}"
        ))
        .await;
    assert_eq!(
        after["sis_imports"].as_array().unwrap().len(),
        9,
        "strictly after the third"
    );
    let before: Value = s
        .get_json(&format!(
            "/api/v1/accounts/1/sis_imports?created_before={since}"
        ))
        .await;
    assert_eq!(before["sis_imports"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn account_errors_listing_spans_imports_and_filters_failures() {
    let s = Sim::manual().await;
    let warn = s
        .post_zip(
            zip_of(&[("users.csv", "user_id,login_id,status\nU1,l1,bogus\n")]),
            "",
        )
        .await;
    s.run_to_end(id(&warn)).await;
    let fail = s.post_zip(zip_of(&[("x.csv", "a,b\n1,2\n")]), "").await;
    s.run_to_end(id(&fail)).await;
    let all: Value = s.get_json("/api/v1/accounts/1/sis_import_errors").await;
    let all = all["sis_import_errors"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["sis_import_id"], json!(id(&fail)), "newest first");
    let failures: Value = s
        .get_json("/api/v1/accounts/1/sis_import_errors?failure=true")
        .await;
    let failures = failures["sis_import_errors"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0]["message"],
        "Couldn't find Canvas CSV import headers"
    );
}

#[tokio::test]
async fn a_zip_expanding_over_100x_is_refused_and_macos_litter_is_skipped() {
    let s = Sim::manual().await;
    let mut users = users_csv(1);
    users.push_str(&" ".repeat(4 * 1024 * 1024)); // compresses far beyond 100x
    let bomb = zip_of(&[("users.csv", &users)]);
    assert!(bomb.len() * 100 < users.len());
    let done = s.run_to_end(id(&s.post_zip(bomb, "").await)).await;
    assert_eq!(done["workflow_state"], "failed_with_messages", "{done}");
    assert!(
        s.content().await["users"].as_array().unwrap().is_empty(),
        "nothing imported"
    );

    let feed = zip_of(&[
        ("feed/2026/users.csv", &users_csv(1)),
        ("__MACOSX/feed/._users.csv", "junk"),
    ]);
    let done = s.run_to_end(id(&s.post_zip(feed, "").await)).await;
    assert_eq!(
        done["workflow_state"], "imported",
        "sub-directories are fine, resource forks skipped: {done}"
    );
}
