use diesel::{Connection, RunQueryDsl, SqliteConnection};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends! {
    async fn malformed_json_is_a_400_problem(app) {
        let acct = app.create_account("Acme").await;
        let res = app
            .client
            .post(app.url("/v1/contacts"))
            .bearer_auth(&acct.token)
            .header("content-type", "application/json")
            .body(r#"{"email": "a@example.com""#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "malformed_request");
        assert_eq!(body["type"], "urn:mailroom:problem:malformed_request");
    }

    async fn a_body_that_is_not_json_is_a_415_problem(app) {
        let acct = app.create_account("Acme").await;
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let mut req = app.client.post(app.url("/v1/contacts")).bearer_auth(&acct.token).body("email=a@example.com");
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["code"], "unsupported_media_type");
        }
        let res = app.client.post(app.url("/v1/contacts")).bearer_auth(&acct.token)
            .header("content-type", "application/merge-patch+json").body(r#"{"email": "a@example.com"}"#).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "+json types are JSON");
    }

    async fn unknown_routes_are_404_problems_with_a_request_id(app) {
        let res = app.client.get(app.url("/v1/nothing-here")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers().contains_key("x-request-id"));
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["request_id"], request_id.as_str());
        let acct = app.create_account("Acme").await;
        let (status, body) = app.get("/v1/contacts/not-a-uuid", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn a_known_path_with_a_method_it_does_not_serve_is_a_405_problem_with_allow(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        for (method, path, allow) in [
            (reqwest::Method::PUT, format!("/v1/lists/{list}"), "GET, DELETE, PATCH"),
            (reqwest::Method::DELETE, "/v1/lists".to_owned(), "GET, POST"),
            (reqwest::Method::PUT, "/v1/lists/not-even-an-id".to_owned(), "GET, DELETE, PATCH"),
            (reqwest::Method::GET, "/v1/auth/token".to_owned(), "POST"),
            (reqwest::Method::POST, "/healthz".to_owned(), "GET"),
            (reqwest::Method::POST, "/openapi.json".to_owned(), "GET"),
        ] {
            // With or without credentials: the method is refused before anything else.
            let res = app.client.request(method.clone(), app.url(&path)).bearer_auth(&acct.token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(res.headers()["allow"], allow, "{method} {path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["code"], "method_not_allowed", "{body}");
            assert_eq!(body["status"], 405);
            assert_eq!(body["request_id"], request_id.as_str(), "every problem names its request");
        }
        // A path the API does not know stays a 404, whatever the method.
        let res = app.client.put(app.url("/v1/lists/a/b/c")).bearer_auth(&acct.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers().get("allow").is_none());
    }

    async fn nul_characters_are_refused_everywhere_and_never_a_500(app) {
        let acct = app.create_account("Acme").await;
        let res = app.client.post(app.url("/v1/contacts")).bearer_auth(&acct.token)
            .header("content-type", "application/json")
            .body(r#"{"email": "a@example.com", "name": "A\u0000B"}"#).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let list = app.list(&acct.token, "News").await;
        let contact = app.contact(&acct.token, "b@example.com").await;
        let (status, body) = app.get(&format!("/v1/contacts/{contact}/consents?purpose=%00"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "purpose");
        let (status, _) = app.delete("/v1/contact-properties/a%00b", &acct.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.get(&format!("/v1/lists/{list}/members?status=%00"), &acct.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "nothing half-stored");
    }

    async fn unknown_and_mistyped_fields_name_the_field(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "a@example.com", "nmae": "typo"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "nmae");
        let (status, body) = app.post("/v1/lists", &acct.token, json!({"name": "L", "double_opt_in": "yes"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "double_opt_in");
        let (status, body) = app.post("/v1/contacts", &acct.token, json!(["a@example.com"])).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn a_whole_number_written_with_a_fraction_is_an_integer_and_a_body_is_an_object(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"retention": {"dsr_exports_days": 10.0}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["retention"]["dsr_exports_days"], 10);
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"retention": {"dsr_exports_days": 10.5}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "retention.dsr_exports_days");
        let (status, body) = app.patch("/v1/account", &acct.token, json!([])).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "body");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem_and_nothing_is_stored() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn_with(backend, |vars| {
            vars.insert("MAILROOM_BODY_LIMIT_BYTES".into(), "2048".into());
        })
        .await;
        let acct = app.create_account("Acme").await;
        let big = json!({"email": "big@example.com", "name": "x".repeat(4096)});
        let (status, body) = app.post("/v1/contacts", &acct.token, big).await;
        assert_problem(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        );
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(page["data"], json!([]));
    }
}

#[tokio::test]
async fn a_500_carries_only_the_request_id_and_leaks_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acct = app.create_account("Acme").await;
    let id = app.contact(&acct.token, "a@example.com").await;
    // Corrupt the stored row behind the API's back so that reading it fails.
    let mut conn =
        SqliteConnection::establish(app.data_dir.join("mailroom.db").to_str().unwrap()).unwrap();
    diesel::sql_query("UPDATE contacts SET properties = 'secret-internal-detail {' ")
        .execute(&mut conn)
        .unwrap();

    let res = app
        .client
        .get(app.url(&format!("/v1/contacts/{id}")))
        .bearer_auth(&acct.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "internal_error");
    assert_eq!(body["request_id"], request_id.as_str());
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "request_id", "status", "title", "type"]);
    assert!(!body.to_string().contains("secret-internal-detail"));
}
