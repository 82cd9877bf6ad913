//! [`UserStore`] and [`MerchantKeyStore`] on SQLite: one file, WAL, for
//! development and single-node deployments.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::{self, KeyInfoRow, KeyOwnerRow, UserRow};
use super::{
    KeyOwner, KeyRecord, MAX_LISTED_KEYS, MerchantKeyInfo, MerchantKeyStore, Revoke, StoreError,
    User, UserStore,
};
use crate::domain::{MerchantApiKey, MerchantId};

const BACKEND: &str = "sqlite";

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

impl SqliteUserStore {
    /// Opens (creating it and its directory if missing) the database at
    /// `url` (`sqlite://path/to/auth.db`, `sqlite:auth.db`) and runs the
    /// migrations in `migrations/sqlite`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. WAL,
    /// `busy_timeout`, foreign keys and `create_if_missing` are set here
    /// whatever `options` said.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = open(options).await?;
        tracing::debug!("sqlite user store ready");
        Ok(Self { pool })
    }

    /// [`UserStore::upsert`] with the time given, in epoch milliseconds.
    pub(crate) async fn upsert_at(&self, user: &User, now_ms: i64) -> Result<(), StoreError> {
        let query = sqlx::query(sql::UPSERT_USER_SQLITE)
            .bind(&user.openid)
            .bind(&user.nick_name)
            .bind(&user.avatar_url)
            .bind(user.gender)
            .bind(&user.city)
            .bind(&user.province)
            .bind(&user.country)
            .bind(&user.language)
            .bind(now_ms)
            .bind(now_ms);
        sql::bounded(BACKEND, query.execute(&self.pool)).await?;
        Ok(())
    }

    /// `(created_at, updated_at)` of the openid's row.
    #[cfg(test)]
    pub(crate) async fn timestamps(&self, openid: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let query = sqlx::query_as::<_, (i64, i64)>(sql::SELECT_USER_TIMES).bind(openid);
        sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await
    }
}

/// Opens the pool (WAL, `busy_timeout`, foreign keys, `create_if_missing`
/// whatever `options` said) and runs the migrations in `migrations/sqlite`.
async fn open(options: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    create_parent_dir(options.get_filename())?;
    let pool = sql::bounded(
        BACKEND,
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
    Ok(pool)
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

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn upsert(&self, user: &User) -> Result<(), StoreError> {
        self.upsert_at(user, sql::now_millis()).await
    }

    async fn get(&self, openid: &str) -> Result<Option<User>, StoreError> {
        let query = sqlx::query_as::<_, UserRow>(sql::SELECT_USER).bind(openid);
        let row = sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await?;
        Ok(row.map(User::from))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sql::bounded(BACKEND, sqlx::query(sql::PING).execute(&self.pool)).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

/// Merchant API keys in the same SQLite database as the users.
#[derive(Debug, Clone)]
pub struct SqliteMerchantKeyStore {
    pool: SqlitePool,
}

impl SqliteMerchantKeyStore {
    /// Opens the database at `url` as [`SqliteUserStore::connect`] does
    /// (running the same migrations); safe while another process, such as
    /// the running stack, has it open.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = open(options).await?;
        tracing::debug!("sqlite merchant key store ready");
        Ok(Self { pool })
    }

    /// On the user store's pool: same database, no second pool.
    pub(crate) fn sharing(users: &SqliteUserStore) -> Self {
        Self {
            pool: users.pool.clone(),
        }
    }

    #[cfg(test)]
    pub(crate) async fn raw_row(
        &self,
        key_id: &crate::domain::KeyId,
    ) -> Result<Option<sql::RawKeyRow>, StoreError> {
        let query = sqlx::query_as::<_, sql::RawKeyRow>(sql::SELECT_KEY_ROW).bind(key_id.as_str());
        sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await
    }
}

#[async_trait]
impl MerchantKeyStore for SqliteMerchantKeyStore {
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let query = sqlx::query(sql::INSERT_KEY)
            .bind(record.key_id.as_str())
            .bind(record.merchant_id.as_str())
            .bind(record.key_hash.as_str())
            .bind(record.created_at_ms);
        sql::bounded(BACKEND, query.execute(&self.pool)).await?;
        Ok(())
    }

    async fn resolve(&self, key: &MerchantApiKey) -> Result<Option<KeyOwner>, StoreError> {
        let hash = key.hash();
        let query = sqlx::query_as::<_, KeyOwnerRow>(sql::RESOLVE_KEY).bind(hash.as_str());
        let row = sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await?;
        row.map(|row| row.parse(BACKEND)).transpose()
    }

    async fn revoke(&self, which: &Revoke) -> Result<u64, StoreError> {
        let now = sql::now_millis();
        let query = match which {
            Revoke::Key(key_id) => sqlx::query(sql::REVOKE_KEY).bind(now).bind(key_id.as_str()),
            Revoke::MerchantKey(merchant_id, key_id) => sqlx::query(sql::REVOKE_MERCHANT_KEY)
                .bind(now)
                .bind(key_id.as_str())
                .bind(merchant_id.as_str()),
            Revoke::Merchant(merchant_id) => sqlx::query(sql::REVOKE_MERCHANT_KEYS)
                .bind(now)
                .bind(merchant_id.as_str()),
        };
        let done = sql::bounded(BACKEND, query.execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    async fn list(&self, merchant_id: &MerchantId) -> Result<Vec<MerchantKeyInfo>, StoreError> {
        let query = sqlx::query_as::<_, KeyInfoRow>(sql::LIST_KEYS)
            .bind(merchant_id.as_str())
            .bind(i64::from(MAX_LISTED_KEYS));
        let rows = sql::bounded(BACKEND, query.fetch_all(&self.pool)).await?;
        rows.into_iter().map(|row| row.parse(BACKEND)).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sql::bounded(BACKEND, sqlx::query(sql::PING).execute(&self.pool)).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}
