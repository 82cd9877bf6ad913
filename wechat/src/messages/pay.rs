//! unifiedorder, orderquery and closeorder.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use common::{AmountFen, OutTradeNo};

use super::{Fields, MessageError, ReplyBody, truncate};
use crate::sign::SignType;
use crate::xml::FieldMap;

fn positive_fee(f: Fields<'_>, field: &'static str) -> Result<AmountFen, MessageError> {
    let fee: AmountFen = f.parse(field)?;
    if fee.is_zero() {
        return Err(MessageError::Invalid {
            field,
            reason: "must be at least 1 fen".into(),
        });
    }
    Ok(fee)
}

fn sign_type(f: Fields<'_>) -> Result<SignType, MessageError> {
    Ok(f.opt_parse("sign_type")?.unwrap_or_default())
}

/// `POST /pay/unifiedorder` for a mini-program (`trade_type=JSAPI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedOrderRequest {
    pub appid: String,
    pub mch_id: String,
    pub sign_type: SignType,
    pub body: String,
    pub attach: Option<String>,
    pub out_trade_no: OutTradeNo,
    pub total_fee: AmountFen,
    pub spbill_create_ip: IpAddr,
    pub time_start: Option<String>,
    pub time_expire: Option<String>,
    pub notify_url: String,
    pub openid: String,
}

impl UnifiedOrderRequest {
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("sign_type", self.sign_type.as_str())
            .set("body", self.body.as_str())
            .set_opt("attach", self.attach.as_deref())
            .set("out_trade_no", self.out_trade_no.as_str())
            .set("total_fee", self.total_fee.to_string())
            .set("spbill_create_ip", self.spbill_create_ip.to_string())
            .set_opt("time_start", self.time_start.as_deref())
            .set_opt("time_expire", self.time_expire.as_deref())
            .set("notify_url", self.notify_url.as_str())
            .set("trade_type", "JSAPI")
            .set("openid", self.openid.as_str());
        out
    }

    /// What WeChat checks on receipt (the simulator's side): every required
    /// field present and well-formed, JSAPI with an openid, a positive fee.
    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        f.literal("trade_type", "JSAPI")?;
        let body = f.string("body")?;
        if body.chars().count() > 128 {
            return Err(MessageError::Invalid {
                field: "body",
                reason: "longer than 128 characters".into(),
            });
        }
        let notify_url = f.string("notify_url")?;
        if !(notify_url.starts_with("http://") || notify_url.starts_with("https://"))
            || notify_url.contains('?')
            || notify_url.len() > 256
        {
            return Err(MessageError::Invalid {
                field: "notify_url",
                reason: "must be an http(s) URL of at most 256 characters without a query".into(),
            });
        }
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            sign_type: sign_type(f)?,
            body,
            attach: f.opt_string("attach"),
            out_trade_no: f.parse("out_trade_no")?,
            total_fee: positive_fee(f, "total_fee")?,
            spbill_create_ip: f.parse("spbill_create_ip")?,
            time_start: f.opt_string("time_start"),
            time_expire: f.opt_string("time_expire"),
            notify_url,
            openid: f.string("openid")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedOrderSuccess {
    pub appid: String,
    pub mch_id: String,
    pub trade_type: String,
    pub prepay_id: String,
}

impl ReplyBody for UnifiedOrderSuccess {
    fn read(f: Fields<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            trade_type: f.string("trade_type")?,
            prepay_id: f.string("prepay_id")?,
        })
    }

    fn write(&self, out: &mut FieldMap) {
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("trade_type", self.trade_type.as_str())
            .set("prepay_id", self.prepay_id.as_str());
    }
}

/// `POST /pay/orderquery` by our order number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQueryRequest {
    pub appid: String,
    pub mch_id: String,
    pub sign_type: SignType,
    pub out_trade_no: OutTradeNo,
}

