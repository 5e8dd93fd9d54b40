//! `fallback-host migrate` and `fallback-host db copy`: the operator's database commands.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Config;
use crate::outbound::{load_ca_file, tls_client_config};
use crate::secret_key::{SECRET_KEY_FILE, SecretKey, load_or_create_secret_key};
use crate::store::{DB_FILE, DatabaseUrl, PgStore, SharedStore, SqliteStore};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy everything (projects with their key hashes, intents, webhooks, secrets, plugin
    /// versions, conversations) from one store into another, then compare the row counts.
    ///
    /// Stop the hosts writing to the source first. A PostgreSQL target's secrets are sealed
    /// under FALLBACK_SECRET_KEY, the key its nodes will run with; a data dir source is read
    /// with its own key file.
    Copy {
        /// A data dir (holding fallback.db) or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// A postgres:// URL or a data dir.
        #[arg(long)]
        to: String,
        /// Delete whatever the target holds first, instead of refusing a non-empty target.
        #[arg(long)]
        replace: bool,
    },
}

/// Where a store lives, as the operator names it on the command line.
#[derive(Debug, Clone)]
enum Location {
    DataDir(PathBuf),
    Postgres(DatabaseUrl),
}

impl FromStr for Location {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Self::Postgres(text.parse()?))
        } else {
            Ok(Self::DataDir(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DataDir(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// `migrate`: brings the configured store's schema up to date without serving.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    match &config.database_url {
        Some(url) => {
            let applied =
                PgStore::migrate(url, tls(config)?).await.with_context(|| format!("migrating {url}"))?;
            println!("{url}: {applied} migration(s) applied; the schema is up to date");
        }
        None => {
            let dir = config.data_dir.clone();
            tokio::task::spawn_blocking(move || SqliteStore::migrate(&dir))
                .await?
                .with_context(|| format!("migrating {}", config.data_dir.display()))?;
            println!("{}: the schema is up to date", config.data_dir.join(DB_FILE).display());
        }
    }
    Ok(())
}

pub async fn execute(command: DbCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        DbCommand::Copy { from, to, replace } => {
            let (from, to): (Location, Location) = (from.parse()?, to.parse()?);
            let source =
                open(&from, config, true).await.with_context(|| format!("opening the source {from}"))?;
            let target =
                open(&to, config, false).await.with_context(|| format!("opening the target {to}"))?;
            let counts = crate::store::copy(source.as_ref(), target.as_ref(), replace)
                .await
                .with_context(|| format!("copying {from} to {to}"))?;
            println!("copied {from} to {to}: {counts}; the counts match");
            Ok(())
        }
    }
}

/// Opens a store at `location`. A source data dir must already hold a database (a typo must not
/// create an empty one) and is read with its own key file when it has one.
async fn open(location: &Location, config: &Config, source: bool) -> anyhow::Result<SharedStore> {
    match location {
        Location::Postgres(url) => {
            let Some(key) = &config.secret_key else {
                bail!(
                    "set FALLBACK_SECRET_KEY to the key the nodes on {url} run with (it seals the secrets)"
                );
            };
            let (store, _) = PgStore::connect(url, key, None, tls(config)?).await?;
            Ok(Arc::new(store))
        }
        Location::DataDir(dir) => {
            if source && !dir.join(DB_FILE).is_file() {
                bail!("{} holds no {DB_FILE}", dir.display());
            }
            let key = data_dir_key(dir, config.secret_key.as_ref(), source)?;
            let dir = dir.clone();
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open_sealed(&dir, &key, None)).await??.0;
            Ok(Arc::new(store))
        }
    }
}

/// TLS to PostgreSQL (with `sslmode=require`) trusts what the webhooks' TLS does: the public
/// roots and the operator's `extra_ca_file`.
fn tls(config: &Config) -> anyhow::Result<rustls::ClientConfig> {
    let extra = match &config.extra_ca_file {
        Some(path) => {
            load_ca_file(path).with_context(|| format!("reading extra_ca_file {}", path.display()))?
        }
        None => Vec::new(),
    };
    Ok(tls_client_config(&extra)?)
}

/// The data dir's key file when it has one (a source is read with the key it was sealed
/// with); else the configured key; else, for a target, a new key file as `serve` would make.
fn data_dir_key(dir: &Path, configured: Option<&SecretKey>, source: bool) -> anyhow::Result<SecretKey> {
    if dir.join(SECRET_KEY_FILE).is_file() {
        return Ok(load_or_create_secret_key(dir, None)?.0);
    }
    match configured {
        Some(key) => Ok(key.clone()),
        // A source without a key file holds no sealed secret any key could open: any key reads it.
        None if source => Ok(SecretKey::generate()?),
        None => Ok(load_or_create_secret_key(dir, None)?.0),
    }
}
