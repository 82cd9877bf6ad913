//! auth-service: login with WeChat (code2session), opaque session tokens,
//! decryption of mini-program user data, and the users table. The
//! session_key never leaves this service.
//!
//! - [`serve`]: start the gRPC server on a listener until shutdown.
//! - `service`: the `minipay.auth.v1.AuthService` implementation.
//! - `error`: [`AuthError`] and its one mapping onto `tonic::Status`.
//! - [`store`]: [`store::SessionStore`] (Redis, memory) and
//!   [`store::UserStore`] (MariaDB/MySQL, SQLite) with their migrations.

mod error;
mod service;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use common::config::DatabaseUrl;
use proto::auth::v1::auth_service_server::AuthServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wechat::{WechatClient, WechatConfig};

pub use error::AuthError;
use service::Auth;
use store::{
    MemorySessionStore, MySqlUserStore, RedisSessionStore, SessionStore, SqliteUserStore, UserStore,
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
    let users: Arc<dyn UserStore> = match &cfg.database_url {
        DatabaseUrl::Sqlite(url) => Arc::new(SqliteUserStore::connect(url).await?),
        DatabaseUrl::MySql(url) => Arc::new(MySqlUserStore::connect(url).await?),
    };
    tracing::info!(
        sessions = sessions.backend(),
        users = users.backend(),
        "auth-service stores ready"
    );
    let auth = Arc::new(Auth {
        wechat: WechatClient::new(cfg.wechat)?,
        sessions,
        users,
        session_ttl: cfg.session_ttl,
        watermark_max_age: cfg.watermark_max_age,
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<Auth>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health.set_not_serving::<AuthServiceServer<Auth>>().await;
        }
    };
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(AuthServiceServer::from_arc(auth))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await?;
    Ok(())
}
