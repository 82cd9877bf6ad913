//! WeChat Pay v2 signatures (`sign`), MD5 and HMAC-SHA256.
//!
//! The signed string is every field except `sign` whose value is non-empty,
//! sorted by name in byte order, joined as `k=v&…`, then `&key=<API key>`.
//! Verification recomputes over *all* received fields — WeChat adds fields
//! without notice, and a fixed list would let an unsigned field through — and
//! compares in constant time.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::keys::{ApiKey, ExposeSecret};
use crate::xml::FieldMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignType {
    /// WeChat's default when `sign_type` is absent, and the only type the
    /// transfers API accepts.
    #[default]
    Md5,
    HmacSha256,
}

impl SignType {
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sign_type must be MD5 or HMAC-SHA256, got {0:?}")]
pub struct UnknownSignType(pub String);

impl FromStr for SignType {
    type Err = UnknownSignType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "MD5" => Ok(SignType::Md5),
            "HMAC-SHA256" => Ok(SignType::HmacSha256),
            other => Err(UnknownSignType(other.chars().take(32).collect())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the message has no sign field")]
    Missing,
    #[error("the message declares sign_type {declared:?} but {expected} was expected")]
    SignTypeMismatch {
        declared: String,
        expected: SignType,
    },
    #[error("the signature does not match the message")]
    Mismatch,
}

/// The signature of `fields` (any `sign` among them is ignored).
pub fn sign(fields: &FieldMap, key: &ApiKey, sign_type: SignType) -> String {
    let mut pairs: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, value)| *name != "sign" && !value.is_empty())
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let key = key.expose_secret();
    let mut message = Vec::with_capacity(
        pairs
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>()
            + key.len()
            + 5,
    );
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            message.push(b'&');
        }
        message.extend_from_slice(name.as_bytes());
        message.push(b'=');
        message.extend_from_slice(value.as_bytes());
    }
    message.extend_from_slice(b"&key=");
    message.extend_from_slice(key.as_bytes());

    let digest = match sign_type {
        SignType::Md5 => hex::encode_upper(Md5::digest(&message)),
        SignType::HmacSha256 => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
            mac.update(&message);
            hex::encode_upper(mac.finalize().into_bytes())
        }
    };
    // The message ends with the key: wipe it rather than leave it in freed memory.
    message.fill(0);
    digest
}

/// Signs `fields` and sets `sign`, replacing any earlier one.
pub fn sign_fields(fields: &mut FieldMap, key: &ApiKey, sign_type: SignType) {
    let signature = sign(fields, key, sign_type);
    fields.set("sign", signature);
}

/// Checks `sign` over every other field, with the sign type the caller
/// expects (the order's, or MD5 for transfers). A declared `sign_type` that
/// differs from the expected one is refused rather than obeyed: the sender
/// must not choose a weaker check than ours.
pub fn verify(fields: &FieldMap, key: &ApiKey, expected: SignType) -> Result<(), SignError> {
    let received = fields.get("sign").ok_or(SignError::Missing)?;
    if let Some(declared) = fields.get("sign_type").filter(|d| !d.is_empty())
        && declared != expected.as_str()
    {
        return Err(SignError::SignTypeMismatch {
            declared: declared.chars().take(32).collect(),
            expected,
        });
    }
    let computed = sign(fields, key, expected);
    if bool::from(computed.as_bytes().ct_eq(received.as_bytes())) {
        Ok(())
    } else {
        Err(SignError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> ApiKey {
        ApiKey::parse(k).unwrap()
    }

    fn tv3() -> FieldMap {
        [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .collect()
    }

    const TV3_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    #[test]
    fn tv3_official_md5_and_hmac() {
        assert_eq!(
            sign(&tv3(), &key(TV3_KEY), SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&tv3(), &key(TV3_KEY), SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    fn tv7a() -> FieldMap {
        [
            ("appid", "wxd930ea5d5a258f4f"),
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
            ("attach", ""),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn tv7a_notification_skips_the_empty_attach() {
        assert_eq!(
            sign(&tv7a(), &key(TV3_KEY), SignType::Md5),
            "04A58B1F2AB4FA5DC5C8B79503120A91"
        );
        assert_eq!(
            sign(&tv7a(), &key(TV3_KEY), SignType::HmacSha256),
            "66C0E8783356507D947072019F270D9871F6743B787AF0A1D068048496190B97"
        );
    }

    #[test]
    fn tv7b_unifiedorder_request_signs_sign_type() {
        let fields: FieldMap = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("body", "test"),
            ("mch_id", "10000100"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("notify_url", "https://example.com/wxpay/notify"),
            ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
            ("out_trade_no", "ORDER20240101000001"),
            ("sign_type", "MD5"),
            ("spbill_create_ip", "127.0.0.1"),
            ("total_fee", "1"),
            ("trade_type", "JSAPI"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            sign(&fields, &key(TV3_KEY), SignType::Md5),
            "B91E7EEB42C20F8DED43C303C4FF6957"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_ignores_order() {
        let mut fields = tv7a();
        sign_fields(&mut fields, &key(TV3_KEY), SignType::Md5);
        assert_eq!(fields.get("sign"), Some("04A58B1F2AB4FA5DC5C8B79503120A91"));
        assert_eq!(verify(&fields, &key(TV3_KEY), SignType::Md5), Ok(()));
        let reversed: FieldMap = fields
            .iter()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert_eq!(verify(&reversed, &key(TV3_KEY), SignType::Md5), Ok(()));
    }

    #[test]
    fn verify_covers_unknown_fields() {
        let mut fields = tv7a();
        sign_fields(&mut fields, &key(TV3_KEY), SignType::Md5);
        fields.set("coupon_fee_0", "100");
        assert_eq!(
            verify(&fields, &key(TV3_KEY), SignType::Md5),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn verify_refuses_missing_sign_wrong_type_and_wrong_key() {
        let fields = tv7a();
        assert_eq!(
            verify(&fields, &key(TV3_KEY), SignType::Md5),
            Err(SignError::Missing)
        );
        let mut fields = tv7a();
        sign_fields(&mut fields, &key(TV3_KEY), SignType::HmacSha256);
        assert_eq!(
            verify(&fields, &key(TV3_KEY), SignType::Md5),
            Err(SignError::Mismatch)
        );
        fields.set("sign_type", "MD5");
        assert_eq!(
            verify(&fields, &key(TV3_KEY), SignType::HmacSha256),
            Err(SignError::SignTypeMismatch {
                declared: "MD5".into(),
                expected: SignType::HmacSha256
            })
        );
        let mut fields = tv7a();
        sign_fields(&mut fields, &key(TV3_KEY), SignType::Md5);
        assert_eq!(
            verify(
                &fields,
                &key("192006250b4c09247ec02edce69f6a2e"),
                SignType::Md5
            ),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn lowercase_signature_is_not_the_signature() {
        let mut fields = tv7a();
        fields.set("sign", "04a58b1f2ab4fa5dc5c8b79503120a91");
        assert_eq!(
            verify(&fields, &key(TV3_KEY), SignType::Md5),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn sign_type_parses_exactly() {
        assert_eq!("MD5".parse(), Ok(SignType::Md5));
        assert_eq!("HMAC-SHA256".parse(), Ok(SignType::HmacSha256));
        assert!("md5".parse::<SignType>().is_err());
        assert!("SHA256".parse::<SignType>().is_err());
    }
}
