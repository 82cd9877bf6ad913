//! What the MariaDB/MySQL and SQLite user stores share: the statements both
//! dialects read the same way, the two upserts side by side, the row type,
//! and the one mapping from `sqlx::Error` to [`StoreError`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{StoreError, User};

/// How long a pool waits for a connection (and so how long an unreachable
/// database takes to be reported `Unavailable`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most one statement may take, connection included, before the store
/// gives up and reports the database `Unavailable`.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) const SELECT_USER: &str = "SELECT openid, nick_name, avatar_url, gender, city, \
     province, country, language FROM users WHERE openid = ?";

#[cfg(test)]
pub(crate) const SELECT_USER_TIMES: &str =
    "SELECT created_at, updated_at FROM users WHERE openid = ?";

pub(crate) const PING: &str = "SELECT 1";

/// Binds: openid, nick_name, avatar_url, gender, city, province, country,
/// language, created_at, updated_at. An existing row keeps its created_at.
pub(crate) const UPSERT_USER_SQLITE: &str = "INSERT INTO users (openid, nick_name, avatar_url, \
     gender, city, province, country, language, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT(openid) DO UPDATE SET nick_name = excluded.nick_name, \
     avatar_url = excluded.avatar_url, gender = excluded.gender, city = excluded.city, \
     province = excluded.province, country = excluded.country, \
     language = excluded.language, updated_at = excluded.updated_at";

/// The same binds as [`UPSERT_USER_SQLITE`]. `VALUES(col)` rather than a row
/// alias because MariaDB has no row alias; no assignment reads a column
/// assigned earlier in the list.
pub(crate) const UPSERT_USER_MYSQL: &str = "INSERT INTO users (openid, nick_name, avatar_url, \
     gender, city, province, country, language, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON DUPLICATE KEY UPDATE nick_name = VALUES(nick_name), \
     avatar_url = VALUES(avatar_url), gender = VALUES(gender), city = VALUES(city), \
     province = VALUES(province), country = VALUES(country), \
     language = VALUES(language), updated_at = VALUES(updated_at)";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    openid: String,
    nick_name: String,
    avatar_url: String,
    gender: i32,
    city: String,
    province: String,
    country: String,
    language: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        let UserRow {
            openid,
            nick_name,
            avatar_url,
            gender,
            city,
            province,
            country,
            language,
        } = row;
        Self {
            openid,
            nick_name,
            avatar_url,
            gender,
            city,
            province,
            country,
            language,
        }
    }
}

/// Milliseconds since the Unix epoch, as the tables store times.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Rows that cannot be read back as the types we wrote are `Corrupt`;
/// everything else (refused or lost connections, timeouts, statements the
/// server rejects) is `Unavailable`.
pub(crate) fn store_error(backend: &'static str, err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt {
            backend,
            detail: err.to_string(),
        },
        other => StoreError::Unavailable {
            backend,
            detail: other.to_string(),
        },
    }
}

/// Runs one database operation under [`STATEMENT_TIMEOUT`].
pub(crate) async fn bounded<T>(
    backend: &'static str,
    operation: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    within(backend, STATEMENT_TIMEOUT, operation)
        .await?
        .map_err(|err| store_error(backend, err))
}

/// `Unavailable` when `operation` has not finished after `limit`.
pub(crate) async fn within<T>(
    backend: &'static str,
    limit: Duration,
    operation: impl Future<Output = T>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, operation)
        .await
        .map_err(|_| StoreError::Unavailable {
            backend,
            detail: format!("no answer within {} ms", limit.as_millis()),
        })
}
