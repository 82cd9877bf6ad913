//! The gateway's one error type and the one place a gRPC failure becomes an
//! HTTP answer.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::status::Reason;
use serde::Serialize;
use tonic::Code;

use crate::envelope::Envelope;

/// Every way a request can fail, each with its envelope code and HTTP status
/// (`docs/http-api.md`). The message is what the client reads in `msg`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Code 1 / 400: a parameter is missing or invalid; the message names it.
    #[error("{0}")]
    InvalidParam(String),
    /// Code 1 / 405: a known route, another method.
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// Code 2 / 401: token missing, unknown or expired.
    #[error("{0}")]
    Token(String),
    /// Code 3 / 401: the session key could not decrypt or verify.
    #[error("{0}")]
    SessionKey(String),
    /// Code 4 / 502: WeChat refused or failed; the message carries its code.
    /// When the failed call had recorded an order (CreatePayment), its number
    /// is the response's `data` — the one error that carries data.
    #[error("{message}")]
    Wechat {
        message: String,
        out_trade_no: Option<String>,
    },
    /// Code 5 / 404.
    #[error("{0}")]
    NotFound(String),
    /// Code 6 / 409: the state of the thing forbids the call.
    #[error("{0}")]
    Conflict(String),
    /// Code 7 / 409: a withdrawal found nothing to withdraw.
    #[error("{0}")]
    NothingToWithdraw(String),
    /// Code 8 / 401: the merchant API key is missing, unknown or revoked.
    #[error("{0}")]
    MerchantKey(String),
    /// Code 9 / 429.
    #[error("{0}")]
    RateLimited(String),
    /// Code 10 / 413.
    #[error("body is too large")]
    BodyTooLarge,
    /// 503: a dependency did not answer.
    #[error("{dependency} unavailable: {detail}")]
    Unavailable {
        dependency: &'static str,
        detail: String,
    },
    /// 500: the cause is logged, the client gets the request id.
    #[error("internal error (request id {request_id})")]
    Internal { request_id: String },
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::InvalidParam(_) | ApiError::MethodNotAllowed(_) => 1,
            ApiError::Token(_) => 2,
            ApiError::SessionKey(_) => 3,
            ApiError::Wechat { .. } => 4,
            ApiError::NotFound(_) => 5,
            ApiError::Conflict(_) => 6,
            ApiError::NothingToWithdraw(_) => 7,
            ApiError::MerchantKey(_) => 8,
            ApiError::RateLimited(_) => 9,
            ApiError::BodyTooLarge => 10,
            ApiError::Unavailable { .. } => 503,
            ApiError::Internal { .. } => 500,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidParam(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Token(_) | ApiError::SessionKey(_) | ApiError::MerchantKey(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Wechat { .. } => StatusCode::BAD_GATEWAY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::NothingToWithdraw(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a failed call to `dependency` (e.g. `"auth-service"`). Services
    /// say *why* with a reason tag (`common::status`), which wins over the
    /// code; otherwise the code decides. A WeChat failure keeps the
    /// `x-minipay-out-trade-no` the service attached (only CreatePayment does).
    pub(crate) fn from_status(
        dependency: &'static str,
        status: &tonic::Status,
        request_id: &str,
    ) -> Self {
        let message = || non_empty(status.message(), status.code().description());
        // Reasons `common::status::Reason` does not (yet) name, read raw.
        match raw_reason(status) {
            Some(MERCHANT_KEY_REASON) => return ApiError::MerchantKey(message()),
            Some(NOTHING_TO_WITHDRAW_REASON) => return ApiError::NothingToWithdraw(message()),
            _ => {}
        }
        if let Some(reason) = common::status::reason(status) {
            return match reason {
                Reason::Token => ApiError::Token(message()),
                Reason::SessionKey => ApiError::SessionKey(message()),
                Reason::Wechat => ApiError::Wechat {
                    message: message(),
                    out_trade_no: common::status::out_trade_no(status),
                },
            };
        }
        match status.code() {
            Code::InvalidArgument => ApiError::InvalidParam(message()),
            Code::Unauthenticated => ApiError::Token(message()),
            Code::NotFound => ApiError::NotFound(message()),
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
                ApiError::Conflict(message())
            }
            Code::ResourceExhausted => ApiError::RateLimited(message()),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                tracing::warn!(dependency, code = ?status.code(), grpc_message = status.message(), "dependency unavailable");
                ApiError::Unavailable {
                    dependency,
                    detail: message(),
                }
            }
            // A status tonic made itself from an I/O or HTTP/2 failure carries
            // its source; one the service sent does not.
            Code::Unknown if std::error::Error::source(status).is_some() => {
                tracing::warn!(dependency, error = %status, "transport error");
                ApiError::Unavailable {
                    dependency,
                    detail: format!("transport error: {}", message()),
                }
            }
            Code::Ok
            | Code::Unknown
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss => {
                tracing::error!(
                    dependency,
                    request_id,
                    code = ?status.code(),
                    grpc_message = status.message(),
                    "call failed"
                );
                ApiError::Internal {
                    request_id: request_id.to_owned(),
                }
            }
        }
    }

    /// A service answered, but not with what its contract promises.
    pub(crate) fn bad_answer(dependency: &'static str, what: &str, request_id: &str) -> Self {
        tracing::error!(dependency, request_id, what, "malformed answer");
        ApiError::Internal {
            request_id: request_id.to_owned(),
        }
    }
}

/// The `x-minipay-reason` of an UNAUTHENTICATED ResolveMerchantKey: the
/// merchant API key is missing, unknown or revoked (code 8).
pub(crate) const MERCHANT_KEY_REASON: &str = "merchant-key";

