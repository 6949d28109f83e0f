//! SMTP delivery against a real SMTP server (aiosmtpd, `scripts/smtp_server.py`): what
//! arrives, and how every kind of refusal or breakage is reported (what a refusal means
//! is the classification table's to say, in `mailroom_domain::outcomes`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mailroom_worker::transport::{DeliveryOutcome, SmtpSettings, SmtpTransport};
use support::smtp_server::{SmtpServer, SmtpServerOptions, TestCertificates};

const SENDER: &str = "bounces@mailroom.test";

fn transport(url: &str) -> SmtpTransport {
    SmtpTransport::new(&SmtpSettings::from_url(url).unwrap()).unwrap()
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Mailroom <news@mailroom.test>\r\n\
         To: someone@example.com\r\n\
         Subject: {subject}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello,\r\n\
         .a line that starts with a dot survives dot-stuffing\r\n\
         .\r\n\
         and so does a lone dot, and UTF-8: Grüße, 東京\r\n"
    )
    .into_bytes()
}

#[track_caller]
fn assert_temporary(outcome: &DeliveryOutcome, needle: &str) {
    match outcome {
        DeliveryOutcome::TemporaryFailure { reason } => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected a temporary failure ({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn a_delivered_message_arrives_byte_for_byte_with_its_envelope() {
    let server = SmtpServer::start();
    let smtp = transport(&server.url());
    let raw = message("Byte for byte");

    let outcome = smtp.deliver(SENDER, "someone@example.com", &raw).await;

    match &outcome {
        DeliveryOutcome::Delivered { response } => {
            assert!(
                response.starts_with("250 2.0.0 OK queued as 1"),
                "{response}"
            )
        }
        other => panic!("not delivered: {other:?}\n{}", server.log()),
    }
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, SENDER);
    assert_eq!(received[0].rcpt_tos, ["someone@example.com"]);
    assert_eq!(received[0].data.as_bytes(), raw.as_slice());
    assert!(!received[0].tls, "the plain test server offers no STARTTLS");
}

#[tokio::test]
async fn bare_line_feeds_arrive_as_crlf_so_a_lone_dot_cannot_end_the_message_early() {
    let server = SmtpServer::start();
    let raw = b"Subject: LF\n\nfirst\n.\nMAIL FROM:<evil@example.com>\nlast";
    let outcome = transport(&server.url())
        .deliver(SENDER, "someone@example.com", raw)
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].data,
        "Subject: LF\r\n\r\nfirst\r\n.\r\nMAIL FROM:<evil@example.com>\r\nlast\r\n"
    );
    assert_eq!(server.mail_commands().len(), 1);
}

#[tokio::test]
async fn the_null_sender_is_allowed_for_notifications() {
    let server = SmtpServer::start();
    let outcome = transport(&server.url())
        .deliver("", "someone@example.com", &message("DSN"))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    assert_eq!(server.received()[0].mail_from, "<>");
}

#[tokio::test]
async fn a_4xx_recipient_refusal_is_a_refusal_with_its_code() {
    let server = SmtpServer::start();
    let outcome = transport(&server.url())
        .deliver(SENDER, "tempfail-1@example.com", &message("Later"))
        .await;
    assert_eq!(
        outcome,
        DeliveryOutcome::Refused {
            code: 451,
            text: "4.3.0 try again later".into()
        }
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_5xx_recipient_refusal_is_a_refusal_with_its_code() {
    let server = SmtpServer::start();
    let smtp = transport(&server.url());
    for to in ["bounce@example.com", "reject-me@example.com"] {
        let outcome = smtp.deliver(SENDER, to, &message("Nobody")).await;
        assert_eq!(
            outcome,
            DeliveryOutcome::Refused {
                code: 550,
                text: "5.1.1 user unknown".into()
            }
        );
    }
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_refused_recipient_does_not_cost_the_connection() {
    let server = SmtpServer::start();
    let smtp = transport(&format!("{}?pool=1", server.url()));
    let bounced = smtp
        .deliver(SENDER, "bounce@example.com", &message("1"))
        .await;
    assert!(matches!(bounced, DeliveryOutcome::Refused { .. }));
    let delivered = smtp
        .deliver(SENDER, "someone@example.com", &message("2"))
        .await;
    assert!(delivered.is_delivered(), "{delivered:?}");
    let commands = server.mail_commands();
    assert_eq!(commands.len(), 2);
    assert_eq!(
        commands[0].peer, commands[1].peer,
        "the session was reset (RSET) and reused"
    );
}

#[tokio::test]
async fn a_relay_failing_everything_refuses_until_it_recovers() {
    let server = SmtpServer::start();
    let smtp = transport(&server.url());
    server.fail_all(true);
    for _ in 0..2 {
        let outcome = smtp
            .deliver(SENDER, "someone@example.com", &message("Down"))
            .await;
        assert_eq!(
            outcome,
            DeliveryOutcome::Refused {
                code: 421,
                text: "4.3.2 service not available".into()
            }
        );
    }
    server.fail_all(false);
    let outcome = smtp
        .deliver(SENDER, "someone@example.com", &message("Up again"))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_relay_nobody_listens_on_is_a_quick_temporary_failure() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let smtp = transport(&format!("smtp://127.0.0.1:{port}"));
    let started = Instant::now();
    let outcome = smtp
        .deliver(SENDER, "someone@example.com", &message("Nobody home"))
        .await;
    assert_temporary(&outcome, "refused");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let check = smtp.check().await;
    assert!(check.is_err(), "{check:?}");
}

#[tokio::test]
async fn a_relay_that_stops_answering_times_out_and_the_transaction_is_abandoned() {
    let server = SmtpServer::start();
    let smtp = transport(&format!("{}?timeout_secs=1&pool=1", server.url()));
    server.slow(true); // 2 s before the end of DATA is answered
    let started = Instant::now();
    let outcome = smtp
        .deliver(SENDER, "someone@example.com", &message("Too slow"))
        .await;
    assert_temporary(&outcome, "DATA: no answer from the relay within 1 s");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );

    // The half-finished session is closed, not reused: the next message goes through a
    // fresh one, and the abandoned one is never stored.
    server.slow(false);
    let outcome = smtp
        .deliver(SENDER, "someone@example.com", &message("On time"))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    std::thread::sleep(Duration::from_millis(2500));
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].data.contains("Subject: On time\r\n"));
}

#[tokio::test]
async fn required_starttls_never_talks_in_clear_to_a_relay_without_tls() {
    let server = SmtpServer::start();
    let smtp = transport(&format!("{}?tls=required", server.url()));
    let outcome = smtp
        .deliver(SENDER, "someone@example.com", &message("Secret"))
        .await;
    assert_temporary(&outcome, "STARTTLS");
    assert!(server.mail_commands().is_empty(), "no MAIL FROM in clear");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_with_a_private_ca_encrypts_the_delivery() {
    let certs = TestCertificates::generate();
    let server = SmtpServer::start_with(SmtpServerOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..Default::default()
    });
    let ca = certs.ca.display();
    for url in [
        format!("{}?tls=required&tls_ca={ca}", server.url()),
        format!("{}?tls_ca={ca}", server.url()), // opportunistic: offered, so used
        format!("smtp://localhost:{}?tls=required&tls_ca={ca}", server.port),
    ] {
        let outcome = transport(&url)
            .deliver(SENDER, "someone@example.com", &message("Encrypted"))
            .await;
        assert!(
            outcome.is_delivered(),
            "{url}: {outcome:?}\n{}",
            server.log()
        );
    }
    let received = server.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|m| m.tls), "{received:?}");
    assert!(server.mail_commands().iter().all(|c| c.tls));
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_temporary_failure_not_a_fallback_to_clear_text() {
    let certs = TestCertificates::generate();
    let server = SmtpServer::start_with(SmtpServerOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..Default::default()
    });
    // Opportunistic mode still verifies the certificate the relay offers.
    let outcome = transport(&server.url())
        .deliver(SENDER, "someone@example.com", &message("Untrusted"))
        .await;
    assert_temporary(&outcome, "invalid peer certificate");
    assert!(server.mail_commands().is_empty());

    // tls_insecure (tests only) accepts it.
    let outcome = transport(&format!("{}?tls=required&tls_insecure=true", server.url()))
        .deliver(SENDER, "someone@example.com", &message("Insecure"))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    assert!(server.received()[0].tls);
}

