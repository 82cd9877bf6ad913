//! How a service tells the gateway *why* a call failed, beyond the gRPC code:
//! a `x-minipay-reason` metadata entry. The gateway maps code + reason onto
//! the HTTP envelope once; services never pick HTTP codes themselves.

use tonic::Status;
use tonic::metadata::MetadataValue;

pub const REASON_KEY: &str = "x-minipay-reason";

/// On a failed CreatePayment whose order was recorded: the order's number,
/// which the gateway returns as `data.out_trade_no` with code 4.
pub const OUT_TRADE_NO_KEY: &str = "x-minipay-out-trade-no";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Token missing, unknown or expired (envelope code 2).
    Token,
    /// The session key could not decrypt or verify the data (code 3).
    SessionKey,
    /// WeChat refused or failed; the message carries WeChat's code (code 4).
    Wechat,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Token => "token",
            Reason::SessionKey => "session-key",
            Reason::Wechat => "wechat",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Reason::Token),
            "session-key" => Some(Reason::SessionKey),
            "wechat" => Some(Reason::Wechat),
            _ => None,
        }
    }
}

/// Tags a status with its reason.
pub fn with_reason(mut status: Status, reason: Reason) -> Status {
    status
        .metadata_mut()
        .insert(REASON_KEY, MetadataValue::from_static(reason.as_str()));
    status
}

/// Attaches the recorded order's number to a failed CreatePayment.
pub fn with_out_trade_no(mut status: Status, out_trade_no: &str) -> Status {
    if let Ok(value) = MetadataValue::try_from(out_trade_no) {
        status.metadata_mut().insert(OUT_TRADE_NO_KEY, value);
    }
    status
}

pub fn out_trade_no(status: &Status) -> Option<String> {
    status
        .metadata()
        .get(OUT_TRADE_NO_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn reason(status: &Status) -> Option<Reason> {
    status
        .metadata()
        .get(REASON_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(Reason::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_metadata() {
        for r in [Reason::Token, Reason::SessionKey, Reason::Wechat] {
            let status = with_reason(Status::unauthenticated("x"), r);
            assert_eq!(reason(&status), Some(r));
        }
        assert_eq!(reason(&Status::internal("x")), None);
        let status =
            with_out_trade_no(Status::unavailable("x"), "2026120400000000012345ABCDEFGHJK");
        assert_eq!(
            out_trade_no(&status).as_deref(),
            Some("2026120400000000012345ABCDEFGHJK")
        );
    }
}
