//! Sending domains, black-box: adding one answers the records to publish (its DKIM key
//! made by Mailroom, never shown); verifying looks them up in a real DNS server on
//! loopback; accounts see only their own domains.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dns_server::DnsServer;
use crate::helpers::{Backend, TestApp, assert_problem};

async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TestApp::spawn_with(backend, move |vars| {
        for (k, v) in extra {
            vars.insert(k, v);
        }
    })
    .await
}

pub async fn add_domain(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, domain) = app.post("/v1/sending-domains", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    domain
}

fn record<'a>(domain: &'a Value, purpose: &str) -> &'a Value {
    domain["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no {purpose} record in {domain}"))
}

async fn a_domain_answers_the_records_to_publish_and_never_its_key(backend: Backend) {
    let app = app_with(
        backend,
        &[("MAILROOM_RETURN_PATH_DOMAIN", "rp.mailroom.example")],
    )
    .await;
    let token = app.create_account("Acme").await.token;

    let domain = add_domain(&app, &token, json!({"domain": "News.Example.COM."})).await;
    assert_eq!(domain["domain"], "news.example.com");
    assert_eq!(domain["status"], "pending");
    assert_eq!(domain["dkim_algorithm"], "rsa");
    let selector = domain["dkim_selector"].as_str().unwrap();
    let dkim = record(&domain, "dkim");
    assert_eq!(dkim["type"], "TXT");
    assert_eq!(
        dkim["name"],
        format!("{selector}._domainkey.news.example.com")
    );
    let value = dkim["value"].as_str().unwrap();
    assert!(value.starts_with("v=DKIM1; k=rsa; p=MIIB"), "{value}");
    assert_eq!(dkim["required"], true);
    assert_eq!(dkim["state"], "unchecked");
    let ownership = record(&domain, "ownership");
    assert_eq!(ownership["name"], "_mailroom.news.example.com");
    assert!(
        ownership["value"]
            .as_str()
            .unwrap()
            .starts_with("mailroom-verification=")
    );
    assert!(
        record(&domain, "spf")["value"]
            .as_str()
            .unwrap()
            .starts_with("v=spf1 include:")
    );
    assert_eq!(record(&domain, "dmarc")["name"], "_dmarc.news.example.com");
    let return_path = record(&domain, "return_path");
    assert_eq!(return_path["type"], "CNAME");
    assert_eq!(return_path["name"], "bounces.news.example.com");
    assert_eq!(return_path["value"], "rp.mailroom.example");
    let text = domain.to_string();
    assert!(
        !text.contains("private") && !text.contains("sealed:"),
        "{text}"
    );

    let ed = add_domain(
        &app,
        &token,
        json!({"domain": "bücher.example", "dkim_algorithm": "ed25519"}),
    )
    .await;
    assert_eq!(ed["domain"], "xn--bcher-kva.example");
    assert!(
        record(&ed, "dkim")["value"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=ed25519; p=")
    );

    // Twice is a conflict; what is not a domain is refused by name.
    let (status, body) = app
        .post(
            "/v1/sending-domains",
            &token,
            json!({"domain": "news.example.com"}),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
    for bad in ["localhost", "10.0.0.1", "not a domain", "a@example.com"] {
        let (status, body) = app
            .post("/v1/sending-domains", &token, json!({"domain": bad}))
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(body["errors"][0]["field"], "domain", "{body}");
    }
    let (status, body) = app
        .post(
            "/v1/sending-domains",
            &token,
            json!({"domain": "x.example", "dkim_algorithm": "dsa"}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // Listed in pages, shown, deleted.
    let all = app.all_pages(&token, "/v1/sending-domains", 1).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["id"], domain["id"]);
    let id = domain["id"].as_str().unwrap();
    let (status, shown) = app.get(&format!("/v1/sending-domains/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["records"], domain["records"]);
    let (status, _) = app
        .delete(&format!("/v1/sending-domains/{id}"), &token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/v1/sending-domains/{id}"), &token).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

    // The changes are in the audit log.
    let (_, audit) = app.get("/v1/audit-events", &token).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"sending_domain.created"), "{audit}");
    assert!(actions.contains(&"sending_domain.deleted"), "{audit}");

    // Scopes: a read-only key reads, and changes nothing.
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "reader", "scopes": ["sending_domains:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let reader = app
        .token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap())
        .await;
    let (status, _) = app.get("/v1/sending-domains", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            "/v1/sending-domains",
            &reader,
            json!({"domain": "y.example"}),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

async fn another_accounts_domains_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.create_account("Owner").await.token;
    let other = app.create_account("Other").await.token;
    let domain = add_domain(&app, &owner, json!({"domain": "owner.example"})).await;
    let id = domain["id"].as_str().unwrap();
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/sending-domains/{id}")),
        (reqwest::Method::DELETE, format!("/v1/sending-domains/{id}")),
        (
            reqwest::Method::POST,
            format!("/v1/sending-domains/{id}/verify"),
        ),
    ] {
        let (status, body) = app.request(method, &path, Some(&other), None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, list) = app.get("/v1/sending-domains", &other).await;
    assert_eq!(list["data"], json!([]));
    // The other account may claim the same domain: it proves it with its own token.
    let theirs = add_domain(&app, &other, json!({"domain": "owner.example"})).await;
    assert_ne!(
        record(&theirs, "ownership")["value"],
        record(&domain, "ownership")["value"]
    );
}

async fn verification_reads_the_records_from_dns(backend: Backend) {
    let dns = DnsServer::start();
    let app = app_with(
        backend,
        &[
            ("MAILROOM_DNS_SERVERS", &dns.addr()),
            ("MAILROOM_RETURN_PATH_DOMAIN", "rp.mailroom.example"),
        ],
    )
    .await;
    let token = app.create_account("Acme").await.token;
    let domain = add_domain(&app, &token, json!({"domain": "acme.example"})).await;
    let id = domain["id"].as_str().unwrap();
    let verify = format!("/v1/sending-domains/{id}/verify");

    // Nothing published: failed, every record missing.
    let (status, checked) = app.post(&verify, &token, json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["status"], "failed", "{checked}");
    for r in checked["records"].as_array().unwrap() {
        assert_eq!(r["state"], "missing", "{r}");
    }
    assert!(checked["checked_at"].is_string());

    // Everything published as asked: verified.
    dns.publish(&domain);
    let (status, checked) = app.post(&verify, &token, json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["status"], "verified", "{checked}");
    for r in checked["records"].as_array().unwrap() {
        assert_eq!(r["state"], "verified", "{r}");
        assert_eq!(r["found"], json!([r["value"]]), "{r}");
    }
    assert!(checked["verified_at"].is_string());

    // A different key at the selector, an SPF record without the relay: mismatch, with
    // what was found; the domain is no longer verified.
    let mut records: Vec<Value> = domain["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"name": r["name"], "type": r["type"], "value": r["value"]}))
        .collect();
    for r in &mut records {
        if r["name"].as_str().unwrap().contains("._domainkey.") {
            r["value"] = json!("v=DKIM1; k=rsa; p=AAAAsomeoneelse");
        }
        if r["name"] == "acme.example" {
            r["value"] = json!("v=spf1 mx -all");
        }
    }
    dns.serve(&records);
    let (_, checked) = app.post(&verify, &token, json!(null)).await;
    assert_eq!(checked["status"], "failed", "{checked}");
    let dkim = record(&checked, "dkim");
    assert_eq!(dkim["state"], "mismatch", "{dkim}");
    assert_eq!(dkim["found"], json!(["v=DKIM1; k=rsa; p=AAAAsomeoneelse"]));
    assert_eq!(record(&checked, "spf")["state"], "mismatch");
    assert_eq!(record(&checked, "ownership")["state"], "verified");

    // What the check found stays on the domain.
    let (_, shown) = app.get(&format!("/v1/sending-domains/{id}"), &token).await;
    assert_eq!(shown["records"], checked["records"]);
}

/// A check DNS cannot answer says nothing about what the owner published: a verified
/// domain stays verified (its mail keeps going), and the caller is told to try again.
async fn a_check_dns_cannot_answer_changes_nothing(backend: Backend) {
    let dns = DnsServer::start();
    let app = app_with(backend, &[("MAILROOM_DNS_SERVERS", &dns.addr())]).await;
    let token = app.create_account("Acme").await.token;
    let domain = add_domain(&app, &token, json!({"domain": "acme.example"})).await;
    let id = domain["id"].as_str().unwrap();
    let verify = format!("/v1/sending-domains/{id}/verify");
    dns.publish(&domain);
    let (status, verified) = app.post(&verify, &token, json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "verified", "{verified}");

    // The resolver goes away.
    drop(dns);
    let (status, body) = app.post(&verify, &token, json!(null)).await;
    assert_problem(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("could not be looked up"),
        "{body}"
    );
    let (_, shown) = app.get(&format!("/v1/sending-domains/{id}"), &token).await;
    assert_eq!(shown["status"], "verified", "{shown}");
    assert_eq!(shown["records"], verified["records"], "{shown}");
    assert_eq!(shown["checked_at"], verified["checked_at"], "{shown}");
}

/// Each scenario on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    a_domain_answers_the_records_to_publish_and_never_its_key,
    another_accounts_domains_are_not_found,
    verification_reads_the_records_from_dns,
    a_check_dns_cannot_answer_changes_nothing,
);
