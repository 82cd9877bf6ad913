//! Enterprise payment to change (`transfers`) and its query
//! (`gettransferinfo`). Note the names: `mch_appid`/`mchid` in the transfer,
//! `appid`/`mch_id` in the query. MD5 only, so no `sign_type` field.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use common::{AmountFen, PartnerTradeNo};

use super::{Fields, MessageError, ReplyBody, truncate};
use crate::xml::FieldMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub mch_appid: String,
    pub mchid: String,
    pub partner_trade_no: PartnerTradeNo,
    pub openid: String,
    /// When set, WeChat checks the payee's real name (`FORCE_CHECK`).
    pub re_user_name: Option<String>,
    pub amount: AmountFen,
    pub desc: String,
    pub spbill_create_ip: Option<IpAddr>,
}

impl TransferRequest {
    pub fn to_fields(&self) -> FieldMap {
        let check_name = match self.re_user_name {
            Some(_) => "FORCE_CHECK",
            None => "NO_CHECK",
        };
        let mut out = FieldMap::new();
        out.set("mch_appid", self.mch_appid.as_str())
            .set("mchid", self.mchid.as_str())
            .set("partner_trade_no", self.partner_trade_no.as_str())
            .set("openid", self.openid.as_str())
            .set("check_name", check_name)
            .set_opt("re_user_name", self.re_user_name.as_deref())
            .set("amount", self.amount.to_string())
            .set("desc", self.desc.as_str())
            .set_opt(
                "spbill_create_ip",
                self.spbill_create_ip.map(|ip| ip.to_string()),
            );
        out
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        let re_user_name = match f.req("check_name")? {
            "NO_CHECK" => None,
            "FORCE_CHECK" => Some(f.string("re_user_name")?),
            other => {
                return Err(MessageError::Invalid {
                    field: "check_name",
                    reason: format!(
                        "expected NO_CHECK or FORCE_CHECK, got {:?}",
                        truncate(other)
                    ),
                });
            }
        };
        let amount: AmountFen = f.parse("amount")?;
        if amount.is_zero() {
            return Err(MessageError::Invalid {
                field: "amount",
                reason: "must be at least 1 fen".into(),
            });
        }
        Ok(Self {
            mch_appid: f.string("mch_appid")?,
            mchid: f.string("mchid")?,
            partner_trade_no: f.parse("partner_trade_no")?,
            openid: f.string("openid")?,
            re_user_name,
            amount,
            desc: f.string("desc")?,
            spbill_create_ip: f.opt_parse("spbill_create_ip")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSuccess {
    pub mch_appid: String,
    pub mchid: String,
    pub partner_trade_no: PartnerTradeNo,
    pub payment_no: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub payment_time: String,
}

impl ReplyBody for TransferSuccess {
    fn read(f: Fields<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            mch_appid: f.string("mch_appid")?,
            mchid: f.string("mchid")?,
            partner_trade_no: f.parse("partner_trade_no")?,
            payment_no: f.string("payment_no")?,
            payment_time: f.string("payment_time")?,
        })
    }

    fn write(&self, out: &mut FieldMap) {
        out.set("mch_appid", self.mch_appid.as_str())
            .set("mchid", self.mchid.as_str())
            .set("partner_trade_no", self.partner_trade_no.as_str())
            .set("payment_no", self.payment_no.as_str())
            .set("payment_time", self.payment_time.as_str());
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTransferInfoRequest {
    pub appid: String,
    pub mch_id: String,
    pub partner_trade_no: PartnerTradeNo,
}

impl GetTransferInfoRequest {
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("partner_trade_no", self.partner_trade_no.as_str());
        out
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            partner_trade_no: f.parse("partner_trade_no")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    Success,
    Failed,
    Processing,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Success => "SUCCESS",
            TransferStatus::Failed => "FAILED",
            TransferStatus::Processing => "PROCESSING",
        }
    }
}

impl fmt::Display for TransferStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransferStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SUCCESS" => Ok(TransferStatus::Success),
            "FAILED" => Ok(TransferStatus::Failed),
            "PROCESSING" => Ok(TransferStatus::Processing),
            other => Err(format!("unknown transfer status {:?}", truncate(other))),
        }
    }
}

/// An answered gettransferinfo: the authoritative state of a transfer. Only
/// what identifies it and its status are required, so that a FAILED or
/// PROCESSING answer with fewer fields can still be read; a SUCCESS must
/// name the amount paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferInfo {
    pub appid: String,
    pub mch_id: String,
    pub partner_trade_no: PartnerTradeNo,
    pub detail_id: Option<String>,
    pub status: TransferStatus,
    pub reason: Option<String>,
    pub openid: Option<String>,
    pub payment_amount: Option<AmountFen>,
    pub transfer_time: Option<String>,
    pub payment_time: Option<String>,
    pub desc: Option<String>,
}

