//! Authentication, account checks and permissions answer exactly as Canvas does
//! (docs/canvas-api.md §1.1, §6.3): status, body and `WWW-Authenticate`.

use serde_json::{Value, json};

use crate::common::*;

const IMPORTS: &str = "/api/v1/accounts/1/sis_imports";

/// What Canvas answers: status, `WWW-Authenticate` and the JSON body (null when not JSON).
async fn answer(resp: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, www, resp.json().await.unwrap_or(Value::Null))
}

/// [`answer`] to a GET of `path` with bearer `token`.
async fn get_as(s: &Sim, path: &str, token: &str) -> (u16, Option<String>, Value) {
    answer(s.get(path, token).send().await.unwrap()).await
}

/// [`answer`] to a GET of `path` with no credentials at all.
async fn get_anonymous(s: &Sim, path: &str) -> (u16, Option<String>, Value) {
    answer(s.http.get(s.url(path)).send().await.unwrap()).await
}

/// A raw zip create of the small feed with `token`.
async fn create_as(s: &Sim, token: &str) -> reqwest::Response {
    s.post(IMPORTS, token)
        .header("Content-Type", "application/zip")
        .body(small_feed())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_credentials_is_401_unauthenticated_with_www_authenticate() {
    let s = Sim::manual().await;
    let (status, www, body) = get_anonymous(&s, IMPORTS).await;
    assert_eq!(status, 401);
    assert_eq!(www.as_deref(), Some("Bearer realm=\"canvas-lms\""));
    assert_eq!(
        body,
        json!({"status": "unauthenticated", "errors": [{"message": "user authorization required"}]})
    );
}

#[tokio::test]
async fn bad_expired_and_revoked_tokens_are_401_with_www_authenticate() {
    let s = Sim::manual().await;
    for (token, message) in [
        ("nope", "Invalid access token."),
        ("expired-token", "Expired access token."),
        ("revoked-token", "Revoked access token."),
    ] {
        let (status, www, body) = get_as(&s, IMPORTS, token).await;
        assert_eq!(status, 401, "{token}");
        assert!(www.is_some(), "{token} lacks WWW-Authenticate");
        assert_eq!(body["errors"][0]["message"], message, "{token}");
    }
}

#[tokio::test]
async fn missing_scopes_is_401_without_www_authenticate() {
    let s = Sim::manual().await;
    let (status, www, body) = get_as(&s, IMPORTS, "scopes-token").await;
    assert_eq!(status, 401);
    assert_eq!(www, None);
    assert_eq!(
        body["errors"][0]["message"],
        "Insufficient scopes on access token."
    );
}

#[tokio::test]
async fn user_without_sis_permission_gets_403_unauthorized() {
    let s = Sim::manual().await;
    let (status, www, body) = get_as(&s, IMPORTS, "none-token").await;
    assert_eq!(status, 403);
    assert_eq!(www, None);
    assert_eq!(
        body,
        json!({"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]})
    );
}

#[tokio::test]
async fn older_canvas_answers_401_to_a_user_without_permission() {
    let mut c = manual_config();
    c.legacy_unauthorized_401 = true;
    let s = Sim::start(c).await;
    let (status, www, body) = get_as(&s, IMPORTS, "none-token").await;
    assert_eq!(status, 401);
    assert_eq!(www, None);
    assert_eq!(body["status"], "unauthorized");
}

#[tokio::test]
async fn manage_sis_alone_can_read_but_not_create() {
    let s = Sim::manual().await;
    let (list, _, _) = get_as(&s, IMPORTS, "manage-token").await;
    assert_eq!(list, 200);
    let create = create_as(&s, "manage-token").await;
    assert_eq!(create.status(), 403);
    let imports = s.imports().await;
    assert!(
        imports.is_empty(),
        "a refused create must not create a batch"
    );
}

#[tokio::test]
async fn import_sis_alone_can_create_but_not_restore() {
    let s = Sim::manual().await;
    let create = create_as(&s, "import-token").await;
    assert_eq!(create.status(), 200);
    let id = create.json::<Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let restore = s
        .put(
            &format!("/api/v1/accounts/1/sis_imports/{id}/restore_states"),
            "import-token",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(restore.status(), 403);
}

#[tokio::test]
async fn unknown_account_is_404_even_without_credentials() {
    let s = Sim::manual().await;
    let (status, _, body) = get_as(&s, "/api/v1/accounts/999/sis_imports", ADMIN).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"errors": [{"message": "The specified resource does not exist."}]})
    );
    let (status, _, _) = get_anonymous(&s, "/api/v1/accounts/999/sis_imports").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn sub_account_is_400_with_plain_string_errors() {
    let s = Sim::manual().await;
    let (status, _, body) = get_as(&s, "/api/v1/accounts/2/sis_imports", ADMIN).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": ["SIS imports can only be executed on root accounts"]})
    );
}

#[tokio::test]
async fn root_without_allow_sis_import_is_403() {
    let s = Sim::manual().await;
    let (status, _, body) = get_as(&s, "/api/v1/accounts/3/sis_imports", ADMIN).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"errors": ["SIS imports are not enabled for this account"]})
    );
}