#[tokio::test]
async fn smtps_speaks_tls_from_the_first_byte() {
    let certs = TestCertificates::generate();
    let server = SmtpServer::start_with(SmtpServerOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        implicit_tls: true,
        ..Default::default()
    });
    let url = format!(
        "smtps://127.0.0.1:{}?tls_ca={}",
        server.port,
        certs.ca.display()
    );
    let outcome = transport(&url)
        .deliver(SENDER, "someone@example.com", &message("Implicit"))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}\n{}", server.log());
    assert!(server.received()[0].tls);

    // Plain SMTP to the TLS port fails as a temporary failure, quickly.
    let plain = transport(&format!("{}?timeout_secs=2", server.url()))
        .deliver(SENDER, "someone@example.com", &message("Plain"))
        .await;
    assert!(
        matches!(plain, DeliveryOutcome::TemporaryFailure { .. }),
        "{plain:?}"
    );
}

#[tokio::test]
async fn credentials_from_the_url_log_in_and_a_wrong_password_is_not_a_bounce() {
    let server = SmtpServer::start_with(SmtpServerOptions {
        require_auth: Some(("mailer".into(), "p@ss w:rd/%".into())),
        ..Default::default()
    });
    let port = server.port;
    let outcome = transport(&format!(
        "smtp://mailer:p%40ss%20w%3Ard%2F%25@127.0.0.1:{port}"
    ))
    .deliver(SENDER, "someone@example.com", &message("Logged in"))
    .await;
    assert!(outcome.is_delivered(), "{outcome:?}\n{}", server.log());
    assert_eq!(server.received()[0].auth_login.as_deref(), Some("mailer"));

    // A wrong password is the relay's configuration, never the recipient's fault.
    let wrong = transport(&format!("smtp://mailer:wrong@127.0.0.1:{port}"));
    let outcome = wrong
        .deliver(SENDER, "someone@example.com", &message("Wrong"))
        .await;
    assert_temporary(&outcome, "535");
    assert!(wrong.check().await.is_err());

    // So is a missing login: the relay refuses MAIL FROM.
    let outcome = transport(&server.url())
        .deliver(SENDER, "someone@example.com", &message("Anonymous"))
        .await;
    assert_temporary(&outcome, "MAIL FROM refused: 530");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_messages_share_a_pool_of_four_connections() {
    let server = SmtpServer::start();
    let smtp = transport(&format!("{}?pool=4", server.url()));
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let smtp = smtp.clone();
        sends.spawn(async move {
            let to = format!("reader-{i}@example.com");
            smtp.deliver(SENDER, &to, &message(&format!("Issue {i}")))
                .await
        });
    }
    while let Some(outcome) = sends.join_next().await {
        let outcome = outcome.unwrap();
        assert!(outcome.is_delivered(), "{outcome:?}");
    }
    let received = server.received();
    assert_eq!(received.len(), 20);
    let mut recipients: Vec<_> = received.iter().map(|m| m.rcpt_tos[0].clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 20, "each reader got exactly one message");
    let mut connections: Vec<_> = received.iter().map(|m| m.peer.clone()).collect();
    connections.sort();
    connections.dedup();
    assert!(
        (1..=4).contains(&connections.len()),
        "20 messages over {} connections",
        connections.len()
    );
    assert!(smtp.check().await.is_ok());
    smtp.close().await;
}

#[tokio::test]
async fn an_invalid_recipient_address_bounces_without_contacting_the_relay() {
    let server = SmtpServer::start();
    let outcome = transport(&server.url())
        .deliver(SENDER, "not an address", &message("Nowhere"))
        .await;
    assert!(
        matches!(outcome, DeliveryOutcome::Refused { code: 553, .. }),
        "{outcome:?}"
    );
    assert!(server.mail_commands().is_empty());
}

#[tokio::test]
async fn the_readiness_check_answers_for_a_live_relay() {
    let server = SmtpServer::start();
    let smtp = transport(&server.url());
    assert_eq!(smtp.check().await, Ok(()));
    drop(server);
    // The pooled connection is found dead and a new one is refused.
    assert!(smtp.check().await.is_err());
}

#[test]
fn a_bad_ca_file_is_reported_when_the_transport_is_built() {
    let settings =
        SmtpSettings::from_url("smtp://relay.example.com?tls_ca=/nonexistent/ca.pem").unwrap();
    let err = SmtpTransport::new(&settings).err().unwrap();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}
