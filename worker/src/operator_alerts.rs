//! Tells the operator of automatic suspensions: posts each alert the protection wrote (see
//! `mailroom_domain::accounts::operator_alert`) to `MAILROOM_OPERATOR_WEBHOOK_URL`, signed
//! like the accounts' webhooks when `MAILROOM_OPERATOR_WEBHOOK_SECRET` is set, retrying
//! with backoff. Runs where the retention scheduler runs; any number of processes may run
//! it (an alert is claimed before it is posted).

use std::time::Duration;

use mailroom_domain::accounts::operator_alert::OperatorAlert;
use mailroom_domain::clock;
use mailroom_domain::config::Settings;
use mailroom_domain::jobs::backoff;
use mailroom_domain::store::{Pool, checkout};
use mailroom_domain::webhooks::{
    WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, WebhookSecret, sign,
};
use secrecy::ExposeSecret;
use tokio::sync::watch;

/// How often due alerts are looked for.
const POLL: Duration = Duration::from_secs(2);

/// Posts due alerts until `stopped`; returns at once when no operator webhook is set.
pub async fn run(pool: Pool, settings: &Settings, mut stopped: watch::Receiver<bool>) {
    let Some(url) = settings.operator.webhook_url.clone() else {
        return;
    };
    let secret = settings
        .operator
        .webhook_secret
        .as_ref()
        .and_then(|s| WebhookSecret::parse(s.expose_secret()).ok());
    let client = match reqwest::Client::builder()
        .timeout(settings.webhooks.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the operator webhook's HTTP client");
            return;
        }
    };
    while !*stopped.borrow() {
        let due_pool = pool.clone();
        let due = tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&due_pool)?;
            OperatorAlert::due(&mut conn, 20)
        })
        .await;
        match due {
            Ok(Ok(alerts)) => {
                for alert in alerts {
                    post(&pool, &client, &url, secret.as_ref(), alert).await;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "reading operator alerts failed"),
            Err(e) => tracing::warn!(error = %e, "reading operator alerts failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped.changed() => {}
        }
    }
}

async fn post(
    pool: &Pool,
    client: &reqwest::Client,
    url: &str,
    secret: Option<&WebhookSecret>,
    alert: OperatorAlert,
) {
    let wait = backoff(
        Duration::from_secs(10),
        alert.attempts + 1,
        Duration::from_secs(3600),
    );
    let claim_pool = pool.clone();
    let claimed_alert = alert.clone();
    let claimed = tokio::task::spawn_blocking(move || {
        let mut conn = checkout(&claim_pool)?;
        OperatorAlert::claim(&mut conn, &claimed_alert, wait)
    })
    .await;
    if !matches!(claimed, Ok(Ok(true))) {
        return;
    }
    let body = serde_json::json!({
        "type": "account.suspended",
        "timestamp": alert.created_at,
        "data": {
            "account_id": alert.account_id,
            "reason": alert.reason,
            "suspended_by": "automatic",
        },
    })
    .to_string();
    let msg_id = format!("alert_{}", alert.id);
    let timestamp = clock::now().0.timestamp();
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(WEBHOOK_ID_HEADER, &msg_id)
        .header(WEBHOOK_TIMESTAMP_HEADER, timestamp.to_string());
    if let Some(secret) = secret {
        request = request.header(
            WEBHOOK_SIGNATURE_HEADER,
            sign(secret, &msg_id, timestamp, body.as_bytes()),
        );
    }
    let outcome = match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the receiver answered {}", response.status())),
        Err(e) => Err(format!("the receiver could not be reached: {e}")),
    };
    let (id, record_pool) = (alert.id, pool.clone());
    let recorded = tokio::task::spawn_blocking(move || {
        let mut conn = checkout(&record_pool)?;
        match &outcome {
            Ok(()) => OperatorAlert::delivered(&mut conn, id),
            Err(error) => OperatorAlert::failed(&mut conn, id, error),
        }
        .map(|()| outcome)
    })
    .await;
    match recorded {
        Ok(Ok(Ok(()))) => {
            tracing::info!(alert = %id, "operator alerted of an automatic suspension")
        }
        Ok(Ok(Err(error))) => {
            tracing::warn!(alert = %id, %error, "posting an operator alert failed; retried later")
        }
        Ok(Err(e)) => tracing::warn!(alert = %id, error = %e, "recording an operator alert failed"),
        Err(e) => tracing::warn!(alert = %id, error = %e, "recording an operator alert failed"),
    }
}
