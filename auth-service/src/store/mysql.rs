//! [`UserStore`] and [`MerchantKeyStore`] on MariaDB/MySQL: InnoDB, utf8mb4
//! end to end.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use super::sql::{self, KeyInfoRow, KeyOwnerRow, UserRow};
use super::{
    KeyOwner, KeyRecord, MAX_LISTED_KEYS, MerchantKeyInfo, MerchantKeyStore, Revoke, StoreError,
    User, UserStore,
};
use crate::domain::{MerchantApiKey, MerchantId};

const BACKEND: &str = "mysql";

/// The connection's character set and collation. `_bin` compares bytes,
/// as SQLite does, and keeps case-sensitive openids apart.
const CHARSET: &str = "utf8mb4";
const COLLATION: &str = "utf8mb4_bin";

#[derive(Debug, Clone)]
pub struct MySqlUserStore {
    pool: MySqlPool,
}

impl MySqlUserStore {
    /// Connects to `url` (`mysql://user:password@host:3306/database`) and
    /// runs the migrations in `migrations/mysql`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            MySqlConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. The
    /// connection charset is set to utf8mb4 here whatever `options` said.
    pub async fn connect_with(options: MySqlConnectOptions) -> Result<Self, StoreError> {
        let pool = open(options, "mysql user store ready").await?;
        Ok(Self { pool })
    }

    /// [`UserStore::upsert`] with the time given, in epoch milliseconds.
    pub(crate) async fn upsert_at(&self, user: &User, now_ms: i64) -> Result<(), StoreError> {
        let query = sqlx::query(sql::UPSERT_USER_MYSQL)
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

/// Opens the pool (utf8mb4 whatever `options` said) and runs the
/// migrations in `migrations/mysql`.
async fn open(options: MySqlConnectOptions, ready: &'static str) -> Result<MySqlPool, StoreError> {
    let options = options.charset(CHARSET).collation(COLLATION);
    let pool = sql::bounded(
        BACKEND,
        MySqlPoolOptions::new()
            .acquire_timeout(sql::ACQUIRE_TIMEOUT)
            .connect_with(options.clone()),
    )
    .await?;
    common::mysql::migrate_locked(
        &pool,
        &sqlx::migrate!("migrations/mysql"),
        "auth",
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
        "{ready}"
    );
    Ok(pool)
}

#[async_trait]
impl UserStore for MySqlUserStore {
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

/// Merchant API keys in the same MariaDB/MySQL database as the users.
#[derive(Debug, Clone)]
pub struct MySqlMerchantKeyStore {
    pool: MySqlPool,
}

impl MySqlMerchantKeyStore {
    /// Connects to `url` as [`MySqlUserStore::connect`] does (running the
    /// same migrations).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            MySqlConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed.
    pub async fn connect_with(options: MySqlConnectOptions) -> Result<Self, StoreError> {
        let pool = open(options, "mysql merchant key store ready").await?;
        Ok(Self { pool })
    }

    /// On the user store's pool: same database, no second pool.
    pub(crate) fn sharing(users: &MySqlUserStore) -> Self {
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
impl MerchantKeyStore for MySqlMerchantKeyStore {
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
