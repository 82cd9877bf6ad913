//! [`UserStore`] on MariaDB/MySQL: InnoDB, utf8mb4 end to end.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use super::sql::{self, UserRow};
use super::{StoreError, User, UserStore};

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
        let options = options.charset(CHARSET).collation(COLLATION);
        let pool = sql::bounded(
            BACKEND,
            MySqlPoolOptions::new()
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_with(options.clone()),
        )
        .await?;
        sqlx::migrate!("migrations/mysql")
            .run(&pool)
            .await
            .map_err(|err| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("migrations failed: {err}"),
            })?;
        tracing::debug!(
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            "mysql user store ready"
        );
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
