use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::CryptoError;

/// `sha1_hex(rawData + session_key)`, where session_key is the base64 *text*
/// WeChat gave us, not its decoded bytes.
pub fn raw_data_signature(raw_data: &str, session_key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.as_bytes());
    hex::encode(hasher.finalize())
}

pub fn verify_raw_data_signature(
    raw_data: &str,
    session_key: &str,
    signature: &str,
) -> Result<(), CryptoError> {
    let expected = raw_data_signature(raw_data, session_key);
    if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::RawDataSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
    const KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";

    #[test]
    fn tv2_official_raw_data_signature() {
        assert_eq!(
            raw_data_signature(RAW, KEY),
            "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
        );
        assert_eq!(
            verify_raw_data_signature(RAW, KEY, "75e81ceda165f4ffa64f4068af58c64b8f54b88c"),
            Ok(())
        );
    }

    #[test]
    fn tv2_tampered_data_key_or_signature_is_refused() {
        let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
        let tampered = RAW.replace("Band", "Bond");
        assert_eq!(
            verify_raw_data_signature(&tampered, KEY, sig),
            Err(CryptoError::RawDataSignature)
        );
        assert_eq!(
            verify_raw_data_signature(RAW, "tiihtNczf5v6AKRyjwEUhQ==", sig),
            Err(CryptoError::RawDataSignature)
        );
        assert_eq!(
            verify_raw_data_signature(RAW, KEY, &sig.to_uppercase()),
            Err(CryptoError::RawDataSignature)
        );
        assert_eq!(
            verify_raw_data_signature(RAW, KEY, ""),
            Err(CryptoError::RawDataSignature)
        );
    }
}