impl OrderQueryRequest {
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("sign_type", self.sign_type.as_str())
            .set("out_trade_no", self.out_trade_no.as_str());
        out
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            sign_type: sign_type(f)?,
            out_trade_no: f.parse("out_trade_no")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeState {
    Success,
    Refund,
    NotPay,
    Closed,
    Revoked,
    UserPaying,
    PayError,
    Accept,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::NotPay => "NOTPAY",
            TradeState::Closed => "CLOSED",
            TradeState::Revoked => "REVOKED",
            TradeState::UserPaying => "USERPAYING",
            TradeState::PayError => "PAYERROR",
            TradeState::Accept => "ACCEPT",
        }
    }

    /// Whether the money reached the merchant (a refund starts from a payment).
    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

impl fmt::Display for TradeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TradeState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "SUCCESS" => TradeState::Success,
            "REFUND" => TradeState::Refund,
            "NOTPAY" => TradeState::NotPay,
            "CLOSED" => TradeState::Closed,
            "REVOKED" => TradeState::Revoked,
            "USERPAYING" => TradeState::UserPaying,
            "PAYERROR" => TradeState::PayError,
            "ACCEPT" => TradeState::Accept,
            other => return Err(format!("unknown trade_state {:?}", truncate(other))),
        })
    }
}

/// An answered orderquery. A paid order must name its transaction and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuerySuccess {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: OutTradeNo,
    pub trade_state: TradeState,
    pub trade_state_desc: Option<String>,
    pub transaction_id: Option<String>,
    pub total_fee: Option<AmountFen>,
    pub openid: Option<String>,
    pub time_end: Option<String>,
}

impl ReplyBody for OrderQuerySuccess {
    fn read(f: Fields<'_>) -> Result<Self, MessageError> {
        let trade_state: TradeState = f.parse("trade_state")?;
        let (transaction_id, total_fee) = if trade_state.is_paid() {
            (
                Some(f.string("transaction_id")?),
                Some(positive_fee(f, "total_fee")?),
            )
        } else {
            (f.opt_string("transaction_id"), f.opt_parse("total_fee")?)
        };
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            out_trade_no: f.parse("out_trade_no")?,
            trade_state,
            trade_state_desc: f.opt_string("trade_state_desc"),
            transaction_id,
            total_fee,
            openid: f.opt_string("openid"),
            time_end: f.opt_string("time_end"),
        })
    }

    fn write(&self, out: &mut FieldMap) {
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("out_trade_no", self.out_trade_no.as_str())
            .set("trade_state", self.trade_state.as_str())
            .set_opt("trade_state_desc", self.trade_state_desc.as_deref())
            .set_opt("transaction_id", self.transaction_id.as_deref())
            .set_opt("total_fee", self.total_fee.map(|f| f.to_string()))
            .set_opt("openid", self.openid.as_deref())
            .set_opt("time_end", self.time_end.as_deref());
    }
}

/// `POST /pay/closeorder`; WeChat refuses it in the first 5 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOrderRequest {
    pub appid: String,
    pub mch_id: String,
    pub sign_type: SignType,
    pub out_trade_no: OutTradeNo,
}

impl CloseOrderRequest {
    pub fn to_fields(&self) -> FieldMap {
        let mut out = FieldMap::new();
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("sign_type", self.sign_type.as_str())
            .set("out_trade_no", self.out_trade_no.as_str());
        out
    }

    pub fn from_fields(map: &FieldMap) -> Result<Self, MessageError> {
        let f = Fields(map);
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
            sign_type: sign_type(f)?,
            out_trade_no: f.parse("out_trade_no")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOrderSuccess {
    pub appid: String,
    pub mch_id: String,
}

impl ReplyBody for CloseOrderSuccess {
    fn read(f: Fields<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            appid: f.string("appid")?,
            mch_id: f.string("mch_id")?,
        })
    }