/// The `x-minipay-reason` of a FAILED_PRECONDITION Withdraw that found no
/// PAID order to settle (code 7).
pub(crate) const NOTHING_TO_WITHDRAW_REASON: &str = "nothing-to-withdraw";

fn raw_reason(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get(common::status::REASON_KEY)
        .and_then(|v| v.to_str().ok())
}

fn non_empty(message: &str, fallback: &str) -> String {
    if message.is_empty() {
        fallback
    } else {
        message
    }
    .to_owned()
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::InvalidParam(format!("body could not be read: {}", rejection.body_text()))
        }
    }
}

/// `data` of a `/pay/` code 4: the order that stays CREATED.
#[derive(Debug, Serialize)]
struct RecordedOrder {
    out_trade_no: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, msg) = (self.status(), self.code(), self.to_string());
        let data = match self {
            ApiError::Wechat {
                out_trade_no: Some(out_trade_no),
                ..
            } => Some(RecordedOrder { out_trade_no }),
            _ => None,
        };
        Envelope::new(status, code, msg, data).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::status::with_reason;
    use tonic::Status;

    fn map(status: Status) -> ApiError {
        ApiError::from_status("auth-service", &status, "rid-1")
    }

    #[test]
    fn reasons_win_over_codes() {
        let used = with_reason(
            Status::failed_precondition("WeChat jscode2session: errcode 40163"),
            Reason::Wechat,
        );
        let e = map(used);
        assert_eq!((e.code(), e.status().as_u16()), (4, 502));
        assert!(e.to_string().contains("40163"));
        let stale = with_reason(Status::invalid_argument("bad padding"), Reason::SessionKey);
        assert_eq!(map(stale).code(), 3);
        let expired = with_reason(Status::not_found("no session"), Reason::Token);
        assert_eq!(map(expired).code(), 2);
    }

    #[test]
    fn every_code_has_a_place() {
        let cases = [
            (Code::Ok, 500, 500),
            (Code::Cancelled, 503, 503),
            (Code::Unknown, 500, 500),
            (Code::InvalidArgument, 1, 400),
            (Code::DeadlineExceeded, 503, 503),
            (Code::NotFound, 5, 404),
            (Code::AlreadyExists, 6, 409),
            (Code::PermissionDenied, 500, 500),
            (Code::ResourceExhausted, 9, 429),
            (Code::FailedPrecondition, 6, 409),
            (Code::Aborted, 6, 409),
            (Code::OutOfRange, 500, 500),
            (Code::Unimplemented, 500, 500),
            (Code::Internal, 500, 500),
            (Code::Unavailable, 503, 503),
            (Code::DataLoss, 500, 500),
            (Code::Unauthenticated, 2, 401),
        ];
        for (code, envelope, http) in cases {
            let e = map(Status::new(code, "m"));
            assert_eq!(
                (e.code(), e.status().as_u16()),
                (envelope, http),
                "{code:?}"
            );
        }
    }

    #[test]
    fn internal_carries_the_request_id_and_unavailable_names_the_dependency() {
        assert!(
            map(Status::internal("db password wrong"))
                .to_string()
                .contains("rid-1")
        );
        assert!(
            !map(Status::internal("db password wrong"))
                .to_string()
                .contains("password")
        );
        let e = map(Status::unavailable("tcp connect error"));
        assert_eq!(e.to_string(), "auth-service unavailable: tcp connect error");
    }

    #[test]
    fn a_transport_failure_is_unavailable_not_internal() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let status = Status::from_error(Box::new(io));
        assert_eq!(status.code(), Code::Unknown);
        let e = map(status);
        assert_eq!((e.code(), e.status().as_u16()), (503, 503));
        assert!(
            e.to_string().starts_with("auth-service unavailable: "),
            "{e}"
        );
    }

    #[test]
    fn a_wechat_failure_keeps_the_recorded_order() {
        let status = common::status::with_out_trade_no(
            with_reason(
                Status::unavailable("WeChat unifiedorder: SYSTEMERROR"),
                Reason::Wechat,
            ),
            "ORDER0000001",
        );
        let e = map(status);
        assert_eq!((e.code(), e.status().as_u16()), (4, 502));
        assert!(matches!(
            &e,
            ApiError::Wechat { out_trade_no: Some(no), .. } if no == "ORDER0000001"
        ));
        // Without the reason, the metadata alone means nothing.
        let plain = common::status::with_out_trade_no(Status::not_found("m"), "ORDER0000001");
        assert_eq!(map(plain).code(), 5);
    }

    fn raw(mut status: Status, reason: &'static str) -> Status {
        status.metadata_mut().insert(
            common::status::REASON_KEY,
            tonic::metadata::MetadataValue::from_static(reason),
        );
        status
    }

    #[test]
    fn merchant_reasons_have_their_codes() {
        let key = map(raw(
            Status::unauthenticated("merchant key unknown or revoked"),
            MERCHANT_KEY_REASON,
        ));
        assert_eq!((key.code(), key.status().as_u16()), (8, 401));
        let nothing = map(raw(
            Status::failed_precondition("nothing to withdraw"),
            NOTHING_TO_WITHDRAW_REASON,
        ));
        assert_eq!((nothing.code(), nothing.status().as_u16()), (7, 409));
        assert_eq!(nothing.to_string(), "nothing to withdraw");
        let no_payout = map(Status::failed_precondition(
            "merchant has no payout account",
        ));
        assert_eq!((no_payout.code(), no_payout.status().as_u16()), (6, 409));
        // An unknown reason leaves the code to decide.
        let odd = map(raw(Status::not_found("m"), "something-else"));
        assert_eq!(odd.code(), 5);
    }

    #[test]
    fn empty_messages_fall_back_to_the_code() {
        assert!(!map(Status::invalid_argument("")).to_string().is_empty());
    }
}
