//! The gRPC service: proto ⇄ domain at the edge, the login rules inside.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proto::auth::v1 as pb;
use proto::auth::v1::auth_service_server::AuthService;
use rand::Rng;
use serde_json::Value;
use tonic::{Request, Response, Status};
use wechat::crypto::{decrypt_user_data, verify_raw_data_signature};
use wechat::{ExposeSecret, WechatClient};

use crate::error::AuthError;
use crate::store::{SessionStore, User, UserStore, token_hash};

#[derive(Debug)]
pub struct Auth {
    pub wechat: WechatClient,
    pub sessions: Arc<dyn SessionStore>,
    pub users: Arc<dyn UserStore>,
    pub session_ttl: Duration,
    pub watermark_max_age: Option<Duration>,
}

/// Tokens are 256 bits from the CSPRNG, base64url: opaque to every client.
fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

fn required<'a>(field: &'static str, value: &'a str) -> Result<&'a str, AuthError> {
    if value.is_empty() {
        return Err(AuthError::Missing { field });
    }
    if value.len() > 4096 {
        return Err(AuthError::Invalid {
            field,
            reason: "longer than 4096 bytes".into(),
        });
    }
    Ok(value)
}

fn text(fields: &serde_json::Map<String, Value>, name: &str) -> String {
    fields
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Auth {
    async fn login_with_code(&self, code: &str) -> Result<pb::LoginResponse, AuthError> {
        let code = required("code", code)?;
        if !code.bytes().all(|b| b.is_ascii_graphic()) || code.len() > 128 {
            return Err(AuthError::Invalid {
                field: "code",
                reason: "must be up to 128 printable ASCII characters".into(),
            });
        }
        let session = self.wechat.code2session(code).await?;
        let token = new_token();
        self.sessions
            .create(
                &token_hash(&token),
                &session.openid,
                &session.session_key,
                self.session_ttl,
            )
            .await?;
        tracing::info!(openid = %session.openid, "login");
        Ok(pb::LoginResponse {
            token,
            expires_in: self.session_ttl.as_secs() as i64,
        })
    }

    async fn openid(&self, token: &str) -> Result<String, AuthError> {
        if token.is_empty() {
            return Err(AuthError::UnknownToken);
        }
        self.sessions
            .resolve(&token_hash(token), self.session_ttl)
            .await?
            .ok_or(AuthError::UnknownToken)
    }

    async fn decrypt(&self, r: pb::DecryptUserDataRequest) -> Result<pb::User, AuthError> {
        let openid = self.openid(&r.token).await?;
        let iv = required("iv", &r.iv)?;
        let encrypted = required("encryptedData", &r.encrypted_data)?;
        let raw = match (r.raw_data.as_deref(), r.signature.as_deref()) {
            (None, None) => None,
            (Some(raw), Some(signature)) => Some((raw, signature)),
            (Some(_), None) => return Err(AuthError::Missing { field: "signature" }),
            (None, Some(_)) => return Err(AuthError::Missing { field: "rawData" }),
        };
        let key = self
            .sessions
            .session_key(&openid)
            .await?
            .ok_or(AuthError::UnknownToken)?;
        let key = key.expose_secret();
        if let Some((raw, signature)) = raw {
            verify_raw_data_signature(raw, key, signature)
                .map_err(|e| AuthError::StaleSessionKey(e.to_string()))?;
        }
        let data = decrypt_user_data(key, iv, encrypted, &self.wechat.config().appid)
            .map_err(|e| AuthError::StaleSessionKey(e.to_string()))?;
        if let Some(claimed) = data.fields.get("openId").and_then(Value::as_str)
            && claimed != openid
        {
            return Err(AuthError::StaleSessionKey(
                "the data's openId is not the session's user".into(),
            ));
        }
        if let (Some(max_age), Some(stamp)) = (self.watermark_max_age, data.watermark_timestamp) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if now - stamp > max_age.as_secs() as i64 {
                return Err(AuthError::StaleSessionKey(
                    "the data was encrypted too long ago".into(),
                ));
            }
        }
        let gender = match data.fields.get("gender") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .and_then(|g| i32::try_from(g).ok())
                .ok_or_else(|| AuthError::Invalid {
                    field: "gender",
                    reason: "must be an integer".into(),
                })?,
        };
        let user = User {
            openid,
            nick_name: text(&data.fields, "nickName"),
            avatar_url: text(&data.fields, "avatarUrl"),
            gender,
            city: text(&data.fields, "city"),
            province: text(&data.fields, "province"),
            country: text(&data.fields, "country"),
            language: text(&data.fields, "language"),
        };
        // The columns' limits, checked here so that an oversized field is
        // the caller's error (code 1), not a database failure.
        for (field, value, max) in [
            ("nickName", &user.nick_name, 255),
            ("avatarUrl", &user.avatar_url, 1024),
            ("city", &user.city, 255),
            ("province", &user.province, 255),
            ("country", &user.country, 255),
            ("language", &user.language, 32),
        ] {
            if value.chars().count() > max {
                return Err(AuthError::Invalid {
                    field,
                    reason: format!("longer than {max} characters"),
                });
            }
        }
        self.users.upsert(&user).await?;
        Ok(pb::User {
            openid: user.openid,
            nick_name: user.nick_name,
            avatar_url: user.avatar_url,
            gender: user.gender,
            city: user.city,
            province: user.province,
            country: user.country,
            language: user.language,
        })
    }

    async fn revoke(&self, token: &str) -> Result<(), AuthError> {
        if token.is_empty() || !self.sessions.revoke(&token_hash(token)).await? {
            return Err(AuthError::UnknownToken);
        }
        Ok(())
    }

    /// Each store and whether it answers.
    pub async fn ready(&self) -> std::collections::HashMap<String, String> {
        let sessions = self.sessions.ping().await;
        let users = self.users.ping().await;
        [
            (format!("sessions:{}", self.sessions.backend()), sessions),
            (format!("users:{}", self.users.backend()), users),
        ]
        .into_iter()
        .map(|(name, result)| {
            let state = match result {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.to_string(),
            };
            (name, state)
        })
        .collect()
    }
}