    fn write(&self, out: &mut FieldMap) {
        out.set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Reply;

    fn order() -> UnifiedOrderRequest {
        UnifiedOrderRequest {
            appid: "wxd930ea5d5a258f4f".into(),
            mch_id: "10000100".into(),
            sign_type: SignType::Md5,
            body: "test".into(),
            attach: None,
            out_trade_no: OutTradeNo::parse("ORDER20240101000001").unwrap(),
            total_fee: AmountFen::positive(1).unwrap(),
            spbill_create_ip: "127.0.0.1".parse().unwrap(),
            time_start: None,
            time_expire: None,
            notify_url: "https://example.com/wxpay/notify".into(),
            openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        }
    }

    #[test]
    fn unifiedorder_fields_match_tv7b() {
        let mut fields = order().to_fields();
        fields.set("nonce_str", "ibuaiVcKdpRxkhJA");
        let key = crate::ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        assert_eq!(
            crate::sign::sign(&fields, &key, SignType::Md5),
            "B91E7EEB42C20F8DED43C303C4FF6957"
        );
        assert_eq!(UnifiedOrderRequest::from_fields(&fields), Ok(order()));
    }

    #[test]
    fn unifiedorder_checks_what_wechat_checks() {
        let cases: [(&str, &str, &str); 7] = [
            ("total_fee", "0", "total_fee"),
            ("total_fee", "-1", "total_fee"),
            ("total_fee", "1.00", "total_fee"),
            ("trade_type", "NATIVE", "trade_type"),
            ("out_trade_no", "bad no", "out_trade_no"),
            ("notify_url", "https://x/notify?a=1", "notify_url"),
            ("spbill_create_ip", "localhost", "spbill_create_ip"),
        ];
        for (field, value, named) in cases {
            let mut fields = order().to_fields();
            fields.set(field, value);
            let err = UnifiedOrderRequest::from_fields(&fields).unwrap_err();
            assert!(
                matches!(&err, MessageError::Invalid { field, .. } if *field == named),
                "{field}={value}: {err:?}"
            );
        }
        let mut fields = order().to_fields();
        fields.remove("openid");
        assert_eq!(
            UnifiedOrderRequest::from_fields(&fields),
            Err(MessageError::Missing { field: "openid" })
        );
    }

    #[test]
    fn orderquery_paid_reply_needs_transaction_and_fee() {
        let paid = OrderQuerySuccess {
            appid: "wx1".into(),
            mch_id: "m1".into(),
            out_trade_no: OutTradeNo::parse("ORDER1234").unwrap(),
            trade_state: TradeState::Success,
            trade_state_desc: None,
            transaction_id: Some("4200".into()),
            total_fee: Some(AmountFen::positive(100).unwrap()),
            openid: Some("o1".into()),
            time_end: Some("20240101120000".into()),
        };
        let reply = Reply::Success(paid.clone());
        let mut fields = reply.to_fields();
        assert_eq!(Reply::from_fields(&fields), Ok(reply));
        fields.remove("transaction_id");
        assert_eq!(
            Reply::<OrderQuerySuccess>::from_fields(&fields),
            Err(MessageError::Missing {
                field: "transaction_id"
            })
        );
        let mut unpaid = paid;
        unpaid.trade_state = TradeState::NotPay;
        unpaid.transaction_id = None;
        unpaid.total_fee = None;
        let reply = Reply::Success(unpaid);
        assert_eq!(Reply::from_fields(&reply.to_fields()), Ok(reply));
    }

    #[test]
    fn closeorder_round_trips_and_errors_read_back() {
        let req = CloseOrderRequest {
            appid: "wx1".into(),
            mch_id: "m1".into(),
            sign_type: SignType::HmacSha256,
            out_trade_no: OutTradeNo::parse("ORDER1234").unwrap(),
        };
        assert_eq!(CloseOrderRequest::from_fields(&req.to_fields()), Ok(req));
        let fail: Reply<CloseOrderSuccess> = Reply::ResultFail {
            err_code: "ORDERPAID".into(),
            err_code_des: "paid".into(),
        };
        assert_eq!(Reply::from_fields(&fail.to_fields()), Ok(fail));
        let refused: Reply<CloseOrderSuccess> = Reply::ReturnFail {
            return_msg: "签名错误".into(),
        };
        assert_eq!(Reply::from_fields(&refused.to_fields()), Ok(refused));
    }
}
