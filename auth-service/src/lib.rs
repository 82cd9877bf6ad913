//! auth-service: login with WeChat (code2session), opaque session tokens,
//! decryption of mini-program user data, the users table, and merchants'
//! API keys (stored as SHA-256 only). The session_key never leaves this
//! service; a merchant key leaves it once, when it is created.
//!
//! - [`serve`]: start the gRPC server on a listener until shutdown.
//! - [`merchant_keys()`]: the merchant key store on its own, for the CLI.
//! - `service`: the `minipay.auth.v1.AuthService` implementation.
//! - `merchant_keys`: the `minipay.auth.v1.MerchantKeyService` implementation.
//! - `domain`: [`MerchantId`], [`KeyId`], [`MerchantApiKey`] (redacted
//!   `Debug`) and [`KeyHash`].
//! - `error`: [`AuthError`] and its one mapping onto `tonic::Status`.
//! - [`store`]: [`store::SessionStore`] (Redis, memory),
//!   [`store::UserStore`] and [`store::MerchantKeyStore`] (MariaDB/MySQL,
//!   SQLite) with their migrations.

mod domain;
mod error;
mod merchant_keys;
mod service;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use common::config::DatabaseUrl;
use proto::auth::v1::auth_service_server::AuthServiceServer;
use proto::auth::v1::merchant_key_service_server::MerchantKeyServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wechat::{WechatClient, WechatConfig};

pub use domain::{KeyHash, KeyId, MerchantApiKey, MerchantId};
pub use error::{AuthError, MERCHANT_KEY_REASON};
use merchant_keys::MerchantKeys;
use service::Auth;
use store::{
    MemorySessionStore, MerchantKeyStore, MySqlMerchantKeyStore, MySqlUserStore, RedisSessionStore,
    SessionStore, SqliteMerchantKeyStore, SqliteUserStore, StoreError, UserStore,
};

/// The most sessions the in-process store holds.
pub const MEMORY_SESSIONS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub wechat: WechatConfig,
    pub database_url: DatabaseUrl,
    /// Unset: sessions live in this process.
    pub redis_url: Option<String>,
    pub session_ttl: Duration,
    pub watermark_max_age: Option<Duration>,
}

impl AuthConfig {
    pub fn new(common: &common::config::Config, wechat: WechatConfig) -> Self {
        Self {
            wechat,
            database_url: common.auth_database_url.clone(),
            redis_url: common.redis_url.clone(),
            session_ttl: common.session_ttl,
            watermark_max_age: common.watermark_max_age,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start auth-service: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot start auth-service: {0}")]
    Wechat(#[from] wechat::WechatError),
    #[error("auth-service stopped: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("auth-service reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// The merchant key store in auth-service's database at `url`, connected
/// (and migrated) on its own: for the CLI, which mints keys while the stack
/// may be running against the same database. Create a key with
/// [`MerchantKeyStore::create`]; the returned key is the only copy.
pub async fn merchant_keys(url: &DatabaseUrl) -> Result<Arc<dyn MerchantKeyStore>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => Arc::new(SqliteMerchantKeyStore::connect(url).await?),
        DatabaseUrl::MySql(url) => Arc::new(MySqlMerchantKeyStore::connect(url).await?),
    })
}

/// Connects the stores (running migrations), then serves gRPC on `listener`
/// until `shutdown` is cancelled; health turns NOT_SERVING first.
pub async fn serve(
    cfg: AuthConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let sessions: Arc<dyn SessionStore> = match &cfg.redis_url {
        Some(url) => Arc::new(RedisSessionStore::connect(url).await?),
        None => Arc::new(MemorySessionStore::new(MEMORY_SESSIONS)),
    };
    // Users and merchant keys: one database, one pool.
    let (users, keys): (Arc<dyn UserStore>, Arc<dyn MerchantKeyStore>) = match &cfg.database_url {
        DatabaseUrl::Sqlite(url) => {
            let users = SqliteUserStore::connect(url).await?;
            let keys = SqliteMerchantKeyStore::sharing(&users);
            (Arc::new(users), Arc::new(keys))
        }
        DatabaseUrl::MySql(url) => {
            let users = MySqlUserStore::connect(url).await?;
            let keys = MySqlMerchantKeyStore::sharing(&users);
            (Arc::new(users), Arc::new(keys))
        }
    };
    tracing::info!(
        sessions = sessions.backend(),
        users = users.backend(),
        merchant_keys = keys.backend(),
        "auth-service stores ready"
    );
    let merchant_keys = Arc::new(MerchantKeys { store: keys });
    let auth = Arc::new(Auth {
        wechat: WechatClient::new(cfg.wechat)?,
        sessions,
        users,
        session_ttl: cfg.session_ttl,
        watermark_max_age: cfg.watermark_max_age,
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<Auth>>().await;
    health
        .set_serving::<MerchantKeyServiceServer<MerchantKeys>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health.set_not_serving::<AuthServiceServer<Auth>>().await;
            health
                .set_not_serving::<MerchantKeyServiceServer<MerchantKeys>>()
                .await;
        }
    };
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(AuthServiceServer::from_arc(auth))
        .add_service(MerchantKeyServiceServer::from_arc(merchant_keys))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await?;
    Ok(())
}
