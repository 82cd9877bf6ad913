//! The mini-program routes: `/login/`, `/getinfo/`, `/logout/`.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::grpc;
use proto::auth::v1::{DecryptUserDataRequest, LoginRequest, LogoutRequest, User};
use serde::Serialize;

use super::{AUTH, Rpc, both, call};
use crate::AppState;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{JsonBody, RequestId, token};

pub(crate) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(router, "/login", post(login));
    let router = both(router, "/getinfo", post(getinfo));
    both(router, "/logout", post(logout))
}

#[derive(Serialize)]
struct LoginData {
    token: String,
    expires_in: i64,
}

async fn login(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    body: JsonBody,
) -> Result<Envelope<LoginData>, ApiError> {
    let request = LoginRequest {
        code: body.required_str("code")?,
    };
    let cfg = &app.0;
    let answer = call(
        &app,
        Rpc::auth("Login"),
        &rid,
        cfg.auth
            .clone()
            .login(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(LoginData {
        token: answer.token,
        expires_in: answer.expires_in,
    }))
}

#[derive(Serialize)]
struct UserData {
    user: UserView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserView {
    openid: String,
    nick_name: String,
    avatar_url: String,
    gender: i32,
    city: String,
    province: String,
    country: String,
    language: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            openid: u.openid,
            nick_name: u.nick_name,
            avatar_url: u.avatar_url,
            gender: u.gender,
            city: u.city,
            province: u.province,
            country: u.country,
            language: u.language,
        }
    }
}

fn getinfo_request(
    headers: &HeaderMap,
    body: &JsonBody,
) -> Result<DecryptUserDataRequest, ApiError> {
    let token = token(headers, body)?;
    let iv = body.required_str("iv")?;
    let encrypted_data = body.required_str("encryptedData")?;
    let raw_data = body.optional_str("rawData")?;
    let signature = body.optional_str("signature")?;
    match (&raw_data, &signature) {
        (Some(_), None) => Err(ApiError::InvalidParam(
            "signature is required with rawData".into(),
        )),
        (None, Some(_)) => Err(ApiError::InvalidParam(
            "rawData is required with signature".into(),
        )),
        _ => Ok(DecryptUserDataRequest {
            token,
            iv,
            encrypted_data,
            raw_data,
            signature,
        }),
    }
}

async fn getinfo(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Envelope<UserData>, ApiError> {
    let request = getinfo_request(&headers, &body)?;
    let cfg = &app.0;
    let answer = call(
        &app,
        Rpc::auth("DecryptUserData"),
        &rid,
        cfg.auth
            .clone()
            .decrypt_user_data(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    let user = answer
        .user
        .ok_or_else(|| ApiError::bad_answer(AUTH, "DecryptUserData without a user", &rid))?;
    Ok(Envelope::ok(UserData { user: user.into() }))
}

async fn logout(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Envelope<()>, ApiError> {
    let request = LogoutRequest {
        token: token(&headers, &body)?,
    };
    let cfg = &app.0;
    call(
        &app,
        Rpc::auth("Logout"),
        &rid,
        cfg.auth
            .clone()
            .logout(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(()))
}
