//! The payment result notification and the merchant's reply to it.

use common::{AmountFen, OutTradeNo};

use super::{Fields, MessageError, truncate};
use crate::keys::ApiKey;
use crate::sign::{SignError, SignType, verify};
use crate::xml::{FieldMap, XmlError};

/// Why a notification body was refused, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("notification is not a valid document: {0}")]
    Xml(#[from] XmlError),
    #[error("notification signature: {0}")]
    Signature(#[from] SignError),
    #[error("notification: {0}")]
    Message(#[from] MessageError),
}

/// WeChat's notification that a payment finished (successfully or not).
/// Parsing it proves nothing: verify the signature over the raw map first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayNotification {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: OutTradeNo,
    pub openid: Option<String>,
    pub sign_type: Option<SignType>,
    pub attach: Option<String>,
    pub result: PayResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayResult {
    Paid {
        transaction_id: String,
        total_fee: AmountFen,
        cash_fee: Option<AmountFen>,
        fee_type: Option<String>,
        bank_type: Option<String>,
        trade_type: Option<String>,
        /// `yyyyMMddHHmmss`, Beijing time.
        time_end: String,
    },
    Failed {
        err_code: Option<String>,
        err_code_des: Option<String>,
    },
}

impl PayNotification {
    /// Parses a raw notification body and believes it only after its
    /// signature verifies over every field with `sign_type` (the order's).
    /// Returns the verified map too, for the notification log.
    pub fn parse_verified(
        raw: &[u8],
        key: &ApiKey,
        sign_type: SignType,
    ) -> Result<(Self, FieldMap), NotificationError> {
        let map = FieldMap::from_xml(raw)?;
        verify(&map, key, sign_type)?;
        let notification = Self::from_fields(&map)?;
        Ok((notification, map))
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        f.literal("return_code", "SUCCESS")?;
        let result = match f.req("result_code")? {
            "SUCCESS" => {
                let total_fee: AmountFen = f.parse("total_fee")?;
                if total_fee.is_zero() {
                    return Err(MessageError::Invalid {
                        field: "total_fee",
                        reason: "must be at least 1 fen".into(),
                    });
                }
                PayResult::Paid {
                    transaction_id: f.string("transaction_id")?,
                    total_fee,
                    cash_fee: f.opt_parse("cash_fee")?,
                    fee_type: f.opt_string("fee_type"),
                    bank_type: f.opt_string("bank_type"),
                    trade_type: f.opt_string("trade_type"),
                    time_end: f.string("time_end")?,
                }
            }
            "FAIL" => PayResult::Failed {
                err_code: f.opt_string("err_code"),
                err_code_des: f.opt_string("err_code_des"),
            },
            other => {
                return Err(MessageError::Invalid {
                    field: "result_code",
                    reason: format!("expected SUCCESS or FAIL, got {:?}", truncate(other)),
                });
            }
        };
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            out_trade_no: f.parse("out_trade_no")?,
            openid: f.opt_string("openid"),
            sign_type: f.opt_parse("sign_type")?,
            attach: f.opt_string("attach"),
            result,
        })
    }

    /// The simulator's side: every field but `nonce_str` and `sign`.
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("return_code", "SUCCESS")
            .set("return_msg", "OK")
            .set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set_opt("sign_type", self.sign_type.map(SignType::as_str))
            .set_opt("openid", self.openid.as_deref())
            .set("out_trade_no", self.out_trade_no.as_str())
            .set_opt("attach", self.attach.as_deref());
        match &self.result {
            PayResult::Paid {
                transaction_id,
                total_fee,
                cash_fee,
                fee_type,
                bank_type,
                trade_type,
                time_end,
            } => {
                out.set("result_code", "SUCCESS")
                    .set_opt("trade_type", trade_type.as_deref())
                    .set_opt("bank_type", bank_type.as_deref())
                    .set("total_fee", total_fee.to_string())
                    .set_opt("fee_type", fee_type.as_deref())
                    .set_opt("cash_fee", cash_fee.map(|c| c.to_string()))
                    .set("transaction_id", transaction_id.as_str())
                    .set("time_end", time_end.as_str());
            }
            PayResult::Failed {
                err_code,
                err_code_des,
            } => {
                out.set("result_code", "FAIL")
                    .set_opt("err_code", err_code.as_deref())
                    .set_opt("err_code_des", err_code_des.as_deref());
            }
        }
        out
    }
}

/// The merchant's answer to a notification. Anything but SUCCESS makes
/// WeChat deliver the notification again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyReply {
    Success,
    Fail(String),
}

