//! The five fields a mini-program passes to `wx.requestPayment`.

use serde::Serialize;

use crate::keys::ApiKey;
use crate::sign::{SignType, sign};
use crate::xml::FieldMap;

/// `wx.requestPayment`'s arguments. Every field is a string: the client
/// refuses a numeric `timeStamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestPayment {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

impl RequestPayment {
    /// Signs `appId`, `nonceStr`, `package`, `signType` and `timeStamp` (the
    /// camelCase names are part of the signature). `sign_type` must be the
    /// one unifiedorder was called with; `unix_seconds` is seconds, not ms.
    pub fn build(
        appid: &str,
        prepay_id: &str,
        sign_type: SignType,
        key: &ApiKey,
        unix_seconds: i64,
        nonce_str: String,
    ) -> Self {
        let package = format!("prepay_id={prepay_id}");
        let time_stamp = unix_seconds.to_string();
        let fields: FieldMap = [
            ("appId", appid),
            ("nonceStr", nonce_str.as_str()),
            ("package", package.as_str()),
            ("signType", sign_type.as_str()),
            ("timeStamp", time_stamp.as_str()),
        ]
        .into_iter()
        .collect();
        let pay_sign = sign(&fields, key, sign_type);
        RequestPayment {
            time_stamp,
            nonce_str,
            package,
            sign_type: sign_type.as_str().to_owned(),
            pay_sign,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv4(sign_type: SignType) -> RequestPayment {
        RequestPayment::build(
            "wxd678efh567hg6787",
            "wx2017033010242291fcfe0db70013231072",
            sign_type,
            &ApiKey::parse("qazwsxedcrfvtgbyhnujmikolp111111").unwrap(),
            1490840662,
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
        )
    }

    #[test]
    fn tv4_official_md5_pay_sign() {
        let params = tv4(SignType::Md5);
        assert_eq!(params.pay_sign, "22D9B4E54AB1950F51E0649E8810ACD6");
        assert_eq!(
            params.package,
            "prepay_id=wx2017033010242291fcfe0db70013231072"
        );
        assert_eq!(params.time_stamp, "1490840662");
        assert_eq!(params.sign_type, "MD5");
    }

    #[test]
    fn tv4_hmac_sha256_pay_sign() {
        let params = tv4(SignType::HmacSha256);
        assert_eq!(
            params.pay_sign,
            "FB9D1EFB5C509131BBFF729F88A99CA2DE9B724D06D3B3262832A53083862BC0"
        );
        assert_eq!(params.sign_type, "HMAC-SHA256");
    }

    #[test]
    fn serializes_every_field_as_a_camel_case_string() {
        let json = serde_json::to_value(tv4(SignType::Md5)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "timeStamp": "1490840662",
                "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                "package": "prepay_id=wx2017033010242291fcfe0db70013231072",
                "signType": "MD5",
                "paySign": "22D9B4E54AB1950F51E0649E8810ACD6",
            })
        );
    }
}
