use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

use super::CryptoError;
use crate::keys::{ApiKey, ExposeSecret};
use crate::xml::{DEFAULT_MAX_DOCUMENT_BYTES, FieldMap};

/// The AES-256 key is the ASCII of the *lowercase* hex MD5 of the API key:
/// 32 characters used as 32 key bytes. Uppercase hex is a different key.
fn refund_key(key: &ApiKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    let digest = Md5::digest(key.expose_secret().as_bytes());
    // hex of a 16-byte digest is exactly 32 bytes, the size of `out`.
    if hex::encode_to_slice(digest, &mut out).is_err() {
        unreachable!("16 bytes always encode to 32 hex characters");
    }
    out
}

/// Decrypts a refund notification's `req_info` (AES-256-ECB, PKCS#7) into
/// its `<root>` fields. The outer notification has no `sign`: a `req_info`
/// that decrypts and parses under our key is the proof of origin.
pub fn decrypt_refund_info(req_info: &str, key: &ApiKey) -> Result<FieldMap, CryptoError> {
    let mut buf = STANDARD
        .decode(req_info)
        .map_err(|_| CryptoError::Base64 { field: "req_info" })?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::CiphertextLength {
            field: "req_info",
            len: buf.len(),
        });
    }
    let cipher = ecb::Decryptor::<Aes256>::new(&refund_key(key).into());
    let plain = cipher
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| CryptoError::Padding)?;
    Ok(FieldMap::from_xml_with(
        plain,
        "root",
        DEFAULT_MAX_DOCUMENT_BYTES,
    )?)
}

/// The simulator's side of [`decrypt_refund_info`].
pub fn encrypt_refund_info(fields: &FieldMap, key: &ApiKey) -> Result<String, CryptoError> {
    let plain = fields.to_xml_with_root("root")?;
    let cipher = ecb::Encryptor::<Aes256>::new(&refund_key(key).into());
    Ok(STANDARD.encode(cipher.encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ziR0QKsTUfMOuochC9RfCdmfHECorQAP";
    const REQ_INFO: &str = "YYwp8C48th0wnQzTqeI+41pflB26v+smFj9z6h9RPBgxTyZyxc+4YNEz7QEgZNWj/6rIb2MfyWMZmCc41CfjKSssoSZPXxOhUayb6KvNSZ1p6frOX1PDWzhyruXK7ouNND+gDsG4yZ0XXzsL4/pYNwLLba/71QrnkJ/BHcByk4EXnglju5DLup9pJQSnTxjomI9Rxu57m9jg5lLQFxMWXyeASZJNvof0ulnHlWJswS4OxKOkmW7VEyKyLGV6npoOm03Qsx2wkRxLsSa9gPpg4hdaReeUqh1FMbm7aWjyrVYT/MEZWg98p4GomEIYvz34XfDncTezX4bf/ZiSLXt79aE1/YTZrYfymXeCrGjlbe0rg/T2ezJHAC870u2vsVbY1/KcE2A443N+DEnAziXlBQ1AeWq3Rqk/O6/TMM0lomzgctAOiAMg+bh5+Gu1ubA9O3E+vehULydD5qx2o6i3+qA9ORbH415NyRrQdeFq5vmCiRikp5xYptWiGZA0tkoaLKMPQ4ndE5gWHqiBbGPfULZWokI+QjjhhBmwgbd6J0VqpRorwOuzC/BHdkP72DCdNcm7IDUpggnzBIy0+seWIkcHEryKjge3YDHpJeQCqrAH0CgxXHDt1xtbQbST1VqFyuhPhUjDXMXrknrGPN/oE1t0rLRq+78cI+k8xe5E6seeUXQsEe8r3358mpcDYSmXWSXVZxK6er9EF98APqHwcndyEJD2YyCh/mMVhERuX+7kjlRXSiNUWa/Cv/XAKFQuvUYA5ea2eYWtPRHa4DpyuF1SNsaqVKfgqKXZrJHfAgslVpSVqUpX4zkKszHF4kwMZO3M7J1P94Mxa7Tm9mTOJePOoHPXeEB+m9rX6pSfoi3mJDQ5inJ+Vc4gOkg/Wd/lqiy6TTyP/dHDN6/v+AuJx5AXBo/2NDD3fWhHjkqEKIuARr2ClZt9ZRQO4HkXdZo7CN06sGCHk48Tg8PmxnxKcMZm7Aoquv5yMIM2gWSWIRJhwJ8cUpafIHc+GesDlbF6Zbt+/KXkafJAQq2RklEN+WvZ/zFz113EPgWPjp16TwBoziq96MMekvWKY/vdhjol8VFtGH9F61Oy1Xwf6DJtPw==";

    fn key() -> ApiKey {
        ApiKey::parse(KEY).unwrap()
    }

    #[test]
    fn tv5_key_is_the_lowercase_hex_md5() {
        assert_eq!(&refund_key(&key()), b"a1fdc4d1da9fb443b1091d34bcee9493");
    }

    #[test]
    fn tv5_refund_notification_decrypts_to_every_field() {
        let fields = decrypt_refund_info(REQ_INFO, &key()).unwrap();
        let expected = [
            ("out_refund_no", "50fd012ed1b311e7af7800163e32c503"),
            ("out_trade_no", "4893e76d8c8b434cb64e9cd536338e33"),
            ("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS"),
            ("refund_fee", "6"),
            ("refund_id", "50000404922017112502468056157"),
            ("refund_recv_accout", "支付用户零钱"),
            ("refund_request_source", "API"),
            ("refund_status", "SUCCESS"),
            ("settlement_refund_fee", "6"),
            ("settlement_total_fee", "6"),
            ("success_time", "2017-11-25 15:36:17"),
            ("total_fee", "6"),
            ("transaction_id", "4200000015201711256947025404"),
        ];
        assert_eq!(fields.iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn another_key_does_not_decrypt() {
        let other = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let err = decrypt_refund_info(REQ_INFO, &other).unwrap_err();
        assert!(
            matches!(err, CryptoError::Padding | CryptoError::RefundXml(_)),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_req_info_is_refused() {
        assert_eq!(
            decrypt_refund_info("not base64!", &key()),
            Err(CryptoError::Base64 { field: "req_info" })
        );
        assert_eq!(
            decrypt_refund_info("AAAA", &key()),
            Err(CryptoError::CiphertextLength {
                field: "req_info",
                len: 3
            })
        );
    }

    #[test]
    fn round_trips_through_encrypt() {
        let fields: FieldMap = [("out_refund_no", "R1"), ("refund_fee", "6")]
            .into_iter()
            .collect();
        let req_info = encrypt_refund_info(&fields, &key()).unwrap();
        assert_eq!(decrypt_refund_info(&req_info, &key()).unwrap(), fields);
    }
}
