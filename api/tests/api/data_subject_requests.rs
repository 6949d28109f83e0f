//! Data-subject requests end to end, on SQLite and PostgreSQL: deadlines, verification,
//! rejection, access/portability exports, rectification, restriction, objection — and
//! erasure, proven by scanning every text and JSON column of every table afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use mailroom_domain::store::DbConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, grant, subscriber, wait_for_status};
use crate::helpers::*;
use crate::imports::import;
use crate::inbound::{POSTFIX_DELAYED, Sent, post_report};
use crate::on_both_backends;
use crate::rabbitmq::{TestVhost, WorkerProcess};
use crate::retention::{days_ahead, purge};
use crate::suppressions::{scoped_token, with_db};
use crate::tracking::{html_to, send_and_collect, stats, tracked_body, urls_with, wait_for_events};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, request) = app.post("/v1/data-subject-requests", token, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{request}");
    request
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn verified() -> Value {
    json!({"method": "email_link", "note": "clicked the link sent to the address"})
}

/// Polls the request until it is `completed`; answers it.
async fn wait_completed(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, request) = app
            .get(&format!("/v1/data-subject-requests/{id}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{request}");
        if request["status"] == "completed" {
            return request;
        }
        assert!(
            Instant::now() < deadline,
            "the request was never completed: {request}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

fn timestamp(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

on_both_backends! {
    async fn requests_are_recorded_with_a_30_day_deadline_and_checked(app) {
        let acct = app.create_account("Shop").await;
        let res = app
            .client
            .post(app.url("/v1/data-subject-requests"))
            .bearer_auth(&acct.token)
            .json(&json!({"kind": "access", "subject_email": " Ada@Example.com "}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let request: Value = res.json().await.unwrap();
        assert_eq!(location, format!("/v1/data-subject-requests/{}", id_of(&request)));
        assert_eq!(request["kind"], "access");
        assert_eq!(request["status"], "received");
        assert_eq!(request["subject_email"], "ada@example.com");
        assert_eq!(request["overdue"], false);
        assert_eq!(request["export_url"], Value::Null);
        let due = timestamp(&request["due_at"]) - timestamp(&request["received_at"]);
        assert_eq!(due, chrono::Duration::days(30));

        // Received some days ago (by post, say): the deadline runs from then.
        let old = create(&app, &acct.token, json!({"kind": "erasure", "subject_email": "bob@example.com", "received_at": days_ago(10)})).await;
        let left = timestamp(&old["due_at"]) - chrono::Utc::now();
        assert!(left < chrono::Duration::days(21) && left > chrono::Duration::days(19), "{old}");

        for (body, field) in [
            (json!({"kind": "access", "subject_email": "not an address"}), "subject_email"),
            (json!({"kind": "access", "subject_email": "a@example.com", "received_at": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339()}), "received_at"),
            (json!({"kind": "rectification", "subject_email": "a@example.com"}), "changes"),
            (json!({"kind": "erasure", "subject_email": "a@example.com", "changes": {"name": "X"}}), "changes"),
            (json!({"kind": "rectification", "subject_email": "a@example.com", "changes": {"id": "x"}}), "changes.id"),
            (json!({"kind": "rectification", "subject_email": "a@example.com", "changes": {"properties": {"undefined": 1}}}), "changes.properties.undefined"),
            (json!({"kind": "access", "subject_email": "a@example.com", "verification": {"method": ""}}), "verification.method"),
        ] {
            let (status, problem) = app.post("/v1/data-subject-requests", &acct.token, body.clone()).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert!(problem["errors"].to_string().contains(field), "{field}: {problem}");
        }
        let (status, problem) = app.post("/v1/data-subject-requests", &acct.token, json!({"kind": "forget_me", "subject_email": "a@example.com"})).await;
        assert!(status.is_client_error() && problem["code"].is_string(), "{status} {problem}");
        // A card number in a rectification is refused before it is ever stored.
        app.post("/v1/contact-properties", &acct.token, json!({"name": "note", "type": "string"})).await;
        let (status, problem) = app.post("/v1/data-subject-requests", &acct.token, json!({"kind": "rectification", "subject_email": "a@example.com", "changes": {"properties": {"note": "4111 1111 1111 1111"}}})).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert!(!crate::helpers::text_without_ids(&problem).contains("4111"), "{problem}");

        let (_, listed) = app.get("/v1/data-subject-requests?kind=erasure", &acct.token).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
        let (_, listed) = app.get("/v1/data-subject-requests?status=received", &acct.token).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
        let (status, problem) = app.get("/v1/data-subject-requests?status=lost", &acct.token).await;
        assert_eq!(status.as_u16() / 100, 4, "{problem}");
    }

    async fn unverified_requests_are_not_executed_until_verified_and_rejected_ones_never(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let waiting = create(&app, &acct.token, json!({"kind": "erasure", "subject_email": "ada@example.com"})).await;
        let rejected = create(&app, &acct.token, json!({"kind": "erasure", "subject_email": "ada@example.com"})).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, _) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "an unverified erasure must not run");
        let (_, still) = app.get(&format!("/v1/data-subject-requests/{}", id_of(&waiting)), &acct.token).await;
        assert_eq!(still["status"], "received");

        let (status, body) = app.post(&format!("/v1/data-subject-requests/{}/reject", id_of(&rejected)), &acct.token, json!({"reason": "could not verify the requester's identity"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "rejected");
        assert_eq!(body["rejection_reason"], "could not verify the requester's identity");
        assert!(body["rejected_at"].is_string());
        let (status, problem) = app.post(&format!("/v1/data-subject-requests/{}/verify", id_of(&rejected)), &acct.token, verified()).await;
        assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
        let (status, problem) = app.post(&format!("/v1/data-subject-requests/{}/reject", id_of(&waiting)), &acct.token, json!({"reason": ""})).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        // The verification is the whole body here: its errors name the body's own fields.
        for (body, field) in [(json!({"method": " "}), "method"), (json!({"method": "email_link", "note": "n".repeat(2001)}), "note")] {
            let (status, problem) = app.post(&format!("/v1/data-subject-requests/{}/verify", id_of(&waiting)), &acct.token, body).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }

        let (status, body) = app.post(&format!("/v1/data-subject-requests/{}/verify", id_of(&waiting)), &acct.token, verified()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verification"]["method"], "email_link");
        let done = wait_completed(&app, &acct.token, &id_of(&waiting)).await;
        assert_eq!(done["subject_email"], Value::Null, "the request keeps only the hash: {done}");
        assert_eq!(done["outcome"]["contact_deleted"], true, "{done}");
        for at in ["verified_at", "processing_at", "completed_at"] {
            assert!(done[at].is_string(), "{at}: {done}");
        }
        let (status, _) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, problem) = app.post(&format!("/v1/data-subject-requests/{}/reject", id_of(&waiting)), &acct.token, json!({"reason": "late"})).await;
        assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");

        // Every step is in the audit log, the job's as the system's.
        let audit = app.all_pages(&acct.token, "/v1/audit-events?action=data_subject_request.", 100).await;
        let steps: Vec<(&str, &str)> = audit.iter().map(|e| (e["action"].as_str().unwrap(), e["actor"]["type"].as_str().unwrap())).collect();
        for step in [
            ("data_subject_request.received", "api_key"),
            ("data_subject_request.rejected", "api_key"),
            ("data_subject_request.verified", "api_key"),
            ("data_subject_request.completed", "system"),
        ] {
            assert!(steps.contains(&step), "{step:?} missing from {steps:?}");
        }
        assert!(!serde_json::to_string(&audit).unwrap().contains("ada@example.com"));
    }

    async fn overdue_and_due_soon_requests_are_listed_and_counted(app) {
        let acct = app.create_account("Shop").await;
        let overdue = create(&app, &acct.token, json!({"kind": "objection", "subject_email": "a@example.com", "received_at": days_ago(40)})).await;
        let soon = create(&app, &acct.token, json!({"kind": "access", "subject_email": "b@example.com", "received_at": days_ago(25)})).await;
        create(&app, &acct.token, json!({"kind": "access", "subject_email": "c@example.com"})).await;
        // Answered late is answered: no longer overdue.
        let answered = create(&app, &acct.token, json!({"kind": "access", "subject_email": "d@example.com", "received_at": days_ago(45), "verification": verified()})).await;
        wait_completed(&app, &acct.token, &id_of(&answered)).await;

        let (status, summary) = app.get("/v1/data-subject-requests/summary", &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{summary}");
        assert_eq!(summary, json!({"open": 3, "due_soon": 1, "overdue": 1}));
        let (_, listed) = app.get("/v1/data-subject-requests?overdue=true", &acct.token).await;
        let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [id_of(&overdue)]);
        assert_eq!(listed["data"][0]["overdue"], true);
        let (_, listed) = app.get("/v1/data-subject-requests?due_soon=true", &acct.token).await;
        let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [id_of(&soon)]);
        // Paged like every listing.
        let all = app.all_pages(&acct.token, "/v1/data-subject-requests", 1).await;
        assert_eq!(all.len(), 4);

        // Operators see the same deadlines in Prometheus text, installation-wide.
        let res = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = res.text().await.unwrap();
        for line in [
            "mailroom_data_subject_requests{state=\"open\"} 3",
            "mailroom_data_subject_requests{state=\"due_soon\"} 1",
            "mailroom_data_subject_requests{state=\"overdue\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("mailroom_jobs{kind=\"data_subject_request.execute\""), "{text}");

        // Another account sees none of it.
        let other = app.create_account("Other").await;
        let (_, summary) = app.get("/v1/data-subject-requests/summary", &other.token).await;
        assert_eq!(summary, json!({"open": 0, "due_soon": 0, "overdue": 0}));
    }

    async fn an_access_request_exports_everything_held_about_the_person(app) {
        let acct = app.create_account("Shop").await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "city", "type": "string"})).await;
        let list = app.list(&acct.token, "News").await;
        let (status, member) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "name": "Ada", "properties": {"city": "London"}, "consent": {"purpose": "marketing_email", "status": "granted", "method": "form", "source": "https://shop.example/signup", "ip": "203.0.113.9", "list_scoped": true}})).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        let ada = member["contact_id"].as_str().unwrap().to_owned();
        grant(&app, &acct.token, &ada, "marketing_email").await;
        subscriber(&app, &acct.token, &list, "grace@example.com", "Grace").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        wait_for_status(&app, &acct.token, &campaign, "sent").await;
        wait_for_events(&app, &acct.token, "type=sent", 2).await;
        let earlier = create(&app, &acct.token, json!({"kind": "objection", "subject_email": "ada@example.com"})).await;
        app.post(&format!("/v1/data-subject-requests/{}/reject", id_of(&earlier)), &acct.token, json!({"reason": "withdrawn by the person"})).await;

        let access = create(&app, &acct.token, json!({"kind": "access", "subject_email": "ada@example.com", "verification": verified()})).await;
        // Not ready before it is completed.
        let done = wait_completed(&app, &acct.token, &id_of(&access)).await;
        let url = done["export_url"].as_str().unwrap().to_owned();
        let res = app.client.get(app.url(&url)).bearer_auth(&acct.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let export: Value = res.json().await.unwrap();
        assert_eq!(export["format"], "mailroom.data-subject-export/1");
        assert_eq!(export["subject"]["email"], "ada@example.com");
        assert_eq!(export["contact"]["id"], ada);
        assert_eq!(export["contact"]["name"], "Ada");
        assert_eq!(export["contact"]["properties"], json!({"city": "London"}));
        let memberships = export["list_memberships"].as_array().unwrap();
        assert_eq!(memberships.len(), 1, "{export}");
        assert_eq!(memberships[0]["list_name"], "News");
        assert_eq!(memberships[0]["status"], "subscribed");
        assert_eq!(memberships[0]["history"][0]["source"], "https://shop.example/signup");
        let consents = export["consents"].as_array().unwrap();
        assert_eq!(consents.len(), 2, "{export}");
        assert_eq!(consents[0]["ip"], "203.0.113.9");
        let messages = export["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "only Ada's mail: {export}");
        assert_eq!(messages[0]["subject"], "News for Ada");
        assert_eq!(messages[0]["status"], "sent");
        let events = export["events"].as_array().unwrap();
        assert!(events.iter().any(|e| e["type"] == "sent"), "{export}");
        assert_eq!(export["requests"][0]["kind"], "objection");
        assert_eq!(export["requests"][0]["status"], "rejected");
        assert!(!export.to_string().contains("grace@example.com"), "another person's data: {export}");

        // Downloading is audited; an erasure has no export; a portability request has one.
        let audit = app.all_pages(&acct.token, "/v1/audit-events?action=data_subject_request.exported", 50).await;
        assert_eq!(audit.len(), 1, "{audit:?}");
        let portability = create(&app, &acct.token, json!({"kind": "portability", "subject_email": "ada@example.com", "verification": verified()})).await;
        let done = wait_completed(&app, &acct.token, &id_of(&portability)).await;
        let (status, export) = app.get(done["export_url"].as_str().unwrap(), &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export["requests"].as_array().unwrap().len(), 2, "{export}");
        let pending = create(&app, &acct.token, json!({"kind": "access", "subject_email": "ada@example.com"})).await;
        let (status, problem) = app.get(&format!("/v1/data-subject-requests/{}/export", id_of(&pending)), &acct.token).await;
        assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
        let (status, problem) = app.get(&format!("/v1/data-subject-requests/{}/export", id_of(&earlier)), &acct.token).await;
        assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");

        // An access request about someone unknown answers with an export that says so.
        let nobody = create(&app, &acct.token, json!({"kind": "access", "subject_email": "nobody@example.com", "verification": verified()})).await;
        let done = wait_completed(&app, &acct.token, &id_of(&nobody)).await;
        let (_, export) = app.get(done["export_url"].as_str().unwrap(), &acct.token).await;
        assert_eq!(export["contact"], Value::Null);
        assert_eq!(export["messages"], json!([]));
    }

    async fn exports_are_purged_after_their_retention_and_the_request_stays(app) {
        let acct = app.create_account("Shop").await;
        app.contact(&acct.token, "ada@example.com").await;
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"retention": {"dsr_exports_days": 10}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access = create(&app, &acct.token, json!({"kind": "access", "subject_email": "ada@example.com", "verification": verified()})).await;
        let done = wait_completed(&app, &acct.token, &id_of(&access)).await;
        let url = done["export_url"].as_str().unwrap().to_owned();
        purge(&app, Some(days_ahead(5))).await;
        let (status, _) = app.get(&url, &acct.token).await;
        assert_eq!(status, StatusCode::OK, "within retention");
        purge(&app, Some(days_ahead(11))).await;
        let (status, problem) = app.get(&url, &acct.token).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        // The request, and what was done, remain the account's proof of its answer.
        let (_, request) = app.get(&format!("/v1/data-subject-requests/{}", id_of(&access)), &acct.token).await;
        assert_eq!(request["status"], "completed");
        assert!(request["outcome"]["export_bytes"].as_i64().unwrap() > 0, "{request}");
    }

    async fn rectification_restriction_and_objection_act_on_the_contact(app) {
        let acct = app.create_account("Shop").await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "city", "type": "string"})).await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        subscriber(&app, &acct.token, &list, "grace@example.com", "Grace").await;

        let fix = create(&app, &acct.token, json!({"kind": "rectification", "subject_email": "ada@example.com", "verification": verified(), "changes": {"name": "Ada Lovelace", "properties": {"city": "London"}}})).await;
        let done = wait_completed(&app, &acct.token, &id_of(&fix)).await;
        assert_eq!(done["outcome"]["applied"], true, "{done}");
        let (_, contact) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!((contact["name"].as_str(), contact["properties"]["city"].as_str()), (Some("Ada Lovelace"), Some("London")));

        // Restricted: kept, but not mailed, until lifted.
        let restrict = create(&app, &acct.token, json!({"kind": "restriction", "subject_email": "ada@example.com", "verification": verified()})).await;
        wait_completed(&app, &acct.token, &id_of(&restrict)).await;
        let (_, contact) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert!(contact["restricted_at"].is_string(), "{contact}");
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        let sent = wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(sent["progress"]["recipients"], 1, "only Grace: {sent}");
        let (status, _) = app.delete(&format!("/v1/contacts/{ada}/restriction"), &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, contact) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!(contact["restricted_at"], Value::Null);
        let audit = app.all_pages(&acct.token, "/v1/audit-events?action=contact.restriction_lifted", 50).await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0]["resource"]["id"], ada);
        let again = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{again}/send"), &acct.token, json!({})).await;
        let sent = wait_for_status(&app, &acct.token, &again, "sent").await;
        assert_eq!(sent["progress"]["recipients"], 2, "{sent}");

        // Objection: marketing consent withdrawn in the ledger, the address suppressed.
        let object = create(&app, &acct.token, json!({"kind": "objection", "subject_email": "ada@example.com", "verification": verified()})).await;
        wait_completed(&app, &acct.token, &id_of(&object)).await;
        let (_, contact) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!(contact["consents"]["marketing_email"]["status"], "withdrawn", "{contact}");
        let (_, ledger) = app.get(&format!("/v1/contacts/{ada}/consents"), &acct.token).await;
        assert_eq!(ledger["data"][0]["method"], "data_subject_request", "{ledger}");
        let (_, suppressed) = app.get("/v1/suppressions", &acct.token).await;
        assert_eq!(suppressed["data"][0]["email"], "ada@example.com", "{suppressed}");
        // A rectification the data no longer allows is answered, not retried for ever.
        let clash = create(&app, &acct.token, json!({"kind": "rectification", "subject_email": "ada@example.com", "verification": verified(), "changes": {"email": "grace@example.com"}})).await;
        let done = wait_completed(&app, &acct.token, &id_of(&clash)).await;
        assert_eq!(done["outcome"]["applied"], false, "{done}");
    }

    async fn requests_are_the_accounts_own_and_need_their_scopes(app) {
        let acct = app.create_account("Shop").await;
        let other = app.create_account("Other").await;
        let request = create(&app, &acct.token, json!({"kind": "access", "subject_email": "ada@example.com"})).await;
        let id = id_of(&request);
        for path in [format!("/v1/data-subject-requests/{id}"), format!("/v1/data-subject-requests/{id}/export")] {
            let (status, problem) = app.get(&path, &other.token).await;
            assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        }
        for (path, body) in [
            (format!("/v1/data-subject-requests/{id}/verify"), verified()),
            (format!("/v1/data-subject-requests/{id}/reject"), json!({"reason": "no"})),
        ] {
            let (status, problem) = app.post(&path, &other.token, body).await;
            assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        }
        let (_, listed) = app.get("/v1/data-subject-requests", &other.token).await;
        assert_eq!(listed["data"], json!([]));
        let (_, still) = app.get(&format!("/v1/data-subject-requests/{id}"), &acct.token).await;
        assert_eq!(still["status"], "received");
        let ada = app.contact(&acct.token, "ada@example.com").await;
        let (status, problem) = app.delete(&format!("/v1/contacts/{ada}/restriction"), &other.token).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");

        let reader = scoped_token(&app, &acct, &["data_subject_requests:read"]).await;
        let (status, _) = app.get("/v1/data-subject-requests", &reader).await;
        assert_eq!(status, StatusCode::OK);
        let (status, problem) = app.post("/v1/data-subject-requests", &reader, json!({"kind": "access", "subject_email": "x@example.com"})).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let (status, problem) = app.post(&format!("/v1/data-subject-requests/{id}/verify"), &reader, verified()).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let nobody = scoped_token(&app, &acct, &["contacts:read"]).await;
        let (status, problem) = app.get("/v1/data-subject-requests", &nobody).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    }
}

