//! `DATABASE_URL`: which backend, where, and how to name it in a log without its password.

use std::path::{Path, PathBuf};

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres { url: url::Url },
    Sqlite { path: PathBuf },
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…`, `sqlite://path` / `sqlite:path` or a bare file path.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = url::Url::parse(raw)
                .map_err(|e| Error::Config(format!("DATABASE_URL is not a valid URL: {e}")))?;
            return Ok(DatabaseUrl::Postgres { url });
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() || path.contains("://") {
            return Err(Error::Config(
                "DATABASE_URL must start with postgres:// or sqlite://".into(),
            ));
        }
        Ok(DatabaseUrl::Sqlite {
            path: PathBuf::from(path),
        })
    }

    pub fn sqlite_in(data_dir: &Path) -> Self {
        DatabaseUrl::Sqlite {
            path: data_dir.join("mailroom.db"),
        }
    }

    /// The string handed to the driver. PostgreSQL gets a connect timeout unless the URL
    /// sets one, so an unreachable host fails a request instead of hanging it.
    pub fn connect_string(&self) -> String {
        match self {
            DatabaseUrl::Postgres { url } => {
                let mut url = url.clone();
                if !url.query_pairs().any(|(k, _)| k == "connect_timeout") {
                    url.query_pairs_mut().append_pair("connect_timeout", "5");
                }
                url.to_string()
            }
            DatabaseUrl::Sqlite { path } => path.to_string_lossy().into_owned(),
        }
    }

    /// Host, port and database (or the SQLite path): safe to log and to show.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Postgres { url } => format!(
                "{}:{}{}",
                url.host_str().unwrap_or("localhost"),
                url.port().unwrap_or(5432),
                url.path()
            ),
            DatabaseUrl::Sqlite { path } => format!("sqlite:{}", path.display()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_names_the_host_but_never_the_password() {
        let url =
            DatabaseUrl::parse("postgres://mailroom:s3cret@db.internal:6543/mailroom").unwrap();
        let shown = url.redacted();
        assert_eq!(shown, "db.internal:6543/mailroom");
        assert!(!shown.contains("s3cret"));
        assert!(url.connect_string().contains("connect_timeout=5"));
    }

    #[test]
    fn sqlite_urls_and_paths_are_accepted() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/m.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "data/m.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/m.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "/tmp/m.db".into()
            }
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
