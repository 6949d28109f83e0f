//! A migrated database of a test's own, on SQLite or PostgreSQL, the macro that runs a
//! test on both, and a campaign draft to hang messages on.

#![allow(dead_code)]

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use mailroom_domain::Id;
use mailroom_domain::campaigns::{Campaign, CampaignDraft};
use mailroom_domain::lists::MailingList;
use mailroom_domain::store::{DatabaseUrl, DbConnection, run_migrations};

/// A draft campaign of the account to a list of its own (made for it).
pub fn campaign(conn: &mut DbConnection, account: Id) -> Id {
    let list = MailingList::create(conn, account, &format!("List {}", Id::new()), None, false)
        .expect("a list")
        .id;
    Campaign::create(
        conn,
        account,
        CampaignDraft {
            name: Some("News".into()),
            list_ids: Some(vec![list]),
            subject: Some("Hello".into()),
            from_email: Some("news@example.com".into()),
            html: Some("<p>Hello</p>".into()),
            ..CampaignDraft::default()
        },
    )
    .expect("a campaign")
    .id
}

pub fn postgres_admin_url() -> String {
    std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A migrated database of the test's own, removed on drop.
pub struct TestDb {
    url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(PathBuf),
    PostgresDatabase(String),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!(
            "mailroom-domain-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let url = DatabaseUrl::parse(&dir.join("mailroom.db").to_string_lossy()).unwrap();
        let db = TestDb {
            url,
            cleanup: Cleanup::Directory(dir),
        };
        db.migrate();
        db
    }

    pub fn postgres() -> TestDb {
        let admin = postgres_admin_url();
        let name = format!("mailroom_domain_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::establish(&admin)
            .expect("PostgreSQL for tests (MAILROOM_TEST_POSTGRES_URL)");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        let db = TestDb {
            url: DatabaseUrl::parse(&format!("{base}/{name}?sslmode=disable")).unwrap(),
            cleanup: Cleanup::PostgresDatabase(name),
        };
        db.migrate();
        db
    }

    fn migrate(&self) {
        run_migrations(&mut self.open()).unwrap();
    }

    /// A connection of its own.
    pub fn open(&self) -> DbConnection {
        DbConnection::open(&self.url).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDatabase(name) => {
                if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn);
                }
            }
        }
    }
}

/// Runs each `fn name(db: &TestDb)` on SQLite and on PostgreSQL (the test file imports
/// `support::TestDb`).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::TestDb::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::TestDb::postgres());
                }
            )*
        }
    };
}
