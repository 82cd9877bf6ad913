//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the test
//! that replays their seed corpus, so both exercise exactly the same code.
//! Each returns whether the input was accepted and asserts what must hold
//! when it is (an assertion failure is what the fuzzer looks for).

use crate::crypto::{decrypt_refund_info, decrypt_user_data, encrypt_refund_info};
use crate::keys::ApiKey;
use crate::messages::PayNotification;
use crate::sign::{SignType, sign};
use crate::xml::FieldMap;

/// The API key of the fuzz seeds (TV3's).
pub const NOTIFY_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
/// The API key of the refund seeds (TV5's).
pub const REFUND_KEY: &str = "ziR0QKsTUfMOuochC9RfCdmfHECorQAP";

fn key(text: &str) -> Option<ApiKey> {
    ApiKey::parse(text).ok()
}

/// Parse; whatever is accepted re-encodes to the same fields.
pub fn xml_parse(data: &[u8]) -> bool {
    let Ok(map) = FieldMap::from_xml(data) else {
        return false;
    };
    let encoded = map.to_xml();
    assert!(encoded.is_ok(), "accepted fields must encode: {encoded:?}");
    if let Ok(encoded) = encoded {
        assert_eq!(FieldMap::from_xml(encoded.as_bytes()).as_ref(), Ok(&map));
    }
    true
}

/// Parse and verify a payment notification with both sign types; an
/// accepted one carries exactly the signature we compute.
pub fn pay_notify(data: &[u8]) -> bool {
    let Some(key) = key(NOTIFY_KEY) else {
        return false;
    };
    let mut accepted = false;
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        if let Ok((_, map)) = PayNotification::parse_verified(data, &key, sign_type) {
            assert_eq!(map.get("sign"), Some(sign(&map, &key, sign_type).as_str()));
            accepted = true;
        }
    }
    accepted
}

/// Input: `session_key \n iv \n encryptedData \n appid`. Accepted data
/// carries our appid in its watermark.
pub fn user_data(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut parts = text.splitn(4, '\n');
    let (Some(session_key), Some(iv), Some(encrypted), Some(appid)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let appid = appid.trim_end_matches('\n');
    match decrypt_user_data(session_key, iv, encrypted, appid) {
        Ok(decrypted) => {
            let watermark = decrypted
                .fields
                .get("watermark")
                .and_then(|w| w.get("appid"));
            assert_eq!(watermark.and_then(|a| a.as_str()), Some(appid));
            true
        }
        Err(_) => false,
    }
}

/// Input: a `req_info`. Accepted fields re-encrypt and decrypt unchanged.
pub fn refund_info(data: &[u8]) -> bool {
    let (Ok(text), Some(key)) = (std::str::from_utf8(data), key(REFUND_KEY)) else {
        return false;
    };
    let Ok(fields) = decrypt_refund_info(text.trim_end(), &key) else {
        return false;
    };
    let again = encrypt_refund_info(&fields, &key).and_then(|r| decrypt_refund_info(&r, &key));
    assert_eq!(again.as_ref(), Ok(&fields));
    true
}
