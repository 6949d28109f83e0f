//! Building and running the HTTP application.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use mailroom_domain::accounts::ensure_default_account;
use mailroom_domain::config::Settings;
use mailroom_domain::store::{Pool, build_pool, checkout, run_migrations};
use mailroom_domain::suppressions::HashKey;
use mailroom_domain::tokens::TokenSigner;
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use mailroom_worker::embedded::EmbeddedWorkers;

use crate::auth::{KeyStatusCache, TokenKeys};
use crate::extract::path_error;
use crate::problem::unknown_route;
use crate::state::AppState;
use crate::{openapi, routes, telemetry, tls};

pub struct Application {
    port: u16,
    server: Server,
    pool: Pool,
    workers: Option<EmbeddedWorkers>,
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
        if let Some((account, key)) = first_account {
            print_welcome(
                &settings,
                &account.name,
                &key.key.id.to_string(),
                key.secret.expose_secret(),
            );
        } else if settings.generated_admin_token {
            print_admin_token(&settings);
        }

        tracing::info!(addr = %listener.local_addr()?, "Mailroom API listening on {scheme}://{}", listener.local_addr()?);

        let doc = openapi::document();
        let state = AppState {
            pool: pool.clone(),
            tokens: Arc::new(TokenKeys::new(
                &settings.jwt_secret,
                settings.access_token_ttl,
            )?),
            key_status: Arc::new(KeyStatusCache::default()),
            signer: TokenSigner::new(&settings.signing_key),
            hash_key: HashKey::new(&settings.hash_key),
            settings: Arc::new(settings.clone()),
        };
        let workers = if settings.delivery.embedded_workers {
            Some(EmbeddedWorkers::start(
                pool.clone(),
                state.settings.clone(),
            )?)
        } else {
            None
        };
        let body_limit = settings.body_limit;
        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .configure(routes::configure)
                .split_for_parts();
            app.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()))
                .route("/docs", web::get().to(docs_redirect))
                .default_service(web::to(unknown_route))
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
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Takes the embedded workers out of the application, so that a caller that does not
    /// wait for the server (a test) can stop them itself before its process exits.
    pub fn take_workers(&mut self) -> Option<EmbeddedWorkers> {
        self.workers.take()
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT), then lets the embedded workers
    /// finish the jobs under way.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(workers) = self.workers {
            let _ = actix_web::web::block(move || workers.stop()).await;
        }
        served
    }
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
