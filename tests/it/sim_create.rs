//! `POST .../sis_imports`: the three ways to send a file, parameter validation with Canvas's exact
//! 400 bodies and its quirks, and the SisImport JSON of a fresh import
//! (docs/canvas-api.md §1.2, §2).

use serde_json::{Value, json};

use crate::common::*;

async fn create_raw(
    s: &Sim,
    query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = s
        .post(&format!("/api/v1/accounts/1/sis_imports{query}"), ADMIN)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    req.send().await.unwrap()
}

const IMPORTS: &str = "/api/v1/accounts/1/sis_imports";

/// A raw-body create of the small feed as a zip, with `query` (from its `?`).
async fn create_zip(s: &Sim, query: &str) -> reqwest::Response {
    create_raw(s, query, Some("application/zip"), small_feed()).await
}

/// A multipart create with `form`.
async fn create_multipart(s: &Sim, form: reqwest::multipart::Form) -> reqwest::Response {
    s.post(IMPORTS, ADMIN).multipart(form).send().await.unwrap()
}

/// A JSON create with `body`.
async fn create_json(s: &Sim, body: Value) -> reqwest::Response {
    s.post(IMPORTS, ADMIN).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn fresh_import_json_has_canvas_types_and_nulls() {
    let s = Sim::manual().await;
    let j = s.post_zip(small_feed(), "").await;
    assert_eq!(j["workflow_state"], "created");
    assert_eq!(j["progress"], json!(0), "progress is a number");
    assert_eq!(j["data"], json!({"import_type": "instructure_csv"}));
    for key in [
        "started_at",
        "ended_at",
        "batch_mode",
        "batch_mode_term_id",
        "multi_term_batch_mode",
        "override_sis_stickiness",
        "add_sis_stickiness",
        "clear_sis_stickiness",
        "diffing_data_set_identifier",
        "diffing_remaster",
        "diffed_against_import_id",
        "diffing_drop_status",
        "diffing_user_remove_status",
        "change_threshold",
        "diff_row_count_threshold",
    ] {
        assert!(
            j.get(key).is_some_and(Value::is_null),
            "{key} should be present and null: {j}"
        );
    }
    assert_eq!(j["skip_deletes"], json!(false));
    assert_eq!(j["update_sis_id_if_login_claimed"], json!(false));
    for absent in [
        "processing_errors",
        "processing_warnings",
        "errors_attachment",
        "csv_attachments",
        "diffing_threshold_exceeded",
        "statistics",
    ] {
        assert!(
            j.get(absent).is_none(),
            "{absent} must be absent on a fresh import"
        );
    }
    assert!(j["id"].is_u64());
    assert!(j["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(j["user"]["name"], "admin");
}

#[tokio::test]
async fn raw_body_extension_comes_from_param_then_media_type_default_zip() {
    let s = Sim::manual().await;
    let csv = users_csv(1).into_bytes();
    let cases: [(&str, Option<&str>, Vec<u8>, &str); 5] = [
        ("", Some("application/zip"), small_feed(), "sis_import.zip"),
        ("", Some("text/csv"), csv.clone(), "sis_import.csv"),
        ("", Some("text/plain"), csv.clone(), "sis_import.csv"),
        (
            "?extension=csv",
            Some("application/octet-stream"),
            csv.clone(),
            "sis_import.csv",
        ),
        ("", None, small_feed(), "sis_import.zip"),
    ];
    for (query, ct, body, _) in &cases {
        let resp = create_raw(&s, query, *ct, body.clone()).await;
        assert_eq!(resp.status(), 200, "{query} {ct:?}");
    }
    let names: Vec<String> = s
        .imports()
        .await
        .iter()
        .map(|i| i["upload"]["filename"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.3).collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn curl_data_binary_without_content_type_imports_as_zip() {
    // curl --data-binary sends application/x-www-form-urlencoded unless told otherwise.
    let s = Sim::manual().await;
    let resp = create_raw(
        &s,
        "",
        Some("application/x-www-form-urlencoded"),
        small_feed(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let done = s.run_to_end(id).await;
    assert_eq!(done["workflow_state"], "imported", "{done}");
}

#[tokio::test]
async fn non_utf8_charset_is_refused_without_a_batch() {
    let s = Sim::manual().await;
    let resp = create_raw(
        &s,
        "",
        Some("text/csv; charset=ISO-8859-1"),
        users_csv(1).into_bytes(),
    )
    .await;
    assert_eq!(
        status_json(resp).await,
        (
            400,
            json!({"error": "Invalid content type, UTF-8 required"})
        )
    );
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn multipart_attachment_keeps_the_part_file_name_and_form_options() {
    let s = Sim::manual().await;
    let form = reqwest::multipart::Form::new()
        .text("import_type", "instructure_csv")
        .text("skip_deletes", "true")
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(small_feed()).file_name("nightly_feed.ZIP"),
        );
    let resp = create_multipart(&s, form).await;
    assert_eq!(resp.status(), 200);
    let j: Value = resp.json().await.unwrap();
    assert_eq!(j["skip_deletes"], json!(true));
    assert_eq!(
        s.imports().await[0]["upload"]["filename"],
        "nightly_feed.ZIP"
    );
    let done = s.run_to_end(j["id"].as_u64().unwrap()).await;
    assert_eq!(
        done["workflow_state"], "imported",
        "upper-case .ZIP is still a zip: {done}"
    );
}

#[tokio::test]
async fn multipart_without_attachment_is_400_missing_attachment() {
    let s = Sim::manual().await;
    let form = reqwest::multipart::Form::new().text("import_type", "instructure_csv");
    let resp = create_multipart(&s, form).await;
    assert_eq!(
        status_json(resp).await,
        (
            400,
            json!({"error": true, "error_message": "Missing attachment"})
        )
    );
}

#[tokio::test]
async fn attachment_and_pre_attachment_together_are_400() {
    let s = Sim::manual().await;
    let form = reqwest::multipart::Form::new()
        .text("pre_attachment[name]", "feed.zip")
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(small_feed()).file_name("feed.zip"),
        );
    let resp = create_multipart(&s, form).await;
    assert_eq!(
        status_json(resp).await,
        (
            400,
            json!({"error": true, "error_message": "Cannot specify both attachment and pre_attachment"})
        )
    );
}

#[tokio::test]
async fn pre_attachment_flow_waits_in_initializing_until_the_upload_lands() {
    let s = Sim::manual().await;
    let resp = create_json(&s, json!({"import_type": "instructure_csv", "pre_attachment": {"name": "big_feed.zip", "size": 1234}})).await;
    assert_eq!(resp.status(), 200);
    let j: Value = resp.json().await.unwrap();
    assert_eq!(j["workflow_state"], "initializing");
    let pre = &j["pre_attachment"];
    assert_eq!(pre["file_param"], "file");
    let upload_url = pre["upload_url"].as_str().unwrap();
    let id = j["id"].as_u64().unwrap();
    s.advance(30.0).await;
    assert_eq!(
        s.show(id).await["workflow_state"],
        "initializing",
        "nothing happens before the upload"
    );

    let mut form = reqwest::multipart::Form::new();
    for (k, v) in pre["upload_params"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(small_feed()).file_name("big_feed.zip"),
    );
    let up = s
        .http
        .post(upload_url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let file: Value = up.json().await.unwrap();
    assert_eq!(file["display_name"], "big_feed.zip");
    assert_eq!(s.show(id).await["workflow_state"], "created");
    let done = s.run_to_end(id).await;
    assert_eq!(done["workflow_state"], "imported", "{done}");
    // The upload URL is single-use.
    let again = s
        .http
        .post(upload_url)
        .body(small_feed())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn unknown_import_type_is_a_500_with_an_error_report() {
    let s = Sim::manual().await;
    let resp = create_zip(&s, "?import_type=ims_xml").await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0],
        json!({"message": "An error occurred.", "error_code": "internal_server_error"})
    );
    assert!(body["error_report_id"].is_u64());
}

#[tokio::test]
async fn batch_mode_without_term_is_400_and_creates_nothing() {
    let s = Sim::manual().await;
    let resp = create_zip(&s, "?batch_mode=1").await;
    assert_eq!(
        status_json(resp).await,
        (
            400,
            json!({"message": "Batch mode specified, but the given batch_mode_term_id cannot be found."})
        )
    );
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn batch_mode_with_an_unknown_term_is_404() {
    let s = Sim::manual().await;
    let resp = create_zip(&s, "?batch_mode=1&batch_mode_term_id=sis_term_id:NOPE").await;
    assert_eq!(resp.status(), 404);
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn multi_term_batch_mode_false_still_demands_change_threshold_and_leaves_an_orphan() {
    let s = Sim::manual().await;
    let resp = create_zip(&s, "?multi_term_batch_mode=false").await;
    assert_eq!(
        status_json(resp).await,
        (
            400,
            json!({"message": "change_threshold is required to use multi term_batch mode."})
        )
    );
    let all = s.imports().await;
    assert_eq!(all.len(), 1, "the 400 comes after the batch row was saved");
    assert_eq!(all[0]["workflow_state"], "initializing");
    // The orphan is never processed and does not block the queue.
    let next = s.post_zip(small_feed(), "").await;
    let done = s.run_to_end(next["id"].as_u64().unwrap()).await;
    assert_eq!(done["workflow_state"], "imported");
    assert_eq!(
        s.show(all[0]["id"].as_u64().unwrap()).await["workflow_state"],
        "initializing"
    );
}

#[tokio::test]
async fn invalid_drop_statuses_are_400_after_creation() {
    let s = Sim::manual().await;
    for (param, message) in [
        ("diffing_drop_status=gone", "Invalid diffing_drop_status"),
        (
            "diffing_user_remove_status=vanished",
            "Invalid diffing_user_remove_status",
        ),
        (
            "batch_mode_enrollment_drop_status=bye",
            "Invalid batch_mode_enrollment_drop_status",
        ),
    ] {
        let resp = create_zip(&s, &format!("?{param}")).await;
        assert_eq!(
            status_json(resp).await,
            (400, json!({"message": message})),
            "{param}"
        );
    }
    let all = s.imports().await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|i| i["workflow_state"] == "initializing"));
}

#[tokio::test]
async fn options_are_echoed_as_canvas_stores_them() {
    let s = Sim::manual().await;
    let j = s
        .post_zip(
            small_feed(),
            "&add_sis_stickiness=1&update_sis_id_if_login_claimed=yes&change_threshold=10&diff_row_count_threshold=0&diffing_data_set_identifier=campus&diffing_drop_status=inactive",
        )
        .await;
    assert_eq!(
        j["add_sis_stickiness"],
        Value::Null,
        "dropped without override_sis_stickiness"
    );
    assert_eq!(j["update_sis_id_if_login_claimed"], json!(true));
    assert_eq!(j["change_threshold"], json!(10));
    assert_eq!(
        j["diff_row_count_threshold"],
        Value::Null,
        "values <= 0 are ignored"
    );
    assert_eq!(j["diffing_data_set_identifier"], "campus");
    assert_eq!(j["diffing_remaster"], json!(false));
    assert_eq!(j["diffing_drop_status"], "inactive");
    assert_eq!(
        j["diffing_threshold_exceeded"],
        Value::Null,
        "present because diffing is on"
    );

    let j = s
        .post_zip(
            small_feed(),
            "&override_sis_stickiness=true&add_sis_stickiness=true",
        )
        .await;
    assert_eq!(j["override_sis_stickiness"], json!(true));
    assert_eq!(j["add_sis_stickiness"], json!(true));
    assert_eq!(j["clear_sis_stickiness"], Value::Null);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_creates_nothing() {
    let mut c = manual_config();
    c.max_body_bytes = 1024;
    let s = Sim::start(c).await;
    let resp = create_raw(&s, "", Some("application/zip"), vec![0u8; 4096]).await;
    assert_eq!(resp.status(), 413);
    assert!(resp.text().await.unwrap().contains("pre_attachment"));
    assert!(s.imports().await.is_empty());
}

#[tokio::test]
async fn malformed_requests_get_canvas_error_shapes() {
    let s = Sim::manual().await;
    let resp = s
        .post("/api/v1/accounts/1/sis_imports", ADMIN)
        .header("Content-Type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.zip\"\r\n\r\nnot closed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("multipart"),
        "{body}"
    );
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/accounts/1/sis_imports"),
        (reqwest::Method::GET, "/api/v1/accounts/1/no_such_thing"),
    ] {
        let resp = s
            .http
            .request(method.clone(), s.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"errors": [{"message": "The specified resource does not exist."}]})
        );
    }
    // A zip that is not a zip fails the import; it never crashes the simulator.
    let created = s
        .post_zip(b"PK\x03\x04 this is not really a zip".to_vec(), "")
        .await;
    let done = s.run_to_end(created["id"].as_u64().unwrap()).await;
    assert_eq!(done["workflow_state"], "failed_with_messages");
    assert!(
        done["processing_errors"][0][1]
            .as_str()
            .unwrap()
            .starts_with("Error while importing CSV")
    );
}

#[tokio::test]
async fn pre_attachment_uploads_have_their_own_larger_limit() {
    let mut c = manual_config();
    c.max_body_bytes = 300;
    let s = Sim::start(c).await;
    let j: Value = create_json(&s, json!({"pre_attachment": {"name": "feed.zip"}}))
        .await
        .json()
        .await
        .unwrap();
    let url = j["pre_attachment"]["upload_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let feed = small_feed();
    assert!(feed.len() > 300);
    let up = s.http.post(url).body(feed).send().await.unwrap();
    assert_eq!(up.status(), 201, "the upload URL is for large files");
}
