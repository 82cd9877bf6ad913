//! `GET /sns/jscode2session`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wechat::ExposeSecret;

use crate::reply::latency;
use crate::state::{Shared, new_session_key, random_hex};

fn error(errcode: i64, errmsg: &str) -> Response {
    Json(json!({
        "errcode": errcode,
        "errmsg": format!("{errmsg}, rid: {}", random_hex(8)),
    }))
    .into_response()
}

pub async fn jscode2session(
    State(sandbox): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let faults = sandbox.faults();
    latency(faults.latency_ms.jscode2session).await;
    if faults.code2session_busy {
        return error(-1, "system error");
    }
    if faults.code2session_rate_limited {
        return error(
            45011,
            "api minute-quota reach limit mustslower retry next minute",
        );
    }
    let param = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(appid) = param("appid") else {
        return error(41002, "appid missing");
    };
    if appid != sandbox.cfg.appid {
        return error(40013, "invalid appid");
    }
    if param("secret") != Some(sandbox.cfg.app_secret.expose_secret()) {
        return error(40125, "invalid appsecret");
    }
    if param("grant_type") != Some("authorization_code") {
        return error(40002, "invalid grant_type");
    }
    let Some(code) = param("js_code") else {
        return error(41008, "missing code");
    };

    let mut inner = sandbox.lock();
    let now = inner.now();
    let ttl = sandbox.cfg.code_ttl;
    let openid = match inner.codes.get_mut(code) {
        None => return error(40029, "invalid code"),
        Some(c) if now.duration_since(c.issued) > ttl => return error(40029, "invalid code"),
        Some(c) if c.used => return error(40163, "code been used"),
        Some(c) => {
            c.used = true;
            c.openid.clone()
        }
    };
    let session_key = new_session_key();
    match inner.users.get_mut(&openid) {
        Some(user) => user.session_key = Some(session_key.clone()),
        // The user was evicted after the code was issued: the code is dead too.
        None => return error(40029, "invalid code"),
    }
    Json(json!({"openid": openid, "session_key": session_key})).into_response()
}