impl NotifyReply {
    pub fn to_xml(&self) -> Result<String, XmlError> {
        let (code, msg) = match self {
            NotifyReply::Success => ("SUCCESS", "OK"),
            NotifyReply::Fail(reason) => ("FAIL", reason.as_str()),
        };
        let mut out = FieldMap::new();
        out.set("return_code", code).set("return_msg", msg);
        out.to_xml()
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        match f.req("return_code")? {
            "SUCCESS" => Ok(NotifyReply::Success),
            "FAIL" => Ok(NotifyReply::Fail(
                f.opt_string("return_msg").unwrap_or_default(),
            )),
            other => Err(MessageError::Invalid {
                field: "return_code",
                reason: format!("expected SUCCESS or FAIL, got {:?}", truncate(other)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ApiKey;
    use crate::sign::{sign_fields, verify};

    /// TV7(a) as WeChat would send it: numbers without CDATA, strings with.
    fn tv7a_xml() -> String {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let mut fields: FieldMap = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("attach", ""),
            ("bank_type", "OTHERS"),
            ("cash_fee", "1"),
            ("fee_type", "CNY"),
            ("is_subscribe", "N"),
            ("mch_id", "10000100"),
            ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
            ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
            ("out_trade_no", "ORDER20240101000001"),
            ("result_code", "SUCCESS"),
            ("return_code", "SUCCESS"),
            ("time_end", "20240101120000"),
            ("total_fee", "1"),
            ("trade_type", "JSAPI"),
            ("transaction_id", "4200000000000000000000000001"),
        ]
        .into_iter()
        .collect();
        sign_fields(&mut fields, &key, SignType::Md5);
        let mut xml = String::from("<xml>");
        for (name, value) in fields.iter() {
            if matches!(name, "total_fee" | "cash_fee") {
                xml.push_str(&format!("<{name}>{value}</{name}>"));
            } else {
                xml.push_str(&format!("<{name}><![CDATA[{value}]]></{name}>"));
            }
        }
        xml.push_str("</xml>");
        xml
    }

    #[test]
    fn tv7a_notification_verifies_and_parses() {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let map = FieldMap::from_xml(tv7a_xml().as_bytes()).unwrap();
        assert_eq!(map.get("sign"), Some("04A58B1F2AB4FA5DC5C8B79503120A91"));
        assert_eq!(verify(&map, &key, SignType::Md5), Ok(()));
        let notification = PayNotification::from_fields(&map).unwrap();
        assert_eq!(notification.out_trade_no.as_str(), "ORDER20240101000001");
        assert_eq!(notification.attach, None);
        assert_eq!(
            notification.result,
            PayResult::Paid {
                transaction_id: "4200000000000000000000000001".into(),
                total_fee: AmountFen::positive(1).unwrap(),
                cash_fee: Some(AmountFen::positive(1).unwrap()),
                fee_type: Some("CNY".into()),
                bank_type: Some("OTHERS".into()),
                trade_type: Some("JSAPI".into()),
                time_end: "20240101120000".into(),
            }
        );
    }

    #[test]
    fn parse_verified_checks_in_order() {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let (n, map) =
            PayNotification::parse_verified(tv7a_xml().as_bytes(), &key, SignType::Md5).unwrap();
        assert_eq!(map.get("sign"), Some("04A58B1F2AB4FA5DC5C8B79503120A91"));
        assert!(matches!(n.result, PayResult::Paid { .. }));
        assert!(matches!(
            PayNotification::parse_verified(b"<xml><a>", &key, SignType::Md5),
            Err(NotificationError::Xml(_))
        ));
        assert_eq!(
            PayNotification::parse_verified(tv7a_xml().as_bytes(), &key, SignType::HmacSha256),
            Err(NotificationError::Signature(SignError::Mismatch))
        );
        // Signed but incomplete: the signature passes, the message does not.
        let mut fields: FieldMap = [("return_code", "SUCCESS"), ("result_code", "SUCCESS")]
            .into_iter()
            .collect();
        sign_fields(&mut fields, &key, SignType::Md5);
        assert!(matches!(
            PayNotification::parse_verified(
                fields.to_xml().unwrap().as_bytes(),
                &key,
                SignType::Md5
            ),
            Err(NotificationError::Message(MessageError::Missing { .. }))
        ));
    }

    #[test]
    fn a_tampered_amount_fails_verification() {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let xml = tv7a_xml().replace("<total_fee>1</total_fee>", "<total_fee>100</total_fee>");
        let map = FieldMap::from_xml(xml.as_bytes()).unwrap();
        assert!(verify(&map, &key, SignType::Md5).is_err());
    }

    #[test]
    fn failed_payment_and_bad_codes() {
        let mut map = FieldMap::from_xml(tv7a_xml().as_bytes()).unwrap();
        map.set("result_code", "FAIL").set("err_code", "NOTENOUGH");
        let n = PayNotification::from_fields(&map).unwrap();
        assert!(
            matches!(n.result, PayResult::Failed { err_code: Some(ref c), .. } if c == "NOTENOUGH")
        );
        map.set("return_code", "FAIL");
        assert!(matches!(
            PayNotification::from_fields(&map),
            Err(MessageError::Invalid {
                field: "return_code",
                ..
            })
        ));
        let mut map = FieldMap::from_xml(tv7a_xml().as_bytes()).unwrap();
        map.set("total_fee", "0");
        assert!(matches!(
            PayNotification::from_fields(&map),
            Err(MessageError::Invalid {
                field: "total_fee",
                ..
            })
        ));
    }

    #[test]
    fn notification_round_trips() {
        let map = FieldMap::from_xml(tv7a_xml().as_bytes()).unwrap();
        let n = PayNotification::from_fields(&map).unwrap();
        assert_eq!(PayNotification::from_fields(&n.to_fields()), Ok(n));
    }

    #[test]
    fn replies_are_wechat_xml() {
        assert_eq!(
            NotifyReply::Success.to_xml().unwrap(),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        let fail = NotifyReply::Fail("签名错误".into());
        let map = FieldMap::from_xml(fail.to_xml().unwrap().as_bytes()).unwrap();
        assert_eq!(NotifyReply::from_fields(&map), Ok(fail));
    }
}
