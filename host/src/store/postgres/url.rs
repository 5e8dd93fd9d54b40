//! `DatabaseUrl`: a PostgreSQL connection string, checked when read and never shown with its
//! password.

use std::str::FromStr;

/// `postgres://user:password@host:port/database?options` (or the `key=value` form libpq takes).
/// With `sslmode=require` the connection uses TLS and verifies the server's certificate against
/// the public roots and the operator's `extra_ca_file`; otherwise it is plaintext.
/// `Debug` and `Display` show the user, hosts and database but never the password, so the
/// config can be logged and errors can name the database.
#[derive(Clone)]
pub struct DatabaseUrl {
    text: String,
    /// Boxed: the driver's config is ~300 bytes, and this travels inside errors.
    config: Box<tokio_postgres::Config>,
}

/// Why a text is not a connection string; says nothing of the text, which may hold a password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a PostgreSQL connection string (postgres://user:password@host:port/database): {0}")]
pub struct DatabaseUrlError(String);

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let config = tokio_postgres::Config::from_str(text)
            // The driver's message names the bad part, never the password's value.
            .map_err(|error| DatabaseUrlError(error.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(DatabaseUrlError("no host".to_owned()));
        }
        // TLS is used when asked for, and then verified; `prefer` (the driver's default) would
        // try TLS against certificates nobody checks, so it means plaintext here.
        let mut config = config;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        Ok(Self { text: text.to_owned(), config: Box::new(config) })
    }
}

impl<'de> serde::Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl DatabaseUrl {
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The same server and credentials, another database: tests make one per test.
    pub fn with_database(&self, database: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(database);
        Self { text: self.text.clone(), config }
    }

    pub fn database(&self) -> Option<&str> {
        self.config.get_dbname()
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.config.get_dbname() == other.config.get_dbname()
    }
}

impl Eq for DatabaseUrl {}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.config.get_user().unwrap_or("");
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(self.config.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(host, port)| match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let password = if self.config.get_password().is_some() { ":<redacted>" } else { "" };
        write!(f, "postgres://{user}{password}@{}/{}", hosts.join(","), self.database().unwrap_or(""))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.internal:6432/fallback".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:<redacted>@db.internal:6432/fallback");
        assert!(!format!("{url:?}").contains("hunter2"));
        let bad = "postgres://app:hunter2@db:notaport/x".parse::<DatabaseUrl>().unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn another_database_on_the_same_server() {
        let url: DatabaseUrl = "postgres://postgres@127.0.0.1:5432/test".parse().unwrap();
        let other = url.with_database("fb_t1");
        assert_eq!(other.to_string(), "postgres://postgres@127.0.0.1:5432/fb_t1");
    }
}
