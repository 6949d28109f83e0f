//! The consent ledger: records are appended and read back newest first, never changed;
//! the contact shows the state its latest account-wide record per purpose sets.

use std::collections::HashSet;

use mailroom_domain::Id;
use mailroom_domain::consent::{ConsentRecord, purposes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::suppressions::{scoped_token, with_db};

fn consent(purpose: &str, status: &str) -> Value {
    json!({"purpose": purpose, "status": status, "method": "api", "source": "integration test"})
}

async fn append(app: &TestApp, token: &str, contact: &str, body: Value) -> Value {
    let (status, record) = app
        .post(&format!("/v1/contacts/{contact}/consents"), token, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    record
}

/// Every record id of a contact's history, following `next_cursor` in pages of `limit`.
async fn history_ids(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<String> {
    let records = app.all_pages(token, path, limit).await;
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn consents_of(app: &TestApp, token: &str, contact: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/contacts/{contact}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["consents"].clone()
}

on_both_backends! {
    async fn a_consent_record_keeps_all_its_evidence(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;
        let evidence = json!({"form_id": "f-17", "checkbox_text": "Yes, send me news", "double_opt_in": {"confirmed": true}});
        let record = append(&app, &acct.token, &contact, json!({
            "purpose": "marketing_email",
            "status": "granted",
            "method": "double_opt_in",
            "source": " https://example.com/newsletter ",
            "ip": "2001:DB8::7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "policy_version": "2026-01",
            "evidence": evidence,
            "list_id": list,
        })).await;
        assert!(record["id"].is_string(), "{record}");
        assert_eq!(record["contact_id"], contact.as_str());
        assert_eq!(record["list_id"], list.as_str());
        assert_eq!(record["purpose"], "marketing_email");
        assert_eq!(record["status"], "granted");
        assert_eq!(record["method"], "double_opt_in");
        assert_eq!(record["source"], "https://example.com/newsletter");
        assert_eq!(record["ip"], "2001:db8::7", "stored in canonical form");
        assert_eq!(record["user_agent"], "Mozilla/5.0 (X11; Linux x86_64)");
        assert_eq!(record["policy_version"], "2026-01");
        assert_eq!(record["evidence"], evidence);
        assert!(record["created_at"].is_string(), "{record}");
        assert!(record.get("account_id").is_none(), "{record}");

        let (status, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{history}");
        assert_eq!(history, json!({"data": [record], "next_cursor": null}));

        let minimal = append(&app, &acct.token, &contact, consent("tracking", "withdrawn")).await;
        for absent in ["list_id", "ip", "user_agent", "policy_version", "evidence"] {
            assert_eq!(minimal[absent], Value::Null, "{absent}: {minimal}");
        }
    }

    async fn the_history_is_read_newest_first_in_pages(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let mut all = Vec::new();
        let mut tracking = Vec::new();
        for (i, (purpose, status)) in [
            ("marketing_email", "granted"),
            ("tracking", "granted"),
            ("marketing_email", "withdrawn"),
            ("tracking", "withdrawn"),
            ("marketing_email", "granted"),
            ("sms_marketing", "granted"),
            ("tracking", "granted"),
        ].into_iter().enumerate() {
            let r = append(&app, &acct.token, &contact, json!({"purpose": purpose, "status": status, "method": "form", "source": format!("step {i}")})).await;
            let id = r["id"].as_str().unwrap().to_owned();
            if purpose == "tracking" {
                tracking.push(id.clone());
            }
            all.push(id);
        }
        all.reverse();
        tracking.reverse();
        let path = format!("/v1/contacts/{contact}/consents");
        assert_eq!(history_ids(&app, &acct.token, &path, 3).await, all);
        assert_eq!(history_ids(&app, &acct.token, &path, 1).await, all);
        assert_eq!(history_ids(&app, &acct.token, &path, 50).await, all);
        assert_eq!(history_ids(&app, &acct.token, &format!("{path}?purpose=tracking"), 2).await, tracking);
        let (status, none) = app.get(&format!("{path}?purpose=profiling"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{none}");
        assert_eq!(none, json!({"data": [], "next_cursor": null}));

        let (status, body) = app.get(&format!("{path}?purpose=Not%20An%20Identifier"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "purpose");
        let (status, body) = app.get(&format!("{path}?limit=0"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.get(&format!("{path}?cursor=garbage!"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn the_contact_shows_the_latest_account_wide_state_per_purpose(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        assert_eq!(consents_of(&app, &acct.token, &contact).await, json!({}));

        let granted = append(&app, &acct.token, &contact, consent("marketing_email", "granted")).await;
        assert_eq!(
            consents_of(&app, &acct.token, &contact).await,
            json!({"marketing_email": {"status": "granted", "updated_at": granted["created_at"]}})
        );
        let tracking = append(&app, &acct.token, &contact, consent("tracking", "granted")).await;
        let withdrawn = append(&app, &acct.token, &contact, consent("marketing_email", "withdrawn")).await;
        let expected = json!({
            "marketing_email": {"status": "withdrawn", "updated_at": withdrawn["created_at"]},
            "tracking": {"status": "granted", "updated_at": tracking["created_at"]},
        });
        assert_eq!(consents_of(&app, &acct.token, &contact).await, expected);

        // Every view of the contact carries the same state.
        let other = app.contact(&acct.token, "bob@example.com").await;
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        let by_id = |id: &str| page["data"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
        assert_eq!(by_id(&contact)["consents"], expected);
        assert_eq!(by_id(&other)["consents"], json!({}));
        let (status, updated) = app.patch(&format!("/v1/contacts/{contact}"), &acct.token, json!({"name": "Ada"})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["consents"], expected);
        let (_, created) = app.post("/v1/contacts", &acct.token, json!({"email": "carol@example.com"})).await;
        assert_eq!(created["consents"], json!({}));

        let regranted = append(&app, &acct.token, &contact, consent("marketing_email", "granted")).await;
        assert_eq!(
            consents_of(&app, &acct.token, &contact).await["marketing_email"],
            json!({"status": "granted", "updated_at": regranted["created_at"]})
        );
    }

    async fn list_scoped_records_leave_the_account_wide_state_alone(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "Weekly").await;
        let granted = append(&app, &acct.token, &contact, consent("marketing_email", "granted")).await;

        let mut unsubscribe = consent("marketing_email", "withdrawn");
        unsubscribe["list_id"] = json!(list);
        unsubscribe["method"] = json!("unsubscribe_link");
        let scoped = append(&app, &acct.token, &contact, unsubscribe).await;
        assert_eq!(scoped["list_id"], list.as_str());
        assert_eq!(
            consents_of(&app, &acct.token, &contact).await,
            json!({"marketing_email": {"status": "granted", "updated_at": granted["created_at"]}})
        );

        let mut tracking_for_list = consent("tracking", "granted");
        tracking_for_list["list_id"] = json!(list);
        append(&app, &acct.token, &contact, tracking_for_list).await;
        assert!(consents_of(&app, &acct.token, &contact).await.get("tracking").is_none());

        let history = history_ids(&app, &acct.token, &format!("/v1/contacts/{contact}/consents"), 10).await;
        assert_eq!(history.len(), 3, "list-scoped records are part of the history");
    }

    async fn invalid_records_are_refused_naming_the_field(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let path = format!("/v1/contacts/{contact}/consents");
        let with = |field: &str, value: Value| {
            let mut body = consent("marketing_email", "granted");
            body[field] = value;
            body
        };
        let without = |field: &str| {
            let mut body = consent("marketing_email", "granted");
            body.as_object_mut().unwrap().remove(field);
            body
        };
        let cases = [
            (with("purpose", json!("Marketing Email")), "purpose"),
            (with("purpose", json!("")), "purpose"),
            (with("purpose", json!("x".repeat(65))), "purpose"),
            (with("purpose", json!(7)), "purpose"),
            (without("purpose"), "purpose"),
            (with("status", json!("maybe")), "status"),
            (without("status"), "status"),
            (with("method", json!("web-form")), "method"),
            (without("method"), "method"),
            (without("source"), "source"),
            (with("source", json!("  ")), "source"),
            (with("source", json!("s".repeat(501))), "source"),
            (with("ip", json!("300.1.2.3")), "ip"),
            (with("ip", json!("not an address")), "ip"),
            (with("user_agent", json!("u".repeat(1001))), "user_agent"),
            (with("policy_version", json!("v".repeat(101))), "policy_version"),
            (with("evidence", json!(["not", "an", "object"])), "evidence"),
            (with("evidence", json!({"blob": "x".repeat(17 * 1024)})), "evidence"),
            (with("list_id", json!("not-a-uuid")), "list_id"),
            (with("granted", json!(true)), "granted"),
        ];
        for (body, field) in cases {
            let (status, problem) = app.post(&path, &acct.token, body.clone()).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        }

        let (status, problem) = app.post(&path, &acct.token, with("list_id", json!(Id::new()))).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        let other = app.create_account("Other").await;
        let foreign_list = app.list(&other.token, "Theirs").await;
        let (status, problem) = app.post(&path, &acct.token, with("list_id", json!(foreign_list))).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        let (status, problem) = app.post(&format!("/v1/contacts/{}/consents", Id::new()), &acct.token, consent("tracking", "granted")).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");

        let (_, history) = app.get(&path, &acct.token).await;
        assert_eq!(history["data"], json!([]), "nothing was recorded");
    }

    async fn records_cannot_be_changed_or_deleted(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let record = append(&app, &acct.token, &contact, consent("marketing_email", "granted")).await;
        let id = record["id"].as_str().unwrap();
        let collection = format!("/v1/contacts/{contact}/consents");
        let one = format!("{collection}/{id}");
        for (method, path) in [
            (Method::PATCH, &one),
            (Method::PUT, &one),
            (Method::DELETE, &one),
            (Method::GET, &one),
            (Method::DELETE, &collection),
            (Method::PATCH, &collection),
        ] {
            let (status, body) = app.request(method.clone(), path, Some(&acct.token), Some(json!({"status": "withdrawn"}))).await;
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status} {body}"
            );
        }
        let (_, history) = app.get(&collection, &acct.token).await;
        assert_eq!(history["data"], json!([record]));
    }

    async fn appending_needs_contacts_write_and_reading_contacts_read(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let path = format!("/v1/contacts/{contact}/consents");
        let reader = scoped_token(&app, &acct, &["contacts:read"]).await;
        let (status, body) = app.post(&path, &reader, consent("tracking", "granted")).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) = app.get(&path, &reader).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let lists_only = scoped_token(&app, &acct, &["lists:read", "lists:write"]).await;
        let (status, body) = app.get(&path, &lists_only).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let list = app.list(&acct.token, "News").await;
        let (status, body) = app.post(
            &format!("/v1/lists/{list}/members"),
            &lists_only,
            json!({"contact_id": contact, "consent": consent("marketing_email", "granted")}),
        ).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

        let writer = scoped_token(&app, &acct, &["contacts:write"]).await;
        let (status, body) = app.post(&path, &writer, consent("tracking", "granted")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn another_account_can_neither_read_nor_append_to_a_ledger(app) {
        let owner = app.create_account("Owner").await;
        let contact = app.contact(&owner.token, "ada@example.com").await;
        let path = format!("/v1/contacts/{contact}/consents");
        let record = append(&app, &owner.token, &contact, consent("marketing_email", "granted")).await;

        let intruder = app.create_account("Intruder").await;
        let (status, body) = app.get(&path, &intruder.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.post(&path, &intruder.token, json!({"purpose": "marketing_email", "status": "withdrawn", "method": "api", "source": "intruder"})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        // Nor through a list of its own.
        let list = app.list(&intruder.token, "Theirs").await;
        let (status, body) = app.post(&format!("/v1/lists/{list}/members"), &intruder.token, json!({"contact_id": contact, "consent": {"purpose": "marketing_email", "status": "withdrawn", "method": "api", "source": "intruder"}})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let (_, history) = app.get(&path, &owner.token).await;
        assert_eq!(history["data"], json!([record]));
        assert_eq!(consents_of(&app, &owner.token, &contact).await["marketing_email"]["status"], "granted");
    }

    async fn a_member_added_with_consent_records_it_in_the_same_request(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");
        let (status, member) = app.post(&path, &acct.token, json!({
            "email": "Ada@Example.com",
            "consent": {
                "purpose": "marketing_email",
                "status": "granted",
                "method": "form",
                "source": "https://example.com/signup",
                "ip": "192.0.2.10",
                "user_agent": "Mozilla/5.0",
                "policy_version": "v3",
                "evidence": {"checkbox": "Send me news"},
            },
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert!(member.get("consent").is_none(), "{member}");
        let contact = member["contact_id"].as_str().unwrap();

        let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        let records = history["data"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{history}");
        let r = &records[0];
        assert_eq!(r["contact_id"], contact);
        assert_eq!(r["list_id"], Value::Null, "account-wide unless list_scoped");
        assert_eq!(r["purpose"], "marketing_email");
        assert_eq!(r["status"], "granted");
        assert_eq!(r["method"], "form");
        assert_eq!(r["source"], "https://example.com/signup");
        assert_eq!(r["ip"], "192.0.2.10");
        assert_eq!(r["user_agent"], "Mozilla/5.0");
        assert_eq!(r["policy_version"], "v3");
        assert_eq!(r["evidence"], json!({"checkbox": "Send me news"}));
        assert_eq!(
            consents_of(&app, &acct.token, contact).await,
            json!({"marketing_email": {"status": "granted", "updated_at": r["created_at"]}})
        );

        // A list-scoped consent names the list and leaves the account-wide state alone,
        // also when the contact was a member already.
        let (status, again) = app.post(&path, &acct.token, json!({
            "contact_id": contact,
            "consent": {"purpose": "marketing_email", "status": "withdrawn", "method": "api", "source": "crm", "list_scoped": true},
        })).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        assert_eq!(history["data"][0]["list_id"], list.as_str());
        assert_eq!(history["data"][0]["status"], "withdrawn");
        assert_eq!(consents_of(&app, &acct.token, contact).await["marketing_email"]["status"], "granted");
    }

    async fn a_member_with_invalid_consent_is_not_added(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");
        for (consent, field) in [
            (json!({"purpose": "marketing_email", "status": "granted", "method": "form", "source": "s", "ip": "999.0.0.1"}), "consent.ip"),
            (json!({"purpose": "Marketing", "status": "granted", "method": "form", "source": "s"}), "consent.purpose"),
            (json!({"purpose": "marketing_email", "status": "yes", "method": "form", "source": "s"}), "consent.status"),
            (json!({"purpose": "marketing_email", "status": "granted", "method": "form", "source": "s", "list_id": list}), "consent.list_id"),
        ] {
            let (status, body) = app.post(&path, &acct.token, json!({"email": "ada@example.com", "consent": consent})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], field, "{body}");
        }
        // A missing member is named by its full path.
        let (status, body) = app.post(&path, &acct.token, json!({"email": "ada@example.com", "consent": {"purpose": "marketing_email", "status": "granted", "method": "form"}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "consent.source", "{body}");

        // The contact, the membership and the record were written together or not at all.
        let (_, contacts) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(contacts["data"], json!([]));
        let (_, members) = app.get(&path, &acct.token).await;
        assert_eq!(members["data"], json!([]));
    }

    async fn the_sender_finds_who_granted_a_purpose_in_batches(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let mut contacts = Vec::new();
        for name in ["granted", "withdrawn", "regranted", "list_only", "never", "tracking_only"] {
            contacts.push(app.contact(&acct.token, &format!("{name}@example.com")).await);
        }
        let (granted, withdrawn, regranted, list_only, _never, tracking_only) =
            (&contacts[0], &contacts[1], &contacts[2], &contacts[3], &contacts[4], &contacts[5]);
        append(&app, &acct.token, granted, consent("marketing_email", "granted")).await;
        append(&app, &acct.token, withdrawn, consent("marketing_email", "granted")).await;
        append(&app, &acct.token, withdrawn, consent("marketing_email", "withdrawn")).await;
        append(&app, &acct.token, regranted, consent("marketing_email", "withdrawn")).await;
        append(&app, &acct.token, regranted, consent("marketing_email", "granted")).await;
        let mut scoped = consent("marketing_email", "granted");
        scoped["list_id"] = json!(list);
        append(&app, &acct.token, list_only, scoped).await;
        append(&app, &acct.token, granted, {
            let mut unsubscribe = consent("marketing_email", "withdrawn");
            unsubscribe["list_id"] = json!(list);
            unsubscribe
        }).await;
        append(&app, &acct.token, tracking_only, consent("tracking", "granted")).await;

        let account: Id = acct.id.parse().unwrap();
        let ids: Vec<Id> = contacts.iter().map(|c| c.parse().unwrap()).collect();
        let expected: HashSet<Id> = [granted, regranted].iter().map(|c| c.parse().unwrap()).collect();
        let (marketing, tracking, elsewhere) = with_db(&app, move |conn| {
            (
                ConsentRecord::granted_contacts(conn, account, &ids, purposes::MARKETING_EMAIL).unwrap(),
                ConsentRecord::granted_contacts(conn, account, &ids, purposes::TRACKING).unwrap(),
                ConsentRecord::granted_contacts(conn, Id::new(), &ids, purposes::MARKETING_EMAIL).unwrap(),
            )
        }).await;
        assert_eq!(marketing, expected);
        assert_eq!(tracking, HashSet::from([tracking_only.parse().unwrap()]));
        assert!(elsewhere.is_empty(), "another account's ids grant nothing");
    }
}
