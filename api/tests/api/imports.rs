//! List imports: a CSV uploaded to a list becomes contacts and members (with consent
//! records when the upload carries evidence), bad rows are rejected one by one without
//! their values ever being echoed, suppressed and erased people stay out, and each
//! account sees only its own imports.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use mailroom_domain::Id;
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::imports::{RunOutcome, run_import};
use mailroom_domain::store::{DatabaseUrl, PoolOptions, build_pool};
use mailroom_domain::suppressions::{HashKey, Suppression, SuppressionReason};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, wait_for_status};
use crate::helpers::*;
use crate::on_both_backends;
use crate::rabbitmq::{TestVhost, WorkerProcess};
use crate::suppressions::{scoped_token, with_db};

/// Uploads `csv` to a list's imports; answers the status and the parsed body.
async fn upload(
    app: &TestApp,
    token: &str,
    list: &str,
    query: &str,
    csv: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    upload_as(app, token, list, query, "text/csv", csv).await
}

async fn upload_as(
    app: &TestApp,
    token: &str,
    list: &str,
    query: &str,
    content_type: &str,
    csv: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/v1/lists/{list}/imports{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls an import until it is completed or failed.
async fn wait_for_import(app: &TestApp, token: &str, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, import) = app.get(&format!("/v1/imports/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{import}");
        if import["status"] == "completed" || import["status"] == "failed" {
            return import;
        }
        assert!(
            Instant::now() < deadline,
            "the import did not finish: {import}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Uploads and waits for the import to finish; answers the finished import.
pub async fn import(app: &TestApp, token: &str, list: &str, query: &str, csv: &str) -> Value {
    let (status, queued) = upload(app, token, list, query, csv.to_owned()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let done = wait_for_import(
        app,
        token,
        queued["id"].as_str().unwrap(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    done
}

async fn property(app: &TestApp, token: &str, name: &str, ty: &str) {
    let (status, body) = app
        .post(
            "/v1/contact-properties",
            token,
            json!({"name": name, "type": ty}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The list's members by address.
async fn members(app: &TestApp, token: &str, list: &str) -> Vec<Value> {
    let mut all = app
        .all_pages(token, &format!("/v1/lists/{list}/members"), 500)
        .await;
    all.sort_by_key(|m| m["email"].as_str().unwrap().to_owned());
    all
}

async fn contact_by_email(app: &TestApp, token: &str, email: &str) -> Option<Value> {
    let (status, body) = app.get(&format!("/v1/contacts?email={email}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().first().cloned()
}

fn progress(import: &Value) -> [i64; 7] {
    let p = &import["progress"];
    [
        "rows_read",
        "created",
        "updated",
        "duplicates",
        "skipped_suppressed",
        "skipped_erased",
        "rejected",
    ]
    .map(|k| {
        p[k].as_i64()
            .unwrap_or_else(|| panic!("progress.{k}: {import}"))
    })
}

/// Suppresses an address as erasure does: through the domain, as no endpoint can.
async fn erase(app: &TestApp, acct: &TestAccount, address: &'static str) {
    let account: Id = acct.id.parse().unwrap();
    with_db(app, move |conn| {
        Suppression::add(
            conn,
            account,
            &HashKey::new(&SecretString::from("test-hash-key")),
            &EmailAddress::parse(address).unwrap(),
            SuppressionReason::Erasure,
            None,
        )
        .unwrap();
    })
    .await;
}

async fn count(app: &TestApp, sql: String) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    with_db(app, move |conn| {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    })
    .await
}

on_both_backends! {
    async fn columns_map_by_header_and_unknown_columns_are_reported(app) {
        let acct = app.create_account("Acme").await;
        property(&app, &acct.token, "plan", "string").await;
        property(&app, &acct.token, "seats", "number").await;
        property(&app, &acct.token, "vip", "boolean").await;
        let list = app.list(&acct.token, "News").await;
        let csv = "\u{feff}Email,Full Name,NAME,Plan,seats,vip,favourite colour\r\n\
                   Ada@Example.com,x,Ada Lovelace,pro,12,true,green\r\n\
                   grace@example.com,y,\"Hopper, Grace\",,3,FALSE,\r\n\
                   alan@example.com,z,,free,,,blue\r\n";

        let (status, queued) = upload(&app, &acct.token, &list, "", csv).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert!(["queued", "running", "completed"].contains(&queued["status"].as_str().unwrap()), "{queued}");
        assert_eq!(queued["list_id"], list.as_str());
        assert_eq!(queued["columns"], json!(["email", "name", "plan", "seats", "vip"]));
        assert_eq!(queued["ignored_columns"], json!(["Full Name", "favourite colour"]));
        assert_eq!(queued["consent"], Value::Null);
        assert_eq!(queued["size_bytes"], csv.len());
        let id = queued["id"].as_str().unwrap();

        let done = wait_for_import(&app, &acct.token, id, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(progress(&done), [3, 3, 0, 0, 0, 0, 0], "{done}");
        assert_eq!(done["rejections"], json!([]));
        assert!(done["started_at"].is_string() && done["completed_at"].is_string(), "{done}");
        assert_eq!(done["ignored_columns"], json!(["Full Name", "favourite colour"]));

        let members = members(&app, &acct.token, &list).await;
        let view: Vec<Value> = members.iter().map(|m| json!([m["email"], m["name"], m["status"], m["properties"]])).collect();
        assert_eq!(view, [
            json!(["ada@example.com", "Ada Lovelace", "subscribed", {"plan": "pro", "seats": 12, "vip": true}]),
            json!(["alan@example.com", null, "subscribed", {"plan": "free"}]),
            json!(["grace@example.com", "Hopper, Grace", "subscribed", {"seats": 3, "vip": false}]),
        ]);
        // The file is personal data: gone once the import is done.
        assert_eq!(count(&app, format!("SELECT count(*) AS n FROM import_chunks WHERE import_id = '{id}'")).await, 0);
    }

    async fn consent_evidence_is_recorded_for_every_row_and_campaigns_reach_them(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let done = import(&app, &acct.token, &list, "?source=Spring%20fair%20sign-up%20sheet&policy_version=v3",
            "email,name\nada@example.com,Ada\ngrace@example.com,Grace\n").await;
        assert_eq!(done["consent"], json!({"source": "Spring fair sign-up sheet", "policy_version": "v3"}));
        assert_eq!(progress(&done), [2, 2, 0, 0, 0, 0, 0]);

        let ada = contact_by_email(&app, &acct.token, "ada@example.com").await.unwrap();
        assert_eq!(ada["consents"]["marketing_email"]["status"], "granted", "{ada}");
        let (_, ledger) = app.get(&format!("/v1/contacts/{}/consents", ada["id"].as_str().unwrap()), &acct.token).await;
        let records = ledger["data"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{ledger}");
        let record = &records[0];
        assert_eq!(record["purpose"], "marketing_email");
        assert_eq!(record["status"], "granted");
        assert_eq!(record["method"], "import");
        assert_eq!(record["source"], "Spring fair sign-up sheet");
        assert_eq!(record["policy_version"], "v3");
        assert_eq!(record["list_id"], Value::Null, "account-wide, so campaigns may mail them");
        assert_eq!(record["evidence"], json!({"import_id": done["id"], "row": 2}), "{record}");

        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        let (status, body) = app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let sent = wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(sent["progress"]["recipients"], 2, "{sent}");
    }

    async fn without_evidence_rows_become_members_without_marketing_consent(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        crate::campaigns::subscriber(&app, &acct.token, &list, "consenting@example.com", "C").await;
        let done = import(&app, &acct.token, &list, "", "email\nada@example.com\ngrace@example.com\n").await;
        assert_eq!(done["consent"], Value::Null);
        assert_eq!(progress(&done), [2, 2, 0, 0, 0, 0, 0]);
        let statuses: Vec<Value> = members(&app, &acct.token, &list).await.iter().map(|m| m["status"].clone()).collect();
        assert_eq!(statuses, ["subscribed"; 3]);
        let ada = contact_by_email(&app, &acct.token, "ada@example.com").await.unwrap();
        assert_eq!(ada["consents"], json!({}), "{ada}");

        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        let sent = wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(sent["progress"]["recipients"], 1, "only the member with consent: {sent}");
    }

    async fn duplicate_addresses_are_merged_later_non_empty_fields_winning(app) {
        let acct = app.create_account("Acme").await;
        property(&app, &acct.token, "plan", "string").await;
        property(&app, &acct.token, "city", "string").await;
        let list = app.list(&acct.token, "News").await;
        let done = import(&app, &acct.token, &list, "?source=crm",
            "email,name,plan,city\n\
             ada@example.com,Ada,free,London\n\
             grace@example.com,Grace,,\n\
             ADA@example.com ,,pro,\n\
             ada@EXAMPLE.com,Augusta Ada,,\n").await;
        assert_eq!(progress(&done), [4, 2, 0, 2, 0, 0, 0], "{done}");
        let ada = contact_by_email(&app, &acct.token, "ada@example.com").await.unwrap();
        assert_eq!(ada["name"], "Augusta Ada");
        assert_eq!(ada["properties"], json!({"plan": "pro", "city": "London"}));
        let (_, ledger) = app.get(&format!("/v1/contacts/{}/consents", ada["id"].as_str().unwrap()), &acct.token).await;
        assert_eq!(ledger["data"].as_array().unwrap().len(), 1, "one consent record per person: {ledger}");
        assert_eq!(ledger["data"][0]["evidence"]["row"], 2, "the row the person first appears on");
        assert_eq!(members(&app, &acct.token, &list).await.len(), 2);
    }

    async fn bad_rows_are_rejected_with_their_row_and_the_value_is_never_echoed(app) {
        let acct = app.create_account("Acme").await;
        property(&app, &acct.token, "notes", "string").await;
        property(&app, &acct.token, "seats", "number").await;
        let list = app.list(&acct.token, "News").await;
        let csv = "email,name,notes,seats\n\
                   ada@example.com,Ada,likes maths,1\n\
                   not-an-address,Bob,,\n\
                   carol@example.com,Carol,card 4111 1111 1111 1111,\n\
                   dan@example.com,123-45-6789,,\n\
                   erin@example.com,Erin,,lots\n\
                   frank@example.com,Frank,,,surplus\n\
                   ,Nobody,,\n\
                   grace@example.com,Grace,,2\n";
        let done = import(&app, &acct.token, &list, "", csv).await;
        assert_eq!(progress(&done), [8, 2, 0, 0, 0, 0, 6], "{done}");
        assert_eq!(done["rejections"], json!([
            {"row": 3, "reason": "email is not a valid email address: missing @"},
            {"row": 4, "reason": "notes looks like a payment card and was not stored"},
            {"row": 5, "reason": "name looks like a national id and was not stored"},
            {"row": 6, "reason": "seats must be a number"},
            {"row": 7, "reason": "the row has 5 fields but the header has 4"},
            {"row": 8, "reason": "email is not a valid email address: it is empty"},
        ]));
        let text = done.to_string();
        for secret in ["4111", "123-45-6789", "not-an-address", "lots"] {
            assert!(!text.contains(secret), "{secret} echoed: {text}");
        }
        let emails: Vec<Value> = members(&app, &acct.token, &list).await.iter().map(|m| m["email"].clone()).collect();
        assert_eq!(emails, ["ada@example.com", "grace@example.com"]);
        assert!(contact_by_email(&app, &acct.token, "carol@example.com").await.is_none());
    }

    async fn suppressed_and_erased_addresses_are_skipped_and_an_erased_one_never_returns(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (status, body) = app.post("/v1/suppressions", &acct.token, json!({"email": "bounced@example.com", "reason": "hard_bounce"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        erase(&app, &acct, "erased@example.com").await;
        let csv = "email,name\nada@example.com,Ada\nBounced@example.com,B\nerased@example.com,Erased Person\nERASED@example.com,Again\n";
        let done = import(&app, &acct.token, &list, "?source=crm", csv).await;
        assert_eq!(progress(&done), [4, 1, 0, 1, 1, 1, 0], "{done}");
        assert!(contact_by_email(&app, &acct.token, "bounced@example.com").await.is_none());
        assert!(contact_by_email(&app, &acct.token, "erased@example.com").await.is_none());
        assert_eq!(members(&app, &acct.token, &list).await.len(), 1);

        // Re-importing the erased person, even with consent evidence, brings nothing back.
        let done = import(&app, &acct.token, &list, "?source=new%20crm&policy_version=v9", "email\nerased@example.com\n").await;
        assert_eq!(progress(&done), [1, 0, 0, 0, 0, 1, 0], "{done}");
        assert!(contact_by_email(&app, &acct.token, "erased@example.com").await.is_none());
        let text = done.to_string();
        assert!(!text.contains("erased@"), "{text}");
    }

    async fn existing_contacts_are_updated_and_unsubscribed_members_need_evidence(app) {
        let acct = app.create_account("Acme").await;
        property(&app, &acct.token, "plan", "string").await;
        property(&app, &acct.token, "city", "string").await;
        let list = app.list(&acct.token, "News").await;
        let (status, ada) = app.post("/v1/contacts", &acct.token, json!({"email": "ada@example.com", "name": "Ada", "properties": {"plan": "free", "city": "London"}})).await;
        assert_eq!(status, StatusCode::CREATED, "{ada}");
        let (status, gone) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "gone@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "{gone}");
        let (list_id, gone_id): (Id, Id) = (list.parse().unwrap(), gone["contact_id"].as_str().unwrap().parse().unwrap());
        with_db(&app, move |conn| {
            use mailroom_domain::schema::list_members;
            diesel::update(list_members::table.find((list_id, gone_id)))
                .set(list_members::status.eq("unsubscribed"))
                .execute(conn)
                .unwrap();
        }).await;

        let done = import(&app, &acct.token, &list, "", "email,name,plan\nada@example.com,,pro\ngone@example.com,Gone,\n").await;
        assert_eq!(progress(&done), [2, 0, 2, 0, 0, 0, 0], "{done}");
        let members_now = members(&app, &acct.token, &list).await;
        let view: Vec<Value> = members_now.iter().map(|m| json!([m["email"], m["name"], m["status"], m["properties"]])).collect();
        assert_eq!(view, [
            json!(["ada@example.com", "Ada", "subscribed", {"plan": "pro", "city": "London"}]),
            json!(["gone@example.com", "Gone", "unsubscribed", {}]),
        ], "an import without evidence does not undo an unsubscribe");

        let done = import(&app, &acct.token, &list, "?source=renewed%20consent%20form", "email\ngone@example.com\n").await;
        assert_eq!(progress(&done), [1, 0, 1, 0, 0, 0, 0], "{done}");
        let gone = members(&app, &acct.token, &list).await.into_iter().find(|m| m["email"] == "gone@example.com").unwrap();
        assert_eq!(gone["status"], "subscribed", "fresh evidence subscribes them again: {gone}");
    }

    async fn a_double_opt_in_list_gets_pending_members_and_confirmation_emails(app) {
        let acct = app.create_account("Acme").await;
        let (status, list) = app.post("/v1/lists", &acct.token, json!({"name": "Confirmed", "double_opt_in": true})).await;
        assert_eq!(status, StatusCode::CREATED, "{list}");
        let list = list["id"].as_str().unwrap().to_owned();
        let done = import(&app, &acct.token, &list, "?source=crm", "email,name\nada@example.com,Ada\ngrace@example.com,Grace\n").await;
        assert_eq!(progress(&done), [2, 2, 0, 0, 0, 0, 0], "{done}");
        let statuses: Vec<Value> = members(&app, &acct.token, &list).await.iter().map(|m| m["status"].clone()).collect();
        assert_eq!(statuses, ["pending", "pending"]);
        let mut to: Vec<String> = crate::campaigns::wait_for_sandbox(&app, &acct.token, 2).await
            .iter().map(|m| m["to"].as_str().unwrap().to_owned()).collect();
        to.sort();
        assert_eq!(to, ["ada@example.com", "grace@example.com"]);
    }

    async fn the_upload_is_checked_before_anything_is_queued(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (status, body) = upload_as(&app, &acct.token, &list, "", "application/json", "{\"email\": \"a@example.com\"}").await;
        assert_problem(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let (status, body) = upload(&app, &acct.token, &list, "", "").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "body");
        let (status, body) = upload(&app, &acct.token, &list, "", "name,plan\nAda,pro\n").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(body["detail"].as_str().unwrap().contains("`email`"), "{body}");
        let (status, body) = upload(&app, &acct.token, &list, "", "email,Email\na@example.com,b@example.com\n").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = upload(&app, &acct.token, &list, "?policy_version=v1", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "policy_version");
        let (status, body) = upload(&app, &acct.token, &list, "?source=%20", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "source");
        let (status, body) = upload(&app, &acct.token, &list, "?source=card%204111%201111%201111%201111", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert!(!crate::helpers::text_without_ids(&body).contains("4111"), "{body}");
        let (status, body) = upload(&app, &acct.token, &Id::new().to_string(), "", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let lists_only = scoped_token(&app, &acct, &["lists:write", "lists:read"]).await;
        let (status, body) = upload(&app, &lists_only, &list, "", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let contacts_only = scoped_token(&app, &acct, &["contacts:write"]).await;
        let (status, body) = upload(&app, &contacts_only, &list, "", "email\na@example.com\n").await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) = app.get(&format!("/v1/lists/{list}/imports"), &contacts_only).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

        let (status, page) = app.get(&format!("/v1/lists/{list}/imports"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["data"], json!([]), "nothing was queued");
        // A header-only file is a (quick) import of nothing.
        let done = import(&app, &acct.token, &list, "", "email,name\n").await;
        assert_eq!(progress(&done), [0; 7]);
    }

    async fn imports_belong_to_one_account(app) {
        let acme = app.create_account("Acme").await;
        let globex = app.create_account("Globex").await;
        let acme_list = app.list(&acme.token, "News").await;
        let globex_list = app.list(&globex.token, "News").await;
        let first = import(&app, &acme.token, &acme_list, "", "email\nada@example.com\n").await;
        let second = import(&app, &acme.token, &acme_list, "", "email\ngrace@example.com\n").await;
        import(&app, &globex.token, &globex_list, "", "email\nada@example.com\n").await;

        let id = first["id"].as_str().unwrap();
        let (status, body) = app.get(&format!("/v1/imports/{id}"), &globex.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.get(&format!("/v1/lists/{acme_list}/imports"), &globex.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = upload(&app, &globex.token, &acme_list, "", "email\nmallory@example.com\n").await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let listed: Vec<Value> = app.all_pages(&acme.token, &format!("/v1/lists/{acme_list}/imports"), 1).await
            .iter().map(|i| i["id"].clone()).collect();
        assert_eq!(listed, [second["id"].clone(), first["id"].clone()], "newest first");
        let globex_members = members(&app, &globex.token, &globex_list).await;
        assert_eq!(globex_members.len(), 1);
        let acme_ada = contact_by_email(&app, &acme.token, "ada@example.com").await.unwrap();
        let globex_ada = contact_by_email(&app, &globex.token, "ada@example.com").await.unwrap();
        assert_ne!(acme_ada["id"], globex_ada["id"], "one contact per account");
        assert!(contact_by_email(&app, &acme.token, "mallory@example.com").await.is_none());
    }

    async fn a_large_file_with_bad_rows_mixed_in_imports_exactly(app) {
        let rows: usize = 100_000;
        let acct = app.create_account("Acme").await;
        property(&app, &acct.token, "plan", "string").await;
        property(&app, &acct.token, "seats", "number").await;
        let list = app.list(&acct.token, "Big").await;
        let (mut csv, mut expected) = (String::from("email,name,plan,seats,source system\n"), [rows as i64, 0, 0, 0, 0, 0, 0]);
        let mut bad_rows = Vec::new();
        let bad = |i: usize| i % 97 == 13 || i % 251 == 7;
        let repeats = |i: usize| !bad(i) && i % 50 == 49;
        for i in 0..rows {
            let row = i + 2;
            if i % 97 == 13 {
                writeln!(csv, "broken-{i}.example.com,Broken,free,1,crm").unwrap();
                expected[6] += 1;
                bad_rows.push(row);
            } else if i % 251 == 7 {
                writeln!(csv, "card-{i}@example.com,Card,4111-1111-1111-1111,1,crm").unwrap();
                expected[6] += 1;
                bad_rows.push(row);
            } else if repeats(i) {
                // Repeats the address of a plain row up to 4,999 rows back (across batches).
                let mut earlier = i.saturating_sub(4999);
                while bad(earlier) || repeats(earlier) {
                    earlier -= 1;
                }
                writeln!(csv, "person-{earlier}@example.com,,late,{i},crm").unwrap();
                expected[3] += 1;
            } else {
                writeln!(csv, "Person-{i}@Example.com,Person {i},early,{i},crm").unwrap();
                expected[1] += 1;
            }
        }
        let (status, queued) = upload(&app, &acct.token, &list, "?source=legacy%20crm", csv).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        let done = wait_for_import(&app, &acct.token, queued["id"].as_str().unwrap(), Duration::from_secs(600)).await;
        assert_eq!(done["status"], "completed", "{}", done["error"]);
        assert_eq!(progress(&done), expected, "{}", done["progress"]);
        let rejected: Vec<usize> = done["rejections"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap() as usize).collect();
        assert_eq!(rejected, bad_rows.iter().copied().take(1000).collect::<Vec<_>>());
        assert!(!crate::helpers::text_without_ids(&done).contains("4111"));

        let account = &acct.id;
        let created = expected[1];
        assert_eq!(count(&app, format!("SELECT count(*) AS n FROM list_members WHERE list_id = '{list}'")).await, created);
        assert_eq!(count(&app, format!("SELECT count(*) AS n FROM contacts WHERE account_id = '{account}'")).await, created);
        assert_eq!(count(&app, format!("SELECT count(*) AS n FROM consents WHERE account_id = '{account}' AND method = 'import'")).await, created);
        // A repeated address took the later row's non-empty fields.
        let merged = contact_by_email(&app, &acct.token, "person-0@example.com").await.unwrap();
        assert_eq!(merged["properties"], json!({"plan": "late", "seats": 4999}), "{merged}");
        assert_eq!(merged["name"], "Person 0");
    }
}

/// A run that stops part-way (its time slice, a crash, a second worker on the same
/// import) is carried on by the next without writing anything twice.
#[tokio::test]
async fn an_interrupted_import_resumes_without_writing_anything_twice() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn_with(backend, |vars| {
            vars.insert("MAILROOM_EMBEDDED_WORKERS".into(), "false".into());
        })
        .await;
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let mut csv = String::from("email,name\n");
        for i in 0..5_000 {
            writeln!(csv, "person-{i}@example.com,Person {i}").unwrap();
        }
        // Row 5,002 repeats row 12's address, runs and batches later.
        csv.push_str("person-10@example.com,Ten Again\nnot-an-address,X\n");
        let (status, queued) = upload(&app, &acct.token, &list, "?source=crm", csv).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        let import_id: Id = queued["id"].as_str().unwrap().parse().unwrap();

        let url: DatabaseUrl = app.database_url();
        let outcomes = tokio::task::spawn_blocking(move || {
            let pool = build_pool(&url, &PoolOptions::default());
            let key = HashKey::new(&SecretString::from("test-hash-key"));
            let mut outcomes = Vec::new();
            // A zero time slice: each run writes one batch and hands over.
            outcomes.push(run_import(&pool, &key, import_id, Duration::ZERO).unwrap());
            // Two runs at once, as when a job is redelivered while its first run goes on.
            let (a, b) = std::thread::scope(|s| {
                let a = s.spawn(|| run_import(&pool, &key, import_id, Duration::ZERO).unwrap());
                let b = s.spawn(|| run_import(&pool, &key, import_id, Duration::ZERO).unwrap());
                (a.join().unwrap(), b.join().unwrap())
            });
            outcomes.extend([a, b]);
            loop {
                let outcome = run_import(&pool, &key, import_id, Duration::ZERO).unwrap();
                outcomes.push(outcome);
                if matches!(outcome, RunOutcome::Finished(_)) {
                    break;
                }
            }
            // A late redelivery after the end changes nothing.
            outcomes.push(run_import(&pool, &key, import_id, Duration::ZERO).unwrap());
            outcomes
        })
        .await
        .unwrap();
        assert!(outcomes.contains(&RunOutcome::Continued), "{outcomes:?}");
        assert_eq!(
            outcomes.last(),
            Some(&RunOutcome::Finished(
                mailroom_domain::imports::ImportStatus::Completed
            ))
        );

        let (_, done) = app
            .get(&format!("/v1/imports/{import_id}"), &acct.token)
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(progress(&done), [5_002, 5_000, 0, 1, 0, 0, 1], "{done}");
        assert_eq!(
            done["rejections"],
            json!([{"row": 5003, "reason": "email is not a valid email address: missing @"}])
        );
        let account = &acct.id;
        assert_eq!(
            count(
                &app,
                format!("SELECT count(*) AS n FROM contacts WHERE account_id = '{account}'")
            )
            .await,
            5_000
        );
        assert_eq!(
            count(
                &app,
                format!("SELECT count(*) AS n FROM consents WHERE account_id = '{account}'")
            )
            .await,
            5_000
        );
        let ten = contact_by_email(&app, &acct.token, "person-10@example.com")
            .await
            .unwrap();
        assert_eq!(ten["name"], "Ten Again");
    }
}

#[tokio::test]
async fn a_file_over_the_import_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(Backend::Sqlite, |vars| {
        vars.insert("MAILROOM_IMPORT_LIMIT_BYTES".into(), "2000".into());
    })
    .await;
    let acct = app.create_account("Acme").await;
    let list = app.list(&acct.token, "News").await;
    let mut csv = String::from("email\n");
    while csv.len() <= 2000 {
        csv.push_str("someone@example.com\n");
    }
    let (status, body) = upload(&app, &acct.token, &list, "", csv).await;
    assert_problem(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // The JSON limit (1 MiB) does not apply to imports, nor this one to JSON.
    let (status, _) = upload(&app, &acct.token, &list, "", "email\nada@example.com\n").await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// Scaled out, the API stores the file and publishes the job; a `mailroom-jobs` process
/// (which consumes `list.import`) on what could be another host runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_an_import_runs_in_a_jobs_process() {
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
    let acct = app.create_account("Acme").await;
    let list = app.list(&acct.token, "News").await;
    let (status, queued) = upload(
        &app,
        &acct.token,
        &list,
        "?source=crm",
        "email,name\nada@example.com,Ada\nnobody\ngrace@example.com,Grace\n",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, waiting) = app.get(&format!("/v1/imports/{id}"), &acct.token).await;
    assert_eq!(
        waiting["status"], "queued",
        "the API runs no workers: {waiting}"
    );

    let jobs = WorkerProcess::start("mailroom-jobs", &worker_vars);
    let done = wait_for_import(&app, &acct.token, id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}\n{}", jobs.output());
    assert_eq!(progress(&done), [3, 2, 0, 0, 0, 0, 1], "{done}");
    assert_eq!(members(&app, &acct.token, &list).await.len(), 2);
    assert_eq!(
        count(
            &app,
            format!("SELECT count(*) AS n FROM import_chunks WHERE import_id = '{id}'")
        )
        .await,
        0
    );
}
