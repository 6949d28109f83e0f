//! The audit log and support access, black-box on both backends.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

const SUPPORT_TOKEN: &str = "support-token-for-tests-0123456789";

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.all_pages(token, &format!("/v1/audit-events?{query}"), 500)
        .await
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// A request as the operator's support staff, naming `account`.
async fn as_support(
    app: &TestApp,
    method: Method,
    path: &str,
    account: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(SUPPORT_TOKEN);
    if let Some(account) = account {
        req = req.header("X-Mailroom-Account", account);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn in_future(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

on_both_backends! {
    async fn changes_to_personal_data_and_exports_are_audited_without_personal_values(app) {
        let acct = app.create_account("Shop").await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "plan", "type": "string"})).await;
        let (_, contact) = app
            .post("/v1/contacts", &acct.token, json!({"email": "ada@example.com", "name": "Ada"}))
            .await;
        let contact_id = contact["id"].as_str().unwrap().to_owned();
        app.patch(&format!("/v1/contacts/{contact_id}"), &acct.token, json!({"name": "Ada L.", "properties": {"plan": "pro"}})).await;
        let list = app.list(&acct.token, "News").await;
        let (status, _) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": contact_id})).await;
        assert!(status.is_success());
        let (status, _) = app
            .post(&format!("/v1/contacts/{contact_id}/consents"), &acct.token,
                json!({"purpose": "marketing_email", "status": "granted", "method": "api", "source": "form"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let res = app.client.get(app.url(&format!("/v1/lists/{list}/export?format=ndjson"))).bearer_auth(&acct.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap();
        app.post("/v1/suppressions", &acct.token, json!({"email": "spam@example.com"})).await;
        app.delete(&format!("/v1/contacts/{contact_id}"), &acct.token).await;

        let entries = audit(&app, &acct.token, "").await;
        assert_eq!(
            actions(&entries),
            ["account.created", "contact.created", "contact.updated", "list.created", "member.added",
             "consent.recorded", "list.exported", "suppression.added", "contact.deleted"],
            "{entries:?}"
        );
        assert_eq!(entries[0]["actor"]["type"], "operator", "the operator created the account");
        let updated = &entries[2];
        assert_eq!(updated["actor"]["type"], "api_key");
        assert_eq!(updated["actor"]["id"], acct.key_id.as_str());
        assert_eq!(updated["resource"], json!({"type": "contact", "id": contact_id}));
        assert_eq!(updated["ip"], "127.0.0.1");
        assert_eq!(updated["details"]["fields"], json!(["name", "properties.plan"]));
        assert_eq!(entries[6]["details"]["format"], "ndjson");
        let text = serde_json::to_string(&entries).unwrap();
        for value in ["ada@example.com", "Ada L.", "\"pro\"", "spam@example.com"] {
            assert!(!text.contains(value), "the audit log holds a personal value {value}: {text}");
        }
        // Filters.
        assert_eq!(actions(&audit(&app, &acct.token, "action=contact.").await), ["contact.created", "contact.updated", "contact.deleted"]);
        assert_eq!(audit(&app, &acct.token, &format!("resource=contact&resource_id={contact_id}")).await.len(), 4);
        assert_eq!(audit(&app, &acct.token, "actor=support").await.len(), 0);
        assert!(audit(&app, &acct.token, "since=2999-01-01T00:00:00Z").await.is_empty());
        let (status, body) = app.get("/v1/audit-events?actor=robot", &acct.token).await;
        assert!(status.is_client_error(), "{body}");
        // Another account sees none of it; a key without `audit:read` sees nothing at all.
        let other = app.create_account("Other").await;
        assert_eq!(actions(&audit(&app, &other.token, "").await), ["account.created"]);
        let (_, key) = app.post("/v1/api-keys", &acct.token, json!({"name": "reader", "scopes": ["contacts:read"]})).await;
        let reader = app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap()).await;
        let (status, body) = app.get("/v1/audit-events", &reader).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(actions(&audit(&app, &acct.token, "action=api_key.").await), ["api_key.created"]);
    }
}

async fn support_access(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_SUPPORT_TOKEN".into(), SUPPORT_TOKEN.into());
    })
    .await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    app.post(
        &format!("/v1/lists/{list}/members"),
        &acct.token,
        json!({"email": "ada@example.com"}),
    )
    .await;
    let other = app.create_account("Other").await;

    // No grant: nothing.
    let (status, body) = as_support(&app, Method::GET, "/v1/contacts", Some(&acct.id), None).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // Grants are in the future and at most 30 days ahead.
    for bad in ["2001-01-01T00:00:00Z".to_owned(), in_future(40 * 86_400)] {
        let (status, body) = app
            .patch(
                "/v1/account",
                &acct.token,
                json!({"support_access_until": bad}),
            )
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let (status, account) = app
        .patch(
            "/v1/account",
            &acct.token,
            json!({"support_access_until": in_future(3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert!(account["support_access_until"].is_string());

    // Reads of lists and contacts work, and each is audited as support.
    for path in [
        "/v1/contacts".to_owned(),
        "/v1/lists".to_owned(),
        format!("/v1/lists/{list}"),
        format!("/v1/lists/{list}/members"),
    ] {
        let (status, body) = as_support(&app, Method::GET, &path, Some(&acct.id), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, contacts) = as_support(&app, Method::GET, "/v1/contacts", Some(&acct.id), None).await;
    assert_eq!(contacts["data"][0]["email"], "ada@example.com");
    // Nothing else: no writes, no campaigns, no other account, no account without a header.
    let (status, _) = as_support(
        &app,
        Method::POST,
        "/v1/contacts",
        Some(&acct.id),
        Some(json!({"email": "x@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_support(&app, Method::GET, "/v1/campaigns", Some(&acct.id), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_support(&app, Method::GET, "/v1/audit-events", Some(&acct.id), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_support(&app, Method::GET, "/v1/contacts", Some(&other.id), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_support(&app, Method::GET, "/v1/contacts", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_support(&app, Method::GET, "/v1/contacts", Some("not-an-id"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let reads = audit(&app, &acct.token, "actor=support").await;
    assert_eq!(
        actions(&reads),
        [
            "contact.listed",
            "list.listed",
            "list.read",
            "list_member.listed",
            "contact.listed"
        ],
        "{reads:?}"
    );
    assert!(
        reads
            .iter()
            .all(|r| r["ip"] == "127.0.0.1" && r["actor"]["id"].is_null())
    );
    assert_eq!(
        actions(&audit(&app, &acct.token, "action=account.").await),
        ["account.created", "account.support_access_changed"]
    );

    // Withdrawn: 403 at once. A short grant runs out by itself.
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"support_access_until": null}),
    )
    .await;
    let (status, _) = as_support(&app, Method::GET, "/v1/contacts", Some(&acct.id), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"support_access_until": in_future(2)}),
    )
    .await;
    let (status, _) = as_support(&app, Method::GET, "/v1/lists", Some(&acct.id), None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = as_support(&app, Method::GET, "/v1/lists", Some(&acct.id), None).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

/// Every read the support credential can make — each GET of the API, called with real
/// ids — that answers 2xx adds a support entry to the account's audit log.
async fn every_support_read_is_audited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_SUPPORT_TOKEN".into(), SUPPORT_TOKEN.into());
    })
    .await;
    let acct = app.create_account("Shop").await;
    app.post(
        "/v1/contact-properties",
        &acct.token,
        json!({"name": "city", "type": "string"}),
    )
    .await;
    let list = app.list(&acct.token, "News").await;
    let (_, member) = app
        .post(
            &format!("/v1/lists/{list}/members"),
            &acct.token,
            json!({"email": "ada@example.com"}),
        )
        .await;
    let contact = member["contact_id"].as_str().unwrap().to_owned();
    let import = crate::imports::import(
        &app,
        &acct.token,
        &list,
        "",
        "email,city\ngrace@example.com,Paris\n",
    )
    .await;
    let import = import["id"].as_str().unwrap().to_owned();
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"support_access_until": in_future(3600)}),
    )
    .await;

    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut answered = Vec::new();
    for (template, operations) in spec["paths"].as_object().unwrap() {
        if operations.get("get").is_none()
            || !template.starts_with("/v1/")
            || template.starts_with("/v1/admin")
        {
            continue;
        }
        let resource = template.split('/').nth(2).unwrap();
        let path = template
            .replace(
                "{id}",
                match resource {
                    "lists" => &list,
                    "contacts" => &contact,
                    "imports" => &import,
                    _ => "0190b6c4-0000-7000-8000-000000000000",
                },
            )
            .replace("{contact_id}", &contact)
            .replace("{name}", "city");
        let before = audit(&app, &acct.token, "actor=support").await.len();
        let (status, body) = as_support(&app, Method::GET, &path, Some(&acct.id), None).await;
        if !status.is_success() {
            continue;
        }
        let after = audit(&app, &acct.token, "actor=support").await;
        assert!(
            after.len() > before,
            "{template} answered {status} to support without an audit entry: {body}"
        );
        answered.push(template.clone());
    }
    for read in [
        "/v1/imports/{id}",
        "/v1/lists/{id}/imports",
        "/v1/contact-properties",
        "/v1/contacts/{id}",
        "/v1/lists/{id}/members",
    ] {
        assert!(
            answered.iter().any(|a| a == read),
            "{read} not read: {answered:?}"
        );
    }
}

#[tokio::test]
async fn every_support_read_is_audited_sqlite() {
    every_support_read_is_audited(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_support_read_is_audited_postgres() {
    every_support_read_is_audited(Backend::Postgres).await;
}

#[tokio::test]
async fn support_access_sqlite() {
    support_access(Backend::Sqlite).await;
}

#[tokio::test]
async fn support_access_postgres() {
    support_access(Backend::Postgres).await;
}

#[tokio::test]
async fn without_a_configured_support_token_no_bearer_is_support() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acct = app.create_account("Shop").await;
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"support_access_until": in_future(3600)}),
    )
    .await;
    let (status, _) = as_support(&app, Method::GET, "/v1/contacts", Some(&acct.id), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
