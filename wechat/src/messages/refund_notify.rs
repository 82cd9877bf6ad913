//! The refund notification: an unsigned outer document whose `req_info` is
//! the real content, encrypted under the API key.

use std::str::FromStr;

use common::{AmountFen, OutTradeNo};

use super::{Fields, MessageError, truncate};
use crate::crypto::{CryptoError, decrypt_refund_info};
use crate::keys::ApiKey;
use crate::xml::FieldMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotification {
    pub appid: String,
    pub mch_id: String,
    pub req_info: String,
}

impl RefundNotification {
    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        f.literal("return_code", "SUCCESS")?;
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            req_info: f.string("req_info")?,
        })
    }

    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("return_code", "SUCCESS")
            .set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("req_info", self.req_info.as_str());
        out
    }

    /// Decrypts and reads `req_info`.
    pub fn decrypt(&self, key: &ApiKey) -> Result<RefundInfo, RefundInfoError> {
        let fields = decrypt_refund_info(&self.req_info, key)?;
        Ok(RefundInfo::from_fields(&fields)?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundInfoError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Message(#[from] MessageError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    Success,
    /// The refund failed and needs handling by hand (WeChat's `CHANGE`).
    Change,
    RefundClose,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Change => "CHANGE",
            RefundStatus::RefundClose => "REFUNDCLOSE",
        }
    }
}

impl FromStr for RefundStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SUCCESS" => Ok(RefundStatus::Success),
            "CHANGE" => Ok(RefundStatus::Change),
            "REFUNDCLOSE" => Ok(RefundStatus::RefundClose),
            other => Err(format!("unknown refund_status {:?}", truncate(other))),
        }
    }
}

/// The decrypted `<root>` of a refund notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInfo {
    pub transaction_id: String,
    pub out_trade_no: String,
    pub refund_id: String,
    pub out_refund_no: String,
    pub total_fee: AmountFen,
    pub settlement_total_fee: Option<AmountFen>,
    pub refund_fee: AmountFen,
    pub settlement_refund_fee: Option<AmountFen>,
    pub refund_status: RefundStatus,
    /// `yyyy-MM-dd HH:mm:ss`; present on success.
    pub success_time: Option<String>,
    /// WeChat spells the field `refund_recv_accout`.
    pub refund_recv_account: Option<String>,
    pub refund_account: Option<String>,
    pub refund_request_source: Option<String>,
}

impl RefundInfo {
    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        // Other processors' order numbers (TV5 has a 32-hex one) fit the
        // WeChat charset too; parse through OutTradeNo to refuse garbage.
        let out_trade_no: OutTradeNo = f.parse("out_trade_no")?;
        Ok(Self {
            transaction_id: f.string("transaction_id")?,
            out_trade_no: out_trade_no.into_string(),
            refund_id: f.string("refund_id")?,
            out_refund_no: f.string("out_refund_no")?,
            total_fee: f.parse("total_fee")?,
            settlement_total_fee: f.opt_parse("settlement_total_fee")?,
            refund_fee: f.parse("refund_fee")?,
            settlement_refund_fee: f.opt_parse("settlement_refund_fee")?,
            refund_status: f.parse("refund_status")?,
            success_time: f.opt_string("success_time"),
            refund_recv_account: f.opt_string("refund_recv_accout"),
            refund_account: f.opt_string("refund_account"),
            refund_request_source: f.opt_string("refund_request_source"),
        })
    }

    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("out_refund_no", self.out_refund_no.as_str())
            .set("out_trade_no", self.out_trade_no.as_str())
            .set_opt("refund_account", self.refund_account.as_deref())
            .set("refund_fee", self.refund_fee.to_string())
            .set("refund_id", self.refund_id.as_str())
            .set_opt("refund_recv_accout", self.refund_recv_account.as_deref())
            .set_opt(
                "refund_request_source",
                self.refund_request_source.as_deref(),
            )
            .set("refund_status", self.refund_status.as_str())
            .set_opt(
                "settlement_refund_fee",
                self.settlement_refund_fee.map(|f| f.to_string()),
            )
            .set_opt(
                "settlement_total_fee",
                self.settlement_total_fee.map(|f| f.to_string()),
            )
            .set_opt("success_time", self.success_time.as_deref())
            .set("total_fee", self.total_fee.to_string())
            .set("transaction_id", self.transaction_id.as_str());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::encrypt_refund_info;

    #[test]
    fn tv5_reads_into_refund_info() {
        let key = ApiKey::parse("ziR0QKsTUfMOuochC9RfCdmfHECorQAP").unwrap();
        let notification = RefundNotification {
            appid: "wx1".into(),
            mch_id: "m1".into(),
            req_info: include_str!("../../tests/data/tv5_req_info.txt")
                .trim()
                .into(),
        };
        let info = notification.decrypt(&key).unwrap();
        assert_eq!(info.refund_status, RefundStatus::Success);
        assert_eq!(info.refund_fee.fen(), 6);
        assert_eq!(info.total_fee.fen(), 6);
        assert_eq!(info.out_trade_no, "4893e76d8c8b434cb64e9cd536338e33");
        assert_eq!(info.refund_recv_account.as_deref(), Some("支付用户零钱"));
        assert_eq!(info.success_time.as_deref(), Some("2017-11-25 15:36:17"));
        // And back: what the simulator would send decrypts to the same thing.
        let again = RefundNotification {
            req_info: encrypt_refund_info(&info.to_fields(), &key).unwrap(),
            ..notification
        };
        assert_eq!(again.decrypt(&key), Ok(info));
    }

    #[test]
    fn outer_document_needs_req_info() {
        let map: FieldMap = [
            ("return_code", "SUCCESS"),
            ("appid", "wx1"),
            ("mch_id", "m1"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            RefundNotification::from_fields(&map),
            Err(MessageError::Missing { field: "req_info" })
        );
    }
}
