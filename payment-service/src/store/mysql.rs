//! The stores on MariaDB/MySQL: InnoDB, utf8mb4 end to end.

use std::str::FromStr;

use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use super::StoreError;
use super::sql::{self, sql_store};

const BACKEND: &str = "mysql";

/// The connection's character set and collation. `_bin` compares bytes, as
/// SQLite does.
const CHARSET: &str = "utf8mb4";
const COLLATION: &str = "utf8mb4_bin";

/// [`PaymentStore`](super::PaymentStore) and
/// [`NotificationLog`](super::NotificationLog) on MariaDB/MySQL.
#[derive(Debug, Clone)]
pub struct MySqlPaymentStore {
    pool: MySqlPool,
}

impl MySqlPaymentStore {
    /// Connects to `url` (`mysql://user:password@host:3306/database`) and
    /// runs `migrations/mysql`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|err| sql::store_error(BACKEND, "database", err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. The
    /// connection charset is set to utf8mb4 here whatever `options` said.
    pub async fn connect_with(options: MySqlConnectOptions) -> Result<Self, StoreError> {
        let options = options.charset(CHARSET).collation(COLLATION);
        let pool = sql::bounded(
            BACKEND,
            "database",
            MySqlPoolOptions::new()
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_with(options.clone()),
        )
        .await?;
        common::mysql::migrate_locked(
            &pool,
            &sqlx::migrate!("migrations/mysql"),
            "payment",
            std::time::Duration::from_secs(60),
        )
        .await
        .map_err(|detail| StoreError::Unavailable {
            backend: BACKEND,
            detail,
        })?;
        tracing::debug!(
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            "mysql payment store ready"
        );
        Ok(Self { pool })
    }
}

sql_store!(MySqlPaymentStore);
