//! Building and running the HTTP application.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use mailroom_domain::accounts::ensure_default_account;
use mailroom_domain::config::{Settings, keep_first_api_key};
use mailroom_domain::outcomes::OutcomePolicy;
use mailroom_domain::store::{Pool, build_pool, checkout, run_migrations};
use mailroom_domain::suppressions::HashKey;
use mailroom_domain::tokens::TokenSigner;
use mailroom_domain::webhooks::SecretBox;
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use mailroom_worker::embedded::EmbeddedWorkers;
use mailroom_worker::relay_thread::RelayThread;

use crate::auth::{KeyStatusCache, TokenKeys};
use crate::event_sink::EventSink;
use crate::extract::path_error;
use crate::limits::{Limits, body_timeout};
use crate::renderer::Renderer;
use crate::state::AppState;
use crate::unmatched::{KnownPaths, unmatched_request};
use crate::{inbound_smtp, openapi, routes, telemetry, tls};

pub struct Application {
    port: u16,
    server: Server,
    pool: Pool,
    background: Option<Background>,
    event_writer: tokio::task::JoinHandle<()>,
    /// The inbound SMTP listener, when `MAILROOM_INBOUND_SMTP_ADDR` is set.
    inbound_smtp: Option<tokio::task::JoinHandle<()>>,
}

/// What the API runs beside its HTTP server: the embedded workers (job table), or the
/// outbox relay to RabbitMQ (scale-out, where the workers are separate processes).
pub enum Background {
    Workers(EmbeddedWorkers),
    Relay(RelayThread),
}

impl Background {
    /// Stops taking work, lets what is under way finish, and waits for it.
    pub fn stop(self) {
        match self {
            Background::Workers(workers) => workers.stop(),
            Background::Relay(relay) => relay.stop(),
        }
    }
}

