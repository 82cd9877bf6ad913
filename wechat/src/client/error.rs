use std::fmt;

use crate::sign::SignError;

/// Which WeChat API a call went to; the retry rules differ per API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Code2Session,
    UnifiedOrder,
    OrderQuery,
    CloseOrder,
    Transfers,
    GetTransferInfo,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Code2Session => "jscode2session",
            Api::UnifiedOrder => "unifiedorder",
            Api::OrderQuery => "orderquery",
            Api::CloseOrder => "closeorder",
            Api::Transfers => "transfers",
            Api::GetTransferInfo => "gettransferinfo",
        }
    }

    fn moves_money_by_id(self) -> bool {
        matches!(self, Api::Transfers | Api::GetTransferInfo)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether WeChat's answer can be believed as final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// WeChat answered, and the answer is believable: the call did not do
    /// what was asked (and will not, unless retried).
    Definite,
    /// No believable final answer (timeout, 5xx, SYSTEMERROR, a reply that
    /// fails verification, an unsigned transfer refusal, ORDERPAID): the
    /// money may or may not have moved. Find out by querying with the same
    /// id; never switch to a new one.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("no reply within the timeout")]
    Timeout,
    #[error("transport failure: {0}")]
    Transport(String),
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    #[error("reply is not a valid message: {0}")]
    MalformedReply(String),
    #[error("reply signature: {0}")]
    BadSignature(SignError),
    #[error("reply is not for this merchant: {field} does not match")]
    ForeignReply { field: &'static str },
    #[error("refused the call (return_code=FAIL): {return_msg}")]
    ReturnFail { return_msg: String },
    #[error("{err_code}: {err_code_des}")]
    Refused {
        err_code: String,
        err_code_des: String,
    },
    #[error("errcode {errcode}: {errmsg}")]
    Login { errcode: i64, errmsg: String },
    #[error("request could not be built: {0}")]
    InvalidRequest(String),
}

/// A failed WeChat call: which API, what happened, and — through
/// [`certainty`](Self::certainty) and [`retry_with_same_id`](Self::retry_with_same_id)
/// — what the caller may safely do next. Carries no secret: URLs are
/// stripped from transport errors because code2session's holds the app secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WeChat {api}: {kind}")]
pub struct WechatError {
    pub api: Api,
    pub kind: ErrorKind,
}

/// Transfer codes that will refuse the same request again, so retrying it
/// cannot help (it stays safe: the number is idempotent). For every other
/// code, including those WeChat lists as "retry with the original
/// partner_trade_no" (NOTENOUGH, FREQ_LIMIT, SENDNUM_LIMIT, …) and codes not
/// known here, a retry with the same number may pass.
const TRANSFER_FINAL: &[&str] = &["NO_AUTH", "AMOUNT_LIMIT", "PARAM_ERROR", "OPENID_ERROR"];

impl WechatError {
    pub fn new(api: Api, kind: ErrorKind) -> Self {
        Self { api, kind }
    }

    pub fn certainty(&self) -> Certainty {
        use Certainty::{Definite, Unknown};
        match &self.kind {
            ErrorKind::Timeout
            | ErrorKind::Transport(_)
            | ErrorKind::HttpStatus(_)
            | ErrorKind::MalformedReply(_)
            | ErrorKind::BadSignature(_)
            | ErrorKind::ForeignReply { .. } => Unknown,
            ErrorKind::InvalidRequest(_) => Definite,
            // Transfer refusals are unsigned (WeChat relies on the client
            // certificate) and a refusal can follow an earlier attempt with
            // the same number that went through: a number once sent is never
            // given up until gettransferinfo reports FAILED.
            ErrorKind::ReturnFail { .. } | ErrorKind::Refused { .. }
                if self.api.moves_money_by_id() =>
            {
                Unknown
            }
            ErrorKind::ReturnFail { .. } => Definite,
            ErrorKind::Refused { err_code, .. } => match err_code.as_str() {
                "SYSTEMERROR" | "BIZERR_NEED_RETRY" => Unknown,
                // "Already paid" and "number used" say nothing about whether
                // the money moved: confirm with orderquery before acting.
                "ORDERPAID" | "OUT_TRADE_NO_USED" => Unknown,
                _ => Definite,
            },
            ErrorKind::Login { errcode: -1, .. } => Unknown,
            ErrorKind::Login { .. } => Definite,
        }
    }

    /// Whether calling again with the same out_trade_no / partner_trade_no
    /// (same parameters) is safe and may succeed. Never a reason to use a new id.
    pub fn retry_with_same_id(&self) -> bool {
        match &self.kind {
            ErrorKind::InvalidRequest(_) => false,
            ErrorKind::Refused { err_code, .. } => match (self.api, err_code.as_str()) {
                (Api::Transfers, code) => !TRANSFER_FINAL.contains(&code),
                (_, "SYSTEMERROR" | "BIZERR_NEED_RETRY") => true,
                (Api::GetTransferInfo, "NOT_FOUND") => true,
                _ => false,
            },
            // 45011: the minute's quota is spent; the next minute may pass.
            ErrorKind::Login { errcode: 45011, .. } => true,
            _ => self.certainty() == Certainty::Unknown,
        }
    }

    /// WeChat says the order is already paid (`ORDERPAID`): the caller must
    /// treat it as paid and confirm with orderquery, never close it.
    pub fn order_already_paid(&self) -> bool {
        matches!(&self.kind, ErrorKind::Refused { err_code, .. } if err_code == "ORDERPAID")
    }

    /// WeChat's own code, when it gave one (`err_code` or code2session's
    /// `errcode`), for the caller to show.
    pub fn wechat_code(&self) -> Option<String> {
        match &self.kind {
            ErrorKind::Refused { err_code, .. } => Some(err_code.clone()),
            ErrorKind::Login { errcode, .. } => Some(errcode.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(api: Api, code: &str) -> WechatError {
        WechatError::new(
            api,
            ErrorKind::Refused {
                err_code: code.into(),
                err_code_des: String::new(),
            },
        )
    }

    #[test]
    fn unknown_outcomes_are_retryable_with_the_same_id() {
        for kind in [
            ErrorKind::Timeout,
            ErrorKind::HttpStatus(502),
            ErrorKind::BadSignature(SignError::Mismatch),
            ErrorKind::MalformedReply("x".into()),
        ] {
            let e = WechatError::new(Api::UnifiedOrder, kind);
            assert_eq!(e.certainty(), Certainty::Unknown, "{e}");
            assert!(e.retry_with_same_id(), "{e}");
        }
        let e = refused(Api::UnifiedOrder, "SYSTEMERROR");
        assert_eq!(e.certainty(), Certainty::Unknown);
        assert!(e.retry_with_same_id());
    }

    #[test]
    fn business_refusals_are_definite() {
        for code in [
            "INVALID_REQUEST",
            "SIGNERROR",
            "ORDERCLOSED",
            "ORDERNOTEXIST",
        ] {
            let e = refused(Api::UnifiedOrder, code);
            assert_eq!(e.certainty(), Certainty::Definite, "{code}");
            assert!(!e.retry_with_same_id(), "{code}");
        }
        let e = WechatError::new(
            Api::UnifiedOrder,
            ErrorKind::ReturnFail {
                return_msg: "签名错误".into(),
            },
        );
        assert_eq!(e.certainty(), Certainty::Definite);
    }

    #[test]
    fn already_paid_and_number_used_need_a_query() {
        for api in [Api::UnifiedOrder, Api::CloseOrder] {
            let e = refused(api, "ORDERPAID");
            assert_eq!(e.certainty(), Certainty::Unknown);
            assert!(e.order_already_paid());
            assert!(!e.retry_with_same_id());
        }
        let e = refused(Api::UnifiedOrder, "OUT_TRADE_NO_USED");
        assert_eq!(e.certainty(), Certainty::Unknown);
        assert!(!e.order_already_paid());
        assert!(!e.retry_with_same_id());
    }

    #[test]
    fn transfers_never_give_up_a_number_on_a_refusal() {
        for code in [
            "NOTENOUGH",
            "MONEY_LIMIT",
            "SENDNUM_LIMIT",
            "SYSTEMERROR",
            "SEND_FAILED",
            "SOMETHING_NEW",
        ] {
            let e = refused(Api::Transfers, code);
            assert_eq!(e.certainty(), Certainty::Unknown, "{code}");
            assert!(e.retry_with_same_id(), "{code}");
        }
        for code in ["OPENID_ERROR", "NO_AUTH", "PARAM_ERROR", "AMOUNT_LIMIT"] {
            let e = refused(Api::Transfers, code);
            assert_eq!(e.certainty(), Certainty::Unknown, "{code}");
            assert!(!e.retry_with_same_id(), "{code}");
        }
        let e = WechatError::new(
            Api::Transfers,
            ErrorKind::ReturnFail {
                return_msg: "x".into(),
            },
        );
        assert_eq!(e.certainty(), Certainty::Unknown);
        let e = refused(Api::GetTransferInfo, "NOT_FOUND");
        assert_eq!(e.certainty(), Certainty::Unknown);
        assert!(e.retry_with_same_id());
    }

    #[test]
    fn login_codes() {
        let login = |errcode| {
            WechatError::new(
                Api::Code2Session,
                ErrorKind::Login {
                    errcode,
                    errmsg: String::new(),
                },
            )
        };
        assert_eq!(login(-1).certainty(), Certainty::Unknown);
        assert!(login(-1).retry_with_same_id());
        assert!(login(45011).retry_with_same_id());
        assert_eq!(login(40029).certainty(), Certainty::Definite);
        assert!(!login(40029).retry_with_same_id());
        assert!(!login(40163).retry_with_same_id());
        assert_eq!(login(40163).wechat_code().as_deref(), Some("40163"));
    }
}
