//! Accounts are walled off from each other: another account's ids name nothing, its
//! filters find nothing, and nothing it tries changes the owner's data.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// Account A with a defined property, a contact carrying it, and a list holding the contact.
struct Owner {
    acct: TestAccount,
    contact: String,
    email: String,
    list: String,
}

impl Owner {
    async fn create(app: &TestApp) -> Owner {
        let acct = app.create_account("Owner").await;
        let (status, body) = app
            .post(
                "/v1/contact-properties",
                &acct.token,
                json!({"name": "plan", "type": "string"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let email = "ada@example.com".to_owned();
        let (status, body) = app
            .post(
                "/v1/contacts",
                &acct.token,
                json!({"email": email, "name": "Ada", "properties": {"plan": "pro"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let contact = body["id"].as_str().unwrap().to_owned();
        let list = app.list(&acct.token, "Owner's list").await;
        let (status, body) = app
            .post(
                &format!("/v1/lists/{list}/members"),
                &acct.token,
                json!({"contact_id": contact}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Owner {
            acct,
            contact,
            email,
            list,
        }
    }

    /// Everything the owner can read about its data, to compare before and after.
    async fn snapshot(&self, app: &TestApp) -> Value {
        let token = &self.acct.token;
        let (contact, list, key) = (&self.contact, &self.list, &self.acct.key_id);
        let mut snapshot = serde_json::Map::new();
        for path in [
            format!("/v1/contacts/{contact}"),
            "/v1/contacts".to_owned(),
            format!("/v1/lists/{list}"),
            "/v1/lists".to_owned(),
            format!("/v1/lists/{list}/members"),
            format!("/v1/lists/{list}/members/{contact}"),
            format!("/v1/api-keys/{key}"),
            "/v1/api-keys".to_owned(),
            "/v1/contact-properties".to_owned(),
        ] {
            let (status, body) = app.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            snapshot.insert(path, body);
        }
        for format in ["csv", "ndjson"] {
            let path = format!("/v1/lists/{list}/export?format={format}");
            let res = app
                .client
                .get(app.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            snapshot.insert(path, Value::String(res.text().await.unwrap()));
        }
        Value::Object(snapshot)
    }
}

fn assert_not_found((status, body): (StatusCode, Value), what: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
}

on_both_backends! {
    async fn another_account_cannot_read_change_or_delete_a_contact(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        let before = a.snapshot(&app).await;
        let path = format!("/v1/contacts/{}", a.contact);

        assert_not_found(app.get(&path, &b.token).await, "GET contact");
        assert_not_found(app.patch(&path, &b.token, json!({"name": "Mallory"})).await, "PATCH contact");
        assert_not_found(app.patch(&path, &b.token, json!({"email": "mallory@example.com"})).await, "PATCH contact email");
        assert_not_found(app.delete(&path, &b.token).await, "DELETE contact");

        assert_eq!(a.snapshot(&app).await, before);
    }

    async fn another_account_cannot_read_change_or_delete_a_list(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        let before = a.snapshot(&app).await;
        let path = format!("/v1/lists/{}", a.list);

        assert_not_found(app.get(&path, &b.token).await, "GET list");
        assert_not_found(app.patch(&path, &b.token, json!({"name": "Hijacked", "double_opt_in": true})).await, "PATCH list");
        assert_not_found(app.delete(&path, &b.token).await, "DELETE list");
        let (status, lists) = app.get("/v1/lists", &b.token).await;
        assert_eq!(status, StatusCode::OK, "{lists}");
        assert_eq!(lists["data"], json!([]), "B's lists hold none of A's");

        assert_eq!(a.snapshot(&app).await, before);
    }

    async fn another_account_cannot_read_add_or_remove_members_of_a_list(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        let b_contact = app.contact(&b.token, "bob@example.com").await;
        let before = a.snapshot(&app).await;
        let members = format!("/v1/lists/{}/members", a.list);
        let member = format!("{members}/{}", a.contact);

        assert_not_found(app.get(&members, &b.token).await, "GET members");
        assert_not_found(app.get(&format!("{members}?status=subscribed"), &b.token).await, "GET members by status");
        assert_not_found(app.get(&member, &b.token).await, "GET member");
        assert_not_found(app.post(&members, &b.token, json!({"contact_id": b_contact})).await, "POST own contact to A's list");
        assert_not_found(app.post(&members, &b.token, json!({"contact_id": a.contact})).await, "POST A's contact to A's list");
        assert_not_found(app.post(&members, &b.token, json!({"email": "eve@example.com"})).await, "POST email to A's list");
        assert_not_found(app.delete(&member, &b.token).await, "DELETE member");

        let (_, b_contacts) = app.get("/v1/contacts", &b.token).await;
        assert_eq!(b_contacts["data"].as_array().unwrap().len(), 1, "the refused add by email created no contact in B");
        assert_eq!(a.snapshot(&app).await, before);
    }

    async fn another_account_cannot_export_a_list(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        for query in ["", "?format=csv", "?format=ndjson"] {
            let path = format!("/v1/lists/{}/export{query}", a.list);
            let res = app.client.get(app.url(&path)).bearer_auth(&b.token).send().await.unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert!(!text.contains(&a.email), "{path} leaked a member: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        }
    }

    async fn another_account_cannot_read_or_revoke_an_api_key(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        let before = a.snapshot(&app).await;
        let path = format!("/v1/api-keys/{}", a.acct.key_id);

        assert_not_found(app.get(&path, &b.token).await, "GET api key");
        assert_not_found(app.delete(&path, &b.token).await, "DELETE api key");
        let (status, keys) = app.get("/v1/api-keys", &b.token).await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        let ids: Vec<&str> = keys["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [b.key_id.as_str()], "B sees only its own key");

        assert_eq!(a.snapshot(&app).await, before, "A's key still works and is unchanged");
        let token = app.token_for(&a.acct.key_id, &a.acct.secret).await;
        let (status, _) = app.get("/v1/lists", &token).await;
        assert_eq!(status, StatusCode::OK, "A's key still mints working tokens");
    }

    async fn another_accounts_contact_filters_find_nothing_of_the_owner(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;

        let (status, body) = app.get(&format!("/v1/contacts?email={}", a.email), &b.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"data": [], "next_cursor": null}));
        let (status, body) = app.get(&format!("/v1/contacts?list_id={}", a.list), &b.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"data": [], "next_cursor": null}));
        let (status, body) = app.get("/v1/contacts", &b.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([]));
    }

    async fn another_account_cannot_add_the_owners_contact_to_its_own_list(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Intruder").await;
        let b_list = app.list(&b.token, "Intruder's list").await;
        let before = a.snapshot(&app).await;
        let b_members = format!("/v1/lists/{b_list}/members");

        assert_not_found(app.post(&b_members, &b.token, json!({"contact_id": a.contact})).await, "POST A's contact to B's list");
        assert_not_found(app.get(&format!("{b_members}/{}", a.contact), &b.token).await, "GET A's contact on B's list");
        let (_, members) = app.get(&b_members, &b.token).await;
        assert_eq!(members["data"], json!([]));

        let (status, own) = app.post(&b_members, &b.token, json!({"email": a.email})).await;
        assert_eq!(status, StatusCode::CREATED, "the address is new to B: {own}");
        assert_ne!(own["contact_id"], a.contact.as_str(), "B gets a contact of its own");
        assert_eq!(own["name"], Value::Null, "nothing of A's contact shows through");
        assert_eq!(own["properties"], json!({}));

        assert_eq!(a.snapshot(&app).await, before);
    }

    async fn the_same_email_can_be_a_contact_in_two_accounts(app) {
        let a = app.create_account("A").await;
        let b = app.create_account("B").await;
        let (status, in_a) = app.post("/v1/contacts", &a.token, json!({"email": "ada@example.com", "name": "Ada A"})).await;
        assert_eq!(status, StatusCode::CREATED, "{in_a}");
        let (status, in_b) = app.post("/v1/contacts", &b.token, json!({"email": "ada@example.com", "name": "Ada B"})).await;
        assert_eq!(status, StatusCode::CREATED, "{in_b}");
        assert_ne!(in_a["id"], in_b["id"]);

        for (acct, own) in [(&a, &in_a), (&b, &in_b)] {
            let (status, found) = app.get("/v1/contacts?email=ada@example.com", &acct.token).await;
            assert_eq!(status, StatusCode::OK, "{found}");
            assert_eq!(found["data"], json!([own]), "each account sees its own contact only");
        }
        let (status, body) = app.post("/v1/contacts", &a.token, json!({"email": "ada@example.com"})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
    }

    async fn contact_property_definitions_belong_to_one_account(app) {
        let a = Owner::create(&app).await;
        let b = app.create_account("Other").await;

        let (status, body) = app.get("/v1/contact-properties", &b.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([]));

        let (status, body) = app.post("/v1/contacts", &b.token, json!({"email": "bob@example.com", "properties": {"plan": "pro"}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "properties.plan", "{body}");
        let b_list = app.list(&b.token, "B's list").await;
        let (status, body) = app
            .post(&format!("/v1/lists/{b_list}/members"), &b.token, json!({"email": "bob@example.com", "properties": {"plan": "pro"}}))
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "properties.plan", "{body}");

        let (status, body) = app.post("/v1/contact-properties", &b.token, json!({"name": "plan", "type": "number"})).await;
        assert_eq!(status, StatusCode::CREATED, "B may define the same name with its own type: {body}");
        let (status, body) = app.post("/v1/contacts", &b.token, json!({"email": "bob@example.com", "properties": {"plan": 3}})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let (_, a_props) = app.get("/v1/contact-properties", &a.acct.token).await;
        assert_eq!(a_props["data"].as_array().unwrap().len(), 1);
        assert_eq!(a_props["data"][0]["type"], "string", "A's definition is untouched");
        let (status, body) = app.patch(&format!("/v1/contacts/{}", a.contact), &a.acct.token, json!({"properties": {"plan": 3}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

        let (status, body) = app.delete("/v1/contact-properties/plan", &b.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, a_contact) = app.get(&format!("/v1/contacts/{}", a.contact), &a.acct.token).await;
        assert_eq!(a_contact["properties"], json!({"plan": "pro"}), "B deleting its definition leaves A's values");
    }
}
