//! [`SessionStore`] on Redis (≥ 6.2 for `GETEX`), shared by every
//! auth-service instance.
//!
//! Keys, both with an `EX` expiry:
//! - `minipay:auth:token:{token_hash}` → openid
//! - `minipay:auth:session_key:{openid}` → the session_key text

use std::fmt;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, cmd, pipe};
use async_trait::async_trait;
use wechat::{ExposeSecret, SessionKey};

use super::{SessionStore, StoreError, TokenHash};

const BACKEND: &str = "redis";

/// One TCP connect (and handshake) attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One command's answer, once connected.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Everything `connect` does, retries included.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// Everything one store operation does, a reconnection included.
const CALL_DEADLINE: Duration = Duration::from_secs(3);

/// Longest expiry sent to Redis (about 136 years); larger TTLs are cut to
/// it rather than refused.
const MAX_TTL_SECS: u64 = u32::MAX as u64;

/// Sessions in Redis through a [`ConnectionManager`], which reconnects on
/// its own; every call is bounded, so a lost Redis is `Unavailable` within
/// a few seconds, never a hang.
#[derive(Clone)]
pub struct RedisSessionStore {
    conn: ConnectionManager,
    /// `host:port` (or the socket path), never the password.
    addr: String,
}

impl RedisSessionStore {
    /// Connects to `url` (`redis://[:password@]host:6379/db`,
    /// `rediss://…`, `unix://…`), failing within a few seconds if Redis does
    /// not answer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(store_error)?;
        let addr = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = within(
            CONNECT_DEADLINE,
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        tracing::debug!(%addr, "redis session store ready");
        Ok(Self { conn, addr })
    }
}

/// Shows the address only.
impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn token_key(token: &TokenHash) -> String {
    format!("minipay:auth:token:{}", token.0)
}

fn session_key_key(openid: &str) -> String {
    format!("minipay:auth:session_key:{openid}")
}

/// `EX` takes whole seconds, at least 1: a sub-second rest rounds up.
fn ttl_secs(ttl: Duration) -> u64 {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    secs.clamp(1, MAX_TTL_SECS)
}

/// A reply of an unexpected shape is `Corrupt`; anything else (refused,
/// reset, timed out, an error reply) is `Unavailable`.
fn store_error(err: RedisError) -> StoreError {
    match err.kind() {
        ErrorKind::UnexpectedReturnType | ErrorKind::Parse => StoreError::Corrupt {
            backend: BACKEND,
            detail: err.to_string(),
        },
        _ => StoreError::Unavailable {
            backend: BACKEND,
            detail: err.to_string(),
        },
    }
}

async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer.map_err(store_error),
        Err(_) => Err(StoreError::Unavailable {
            backend: BACKEND,
            detail: format!("no answer within {} ms", limit.as_millis()),
        }),
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(
        &self,
        token: &TokenHash,
        openid: &str,
        session_key: &SessionKey,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let secs = ttl_secs(ttl);
        let mut conn = self.conn.clone();
        let mut login = pipe();
        login
            .atomic()
            .cmd("SET")
            .arg(token_key(token))
            .arg(openid)
            .arg("EX")
            .arg(secs)
            .ignore()
            .cmd("SET")
            .arg(session_key_key(openid))
            .arg(session_key.expose_secret())
            .arg("EX")
            .arg(secs)
            .ignore();
        within(CALL_DEADLINE, login.query_async::<()>(&mut conn)).await
    }

    async fn resolve(
        &self,
        token: &TokenHash,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let secs = ttl_secs(ttl);
        let mut conn = self.conn.clone();
        let mut getex = cmd("GETEX");
        getex.arg(token_key(token)).arg("EX").arg(secs);
        let openid: Option<String> = within(CALL_DEADLINE, getex.query_async(&mut conn)).await?;
        if let Some(openid) = &openid {
            let mut expire = cmd("EXPIRE");
            expire.arg(session_key_key(openid)).arg(secs);
            within(CALL_DEADLINE, expire.query_async::<i64>(&mut conn)).await?;
        }
        Ok(openid)
    }

    async fn session_key(&self, openid: &str) -> Result<Option<SessionKey>, StoreError> {
        let mut conn = self.conn.clone();
        let mut get = cmd("GET");
        get.arg(session_key_key(openid));
        let text: Option<String> = within(CALL_DEADLINE, get.query_async(&mut conn)).await?;
        text.map(|text| {
            SessionKey::parse(text).map_err(|err| StoreError::Corrupt {
                backend: BACKEND,
                detail: err.to_string(),
            })
        })
        .transpose()
    }

    async fn revoke(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut del = cmd("DEL");
        del.arg(token_key(token));
        let deleted: i64 = within(CALL_DEADLINE, del.query_async(&mut conn)).await?;
        Ok(deleted > 0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        within(CALL_DEADLINE, cmd("PING").query_async::<()>(&mut conn)).await
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds_of_at_least_one() {
        assert_eq!(ttl_secs(Duration::ZERO), 1);
        assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
        assert_eq!(ttl_secs(Duration::from_secs(1)), 1);
        assert_eq!(ttl_secs(Duration::from_millis(1001)), 2);
        assert_eq!(ttl_secs(Duration::from_secs(7200)), 7200);
        assert_eq!(ttl_secs(Duration::MAX), MAX_TTL_SECS);
    }
}