#[tokio::test]
async fn self_sis_account_id_and_json_suffix_reach_the_same_account() {
    let s = Sim::manual().await;
    let created = s.post_zip(small_feed(), "").await;
    let id = created["id"].as_u64().unwrap();
    for path in [
        format!("/api/v1/accounts/self/sis_imports/{id}"),
        format!("/api/v1/accounts/sis_account_id:SIM_ROOT/sis_imports/{id}"),
        format!("/api/v1/accounts/sis_account_id%3ASIM_ROOT/sis_imports/{id}.json"),
        format!("/api/v1/accounts/1/sis_imports/{id}.json"),
    ] {
        let resp = s.get(&path, ADMIN).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap()["id"], id, "{path}");
    }
    let sub = s
        .get(
            "/api/v1/accounts/sis_account_id:SIM_SUB/sis_imports.json",
            ADMIN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 400);
}

#[tokio::test]
async fn access_token_query_parameter_authenticates_and_is_masked_in_the_log() {
    let s = Sim::manual().await;
    let resp = s
        .http
        .get(s.url("/api/v1/accounts/1/sis_imports?access_token=admin-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let log = s
        .http
        .get(s.url("/__sim/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !log.contains("admin-token"),
        "token leaked into the request log: {log}"
    );
    assert!(log.contains("access_token=[masked]"));
}

#[tokio::test]
async fn unknown_import_is_404() {
    let s = Sim::manual().await;
    for path in [
        "/api/v1/accounts/1/sis_imports/4242",
        "/api/v1/accounts/1/sis_imports/abc",
    ] {
        let resp = s.get(path, ADMIN).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn the_account_itself_can_be_read_by_any_token_user() {
    let s = Sim::manual().await;
    let (status, _, body) =
        get_as(&s, "/api/v1/accounts/sis_account_id:SIM_ROOT", "none-token").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], json!(1));
    assert_eq!(body["sis_account_id"], "SIM_ROOT");
    let (status, _, body) = get_as(&s, "/api/v1/accounts/2", ADMIN).await;
    assert_eq!((status, body["parent_account_id"].clone()), (200, json!(1)));
    let (status, www, _) = get_as(&s, "/api/v1/accounts/1", "bad").await;
    assert_eq!(status, 401);
    assert!(www.is_some());
    let (status, _, _) = get_as(&s, "/api/v1/accounts/77", ADMIN).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn users_self_is_the_token_user_that_imports_name_as_their_user() {
    let s = Sim::manual().await;
    let (status, _, me) = get_as(&s, "/api/v1/users/self", ADMIN).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "admin");
    for key in ["id", "name", "sortable_name", "short_name", "created_at"] {
        assert!(me.get(key).is_some(), "users/self has {key}: {me}");
    }
    let import = s.post_zip(small_feed(), "").await;
    assert_eq!(
        import["user"]["id"], me["id"],
        "the import's user is users/self"
    );
    let (_, _, other) = get_as(&s, "/api/v1/users/self", "import-token").await;
    assert_ne!(other["id"], me["id"], "another token, another user");
    let (status, _, _) = get_as(&s, "/api/v1/users/self", "bad").await;
    assert_eq!(status, 401);
}
