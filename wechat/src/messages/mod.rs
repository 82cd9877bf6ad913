//! Typed forms of every WeChat message the platform sends or receives, each
//! converting to and from a [`FieldMap`]. Reading names the offending field in
//! its error; writing never emits an empty optional field.
//!
//! Requests do not carry `nonce_str` or `sign`: [`seal`] adds both, so no
//! request leaves unsigned and no caller picks its own nonce.

mod pay;
mod pay_notify;
mod refund_notify;
mod transfer;

pub use pay::{
    CloseOrderRequest, CloseOrderSuccess, OrderQueryRequest, OrderQuerySuccess, TradeState,
    UnifiedOrderRequest, UnifiedOrderSuccess,
};
pub use pay_notify::{NotificationError, NotifyReply, PayNotification, PayResult};
pub use refund_notify::{RefundInfo, RefundInfoError, RefundNotification, RefundStatus};
pub use transfer::{
    GetTransferInfoRequest, TransferInfo, TransferRequest, TransferStatus, TransferSuccess,
};

use std::fmt::Display;
use std::str::FromStr;

use crate::ids::nonce_str;
use crate::keys::ApiKey;
use crate::sign::{SignType, sign_fields};
use crate::xml::{FieldMap, XmlError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("field {field} is missing")]
    Missing { field: &'static str },
    #[error("field {field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Reads typed fields out of a map; empty counts as absent, as it does for
/// the signature.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(pub &'a FieldMap);

impl<'a> Fields<'a> {
    pub fn opt(&self, field: &'static str) -> Option<&'a str> {
        self.0.get(field).filter(|v| !v.is_empty())
    }

    pub fn req(&self, field: &'static str) -> Result<&'a str, MessageError> {
        self.opt(field).ok_or(MessageError::Missing { field })
    }

    pub fn string(&self, field: &'static str) -> Result<String, MessageError> {
        self.req(field).map(str::to_owned)
    }

    pub fn opt_string(&self, field: &'static str) -> Option<String> {
        self.opt(field).map(str::to_owned)
    }

    pub fn parse<T>(&self, field: &'static str) -> Result<T, MessageError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.req(field)?;
        text.parse().map_err(|e: T::Err| MessageError::Invalid {
            field,
            reason: e.to_string(),
        })
    }

    pub fn opt_parse<T>(&self, field: &'static str) -> Result<Option<T>, MessageError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.opt(field) {
            None => Ok(None),
            Some(_) => self.parse(field).map(Some),
        }
    }

    /// A field that must hold one exact value (`trade_type=JSAPI`, …).
    pub fn literal(&self, field: &'static str, expected: &'static str) -> Result<(), MessageError> {
        match self.req(field)? {
            v if v == expected => Ok(()),
            other => Err(MessageError::Invalid {
                field,
                reason: format!("expected {expected}, got {:?}", truncate(other)),
            }),
        }
    }
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// What a v2 API answered. `return_code=FAIL` means the call was refused
/// before any business processing and is unsigned; `result_code=FAIL` is a
/// signed business refusal with WeChat's `err_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    ReturnFail {
        return_msg: String,
    },
    ResultFail {
        err_code: String,
        err_code_des: String,
    },
    Success(T),
}

/// The body of a successful reply.
pub trait ReplyBody: Sized {
    fn read(fields: Fields<'_>) -> Result<Self, MessageError>;
    fn write(&self, out: &mut FieldMap);
}

impl<T: ReplyBody> Reply<T> {
    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        match f.req("return_code")? {
            "FAIL" => Ok(Reply::ReturnFail {
                return_msg: f.opt_string("return_msg").unwrap_or_default(),
            }),
            "SUCCESS" => match f.req("result_code")? {
                "FAIL" => Ok(Reply::ResultFail {
                    err_code: f.opt_string("err_code").unwrap_or_default(),
                    err_code_des: f.opt_string("err_code_des").unwrap_or_default(),
                }),
                "SUCCESS" => T::read(f).map(Reply::Success),
                other => Err(MessageError::Invalid {
                    field: "result_code",
                    reason: format!("expected SUCCESS or FAIL, got {:?}", truncate(other)),
                }),
            },
            other => Err(MessageError::Invalid {
                field: "return_code",
                reason: format!("expected SUCCESS or FAIL, got {:?}", truncate(other)),
            }),
        }
    }

    /// The reply's own fields; whoever sends it adds the echoed ids,
    /// `nonce_str` and `sign` (a `ReturnFail` goes out unsigned).
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        match self {
            Reply::ReturnFail { return_msg } => {
                out.set("return_code", "FAIL")
                    .set("return_msg", return_msg.as_str());
            }
            Reply::ResultFail {
                err_code,
                err_code_des,
            } => {
                out.set("return_code", "SUCCESS")
                    .set("return_msg", "OK")
                    .set("result_code", "FAIL")
                    .set("err_code", err_code.as_str())
                    .set("err_code_des", err_code_des.as_str());
            }
            Reply::Success(body) => {
                out.set("return_code", "SUCCESS")
                    .set("return_msg", "OK")
                    .set("result_code", "SUCCESS");
                body.write(&mut out);
            }
        }
        out
    }
}

/// Adds a fresh `nonce_str` (unless one is set) and `sign`, and encodes.
pub fn seal(mut fields: FieldMap, key: &ApiKey, sign_type: SignType) -> Result<String, XmlError> {
    if fields.get("nonce_str").is_none_or(str::is_empty) {
        fields.set("nonce_str", nonce_str());
    }
    sign_fields(&mut fields, key, sign_type);
    fields.to_xml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::verify;

    #[test]
    fn reader_names_missing_and_invalid_fields() {
        let map: FieldMap = [("total_fee", "1.5"), ("attach", "")].into_iter().collect();
        let f = Fields(&map);
        assert_eq!(
            f.req("attach"),
            Err(MessageError::Missing { field: "attach" })
        );
        let err = f.parse::<common::AmountFen>("total_fee").unwrap_err();
        assert!(matches!(
            err,
            MessageError::Invalid {
                field: "total_fee",
                ..
            }
        ));
        assert!(err.to_string().contains("total_fee"));
        assert_eq!(f.opt_parse::<i64>("nothing"), Ok(None));
    }

    #[test]
    fn seal_adds_nonce_and_a_verifiable_sign() {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let xml = seal(
            [("appid", "wx1")].into_iter().collect(),
            &key,
            SignType::HmacSha256,
        )
        .unwrap();
        let map = FieldMap::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(map.get("nonce_str").map(str::len), Some(32));
        assert_eq!(verify(&map, &key, SignType::HmacSha256), Ok(()));
    }

    #[test]
    fn reply_codes_must_be_success_or_fail() {
        let map: FieldMap = [("return_code", "MAYBE")].into_iter().collect();
        assert!(matches!(
            Reply::<UnifiedOrderSuccess>::from_fields(&map),
            Err(MessageError::Invalid {
                field: "return_code",
                ..
            })
        ));
        let map: FieldMap = [("result_code", "SUCCESS")].into_iter().collect();
        assert_eq!(
            Reply::<UnifiedOrderSuccess>::from_fields(&map),
            Err(MessageError::Missing {
                field: "return_code"
            })
        );
    }
}
