//! A worker's own probes, served only where `MAILROOM_WORKER_ADDR` says (workers never
//! listen on the API's address): `GET /healthz` (the process is up) and `GET /readyz`
//! (200 while the database answers and, with RabbitMQ, the broker is connected; 503
//! otherwise), each with a small JSON body. Enough HTTP for a container orchestrator's
//! probes and no more.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::store::{Pool, checkout};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bus::amqp::broker::Broker;

pub struct Probes {
    pub pool: Pool,
    pub broker: Option<Arc<Broker>>,
}

impl Probes {
    /// Serves until shutdown; an address that cannot be bound is an error at start.
    pub async fn serve(
        self,
        addr: &str,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on MAILROOM_WORKER_ADDR {addr}: {e}"))?;
        tracing::info!(addr = %listener.local_addr()?, "worker probes listening");
        let probes = Arc::new(self);
        Ok(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = shutdown.changed() => break,
                };
                let Ok((mut stream, _)) = accepted else {
                    continue;
                };
                let probes = probes.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n =
                        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                            .await
                        {
                            Ok(Ok(n)) => n,
                            _ => return,
                        };
                    let request = String::from_utf8_lossy(&buf[..n]);
                    let path = request.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = probes.answer(path).await;
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        }))
    }

    async fn answer(&self, path: &str) -> (&'static str, String) {
        match path {
            "/healthz" => ("200 OK", r#"{"status":"ok"}"#.to_owned()),
            "/readyz" => {
                let pool = self.pool.clone();
                let database = tokio::task::spawn_blocking(move || {
                    checkout(&pool).map(|_| ()).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                let broker = self.broker.as_ref().map(|b| b.state().borrow().describe());
                let ready = database.is_ok() && broker.as_deref().is_none_or(|b| b == "ok");
                let body = serde_json::json!({
                    "status": if ready { "ready" } else { "unavailable" },
                    "database": database.err().unwrap_or_else(|| "ok".into()),
                    "broker": broker,
                });
                (
                    if ready {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    },
                    body.to_string(),
                )
            }
            _ => ("404 Not Found", r#"{"status":"not found"}"#.to_owned()),
        }
    }
}
