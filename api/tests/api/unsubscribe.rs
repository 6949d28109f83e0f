//! Every campaign email's unsubscribe link works: the page, the button, and RFC 8058
//! one-click POSTs from mail clients (no cookies, no auth), idempotently.

use reqwest::StatusCode;
use serde_json::json;

use crate::campaigns::{
    campaign_body, create_campaign, subscriber, wait_for_sandbox, wait_for_status,
};
use crate::helpers::assert_problem;
use crate::on_both_backends;

fn list_unsubscribe_url(raw: &str) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let header = parsed
        .header_raw("List-Unsubscribe")
        .unwrap()
        .trim()
        .to_owned();
    header
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned()
}

on_both_backends! {
    async fn one_click_unsubscribe_leaves_the_list_and_records_the_withdrawal(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let contact = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        wait_for_status(&app, &acct.token, &campaign, "sent").await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let url = list_unsubscribe_url(messages[0]["raw"].as_str().unwrap());
        assert!(messages[0]["html"].as_str().unwrap().contains(&url), "the body links to the same page");

        let page = app.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("<form method=\"post\""));
        let (_, member) = app.get(&format!("/v1/lists/{list}/members/{contact}"), &acct.token).await;
        assert_eq!(member["status"], "subscribed", "opening the page changes nothing");

        let one_click = || {
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
        };
        let res = one_click().send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "200, not a redirect");
        assert!(res.headers().get("location").is_none());
        let (_, member) = app.get(&format!("/v1/lists/{list}/members/{contact}"), &acct.token).await;
        assert_eq!(member["status"], "unsubscribed");
        assert!(member["unsubscribed_at"].is_string());
        let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        assert_eq!(history["data"][0]["status"], "withdrawn");
        assert_eq!(history["data"][0]["method"], "unsubscribe_link");
        assert_eq!(history["data"][0]["list_id"], list.as_str(), "the withdrawal is about this list");

        // Replayed: still 200, nothing new recorded.
        assert_eq!(one_click().send().await.unwrap().status(), StatusCode::OK);
        let (_, again) = app.get(&format!("/v1/contacts/{contact}/consents"), &acct.token).await;
        assert_eq!(again["data"].as_array().unwrap().len(), history["data"].as_array().unwrap().len());

        // A campaign that mailed anyone is kept, so its unsubscribe links keep working.
        let (status, body) = app.delete(&format!("/v1/campaigns/{campaign}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");

        // Re-adding them (a CRM sync, say) does not undo the unsubscribe…
        let (status, readded) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(readded["status"], "unsubscribed");

        // The next campaign to the list skips them.
        let next = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        app.post(&format!("/v1/campaigns/{next}/send"), &acct.token, json!({})).await;
        let done = wait_for_status(&app, &acct.token, &next, "sent").await;
        assert_eq!(done["progress"]["recipients"], 0, "{done}");

        // …only fresh consent in the request subscribes them again.
        let (status, back) = app.post(&format!("/v1/lists/{list}/members"), &acct.token, json!({"email": "ada@example.com",
            "consent": {"purpose": "marketing_email", "status": "granted", "method": "form", "source": "resubscribe form"}})).await;
        assert_eq!(status, StatusCode::OK, "{back}");
        assert_eq!(back["status"], "subscribed");
    }

    async fn a_tampered_unsubscribe_link_is_a_clear_404_page(app) {
        for path in ["/u/not-a-token", "/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let res = app.client.post(app.url(path)).body("List-Unsubscribe=One-Click").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
            assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
            assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        }
    }
}