/// Where `needle` occurs: `table.column` and how many rows — over every column of every
/// table (text, JSON, UUID and binary alike), matched case-insensitively.
async fn occurrences(app: &TestApp, needle: String) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    with_db(app, move |conn| {
        let needle = needle.to_lowercase();
        let mut found = Vec::new();
        let columns: Vec<Column> = match conn {
            DbConnection::Postgres(pg) => diesel::sql_query(
                "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                 data_type::text AS data_type FROM information_schema.columns \
                 WHERE table_schema = 'public'",
            )
            .load(pg)
            .unwrap(),
            DbConnection::Sqlite(lite) => {
                let tables: Vec<Name> = diesel::sql_query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                )
                .load(lite)
                .unwrap();
                let mut columns = Vec::new();
                for table in tables {
                    let names: Vec<Name> = diesel::sql_query(format!(
                        "SELECT name FROM pragma_table_info('{}')",
                        table.name
                    ))
                    .load(lite)
                    .unwrap();
                    columns.extend(names.into_iter().map(|c| Column {
                        table_name: table.name.clone(),
                        column_name: c.name,
                        data_type: "any".into(),
                    }));
                }
                columns
            }
        };
        assert!(columns.len() > 100, "the scan sees too few columns: {}", columns.len());
        for c in columns {
            let (table, column) = (&c.table_name, &c.column_name);
            let condition = match (&*conn, c.data_type.as_str()) {
                (DbConnection::Sqlite(_), _) => format!("lower(CAST(\"{column}\" AS TEXT)) LIKE '%{needle}%'"),
                (_, "bytea") => format!("position(convert_to('{needle}', 'UTF8') in lower(encode(\"{column}\", 'escape'))::bytea) > 0"),
                (_, "text" | "character varying" | "jsonb" | "json" | "uuid" | "USER-DEFINED" | "ARRAY") => {
                    format!("lower(\"{column}\"::text) LIKE '%{needle}%'")
                }
                _ => continue,
            };
            let sql = format!("SELECT count(*) AS n FROM \"{table}\" WHERE {condition}");
            let n = match conn {
                DbConnection::Postgres(pg) => diesel::sql_query(&sql).get_result::<Count>(pg),
                DbConnection::Sqlite(lite) => diesel::sql_query(&sql).get_result::<Count>(lite),
            }
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .n;
            if n > 0 {
                found.push(format!("{table}.{column} ({n})"));
            }
        }
        found
    })
    .await
}

