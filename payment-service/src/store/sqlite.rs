//! The stores on SQLite: one file, WAL, for development and single-node
//! deployments.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreError;
use super::sql::{self, sql_store};

const BACKEND: &str = "sqlite";

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// [`PaymentStore`](super::PaymentStore) and
/// [`NotificationLog`](super::NotificationLog) on SQLite.
#[derive(Debug, Clone)]
pub struct SqlitePaymentStore {
    pool: SqlitePool,
}

impl SqlitePaymentStore {
    /// Opens (creating it and its directory if missing) the database at
    /// `url` (`sqlite://path/to/payment.db`) and runs `migrations/sqlite`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| sql::store_error(BACKEND, "database", err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. WAL,
    /// `busy_timeout`, foreign keys and `create_if_missing` are set here
    /// whatever `options` said.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        create_parent_dir(options.get_filename())?;
        let pool = sql::bounded(
            BACKEND,
            "database",
            SqlitePoolOptions::new()
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_with(options),
        )
        .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|err| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("migrations failed: {err}"),
            })?;
        tracing::debug!("sqlite payment store ready");
        Ok(Self { pool })
    }
}

/// SQLite creates a missing file but not a missing directory.
fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|err| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("cannot create {}: {err}", dir.display()),
            }),
        _ => Ok(()),
    }
}

sql_store!(SqlitePaymentStore);
