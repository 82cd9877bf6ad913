//! The merchant routes: balance, withdrawals and orders, every one
//! authenticated by `Authorization: Bearer <merchant API key>`
//! (auth-service's ResolveMerchantKey). The merchant is always the key's,
//! never anything the request says.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::grpc;
use proto::auth::v1::ResolveMerchantKeyRequest;
use proto::ledger::v1::{
    GetBalanceRequest, GetWithdrawalRequest, ListOrdersRequest, ListOrdersResponse,
    ListWithdrawalOrdersRequest, ListWithdrawalsRequest, Order, WithdrawRequest, Withdrawal,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::pay::rfc3339;
use super::{AUTH, LEDGER, Rpc, both, call};
use crate::AppState;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{RequestId, bearer};

/// The optional header of `POST /merchant/withdraw`.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set (to `true`) on a withdraw answered from its idempotency key.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest idempotency key (visible ASCII characters).
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Page sizes (`docs/http-api.md`: default 50, at most 500).
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
const ORDER_STATUSES: [&str; 4] = ["CREATED", "PAID", "CLOSED", "REFUNDED"];

pub(crate) fn routes() -> Router<AppState> {
    let router = both(Router::new(), "/merchant/balance", get(balance));
    let router = both(router, "/merchant/withdraw", post(withdraw));
    let router = both(router, "/merchant/withdrawals", get(withdrawals));
    let router = both(router, "/merchant/withdrawals/{id}", get(withdrawal));
    let router = both(
        router,
        "/merchant/withdrawals/{id}/orders",
        get(withdrawal_orders),
    );
    both(router, "/merchant/orders", get(orders))
}

/// The merchant behind the request's API key: missing, unknown or revoked
/// is code 8.
async fn merchant_id(app: &AppState, rid: &str, headers: &HeaderMap) -> Result<String, ApiError> {
    let cfg = &app.0;
    let api_key = bearer(headers)
        .ok_or_else(|| ApiError::MerchantKey("merchant API key is missing".into()))?
        .to_owned();
    let answer = call(
        app,
        Rpc::auth("ResolveMerchantKey"),
        rid,
        cfg.merchant_keys
            .clone()
            .resolve_merchant_key(grpc::request(
                ResolveMerchantKeyRequest { api_key },
                rid,
                cfg.deadline,
            )),
    )
    .await
    .map_err(|e| match e {
        // Whatever reason tag it carries, a refused merchant key is code 8.
        ApiError::Token(message) => ApiError::MerchantKey(message),
        other => other,
    })?;
    if answer.merchant_id.is_empty() {
        return Err(ApiError::bad_answer(
            AUTH,
            "ResolveMerchantKey without a merchant_id",
            rid,
        ));
    }
    Ok(answer.merchant_id)
}

#[derive(Debug, Serialize)]
struct BalanceData {
    merchant_id: String,
    withdrawable_fen: i64,
    withdrawable_orders: i64,
    withdrawn_fen: i64,
    paying_out_fen: i64,
}

async fn balance(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
) -> Result<Envelope<BalanceData>, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let request = GetBalanceRequest {
        merchant_id: merchant_id.clone(),
    };
    let balance = call(
        &app,
        Rpc::ledger("GetBalance"),
        &rid,
        cfg.withdrawals
            .clone()
            .get_balance(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    if !balance.merchant_id.is_empty() && balance.merchant_id != merchant_id {
        return Err(ApiError::bad_answer(
            LEDGER,
            "GetBalance answered for another merchant",
            &rid,
        ));
    }
    Ok(Envelope::ok(BalanceData {
        merchant_id,
        withdrawable_fen: balance.withdrawable_fen,
        withdrawable_orders: balance.withdrawable_orders,
        withdrawn_fen: balance.withdrawn_fen,
        paying_out_fen: balance.paying_out_fen,
    }))
}

/// The withdrawal object of `docs/http-api.md`.
#[derive(Debug, Serialize)]
struct WithdrawalData {
    withdrawal_id: String,
    merchant_id: String,
    amount_fen: i64,
    order_count: i64,
    status: String,
    created_at: String,
    updated_at: String,
    /// `null` unless FAILED.
    failure_reason: Option<String>,
}

impl WithdrawalData {
    /// The ledger filters by merchant; should it ever not, nobody sees
    /// another merchant's withdrawal (code 5).
    fn from_withdrawal(w: Withdrawal, merchant_id: &str, rid: &str) -> Result<Self, ApiError> {
        if w.merchant_id != merchant_id {
            tracing::error!(request_id = %rid, "the ledger answered with another merchant's withdrawal");
            return Err(no_such_withdrawal());
        }
        let bad = |what| ApiError::bad_answer(LEDGER, what, rid);
        let created_at =
            rfc3339(w.created_at_ms).ok_or_else(|| bad("created_at_ms out of range"))?;
        let updated_at = match w.updated_at_ms {
            0 => created_at.clone(),
            ms => rfc3339(ms).ok_or_else(|| bad("updated_at_ms out of range"))?,
        };
        let failure_reason = (w.status == "FAILED").then_some(w.failure_reason);
        Ok(Self {
            withdrawal_id: w.withdrawal_id,
            merchant_id: w.merchant_id,
            amount_fen: w.amount_fen,
            order_count: w.order_count,
            status: w.status,
            created_at,
            updated_at,
            failure_reason,
        })
    }
}

fn no_such_withdrawal() -> ApiError {
    ApiError::NotFound("no such withdrawal".into())
}

/// The withdrawal, and whether it was answered from its idempotency key
/// (header `Idempotent-Replayed: true`).
struct Withdrawn(Envelope<WithdrawalData>, bool);

impl IntoResponse for Withdrawn {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if self.1 {
            response
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

/// `Idempotency-Key`: absent, or 1 to 128 visible ASCII characters (code 1
/// otherwise, as is a repeated header).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::InvalidParam(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidParam(
            "Idempotency-Key must be sent at most once".into(),
        ));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY
        || !bytes.iter().all(u8::is_ascii_graphic)
    {
        return Err(invalid());
    }
    let key = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    Ok(Some(key.to_owned()))
}

/// Lowercase hex SHA-256 of the raw body (empty included).
fn fingerprint(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

async fn withdraw(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Withdrawn, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let request = WithdrawRequest {
        merchant_id: merchant_id.clone(),
        idempotency_key: idempotency_key(&headers)?,
        request_fingerprint: fingerprint(&body),
    };
    let answer = call(
        &app,
        Rpc::ledger("Withdraw"),
        &rid,
        cfg.withdrawals
            .clone()
            .withdraw(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    let withdrawal = answer
        .withdrawal
        .ok_or_else(|| ApiError::bad_answer(LEDGER, "Withdraw without a withdrawal", &rid))?;
    let data = WithdrawalData::from_withdrawal(withdrawal, &merchant_id, &rid)?;
    Ok(Withdrawn(Envelope::ok(data), answer.replayed))
}

/// A list page: `next_cursor` is `null` at the end.
#[derive(Debug, Serialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

fn next_cursor(cursor: String) -> Option<String> {
    (!cursor.is_empty()).then_some(cursor)
}

/// The query string, each parameter once; an empty value counts as absent.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(
        query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ) -> Result<Self, ApiError> {
        match query {
            Ok(Query(params)) => Ok(Params(params)),
            Err(rejection) => Err(ApiError::InvalidParam(format!(
                "query string is invalid: {}",
                rejection.body_text()
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `limit`: 1 to 500, 50 when absent.
    fn limit(&self) -> Result<u32, ApiError> {
        let Some(text) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        text.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidParam(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })
    }

    fn cursor(&self) -> String {
        self.get("cursor").unwrap_or_default().to_owned()
    }

    /// `status`: one of the order statuses (any case), or every status.
    fn order_status(&self) -> Result<String, ApiError> {
        let Some(text) = self.get("status") else {
            return Ok(String::new());
        };
        let upper = text.to_ascii_uppercase();
        if ORDER_STATUSES.contains(&upper.as_str()) {
            Ok(upper)
        } else {
            Err(ApiError::InvalidParam(format!(
                "status must be one of {}",
                ORDER_STATUSES.join(", ")
            )))
        }
    }

    /// `withdrawn`: `true`, `false`, or both.
    fn withdrawn(&self) -> Result<Option<bool>, ApiError> {
        match self.get("withdrawn") {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(ApiError::InvalidParam(
                "withdrawn must be true or false".into(),
            )),
        }
    }
}

async fn withdrawals(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Envelope<Page<WithdrawalData>>, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let params = Params::parse(query)?;
    let request = ListWithdrawalsRequest {
        merchant_id: merchant_id.clone(),
        limit: params.limit()?,
        cursor: params.cursor(),
    };
    let answer = call(
        &app,
        Rpc::ledger("ListWithdrawals"),
        &rid,
        cfg.withdrawals
            .clone()
            .list_withdrawals(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    let items = answer
        .withdrawals
        .into_iter()
        .map(|w| WithdrawalData::from_withdrawal(w, &merchant_id, &rid))
        .collect::<Result<_, _>>()?;
    Ok(Envelope::ok(Page {
        items,
        next_cursor: next_cursor(answer.next_cursor),
    }))
}

/// A withdrawal id from the path; one that cannot be an id names no
/// withdrawal (code 5) and no service is asked.
fn withdrawal_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.ok()
        .map(|Path(id)| id)
        .filter(|id| {
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .ok_or_else(no_such_withdrawal)
}

async fn withdrawal(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Envelope<WithdrawalData>, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let request = GetWithdrawalRequest {
        merchant_id: merchant_id.clone(),
        withdrawal_id: withdrawal_id(id)?,
    };
    let withdrawal = call(
        &app,
        Rpc::ledger("GetWithdrawal"),
        &rid,
        cfg.withdrawals
            .clone()
            .get_withdrawal(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(WithdrawalData::from_withdrawal(
        withdrawal,
        &merchant_id,
        &rid,
    )?))
}

/// A merchant's order: what `GET /orders/{out_trade_no}` shows, and what
/// settles it.
#[derive(Debug, Serialize)]
struct MerchantOrder {
    out_trade_no: String,
    merchant_id: String,
    amount_fen: i64,
    status: String,
    created_at: String,
    /// `null` until the order is paid.
    paid_at: Option<String>,
    /// WeChat's transaction id; `null` until the order is paid.
    transaction_id: Option<String>,
    /// The withdrawal that holds the order; `null` when none does.
    withdrawal_id: Option<String>,
    description: String,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl MerchantOrder {
    fn from_order(order: Order, merchant_id: &str, rid: &str) -> Result<Self, ApiError> {
        let bad = |what| ApiError::bad_answer(LEDGER, what, rid);
        if order.merchant_id != merchant_id {
            return Err(bad("an order of another merchant"));
        }
        let created_at =
            rfc3339(order.created_at_ms).ok_or_else(|| bad("created_at_ms out of range"))?;
        let paid_at = match order.paid_at_ms {
            0 => None,
            ms => Some(rfc3339(ms).ok_or_else(|| bad("paid_at_ms out of range"))?),
        };
        Ok(Self {
            out_trade_no: order.out_trade_no,
            merchant_id: order.merchant_id,
            amount_fen: order.amount_fen,
            status: order.status,
            created_at,
            paid_at,
            transaction_id: non_empty(order.transaction_id),
            withdrawal_id: non_empty(order.withdrawal_id),
            description: order.description,
        })
    }
}

fn order_page(
    answer: ListOrdersResponse,
    merchant_id: &str,
    rid: &str,
) -> Result<Page<MerchantOrder>, ApiError> {
    let items = answer
        .orders
        .into_iter()
        .map(|o| MerchantOrder::from_order(o, merchant_id, rid))
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        next_cursor: next_cursor(answer.next_cursor),
    })
}

async fn withdrawal_orders(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Envelope<Page<MerchantOrder>>, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let withdrawal_id = withdrawal_id(id)?;
    let params = Params::parse(query)?;
    let request = ListWithdrawalOrdersRequest {
        merchant_id: merchant_id.clone(),
        withdrawal_id,
        limit: params.limit()?,
        cursor: params.cursor(),
    };
    let answer = call(
        &app,
        Rpc::ledger("ListWithdrawalOrders"),
        &rid,
        cfg.withdrawals
            .clone()
            .list_withdrawal_orders(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(order_page(answer, &merchant_id, &rid)?))
}

async fn orders(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Envelope<Page<MerchantOrder>>, ApiError> {
    let cfg = &app.0;
    let merchant_id = merchant_id(&app, &rid, &headers).await?;
    let params = Params::parse(query)?;
    let request = ListOrdersRequest {
        merchant_id: merchant_id.clone(),
        status: params.order_status()?,
        withdrawn: params.withdrawn()?,
        limit: params.limit()?,
        cursor: params.cursor(),
    };
    let answer = call(
        &app,
        Rpc::ledger("ListOrders"),
        &rid,
        cfg.ledger
            .clone()
            .list_orders(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(order_page(answer, &merchant_id, &rid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_lowercase_hex_sha256() {
        assert_eq!(
            fingerprint(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_128() {
        let key = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
            idempotency_key(&headers).map_err(|e| e.code())
        };
        assert_eq!(idempotency_key(&HeaderMap::new()).ok(), Some(None));
        assert_eq!(key("k-1").ok(), Some(Some("k-1".to_owned())));
        assert_eq!(
            key(&"a".repeat(128)).ok().flatten().map(|k| k.len()),
            Some(128)
        );
        assert_eq!(key(&"a".repeat(129)).err(), Some(1));
        assert_eq!(key("").err(), Some(1));
        assert_eq!(key("a b").err(), Some(1));
    }
}
