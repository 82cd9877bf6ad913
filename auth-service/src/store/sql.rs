//! What the MariaDB/MySQL and SQLite user and merchant key stores share: the
//! statements both dialects read the same way, the two upserts side by side,
//! the row types, and the one mapping from `sqlx::Error` to [`StoreError`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{KeyOwner, MerchantKeyInfo, StoreError, User};
use crate::domain::{KeyId, MerchantId};

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

/// Binds: key_id, merchant_id, key_hash, created_at.
pub(crate) const INSERT_KEY: &str = "INSERT INTO merchant_keys \
     (key_id, merchant_id, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)";

/// Binds: key_hash. The one place a presented key is compared: by the
/// database, through the unique index on key_hash.
pub(crate) const RESOLVE_KEY: &str = "SELECT merchant_id, key_id FROM merchant_keys \
     WHERE key_hash = ? AND revoked_at IS NULL";

/// Binds: revoked_at, key_id.
pub(crate) const REVOKE_KEY: &str = "UPDATE merchant_keys SET revoked_at = ? \
     WHERE key_id = ? AND revoked_at IS NULL";

/// Binds: revoked_at, key_id, merchant_id.
pub(crate) const REVOKE_MERCHANT_KEY: &str = "UPDATE merchant_keys SET revoked_at = ? \
     WHERE key_id = ? AND merchant_id = ? AND revoked_at IS NULL";

/// Binds: revoked_at, merchant_id.
pub(crate) const REVOKE_MERCHANT_KEYS: &str = "UPDATE merchant_keys SET revoked_at = ? \
     WHERE merchant_id = ? AND revoked_at IS NULL";

/// Binds: merchant_id, limit. Served by the (merchant_id, created_at) index.
pub(crate) const LIST_KEYS: &str = "SELECT key_id, merchant_id, created_at, revoked_at \
     FROM merchant_keys WHERE merchant_id = ? \
     ORDER BY created_at DESC, key_id DESC LIMIT ?";

/// The whole stored row, for tests that check what is (not) kept.
#[cfg(test)]
pub(crate) const SELECT_KEY_ROW: &str = "SELECT key_id, merchant_id, key_hash, created_at, \
     revoked_at FROM merchant_keys WHERE key_id = ?";

/// A stored row as tests read it: key_id, merchant_id, key_hash,
/// created_at, revoked_at.
#[cfg(test)]
pub(crate) type RawKeyRow = (String, String, String, i64, Option<i64>);

fn corrupt(backend: &'static str, what: &str, err: crate::AuthError) -> StoreError {
    StoreError::Corrupt {
        backend,
        detail: format!("merchant_keys.{what}: {err}"),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyOwnerRow {
    merchant_id: String,
    key_id: String,
}

impl KeyOwnerRow {
    pub(crate) fn parse(self, backend: &'static str) -> Result<KeyOwner, StoreError> {
        Ok(KeyOwner {
            merchant_id: MerchantId::parse(self.merchant_id)
                .map_err(|e| corrupt(backend, "merchant_id", e))?,
            key_id: KeyId::parse(self.key_id).map_err(|e| corrupt(backend, "key_id", e))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyInfoRow {
    key_id: String,
    merchant_id: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl KeyInfoRow {
    pub(crate) fn parse(self, backend: &'static str) -> Result<MerchantKeyInfo, StoreError> {
        Ok(MerchantKeyInfo {
            key_id: KeyId::parse(self.key_id).map_err(|e| corrupt(backend, "key_id", e))?,
            merchant_id: MerchantId::parse(self.merchant_id)
                .map_err(|e| corrupt(backend, "merchant_id", e))?,
            created_at_ms: self.created_at,
            revoked_at_ms: self.revoked_at,
        })
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
