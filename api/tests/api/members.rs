//! List members: adding by contact or by address, listing, showing, removing, and what
//! happens to memberships when a list or a contact goes away.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// The contacts of the account with this address.
async fn contacts_with_email(app: &TestApp, token: &str, email: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/contacts?email={email}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Every `field` of a paged collection, following `next_cursor` with pages of `limit`.
async fn collect(app: &TestApp, token: &str, path: &str, limit: usize, field: &str) -> Vec<String> {
    let items = app.all_pages(token, path, limit).await;
    items
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// Sends every body to `path` as a POST, `concurrency` at a time; answers each status with
/// its body, in completion order.
async fn post_concurrently(
    app: &TestApp,
    token: &str,
    path: &str,
    bodies: Vec<Value>,
    concurrency: usize,
) -> Vec<(StatusCode, String)> {
    let url = app.url(path);
    futures_util::stream::iter(bodies)
        .map(|body| {
            let request = app.client.post(&url).bearer_auth(token).json(&body);
            async move {
                let res = request.send().await.unwrap();
                (res.status(), res.text().await.unwrap())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

on_both_backends! {
    async fn a_contact_added_by_id_becomes_a_subscribed_member(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;

        let (status, member) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": contact})).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert_eq!(member["list_id"], list.as_str());
        assert_eq!(member["contact_id"], contact.as_str());
        assert_eq!(member["email"], "ada@example.com");
        assert_eq!(member["status"], "subscribed");
        assert!(member["subscribed_at"].is_string(), "{member}");
        assert_eq!(member["unsubscribed_at"], Value::Null);
        assert_eq!(member["properties"], json!({}));
    }

    async fn adding_a_member_again_answers_the_membership_unchanged(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");

        let (status, first) = app.post(&path, &acct.token, json!({"contact_id": contact})).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, second) = app.post(&path, &acct.token, json!({"contact_id": contact})).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second, first);

        let (_, members) = app.get(&path, &acct.token).await;
        assert_eq!(members["data"].as_array().unwrap().len(), 1);
    }

    async fn a_member_added_by_email_creates_the_contact_once(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");

        let (status, member) = app.post(&path, &acct.token, json!({"email": " New@Example.COM ", "name": "Newt"})).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert_eq!(member["email"], "new@example.com");
        assert_eq!(member["name"], "Newt");
        assert_eq!(member["status"], "subscribed");

        let found = contacts_with_email(&app, &acct.token, "new@example.com").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["id"], member["contact_id"]);
        assert_eq!(found[0]["name"], "Newt");

        let (status, again) = app.post(&path, &acct.token, json!({"email": "new@example.com"})).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["contact_id"], member["contact_id"]);
        assert_eq!(contacts_with_email(&app, &acct.token, "new@example.com").await.len(), 1);
    }

    async fn a_member_added_by_the_email_of_an_existing_contact_reuses_it(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;

        let (status, member) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ADA@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert_eq!(member["contact_id"], contact.as_str());

        let found = contacts_with_email(&app, &acct.token, "ada@example.com").await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["id"], contact.as_str());
        let (_, all) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(all["data"].as_array().unwrap().len(), 1, "no second contact");
    }

    async fn a_member_added_by_the_email_of_an_existing_contact_is_checked_all_the_same(app) {
        let acct = app.create_account("Acme").await;
        app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;
        for (body, field) in [
            (json!({"email": "ada@example.com", "name": "Ada\u{84}"}), "name"),
            (json!({"email": "ada@example.com", "properties": {"favourite": "tea"}}), "properties.favourite"),
        ] {
            let (status, problem) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, body).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        let (_, members) = app.get(&format!("/v1/lists/{list}/members"), &acct.token).await;
        assert_eq!(members["data"], json!([]), "nothing was added");
    }

    async fn a_member_of_a_double_opt_in_list_starts_pending(app) {
        let acct = app.create_account("Acme").await;
        let (_, list) = app.post("/v1/lists", &acct.token, json!({"name": "Confirmed", "double_opt_in": true})).await;
        let list = list["id"].as_str().unwrap();
        let path = format!("/v1/lists/{list}/members");

        let (status, member) = app.post(&path, &acct.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert_eq!(member["status"], "pending");
        assert_eq!(member["subscribed_at"], Value::Null);

        let (status, again) = app.post(&path, &acct.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["status"], "pending", "adding again does not skip the confirmation");
        assert_eq!(again["subscribed_at"], Value::Null);
    }

    async fn members_can_be_filtered_by_status_and_paged(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");
        let mut subscribed = Vec::new();
        for i in 0..3 {
            let (status, m) = app.post(&path, &acct.token, json!({"email": format!("sub{i}@example.com")})).await;
            assert_eq!(status, StatusCode::CREATED, "{m}");
            subscribed.push(m["contact_id"].as_str().unwrap().to_owned());
        }
        let (status, body) = app.patch(&format!("/v1/lists/{list}"), &acct.token, json!({"double_opt_in": true})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut pending = Vec::new();
        for i in 0..2 {
            let (status, m) = app.post(&path, &acct.token, json!({"email": format!("pend{i}@example.com")})).await;
            assert_eq!(status, StatusCode::CREATED, "{m}");
            assert_eq!(m["status"], "pending");
            pending.push(m["contact_id"].as_str().unwrap().to_owned());
        }

        let everyone = collect(&app, &acct.token, &path, 2, "contact_id").await;
        assert_eq!(everyone.len(), 5);
        assert_eq!(everyone, sorted(everyone.clone()), "by contact id, each once");
        assert_eq!(sorted(everyone), sorted([subscribed.clone(), pending.clone()].concat()));

        let only_pending = collect(&app, &acct.token, &format!("{path}?status=pending"), 1, "contact_id").await;
        assert_eq!(only_pending, sorted(pending));
        let only_subscribed = collect(&app, &acct.token, &format!("{path}?status=subscribed"), 2, "contact_id").await;
        assert_eq!(only_subscribed, sorted(subscribed));
        let (status, none) = app.get(&format!("{path}?status=unsubscribed"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{none}");
        assert_eq!(none, json!({"data": [], "next_cursor": null}));

        let (status, body) = app.get(&format!("{path}?status=bogus"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.get(&format!("{path}?limit=0"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.get(&format!("{path}?cursor=garbage!"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn a_single_membership_can_be_read(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (_, added) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "name": "Ada"})).await;
        let contact = added["contact_id"].as_str().unwrap();

        let (status, got) = app.get(&format!("/v1/lists/{list}/members/{contact}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got, added);

        let stranger = app.contact(&acct.token, "stranger@example.com").await;
        let (status, body) = app.get(&format!("/v1/lists/{list}/members/{stranger}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.get(&format!("/v1/lists/{list}/members/not-an-id"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn a_removed_member_is_gone_but_the_contact_stays(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;
        let (status, _) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": contact})).await;
        assert_eq!(status, StatusCode::CREATED);
        let member = format!("/v1/lists/{list}/members/{contact}");

        let (status, body) = app.delete(&member, &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = app.get(&member, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete(&member, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (_, members) = app.get(&format!("/v1/lists/{list}/members"), &acct.token).await;
        assert_eq!(members["data"], json!([]));

        let (status, body) = app.get(&format!("/v1/contacts/{contact}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email"], "ada@example.com");
    }

    async fn a_member_is_named_by_contact_id_or_by_email_not_both_nor_neither(app) {
        let acct = app.create_account("Acme").await;
        let contact = app.contact(&acct.token, "ada@example.com").await;
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");

        let (status, body) = app.post(&path, &acct.token, json!({"contact_id": contact, "email": "ada@example.com"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.post(&path, &acct.token, json!({})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.post(&path, &acct.token, json!({"name": "Ada"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.post(&path, &acct.token, json!({"contact_id": contact, "name": "Ada"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.post(&path, &acct.token, json!({"contact_id": contact, "status": "subscribed"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

        let (_, members) = app.get(&path, &acct.token).await;
        assert_eq!(members["data"], json!([]), "no refused request added anyone");
    }

    async fn a_member_with_an_invalid_email_is_refused_naming_the_field(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        for email in ["not-an-email", "", "two@@example.com"] {
            let (status, body) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": email})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], "email", "{body}");
        }
        let (_, all) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(all["data"], json!([]));
    }

    async fn an_unknown_contact_or_list_is_not_found(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let nobody = uuid::Uuid::now_v7();
        let (status, body) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": nobody})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let contact = app.contact(&acct.token, "ada@example.com").await;
        let no_list = uuid::Uuid::now_v7();
        let (status, body) = app.post(&format!("/v1/lists/{no_list}/members"), &acct.token, json!({"contact_id": contact})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.post(&format!("/v1/lists/{no_list}/members"), &acct.token, json!({"email": "new@example.com"})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert!(contacts_with_email(&app, &acct.token, "new@example.com").await.is_empty(), "no contact for a list that does not exist");
        let (status, body) = app.get(&format!("/v1/lists/{no_list}/members"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn a_member_with_undefined_properties_is_refused_naming_each(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (status, body) = app
            .post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "properties": {"favourite": "tea"}}))
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "properties.favourite", "{body}");
        assert!(contacts_with_email(&app, &acct.token, "ada@example.com").await.is_empty(), "the contact was not created");
        let (_, members) = app.get(&format!("/v1/lists/{list}/members"), &acct.token).await;
        assert_eq!(members["data"], json!([]));
    }

    async fn a_member_with_defined_properties_carries_them(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": "note", "type": "string"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let list = app.list(&acct.token, "News").await;
        let (status, member) = app
            .post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "properties": {"note": "likes tea"}}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        assert_eq!(member["properties"], json!({"note": "likes tea"}));
        let found = contacts_with_email(&app, &acct.token, "ada@example.com").await;
        assert_eq!(found[0]["properties"], json!({"note": "likes tea"}));
    }

    async fn a_card_number_in_member_properties_is_rejected_and_nothing_is_stored(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": "note", "type": "string"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let list = app.list(&acct.token, "News").await;

        let (status, body) = app
            .post(
                &format!("/v1/lists/{list}/members"),
                &acct.token,
                json!({"email": "ada@example.com", "properties": {"note": "4111 1111 1111 1111"}}),
            )
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert_eq!(body["field"], "properties.note", "{body}");
        assert!(!crate::helpers::text_without_ids(&body).contains("4111"), "the value is never echoed: {body}");
        let (status, body) = app
            .post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "name": "4111-1111-1111-1111"}))
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert_eq!(body["field"], "name", "{body}");

        assert!(contacts_with_email(&app, &acct.token, "ada@example.com").await.is_empty(), "the contact was not created");
        let (_, members) = app.get(&format!("/v1/lists/{list}/members"), &acct.token).await;
        assert_eq!(members["data"], json!([]));
    }

    async fn contacts_filtered_by_list_are_exactly_its_members(app) {
        let acct = app.create_account("Acme").await;
        let news = app.list(&acct.token, "News").await;
        let other = app.list(&acct.token, "Other").await;
        let ada = app.contact(&acct.token, "ada@example.com").await;
        let bob = app.contact(&acct.token, "bob@example.com").await;
        let cy = app.contact(&acct.token, "cy@example.com").await;
        for contact in [&ada, &cy] {
            let (status, _) = app.post(&format!("/v1/lists/{news}/members"), &acct.token, json!({"contact_id": contact})).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, _) = app.post(&format!("/v1/lists/{other}/members"), &acct.token, json!({"contact_id": bob})).await;
        assert_eq!(status, StatusCode::CREATED);

        let in_news = collect(&app, &acct.token, &format!("/v1/contacts?list_id={news}"), 1, "id").await;
        assert_eq!(in_news, sorted(vec![ada, cy]));
        let in_other = collect(&app, &acct.token, &format!("/v1/contacts?list_id={other}"), 50, "id").await;
        assert_eq!(in_other, vec![bob]);
        let empty = app.list(&acct.token, "Empty").await;
        let (status, body) = app.get(&format!("/v1/contacts?list_id={empty}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([]));
    }

    async fn deleting_a_list_removes_its_memberships_but_keeps_the_contacts(app) {
        let acct = app.create_account("Acme").await;
        let doomed = app.list(&acct.token, "Doomed").await;
        let kept = app.list(&acct.token, "Kept").await;
        let ada = app.contact(&acct.token, "ada@example.com").await;
        for list in [&doomed, &kept] {
            let (status, _) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": ada})).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, _) = app.post(&format!("/v1/lists/{doomed}/members"), &acct.token, json!({"email": "bob@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED);

        let (status, body) = app.delete(&format!("/v1/lists/{doomed}"), &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

        let (status, body) = app.get(&format!("/v1/contacts?list_id={doomed}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([]), "no memberships outlive their list");
        let (status, body) = app.get(&format!("/v1/lists/{doomed}/members/{ada}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let (_, all) = app.get("/v1/contacts", &acct.token).await;
        let mut emails: Vec<&str> = all["data"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
        emails.sort_unstable();
        assert_eq!(emails, ["ada@example.com", "bob@example.com"], "the contacts stay");
        let (status, body) = app.get(&format!("/v1/lists/{kept}/members/{ada}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "other lists keep their members: {body}");
    }

    async fn deleting_a_contact_removes_its_memberships(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let ada = app.contact(&acct.token, "ada@example.com").await;
        let bob = app.contact(&acct.token, "bob@example.com").await;
        for contact in [&ada, &bob] {
            let (status, _) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"contact_id": contact})).await;
            assert_eq!(status, StatusCode::CREATED);
        }

        let (status, body) = app.delete(&format!("/v1/contacts/{ada}"), &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

        let (status, body) = app.get(&format!("/v1/lists/{list}/members/{ada}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let members = collect(&app, &acct.token, &format!("/v1/lists/{list}/members"), 50, "contact_id").await;
        assert_eq!(members, vec![bob]);

        let (status, again) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "the address can join again as a new contact: {again}");
        assert_ne!(again["contact_id"], ada.as_str());
    }

    async fn members_added_concurrently_are_all_added(app) {
        const MEMBERS: usize = 200;
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "Busy").await;
        let path = format!("/v1/lists/{list}/members");
        let bodies = (0..MEMBERS).map(|i| json!({"email": format!("member{i:03}@example.com")})).collect();

        let answers = post_concurrently(&app, &acct.token, &path, bodies, 16).await;
        let failed: Vec<&(StatusCode, String)> = answers.iter().filter(|(status, _)| *status != StatusCode::CREATED).collect();
        assert!(failed.is_empty(), "{} of {MEMBERS} concurrent additions failed, e.g. {:?}", failed.len(), failed[0]);
        assert_eq!(collect(&app, &acct.token, &path, 500, "contact_id").await.len(), MEMBERS);
    }

    async fn the_same_address_added_concurrently_makes_one_contact_and_one_membership(app) {
        const ADDRESSES: usize = 10;
        const RACERS: usize = 8;
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "Busy").await;
        let path = format!("/v1/lists/{list}/members");
        let mut unexpected = Vec::new();
        for i in 0..ADDRESSES {
            let email = format!("racer{i}@example.com");
            let answers = post_concurrently(&app, &acct.token, &path, vec![json!({"email": email}); RACERS], RACERS).await;
            let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
            let already = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
            if (created, already) != (1, RACERS - 1) {
                unexpected.push((email.clone(), answers.into_iter().filter(|(s, _)| !s.is_success()).collect::<Vec<_>>()));
            }
            assert_eq!(contacts_with_email(&app, &acct.token, &email).await.len(), 1);
        }
        assert!(unexpected.is_empty(), "expected one 201 and {} 200 per address; failures: {unexpected:?}", RACERS - 1);
        assert_eq!(collect(&app, &acct.token, &path, 50, "contact_id").await.len(), ADDRESSES);
    }

    async fn the_same_contact_added_concurrently_is_one_membership(app) {
        const CONTACTS: usize = 10;
        const RACERS: usize = 8;
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "Busy").await;
        let path = format!("/v1/lists/{list}/members");
        let mut unexpected = Vec::new();
        for i in 0..CONTACTS {
            let contact = app.contact(&acct.token, &format!("racer{i}@example.com")).await;
            let answers = post_concurrently(&app, &acct.token, &path, vec![json!({"contact_id": contact}); RACERS], RACERS).await;
            let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
            let already = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
            if (created, already) != (1, RACERS - 1) {
                unexpected.push((contact, answers.into_iter().filter(|(s, _)| !s.is_success()).collect::<Vec<_>>()));
            }
        }
        assert!(unexpected.is_empty(), "expected one 201 and {} 200 per contact; failures: {unexpected:?}", RACERS - 1);
        assert_eq!(collect(&app, &acct.token, &path, 50, "contact_id").await.len(), CONTACTS);
    }
}
