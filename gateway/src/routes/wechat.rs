//! WeChat's callbacks: `POST /wechat/notify/pay`. XML in, XML out — never
//! the JSON envelope, not even for a wrong method or an oversized body.
//! payment-service decides the reply; the gateway only carries the bytes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::grpc;
use proto::payment::v1::HandlePayNotifyRequest;

use super::{PAYMENT, Rpc, both, with_deadline};
use crate::AppState;
use crate::config::NOTIFY_BODY_LIMIT;
use crate::error::ApiError;
use crate::extract::RequestId;

pub(crate) fn routes() -> Router<AppState> {
    let notify = post(pay_notify)
        .fallback(method_not_allowed)
        // Applied inside the router's JSON limit, so it overrides it here.
        .layer(DefaultBodyLimit::max(NOTIFY_BODY_LIMIT));
    both(Router::new(), "/wechat/notify/pay", notify)
}

const TEXT_XML: &str = "text/xml";

/// WeChat's reply: its bytes with their HTTP status.
fn xml(status: StatusCode, body: impl Into<Bytes>) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT_XML)], body.into()).into_response()
}

/// A FAIL reply; `msg` is one of this module's fixed texts (no `]]>`).
fn fail(status: StatusCode, msg: &'static str) -> Response {
    xml(
        status,
        format!(
            "<xml><return_code><![CDATA[FAIL]]></return_code>\
             <return_msg><![CDATA[{msg}]]></return_msg></xml>"
        ),
    )
}

async fn method_not_allowed() -> Response {
    fail(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

async fn pay_notify(
    State(app): State<AppState>,
    RequestId(rid): RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(request_id = %rid, "pay notification body too large");
            return fail(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(rejection) => {
            tracing::warn!(request_id = %rid, error = %rejection.body_text(), "pay notification body unreadable");
            return fail(StatusCode::BAD_REQUEST, "body could not be read");
        }
    };
    let cfg = &app.0;
    let request = HandlePayNotifyRequest {
        body: body.to_vec(),
    };
    let mut client = cfg.payment.clone();
    let call = client.handle_pay_notify(grpc::request(request, &rid, cfg.deadline));
    let rpc = Rpc::payment("HandlePayNotify");
    let answer = match with_deadline(&app.1, rpc, cfg.deadline, call).await {
        Ok(answer) => answer,
        Err(status) => {
            // Logged by the one mapping; whatever went wrong, WeChat keeps the
            // notification and retries, unless the service called it malformed.
            return match ApiError::from_status(PAYMENT, &status, &rid) {
                ApiError::InvalidParam(_) => fail(StatusCode::BAD_REQUEST, "notification refused"),
                _ => fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment service unavailable",
                ),
            };
        }
    };
    match u16::try_from(answer.http_status)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
    {
        Some(status) if !answer.reply.is_empty() => xml(status, answer.reply),
        _ => {
            tracing::error!(
                dependency = PAYMENT,
                request_id = %rid,
                http_status = answer.http_status,
                "HandlePayNotify without a reply or a valid status"
            );
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment service unavailable",
            )
        }
    }
}
