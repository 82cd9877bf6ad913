//! Where auth-service keeps state: sessions ([`SessionStore`]: Redis or
//! memory), users ([`UserStore`]) and merchant API keys
//! ([`MerchantKeyStore`]) (both MariaDB/MySQL or SQLite, in the same
//! database), each chosen once from configuration.

use std::time::Duration;

use async_trait::async_trait;
use wechat::SessionKey;

use crate::domain::{KeyHash, KeyId, MerchantApiKey, MerchantId};

#[cfg(test)]
mod contract_tests;
mod memory;
mod mysql;
mod redis;
mod sql;
mod sqlite;

pub use memory::MemorySessionStore;
pub use mysql::{MySqlMerchantKeyStore, MySqlUserStore};
pub use redis::RedisSessionStore;
pub use sqlite::{SqliteMerchantKeyStore, SqliteUserStore};

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

/// A key just minted by [`MerchantKeyStore::create`]: the only time the key
/// itself exists outside its owner's hands. `Debug` redacts the key.
#[derive(Debug)]
pub struct CreatedKey {
    pub key_id: KeyId,
    pub merchant_id: MerchantId,
    pub api_key: MerchantApiKey,
    /// Epoch milliseconds.
    pub created_at_ms: i64,
}

/// Whose a live key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub merchant_id: MerchantId,
    pub key_id: KeyId,
}

/// A key as listed: ids and times, never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantKeyInfo {
    pub key_id: KeyId,
    pub merchant_id: MerchantId,
    /// Epoch milliseconds.
    pub created_at_ms: i64,
    /// Epoch milliseconds; `None` while the key is live.
    pub revoked_at_ms: Option<i64>,
}

/// Which keys [`MerchantKeyStore::revoke`] revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The key with this id, whoever's it is.
    Key(KeyId),
    /// The key with this id, only if it is this merchant's.
    MerchantKey(MerchantId, KeyId),
    /// Every live key of the merchant.
    Merchant(MerchantId),
}

/// The most keys [`MerchantKeyStore::list`] returns (the newest).
pub const MAX_LISTED_KEYS: u32 = 500;

/// Merchant API keys, kept as [`KeyHash`]es only. A key is verified by
/// looking its hash up in the database (through a unique index), never by a
/// comparison in Rust.
#[async_trait]
pub trait MerchantKeyStore: Send + Sync + std::fmt::Debug {
    /// Mints a key for `merchant_id` (256 bits from the CSPRNG) and stores
    /// its hash. The returned [`CreatedKey`] holds the only copy of the key.
    async fn create(&self, merchant_id: &MerchantId) -> Result<CreatedKey, StoreError> {
        let api_key = MerchantApiKey::generate();
        let record = KeyRecord {
            key_id: KeyId::generate(),
            merchant_id: merchant_id.clone(),
            key_hash: api_key.hash(),
            created_at_ms: sql::now_millis(),
        };
        self.insert(&record).await?;
        Ok(CreatedKey {
            key_id: record.key_id,
            merchant_id: record.merchant_id,
            api_key,
            created_at_ms: record.created_at_ms,
        })
    }

    /// Stores a key's record. The database refuses a `key_hash` or `key_id`
    /// it already holds.
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// The owner of `key` if the key is stored and not revoked.
    async fn resolve(&self, key: &MerchantApiKey) -> Result<Option<KeyOwner>, StoreError>;

    /// Revokes at once; how many live keys it revoked (0 when none matched
    /// or they were revoked already).
    async fn revoke(&self, which: &Revoke) -> Result<u64, StoreError>;

    /// The merchant's keys, live and revoked, newest first, at most
    /// [`MAX_LISTED_KEYS`].
    async fn list(&self, merchant_id: &MerchantId) -> Result<Vec<MerchantKeyInfo>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;

    /// `"mysql"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
}

/// A stored key: what [`MerchantKeyStore::insert`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub merchant_id: MerchantId,
    pub key_hash: KeyHash,
    /// Epoch milliseconds.
    pub created_at_ms: i64,
}