/// Logs a failure with the request id before it becomes a status.
pub(crate) fn fail(request_id: &str, rpc: &str, e: AuthError) -> Status {
    match &e {
        AuthError::Store(_) | AuthError::Wechat(_) => {
            tracing::warn!(request_id, rpc, error = %e, "call failed");
        }
        _ => tracing::debug!(request_id, rpc, error = %e, "call refused"),
    }
    e.into()
}

#[tonic::async_trait]
impl AuthService for Auth {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let id = common::grpc::request_id(&request);
        let r = request.into_inner();
        self.login_with_code(&r.code)
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, "Login", e))
    }

    async fn resolve_token(
        &self,
        request: Request<pb::ResolveTokenRequest>,
    ) -> Result<Response<pb::ResolveTokenResponse>, Status> {
        let id = common::grpc::request_id(&request);
        let r = request.into_inner();
        self.openid(&r.token)
            .await
            .map(|openid| Response::new(pb::ResolveTokenResponse { openid }))
            .map_err(|e| fail(&id, "ResolveToken", e))
    }

    async fn decrypt_user_data(
        &self,
        request: Request<pb::DecryptUserDataRequest>,
    ) -> Result<Response<pb::DecryptUserDataResponse>, Status> {
        let id = common::grpc::request_id(&request);
        self.decrypt(request.into_inner())
            .await
            .map(|user| Response::new(pb::DecryptUserDataResponse { user: Some(user) }))
            .map_err(|e| fail(&id, "DecryptUserData", e))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let id = common::grpc::request_id(&request);
        let r = request.into_inner();
        self.revoke(&r.token)
            .await
            .map(|()| Response::new(pb::LogoutResponse {}))
            .map_err(|e| fail(&id, "Logout", e))
    }

    async fn readiness(
        &self,
        _request: Request<pb::ReadinessRequest>,
    ) -> Result<Response<pb::ReadinessResponse>, Status> {
        Ok(Response::new(pb::ReadinessResponse {
            dependencies: self.ready().await,
        }))
    }
}
