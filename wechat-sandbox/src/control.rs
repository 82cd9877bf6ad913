//! The control API under `/sandbox/`: what a test or the demo does in place
//! of the user's phone, and how it inspects and misdirects the simulator.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use wechat::SignType;
use wechat::crypto::{encrypt_user_data, raw_data_signature};
use wechat::messages::{PayNotification, PayResult, TradeState};
use wechat::sign::sign_fields;

use crate::faults::Faults;
use crate::notify::{Pending, enqueue, release_held};
use crate::reply::signing_key;
use crate::state::{Code, Shared, User, beijing, random_digits};

/// A prepay_id is good for two hours.
const PREPAY_TTL: Duration = Duration::from_secs(2 * 3600);

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}

fn valid_openid(openid: &str) -> bool {
    (1..=64).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    openid: Option<String>,
}

/// What `wx.login` yields: a fresh single-use code (and a new user when no
/// openid is given).
pub async fn login(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let body: LoginBody = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let openid = match body.openid {
        Some(openid) if !valid_openid(&openid) => {
            return error(
                StatusCode::BAD_REQUEST,
                "openid must be 1 to 64 letters, digits, _ or -",
            );
        }
        Some(openid) => openid,
        None => format!("o{}", random_alnum(27)),
    };
    let code = random_alnum(32);
    let mut inner = sandbox.lock();
    if !inner.users.contains(&openid) {
        inner
            .users
            .insert(openid.clone(), User { session_key: None });
    }
    let issued = inner.now();
    inner.codes.insert(
        code.clone(),
        Code {
            openid: openid.clone(),
            issued,
            used: false,
        },
    );
    Json(json!({"code": code, "openid": openid})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInfoBody {
    openid: String,
    user: Map<String, Value>,
    /// Encrypt with another app's watermark, to test that it is refused.
    watermark_appid: Option<String>,
}

/// What `wx.getUserInfo` gives: the user encrypted under the current
/// session_key, with rawData and its signature.
pub async fn userinfo(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let body: UserInfoBody = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (session_key, timestamp) = {
        let inner = sandbox.lock();
        let Some(user) = inner.users.get(&body.openid) else {
            return error(StatusCode::NOT_FOUND, "no such user");
        };
        let Some(key) = user.session_key.clone() else {
            return error(
                StatusCode::CONFLICT,
                "the user has no session yet: exchange a login code at jscode2session first",
            );
        };
        (key, inner.wall().timestamp())
    };
    let raw_data = Value::Object(body.user.clone()).to_string();
    let mut plain = body.user;
    plain.insert("openId".into(), Value::String(body.openid));
    plain.insert(
        "watermark".into(),
        json!({
            "timestamp": timestamp,
            "appid": body.watermark_appid.unwrap_or_else(|| sandbox.cfg.appid.clone()),
        }),
    );
    let iv = STANDARD.encode(rand::rng().random::<[u8; 16]>());
    let encrypted = match encrypt_user_data(&session_key, &iv, &Value::Object(plain).to_string()) {
        Ok(encrypted) => encrypted,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    Json(json!({
        "encryptedData": encrypted,
        "iv": iv,
        "rawData": raw_data,
        "signature": raw_data_signature(&raw_data, &session_key),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    out_trade_no: Option<String>,
    prepay_id: Option<String>,
    #[serde(default)]
    result: PayOutcome,
}

#[derive(Deserialize, Default, PartialEq, Eq, Clone, Copy)]
enum PayOutcome {
    #[default]
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAIL")]
    Fail,
}

/// The user confirms (or fails) the payment: the order changes state and
/// its notification starts on its way.
pub async fn pay(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let body: PayBody = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let faults = sandbox.faults();
    let (pending, response) = {
        let mut inner = sandbox.lock();
        let now = inner.now();
        let out_trade_no = match (body.out_trade_no, body.prepay_id) {
            (Some(no), None) => no,
            (None, Some(prepay_id)) => match inner.prepay.get(&prepay_id) {
                None => return error(StatusCode::NOT_FOUND, "no such prepay_id"),
                Some((_, issued)) if now.duration_since(*issued) > PREPAY_TTL => {
                    return error(StatusCode::CONFLICT, "prepay_id expired (2 hours)");
                }
                Some((no, _)) => no.clone(),
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give exactly one of out_trade_no and prepay_id",
                );
            }
        };
        let wall = inner.wall();
        let id = inner.next_notification;
        inner.next_notification += 1;
        let Some(order) = inner.orders.get_mut(&out_trade_no) else {
            return error(StatusCode::NOT_FOUND, "no such order");
        };
        if order.trade_state != TradeState::NotPay {
            return error(
                StatusCode::CONFLICT,
                format!("order is {}, not payable", order.trade_state),
            );
        }
        let result = match body.result {
            PayOutcome::Success => {
                let transaction_id = format!("42000{}", random_digits(23));
                let time_end = beijing(wall).format("%Y%m%d%H%M%S").to_string();
                order.trade_state = TradeState::Success;
                order.transaction_id = Some(transaction_id.clone());
                order.time_end = Some(time_end.clone());
                PayResult::Paid {
                    transaction_id,
                    total_fee: order.total_fee,
                    cash_fee: Some(order.total_fee),
                    fee_type: Some("CNY".into()),
                    bank_type: Some("OTHERS".into()),
                    trade_type: Some("JSAPI".into()),
                    time_end,
                }
            }
            PayOutcome::Fail => {
                order.trade_state = TradeState::PayError;
                PayResult::Failed {
                    err_code: Some("NOTENOUGH".into()),
                    err_code_des: Some("余额不足".into()),
                }
            }
        };
        let notification = PayNotification {
            appid: sandbox.cfg.appid.clone(),
            mch_id: sandbox.cfg.mch_id.clone(),
            out_trade_no: match out_trade_no.parse() {
                Ok(no) => no,
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}")),
            },
            openid: Some(order.openid.clone()),
            sign_type: (order.sign_type == SignType::HmacSha256).then_some(order.sign_type),
            attach: order.attach.clone(),
            result,
        };
        let mut fields = notification.to_fields();
        fields
            .set("is_subscribe", "N")
            .set("nonce_str", wechat::ids::nonce_str());
        let key = signing_key(&sandbox, faults.wrong_key_notifications);
        sign_fields(&mut fields, &key, order.sign_type);
        let xml = match fields.to_xml() {
            Ok(xml) => xml,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        let response = json!({
            "out_trade_no": order.out_trade_no,
            "trade_state": order.trade_state.as_str(),
            "transaction_id": order.transaction_id,
            "notification_id": id,
        });
        let pending = Pending {
            id,
            out_trade_no: order.out_trade_no.clone(),
            url: order.notify_url.clone(),
            xml,
            drop_first: faults.notify_drop_first,
            duplicates: faults.notify_duplicates,
        };
        (pending, response)
    };
    enqueue(&sandbox, pending);
    Json(response).into_response()
}

pub async fn order(State(sandbox): State<Shared>, Path(out_trade_no): Path<String>) -> Response {
    match sandbox.lock().orders.get(&out_trade_no) {
        Some(order) => Json(order).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such order"),
    }
}

pub async fn notifications(
    State(sandbox): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let inner = sandbox.lock();
    let filter = query.get("out_trade_no");
    let attempts: Vec<_> = inner
        .attempts
        .iter()
        .filter(|a| filter.is_none_or(|no| *no == a.out_trade_no))
        .collect();
    Json(json!({"attempts": attempts})).into_response()
}

pub async fn transfers(State(sandbox): State<Shared>) -> Response {
    let inner = sandbox.lock();
    let transfers: Vec<_> = inner.transfers.values().collect();
    Json(json!({"balance_fen": inner.balance, "transfers": transfers})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceBody {
    fen: common::AmountFen,
}

pub async fn set_balance(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let body: BalanceBody = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    sandbox.lock().balance = body.fen;
    Json(json!({"balance_fen": body.fen})).into_response()
}

pub async fn get_faults(State(sandbox): State<Shared>) -> Response {
    Json(sandbox.faults()).into_response()
}

pub async fn set_faults(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let faults: Faults = match parse(&body) {
        Ok(faults) => faults,
        Err(response) => return response,
    };
    if let Err(e) = faults.validate() {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let reorder = faults.notify_reorder_batch;
    sandbox.lock().faults = faults.clone();
    if reorder <= 1 {
        release_held(&sandbox);
    }
    Json(faults).into_response()
}

pub async fn clear_faults(State(sandbox): State<Shared>) -> Response {
    sandbox.lock().faults = Faults::default();
    release_held(&sandbox);
    Json(Faults::default()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_secs: u64,
}

/// Moves the simulator's clock forward: codes expire, orders age past the
/// closeorder rule, prepay_ids lapse — without waiting for real time.
pub async fn advance_clock(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let body: ClockBody = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.advance_secs > 366 * 24 * 3600 {
        return error(
            StatusCode::BAD_REQUEST,
            "advance_secs must be at most a year",
        );
    }
    let mut inner = sandbox.lock();
    inner.clock_offset += Duration::from_secs(body.advance_secs);
    Json(json!({"offset_secs": inner.clock_offset.as_secs()})).into_response()
}
