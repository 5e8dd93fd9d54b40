//! The backends the suites run on: SQLite in the host's data dir, and PostgreSQL in a fresh
//! database per test on the server `FALLBACK_TEST_DATABASE_URL` names, dropped afterwards.
//!
//! Without that variable the PostgreSQL runs are skipped with a note, unless `CI` is set: then
//! they fail, so CI cannot pass without having run them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fallback_host::config::Config;
use fallback_host::secret_key::SecretKey;
use fallback_host::store::DatabaseUrl;

/// The server tests make their databases on, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const TEST_DATABASE_URL: &str = "FALLBACK_TEST_DATABASE_URL";
/// Every node of a test shares it, as the nodes of a deployment must.
pub const TEST_SECRET_KEY: &str = "3f1c0e6a9b2d4c8e7f6a5b4c3d2e1f00112233445566778899aabbccddeeff00";

/// Where a test's host keeps its data.
#[derive(Clone)]
pub enum Backend {
    Sqlite,
    Postgres(Arc<TestDatabase>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Postgres(database) => write!(f, "postgres ({})", database.url),
        }
    }
}

impl Backend {
    /// A fresh database for `test`, or `None` (said on stderr) when no server is configured
    /// outside CI.
    pub async fn postgres(test: &str) -> Option<Self> {
        TestDatabase::create(test).await.map(|database| Self::Postgres(Arc::new(database)))
    }

    /// Points a host's config at this backend.
    pub fn configure(&self, config: &mut Config) {
        if let Self::Postgres(database) = self {
            config.database_url = Some(database.url.clone());
            config.secret_key = Some(SecretKey::parse(TEST_SECRET_KEY).expect("test key"));
        }
    }

    /// The environment a `serve` process needs for this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Sqlite => Vec::new(),
            Self::Postgres(database) => vec![
                ("FALLBACK_DATABASE_URL", database.url_text()),
                ("FALLBACK_SECRET_KEY", TEST_SECRET_KEY.to_owned()),
            ],
        }
    }
}

/// A database of its own for one test, dropped (with its connections) when this is.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    server: DatabaseUrl,
    name: String,
}

impl TestDatabase {
    pub async fn create(test: &str) -> Option<Self> {
        let text = match std::env::var(TEST_DATABASE_URL) {
            Ok(text) if !text.trim().is_empty() => text,
            _ if std::env::var_os("CI").is_some() => {
                panic!("{TEST_DATABASE_URL} is not set, and CI must run the PostgreSQL tests ({test})")
            }
            _ => {
                eprintln!(
                    "skipped {test} on PostgreSQL: set {TEST_DATABASE_URL} (e.g. postgres://postgres@127.0.0.1:5432/test)"
                );
                return None;
            }
        };
        let server: DatabaseUrl = text.parse().expect("FALLBACK_TEST_DATABASE_URL parses");
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fbt_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect::<String>()
        )
        .to_lowercase();
        let client = connect(&server).await;
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("CREATE DATABASE");
        Some(Self { url: server.with_database(&name), server, name })
    }

    /// The URL as text, for a child process's environment.
    pub fn url_text(&self) -> String {
        let config = self.url.config();
        let host = match config.get_hosts().first() {
            Some(fallback_host::store::PgHost::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        let password = config
            .get_password()
            .map(|password| format!(":{}", String::from_utf8_lossy(password)))
            .unwrap_or_default();
        format!("postgres://{user}{password}@{host}:{port}/{}", self.name)
    }

    /// Runs SQL on the test's database as the server's user: to break things on purpose.
    pub async fn execute(&self, sql: &str) {
        connect(&self.server).await.batch_execute(sql).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on itself: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let client = connect(&server).await;
                client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database: {error}");
        }
    }
}

async fn connect(url: &DatabaseUrl) -> tokio_postgres::Client {
    let (client, connection) = url
        .config()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {url} ({TEST_DATABASE_URL}): {error}"));
    tokio::spawn(connection);
    client
}

/// Runs each named `async fn(Backend)` as two tests, `NAME::sqlite` and `NAME::postgres`: one
/// suite, both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::database::Backend::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(backend) = $crate::database::Backend::postgres(stringify!($test)).await {
                    super::$test(backend).await
                }
            }
        }
    )*};
}
