//! The mini-program's payment routes: `/pay/` (an order and the fields of
//! `wx.requestPayment`) and `/orders/{out_trade_no}` (the payer's order).

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat};
use common::{OutTradeNo, grpc};
use proto::auth::v1::ResolveTokenRequest;
use proto::ledger::v1::{GetOrderRequest, Order};
use proto::payment::v1::CreatePaymentRequest;
use serde::Serialize;

use super::{AUTH, LEDGER, Rpc, both, call};
use crate::AppState;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody, RequestId, token};

pub(crate) fn routes() -> Router<AppState> {
    let router = both(Router::new(), "/pay", post(pay));
    both(router, "/orders/{out_trade_no}", get(order))
}

/// The token's openid (auth-service's ResolveToken, which also renews it).
async fn openid(app: &AppState, rid: &str, token: String) -> Result<String, ApiError> {
    let cfg = &app.0;
    let answer = call(
        app,
        Rpc::auth("ResolveToken"),
        rid,
        cfg.auth.clone().resolve_token(grpc::request(
            ResolveTokenRequest { token },
            rid,
            cfg.deadline,
        )),
    )
    .await?;
    if answer.openid.is_empty() {
        return Err(ApiError::bad_answer(
            AUTH,
            "ResolveToken without an openid",
            rid,
        ));
    }
    Ok(answer.openid)
}

/// `wx.requestPayment`'s fields, every one a string, and the order's number.
#[derive(Debug, Serialize)]
struct PayData {
    #[serde(rename = "timeStamp")]
    time_stamp: String,
    #[serde(rename = "nonceStr")]
    nonce_str: String,
    package: String,
    #[serde(rename = "signType")]
    sign_type: String,
    #[serde(rename = "paySign")]
    pay_sign: String,
    out_trade_no: String,
}

async fn pay(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Envelope<PayData>, ApiError> {
    let cfg = &app.0;
    let token = token(&headers, &body)?;
    let amount = body.required_amount("money", cfg.max_order_fen)?;
    let merchant_id = body.optional_str("merchant_id")?.unwrap_or_default();
    let description = body.optional_str("description")?.unwrap_or_default();
    let request = CreatePaymentRequest {
        openid: openid(&app, &rid, token).await?,
        merchant_id,
        amount_fen: amount.fen(),
        description,
        client_ip: client_ip.to_string(),
    };
    // A WeChat failure comes back as code 4 with `data.out_trade_no`: the
    // mapping keeps the number CreatePayment attached to the status.
    let answer = call(
        &app,
        Rpc::payment("CreatePayment"),
        &rid,
        cfg.payment
            .clone()
            .create_payment(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    Ok(Envelope::ok(PayData {
        time_stamp: answer.time_stamp,
        nonce_str: answer.nonce_str,
        package: answer.package,
        sign_type: answer.sign_type,
        pay_sign: answer.pay_sign,
        out_trade_no: answer.out_trade_no,
    }))
}

#[derive(Debug, Serialize)]
struct OrderData {
    out_trade_no: String,
    merchant_id: String,
    amount_fen: i64,
    status: String,
    created_at: String,
    /// `null` until the order is paid.
    paid_at: Option<String>,
}

/// Epoch milliseconds as RFC 3339 UTC with a `Z`.
pub(crate) fn rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl OrderData {
    fn from_order(order: Order, rid: &str) -> Result<Self, ApiError> {
        let bad = |what| ApiError::bad_answer(LEDGER, what, rid);
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
        })
    }
}

fn no_such_order() -> ApiError {
    ApiError::NotFound("no such order".into())
}

/// A number that cannot be an out_trade_no names no order: code 5, and no
/// service is asked.
async fn order(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    out_trade_no: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Envelope<OrderData>, ApiError> {
    let cfg = &app.0;
    let token = token(&headers, &body)?;
    let out_trade_no = out_trade_no
        .ok()
        .and_then(|Path(no)| OutTradeNo::parse(no).ok())
        .ok_or_else(no_such_order)?;
    let payer_openid = openid(&app, &rid, token).await?;
    let request = GetOrderRequest {
        out_trade_no: out_trade_no.into_string(),
        payer_openid: payer_openid.clone(),
    };
    let order = call(
        &app,
        Rpc::ledger("GetOrder"),
        &rid,
        cfg.ledger
            .clone()
            .get_order(grpc::request(request, &rid, cfg.deadline)),
    )
    .await?;
    // The ledger filters by payer; should it ever not, nobody sees another's order.
    if !order.payer_openid.is_empty() && order.payer_openid != payer_openid {
        tracing::error!(request_id = %rid, "GetOrder answered with another payer's order");
        return Err(no_such_order());
    }
    Ok(Envelope::ok(OrderData::from_order(order, &rid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_z() {
        assert_eq!(
            rfc3339(1_764_842_400_123).as_deref(),
            Some("2025-12-04T10:00:00.123Z")
        );
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(rfc3339(i64::MAX), None);
    }
}