/// A person who has been through every feature — membership with consent evidence and
/// properties, a tracked campaign they opened and clicked, a transactional mail sent with
/// an idempotency key, webhook deliveries of their events, an inbound report, an import
/// row, an access request and its export, audited changes — is erased. Then no column of
/// any table holds their address or contact id; only the keyed hash remains, the campaign's
/// counters are unchanged, and the address cannot come back without new consent.
async fn erasure_leaves_nothing_but_the_hash(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
        vars.insert("MAILROOM_WEBHOOK_RETRY_BASE_MS".into(), "100".into());
        vars.insert("MAILROOM_WEBHOOK_MAX_ATTEMPTS".into(), "2".into());
    })
    .await;
    let acct = app.create_account("Shop").await;
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"tracking_enabled": true}),
    )
    .await;
    app.post(
        "/v1/contact-properties",
        &acct.token,
        json!({"name": "city", "type": "string"}),
    )
    .await;
    // Deliveries to a closed port: logged (with their payloads) and retried.
    let (status, webhook) = app
        .post(
            "/v1/webhooks",
            &acct.token,
            json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["sent", "open", "click", "blocked"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let list = app.list(&acct.token, "News").await;
    let (status, member) = app
        .post(
            &format!("/v1/lists/{list}/members"),
            &acct.token,
            json!({"email": "Ada.Lovelace@Example.com", "name": "Ada", "properties": {"city": "London"},
                   "consent": {"purpose": "marketing_email", "status": "granted", "method": "form",
                               "source": "https://shop.example/signup?ref=ada.lovelace@example.com", "ip": "203.0.113.9"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    let ada = member["contact_id"].as_str().unwrap().to_owned();
    grant(&app, &acct.token, &ada, "tracking").await;
    subscriber(&app, &acct.token, &list, "grace@example.com", "Grace").await;
    app.patch(
        &format!("/v1/contacts/{ada}"),
        &acct.token,
        json!({"name": "Ada Lovelace"}),
    )
    .await;

    // A tracked campaign, opened and clicked.
    let (campaign, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 2).await;
    let html = html_to(&mail, "ada.lovelace@example.com");
    let pixel = urls_with(html, &format!("{}/t/o/", app.address)).remove(0);
    let click = urls_with(html, &format!("{}/t/c/", app.address)).remove(0);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    no_redirects
        .get(&pixel)
        .header("user-agent", "AdaMail/1.0")
        .send()
        .await
        .unwrap();
    no_redirects.get(&click).send().await.unwrap();
    wait_for_events(&app, &acct.token, "type=click", 1).await;
    wait_for_events(&app, &acct.token, "type=open", 1).await;

    // Transactional mail with an idempotency key (its stored response names her).
    let res = app
        .client
        .post(app.url("/v1/send"))
        .bearer_auth(&acct.token)
        .header("Idempotency-Key", "receipt-ada-1")
        .json(
            &json!({"messages": [{"from": {"email": "orders@shop.example"},
            "to": [{"email": "ada.lovelace@example.com", "name": "Ada"}],
            "subject": "Your receipt, Ada", "text": "Thanks, Ada.", "custom_id": "receipt-ada"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    wait_for_events(&app, &acct.token, "type=sent", 3).await;
    // An inbound report about her that matches no message, and an import row.
    post_report(
        &app,
        &acct.token,
        Sent::made_up("ada.lovelace@example.com").report(POSTFIX_DELAYED),
    )
    .await;
    let other_list = app.list(&acct.token, "Offers").await;
    import(
        &app,
        &acct.token,
        &other_list,
        "?source=crm",
        "email,name,city\nada.lovelace@example.com,Ada,London\nnot-an-address,X,Y\n",
    )
    .await;
    let access = create(&app, &acct.token, json!({"kind": "access", "subject_email": "ada.lovelace@example.com", "verification": verified()})).await;
    let done = wait_completed(&app, &acct.token, &id_of(&access)).await;
    app.get(done["export_url"].as_str().unwrap(), &acct.token)
        .await;
    // Her webhook deliveries exist (logged with their payloads).
    let deliveries = app
        .all_pages(
            &acct.token,
            &format!("/v1/webhooks/{}/deliveries", id_of(&webhook)),
            100,
        )
        .await;
    assert!(
        deliveries.len() >= 3,
        "webhook deliveries were logged: {deliveries:?}"
    );
    assert!(
        !occurrences(&app, "ada.lovelace@example.com".into())
            .await
            .is_empty()
    );
    let before = stats(&app, &acct.token, &campaign).await;

    let erasure = create(&app, &acct.token, json!({"kind": "erasure", "subject_email": "ADA.LOVELACE@example.com", "verification": verified()})).await;
    let done = wait_completed(&app, &acct.token, &id_of(&erasure)).await;
    assert_eq!(done["outcome"]["contact_deleted"], true, "{done}");
    // Late tracking hits of an erased person are not recorded.
    no_redirects.get(&pixel).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for needle in ["ada.lovelace@example.com".to_owned(), ada.clone()] {
        let left = occurrences(&app, needle.clone()).await;
        assert!(left.is_empty(), "{needle} is still in {left:?}");
    }
    // Grace is untouched; the hash is what remains of Ada.
    assert!(
        !occurrences(&app, "grace@example.com".into())
            .await
            .is_empty()
    );
    let (_, erased) = app
        .get("/v1/suppressions?reason=erasure", &acct.token)
        .await;
    assert_eq!(erased["data"].as_array().unwrap().len(), 1, "{erased}");
    assert_eq!(erased["data"][0]["email"], Value::Null);
    let hash = mailroom_domain::suppressions::email_hash(
        &crate::suppressions::test_hash_key(),
        &mailroom_domain::contacts::EmailAddress::parse("ada.lovelace@example.com").unwrap(),
    );
    let kept = occurrences(&app, hash).await;
    assert!(
        kept.iter()
            .any(|at| at.starts_with("suppressions.email_hash")),
        "{kept:?}"
    );
    // The campaign's counters are as they were, anonymously.
    let after = stats(&app, &acct.token, &campaign).await;
    assert_eq!(before["opened"]["unique"], 1, "{before}");
    for counter in [
        "recipients",
        "sent",
        "opened",
        "clicked",
        "bounced",
        "blocked",
        "links",
    ] {
        assert_eq!(
            before[counter], after[counter],
            "{counter}: {before} / {after}"
        );
    }

    // The address comes back only with the person's new consent.
    let (status, problem) = app
        .post(
            "/v1/contacts",
            &acct.token,
            json!({"email": "ada.lovelace@example.com"}),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "subject_erased",
    );
    let (status, problem) = app
        .post(
            &format!("/v1/lists/{list}/members"),
            &acct.token,
            json!({"email": "Ada.Lovelace@example.com"}),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "subject_erased",
    );
    let (_, found) = app
        .get("/v1/contacts?email=grace@example.com", &acct.token)
        .await;
    let grace = found["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, problem) = app
        .patch(
            &format!("/v1/contacts/{grace}"),
            &acct.token,
            json!({"email": "ada.lovelace@example.com"}),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "subject_erased",
    );
    let again = import(
        &app,
        &acct.token,
        &other_list,
        "?source=crm",
        "email\nada.lovelace@example.com\n",
    )
    .await;
    assert_eq!(again["progress"]["skipped_erased"], 1, "{again}");
    let (status, member) = app
        .post(
            &format!("/v1/lists/{list}/members"),
            &acct.token,
            json!({"email": "ada.lovelace@example.com",
                   "consent": {"purpose": "marketing_email", "status": "granted", "method": "double_opt_in", "source": "https://shop.example/signup"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    let audit = app
        .all_pages(
            &acct.token,
            "/v1/audit-events?action=suppression.erasure_lifted",
            50,
        )
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
}

#[tokio::test]
async fn erasure_leaves_nothing_but_the_hash_sqlite() {
    erasure_leaves_nothing_but_the_hash(Backend::Sqlite).await;
}

#[tokio::test]
async fn erasure_leaves_nothing_but_the_hash_postgres() {
    erasure_leaves_nothing_but_the_hash(Backend::Postgres).await;
}

/// Scaled out (PostgreSQL + RabbitMQ, the API running no workers), requests are carried
/// out by a `mailroom-jobs` process, and the retention purge it runs takes their exports.
#[tokio::test]
async fn scaled_out_requests_and_the_purge_run_in_a_jobs_process() {
    let vhost = TestVhost::create();
    let amqp = vhost.url_via(5672);
    let captured = Arc::new(Mutex::new(HashMap::new()));
    let keep = captured.clone();
    let app = TestApp::spawn_with(Backend::Postgres, move |vars| {
        vars.insert("AMQP_URL".into(), amqp);
        *keep.lock().unwrap() = vars.clone();
    })
    .await;
    let worker_vars = captured.lock().unwrap().clone();
    let acct = app.create_account("Shop").await;
    let ada = app.contact(&acct.token, "ada@example.com").await;
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"retention": {"dsr_exports_days": 10}}),
    )
    .await;
    let access = create(
        &app,
        &acct.token,
        json!({"kind": "access", "subject_email": "ada@example.com", "verification": verified()}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, waiting) = app
        .get(
            &format!("/v1/data-subject-requests/{}", id_of(&access)),
            &acct.token,
        )
        .await;
    assert_eq!(
        waiting["status"], "verified",
        "the API runs no workers: {waiting}"
    );

    let jobs = WorkerProcess::start("mailroom-jobs", &worker_vars);
    let done = wait_completed(&app, &acct.token, &id_of(&access)).await;
    let url = done["export_url"].as_str().unwrap().to_owned();
    let (status, export) = app.get(&url, &acct.token).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["contact"]["id"], ada);

    let erasure = create(
        &app,
        &acct.token,
        json!({"kind": "erasure", "subject_email": "ada@example.com", "verification": verified()}),
    )
    .await;
    wait_completed(&app, &acct.token, &id_of(&erasure)).await;
    let (status, _) = app.get(&format!("/v1/contacts/{ada}"), &acct.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The purge, as of 11 days on, through RabbitMQ: the access export goes.
    let (status, queued) = app
        .request(
            reqwest::Method::POST,
            "/v1/admin/retention/purge",
            Some(ADMIN_TOKEN),
            Some(json!({"as_of": days_ahead(11)})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = app.get(&url, &acct.token).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the export was never purged:\n{}",
            jobs.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