impl ReplyBody for TransferInfo {
    fn read(f: Fields<'_>) -> Result<Self, MessageError> {
        let status: TransferStatus = f.parse("status")?;
        let payment_amount = match status {
            TransferStatus::Success => Some(f.parse("payment_amount")?),
            _ => f.opt_parse("payment_amount")?,
        };
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            partner_trade_no: f.parse("partner_trade_no")?,
            detail_id: f.opt_string("detail_id"),
            status,
            reason: f.opt_string("reason"),
            openid: f.opt_string("openid"),
            payment_amount,
            transfer_time: f.opt_string("transfer_time"),
            payment_time: f.opt_string("payment_time"),
            desc: f.opt_string("desc"),
        })
    }

    fn write(&self, out: &mut FieldMap) {
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("partner_trade_no", self.partner_trade_no.as_str())
            .set_opt("detail_id", self.detail_id.as_deref())
            .set("status", self.status.as_str())
            .set_opt("reason", self.reason.as_deref())
            .set_opt("openid", self.openid.as_deref())
            .set_opt("payment_amount", self.payment_amount.map(|a| a.to_string()))
            .set_opt("transfer_time", self.transfer_time.as_deref())
            .set_opt("payment_time", self.payment_time.as_deref())
            .set_opt("desc", self.desc.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Reply;

    fn transfer() -> TransferRequest {
        TransferRequest {
            mch_appid: "wx1".into(),
            mchid: "m1".into(),
            partner_trade_no: PartnerTradeNo::parse("W1").unwrap(),
            openid: "o1".into(),
            re_user_name: None,
            amount: AmountFen::positive(100).unwrap(),
            desc: "withdrawal".into(),
            spbill_create_ip: None,
        }
    }

    #[test]
    fn transfer_uses_the_transfer_field_names() {
        let fields = transfer().to_fields();
        assert_eq!(fields.get("mch_appid"), Some("wx1"));
        assert_eq!(fields.get("mchid"), Some("m1"));
        assert_eq!(fields.get("check_name"), Some("NO_CHECK"));
        assert_eq!(fields.get("appid"), None);
        assert_eq!(fields.get("sign_type"), None);
        assert_eq!(TransferRequest::from_fields(&fields), Ok(transfer()));
    }

    #[test]
    fn transfer_refuses_bad_fields() {
        let mut fields = transfer().to_fields();
        fields.set("check_name", "FORCE_CHECK");
        assert_eq!(
            TransferRequest::from_fields(&fields),
            Err(MessageError::Missing {
                field: "re_user_name"
            })
        );
        let mut fields = transfer().to_fields();
        fields.set("partner_trade_no", "W-1");
        assert!(matches!(
            TransferRequest::from_fields(&fields),
            Err(MessageError::Invalid {
                field: "partner_trade_no",
                ..
            })
        ));
        let mut fields = transfer().to_fields();
        fields.set("amount", "0");
        assert!(matches!(
            TransferRequest::from_fields(&fields),
            Err(MessageError::Invalid {
                field: "amount",
                ..
            })
        ));
    }

    #[test]
    fn transfer_info_round_trips() {
        let info = Reply::Success(TransferInfo {
            appid: "wx1".into(),
            mch_id: "m1".into(),
            partner_trade_no: PartnerTradeNo::parse("W1").unwrap(),
            detail_id: Some("1000000000201503283103439304".into()),
            status: TransferStatus::Failed,
            reason: Some("OPENID_ERROR".into()),
            openid: None,
            payment_amount: None,
            transfer_time: Some("2015-04-21 20:00:00".into()),
            payment_time: None,
            desc: None,
        });
        assert_eq!(Reply::from_fields(&info.to_fields()), Ok(info.clone()));
        let req = GetTransferInfoRequest {
            appid: "wx1".into(),
            mch_id: "m1".into(),
            partner_trade_no: PartnerTradeNo::parse("W1").unwrap(),
        };
        assert_eq!(
            GetTransferInfoRequest::from_fields(&req.to_fields()),
            Ok(req)
        );
        let mut fields = info.to_fields();
        fields.set("status", "SUCCESS");
        assert_eq!(
            Reply::<TransferInfo>::from_fields(&fields),
            Err(MessageError::Missing {
                field: "payment_amount"
            }),
            "a success must say how much was paid"
        );
        fields.set("status", "MAYBE");
        assert!(matches!(
            Reply::<TransferInfo>::from_fields(&fields),
            Err(MessageError::Invalid {
                field: "status",
                ..
            })
        ));
    }
}
