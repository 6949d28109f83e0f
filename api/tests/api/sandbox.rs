//! The sandbox mailbox shows each recipient's address and personalised mail, so a token
//! sees only the mail it could read otherwise: all of it with `contacts:read`, campaign
//! and test mail with `campaigns:read`, transactional mail with `send`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, subscriber, wait_for_sandbox};
use crate::helpers::*;
use crate::on_both_backends;
use crate::suppressions::scoped_token;
use crate::tracking::send_and_collect;

fn recipients(messages: &[Value]) -> Vec<&str> {
    let mut to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort();
    to
}

on_both_backends! {
    async fn the_sandbox_shows_a_token_only_the_mail_its_scopes_may_read(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "reader@example.com", "Reader").await;
        let mut campaign = campaign_body(&list);
        campaign["subject"] = json!("Sale for {{ contact.name }}");
        send_and_collect(&app, &acct.token, campaign, 1).await;
        let (status, sent) = app
            .post(
                "/v1/send",
                &acct.token,
                json!({"messages": [{"from": {"email": "orders@shop.example"},
                       "to": [{"email": "buyer@example.com"}],
                       "subject": "Your password reset", "text": "Your code is 271828."}]}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
        wait_for_sandbox(&app, &acct.token, 2).await;

        for (scopes, expected) in [
            (vec!["campaigns:read"], vec!["reader@example.com"]),
            (vec!["send"], vec!["buyer@example.com"]),
            (vec!["contacts:read"], vec!["buyer@example.com", "reader@example.com"]),
            (vec!["campaigns:read", "send"], vec!["buyer@example.com", "reader@example.com"]),
        ] {
            let token = scoped_token(&app, &acct, &scopes).await;
            let messages = app.all_pages(&token, "/v1/sandbox/messages", 1).await;
            assert_eq!(recipients(&messages), expected, "{scopes:?}");
            if !expected.contains(&"buyer@example.com") {
                assert!(!serde_json::to_string(&messages).unwrap().contains("271828"), "{scopes:?}");
            }
        }
        let token = scoped_token(&app, &acct, &["events:read", "lists:read"]).await;
        let (status, problem) = app.get("/v1/sandbox/messages", &token).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    }
}