impl Application {
    /// Connects, migrates, and binds the listener (port 0 picks a free port).
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.http_addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.http_addr))?;
        let port = listener.local_addr()?.port();
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        if settings.public_url_derived {
            settings.public_url = format!("{scheme}://{}", listener.local_addr()?);
        }
        let pool = build_pool(&settings.database_url, &settings.pool);
        let migrate_pool = pool.clone();
        let bootstrap = settings.is_embedded();
        let first_account = web::block(move || {
            let mut conn = checkout(&migrate_pool)?;
            let applied = run_migrations(&mut conn)?;
            if applied > 0 {
                tracing::info!(applied, "database migrations applied");
            }
            if bootstrap {
                ensure_default_account(&mut conn)
            } else {
                Ok(None)
            }
        })
        .await??;
        // Secrets go to standard output only when it is a terminal: otherwise it usually
        // ends in a log file, so the output says where they are kept instead.
        let terminal = std::io::stdout().is_terminal();
        if let Some((account, key)) = first_account {
            let key_id = key.key.id.to_string();
            if terminal {
                print_welcome(
                    &settings,
                    &account.name,
                    &key_id,
                    key.secret.expose_secret(),
                );
            } else {
                let path =
                    keep_first_api_key(&settings.data_dir, &key_id, key.secret.expose_secret())?;
                println!(
                    "First start: account `{}` created. Its API key (api_key_id, api_key_secret) and the admin token are in {} (not printed: standard output is not a terminal).",
                    account.name,
                    path.display()
                );
            }
        } else if settings.generated_admin_token {
            if terminal {
                print_admin_token(&settings);
            } else {
                println!(
                    "Generated an admin token; it is in {}/secrets.json (not printed: standard output is not a terminal).",
                    settings.data_dir.display()
                );
            }
        }

        tracing::info!(addr = %listener.local_addr()?, "Mailroom API listening on {scheme}://{}", listener.local_addr()?);

        let doc = openapi::document();
        let known_paths = web::Data::new(KnownPaths::from_document(&doc));
        let relay = RelayThread::start(pool.clone(), &settings)?;
        let (events, event_writer) =
            EventSink::start(pool.clone(), relay.as_ref().map(RelayThread::publisher));
        let limits = Limits::new(&settings.limits);
        Limits::start_janitor(&limits);
        let state = AppState {
            events,
            limits,
            broker: relay.as_ref().map(RelayThread::state),
            pool: pool.clone(),
            tokens: Arc::new(TokenKeys::new(
                &settings.jwt_secret,
                settings.access_token_ttl,
            )?),
            key_status: Arc::new(KeyStatusCache::default()),
            signer: TokenSigner::new(&settings.signing_key),
            hash_key: HashKey::new(&settings.hash_key),
            secret_box: SecretBox::new(&settings.signing_key),
            renderer: Renderer::new(settings.render),
            settings: Arc::new(settings.clone()),
        };
        let inbound_smtp = match &settings.inbound_smtp_addr {
            Some(addr) => Some(start_inbound_smtp(addr, &state, &settings).await?),
            None => None,
        };
        let background = match relay {
            Some(relay) => Some(Background::Relay(relay)),
            None if settings.delivery.embedded_workers => Some(Background::Workers(
                EmbeddedWorkers::start(pool.clone(), state.settings.clone())?,
            )),
            None => None,
        };
        let body_limit = settings.body_limit;
        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(web::Data::new(state.clone()))
                .app_data(known_paths.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .configure(routes::configure)
                .split_for_parts();
            app.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()))
                .route("/docs", web::get().to(docs_redirect))
                .default_service(web::to(unmatched_request))
                .wrap(from_fn(body_timeout::cut_slow_bodies))
                .wrap(from_fn(telemetry::request_context))
        });
        let server = match &settings.tls {
            Some(files) => server.listen_rustls_0_23(listener, tls::server_config(files)?)?,
            None => server.listen(listener)?,
        };
        Ok(Application {
            port,
            server: server.run(),
            pool,
            background,
            event_writer,
            inbound_smtp,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Takes the embedded workers (or the relay) out of the application, so that a caller
    /// that does not wait for the server (a test) can stop them itself before it exits.
    pub fn take_background(&mut self) -> Option<Background> {
        self.background.take()
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT), then lets the embedded workers
    /// finish the jobs under way (or the relay its batch).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(listener) = &self.inbound_smtp {
            listener.abort();
        }
        // The server's handlers (and their event sinks) are gone: the writer drains.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.event_writer).await;
        if let Some(background) = self.background {
            let _ = actix_web::web::block(move || background.stop()).await;
        }
        served
    }
}

async fn start_inbound_smtp(
    addr: &str,
    state: &AppState,
    settings: &Settings,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for SMTP on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "receiving bounces and complaints over SMTP on {local}");
    let context = Arc::new(inbound_smtp::Context {
        pool: state.pool.clone(),
        policy: OutcomePolicy::new(&settings.delivery, state.hash_key.clone()),
        domain: settings.delivery.bounce_domain.clone(),
        size_limit: settings.body_limit,
    });
    Ok(tokio::spawn(inbound_smtp::serve(listener, context)))
}

async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header(("location", "/docs/"))
        .finish()
}

fn print_welcome(settings: &Settings, account: &str, key_id: &str, secret: &str) {
    let base = &settings.public_url;
    let admin = settings
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    println!(
        "\n  Welcome to Mailroom. This is the first start, so an account `{account}` was created.\n  \
         These secrets are shown once; the admin token is also kept in {dir}/secrets.json.\n\n    \
         API key id:     {key_id}\n    API key secret: {secret}\n    Admin token:    {admin}\n\n  \
         Get an access token:\n    curl -s {base}/v1/auth/token -H 'content-type: application/json' \\\n      \
         -d '{{\"key_id\": \"{key_id}\", \"secret\": \"{secret}\"}}'\n  API docs: {base}/docs/\n",
        dir = settings.data_dir.display()
    );
}

fn print_admin_token(settings: &Settings) {
    if let Some(token) = &settings.admin_token {
        println!(
            "\n  Generated admin token (kept in {}/secrets.json): {}\n",
            settings.data_dir.display(),
            token.expose_secret()
        );
    }
}
