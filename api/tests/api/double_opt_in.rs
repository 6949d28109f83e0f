//! Double opt-in: a new member of such a list is pending until they confirm through the
//! signed link in the confirmation email; confirming records the consent with its evidence.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{sandbox, wait_for_sandbox};
use crate::helpers::*;
use crate::on_both_backends;

async fn doi_list(app: &TestApp, token: &str) -> String {
    let (status, list) = app
        .post(
            "/v1/lists",
            token,
            json!({"name": "Weekly", "double_opt_in": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    list["id"].as_str().unwrap().to_owned()
}

/// The confirmation link of the newest confirmation email to `to`.
fn confirm_link(messages: &[Value], to: &str) -> String {
    let message = messages
        .iter()
        .rev()
        .find(|m| m["to"] == to)
        .expect("a confirmation email");
    let text = message["text"].as_str().unwrap();
    let start = text.find("http").expect("a link");
    text[start..].split_whitespace().next().unwrap().to_owned()
}

on_both_backends! {
    async fn confirming_the_emailed_link_subscribes_and_records_consent(app) {
        let acct = app.create_account("Shop").await;
        let list = doi_list(&app, &acct.token).await;
        let (status, member) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com", "name": "Ada"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(member["status"], "pending");
        let contact = member["contact_id"].as_str().unwrap().to_owned();

        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        assert!(messages[0]["subject"].as_str().unwrap().contains("Weekly"), "{}", messages[0]["subject"]);
        assert!(messages[0]["raw"].as_str().unwrap().lines().all(|l| !l.starts_with("List-Unsubscribe:")), "a confirmation is not list mail");
        let link = confirm_link(&messages, "ada@example.com");
        assert!(link.contains("/confirm/"), "{link}");

        // Opening the link only shows a button: mail scanners that follow links subscribe no one.
        let page = app.client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("<form method=\"post\""));
        let (_, still) = app.get(&format!("/v1/lists/{list}/members/{contact}"), &acct.token).await;
        assert_eq!(still["status"], "pending");

        let confirmed = app.client.post(&link).header("user-agent", "Mozilla/5.0 (test)").send().await.unwrap();
        assert_eq!(confirmed.status(), StatusCode::OK);
        assert!(confirmed.text().await.unwrap().contains("subscribed to <strong>Weekly</strong>"));
        let (_, now) = app.get(&format!("/v1/lists/{list}/members/{contact}"), &acct.token).await;
        assert_eq!(now["status"], "subscribed");
        assert!(now["subscribed_at"].is_string());

        let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        let record = &history["data"][0];
        assert_eq!(record["method"], "double_opt_in");
        assert_eq!(record["purpose"], "marketing_email");
        assert_eq!(record["status"], "granted");
        assert_eq!(record["user_agent"], "Mozilla/5.0 (test)");
        assert_eq!(record["ip"], "127.0.0.1");
        let (_, contact_view) = app.get(&format!("/v1/contacts/{contact}"), &acct.token).await;
        assert_eq!(contact_view["consents"]["marketing_email"]["status"], "granted");

        // Confirming twice changes nothing; re-adding a confirmed member keeps them confirmed
        // and sends no second confirmation.
        let again = app.client.post(&link).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        let (status, readded) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(readded["status"], "subscribed");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sandbox(&app, &acct.token).await.len(), 1);
        let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        assert_eq!(history["data"].as_array().unwrap().len(), 1, "one confirmation, one record");
    }

    async fn tampered_links_get_a_clear_page_not_an_error(app) {
        let acct = app.create_account("Shop").await;
        let list = doi_list(&app, &acct.token).await;
        app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com"})).await;
        let link = confirm_link(&wait_for_sandbox(&app, &acct.token, 1).await, "ada@example.com");
        let mut tampered = link.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for url in [tampered, app.url("/confirm/not-a-token"), app.url("/confirm/")] {
            let res = app.client.post(&url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{url}");
            let res = app.client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{url}");
        }
        let (_, members) = app.get(&format!("/v1/lists/{list}/members"), &acct.token).await;
        assert_eq!(members["data"][0]["status"], "pending");
    }

    async fn a_pending_member_is_not_mailed_by_campaigns(app) {
        let acct = app.create_account("Shop").await;
        let list = doi_list(&app, &acct.token).await;
        let (_, member) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com",
            "consent": {"purpose": "marketing_email", "status": "granted", "method": "form", "source": "signup form"}})).await;
        assert_eq!(member["status"], "pending");
        let campaign = crate::campaigns::create_campaign(&app, &acct.token, crate::campaigns::campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        let done = crate::campaigns::wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(done["progress"]["recipients"], 0, "{done}");
    }
}

#[tokio::test]
async fn an_expired_link_says_so_and_subscribes_no_one() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn_with(backend, |vars| {
            vars.insert("MAILROOM_CONFIRM_TTL_SECS".into(), "1".into());
        })
        .await;
        let acct = app.create_account("Shop").await;
        let list = doi_list(&app, &acct.token).await;
        app.post(
            &format!("/v1/lists/{list}/members"),
            &acct.token,
            json!({"email": "ada@example.com"}),
        )
        .await;
        let link = confirm_link(
            &wait_for_sandbox(&app, &acct.token, 1).await,
            "ada@example.com",
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let res = app.client.post(&link).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert!(res.text().await.unwrap().contains("expired"));
        let (_, members) = app
            .get(&format!("/v1/lists/{list}/members"), &acct.token)
            .await;
        assert_eq!(members["data"][0]["status"], "pending");
    }
}
