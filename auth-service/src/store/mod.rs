//! Where auth-service keeps state: sessions ([`SessionStore`]: Redis or
//! memory) and users ([`UserStore`]: MariaDB/MySQL or SQLite), each chosen
//! once from configuration.

use std::time::Duration;

use async_trait::async_trait;
use wechat::SessionKey;

#[cfg(test)]
mod contract_tests;
mod memory;
mod mysql;
mod redis;
mod sql;
mod sqlite;

pub use memory::MemorySessionStore;
pub use mysql::MySqlUserStore;
pub use redis::RedisSessionStore;
pub use sqlite::SqliteUserStore;

/// What can go wrong in a store. A backend that does not answer in time is
/// `Unavailable` (the gateway's 503, naming the backend), never a hang.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{backend} is unavailable: {detail}")]
    Unavailable {
        backend: &'static str,
        detail: String,
    },
    #[error("{backend} returned data that does not fit: {detail}")]
    Corrupt {
        backend: &'static str,
        detail: String,
    },
}

/// A token is kept only as the SHA-256 of its text (lowercase hex): a
/// stolen store does not yield usable tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// The [`TokenHash`] of a token's text.
pub fn token_hash(token: &str) -> TokenHash {
    use sha2::{Digest, Sha256};
    TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
}

/// Sessions: token → openid with a sliding TTL, and per openid the
/// session_key of the user's latest login (a new login replaces it, so
/// decryption always uses the newest key).
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Records a login: `token` now names `openid`, and `session_key`
    /// replaces the openid's previous key. Both live `ttl`.
    async fn create(
        &self,
        token: &TokenHash,
        openid: &str,
        session_key: &SessionKey,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// The openid behind `token`, renewing the token (and the openid's
    /// session_key) for another `ttl`. `None` when unknown or expired.
    async fn resolve(&self, token: &TokenHash, ttl: Duration)
    -> Result<Option<String>, StoreError>;

    /// The openid's current session_key, if it has not expired.
    async fn session_key(&self, openid: &str) -> Result<Option<SessionKey>, StoreError>;

    /// Revokes `token` at once; whether it existed.
    async fn revoke(&self, token: &TokenHash) -> Result<bool, StoreError>;

    /// Answers when the backend answers (for /readyz).
    async fn ping(&self) -> Result<(), StoreError>;

    /// `"redis"` or `"memory"`, for readiness reports and errors.
    fn backend(&self) -> &'static str;
}

/// A mini-program user as decrypted from `wx.getUserInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub openid: String,
    pub nick_name: String,
    pub avatar_url: String,
    pub gender: i32,
    pub city: String,
    pub province: String,
    pub country: String,
    pub language: String,
}

#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Inserts the user or replaces every field of the existing row.
    async fn upsert(&self, user: &User) -> Result<(), StoreError>;

    async fn get(&self, openid: &str) -> Result<Option<User>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;

    /// `"mysql"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
}
