use aes::Aes128;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::CryptoError;

type Aes128CbcDec = cbc::Decryptor<Aes128>;
type Aes128CbcEnc = cbc::Encryptor<Aes128>;

/// Decrypted open data (user info, phone number, share info) whose watermark
/// names our app.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    /// The whole decrypted object, watermark included.
    pub fields: Map<String, Value>,
    /// When WeChat encrypted it, in Unix seconds (absent in some payloads).
    pub watermark_timestamp: Option<i64>,
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(text)
        .map_err(|_| CryptoError::Base64 { field })
}

fn key_and_iv(session_key: &str, iv: &str) -> Result<([u8; 16], [u8; 16]), CryptoError> {
    let key = decode("session_key", session_key)?;
    let key: [u8; 16] = key
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::KeyLength { len: key.len() })?;
    let iv = decode("iv", iv)?;
    let iv: [u8; 16] = iv
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::IvLength { len: iv.len() })?;
    Ok((key, iv))
}

/// Decrypts `encryptedData` (AES-128-CBC, PKCS#7) with the session's key and
/// checks that `watermark.appid` is `appid`: data encrypted for another
/// mini-program must not be believed, even under a valid key.
pub fn decrypt_user_data(
    session_key: &str,
    iv: &str,
    encrypted_data: &str,
    appid: &str,
) -> Result<UserData, CryptoError> {
    let (key, iv) = key_and_iv(session_key, iv)?;
    let mut buf = decode("encryptedData", encrypted_data)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::CiphertextLength {
            field: "encryptedData",
            len: buf.len(),
        });
    }
    // The padding crate checks every padding byte, not just the last one.
    let plain = Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| CryptoError::Padding)?;
    let text = std::str::from_utf8(plain).map_err(|_| CryptoError::NotUtf8)?;
    let fields: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Err(CryptoError::Json("not an object".into())),
        Err(e) => return Err(CryptoError::Json(e.to_string())),
    };
    let watermark = fields.get("watermark");
    let found = watermark
        .and_then(|w| w.get("appid"))
        .and_then(Value::as_str)
        .ok_or(CryptoError::MissingWatermark)?;
    if found != appid {
        return Err(CryptoError::ForeignWatermark {
            appid: found.chars().take(32).collect(),
        });
    }
    let watermark_timestamp = watermark
        .and_then(|w| w.get("timestamp"))
        .and_then(Value::as_i64);
    Ok(UserData {
        fields,
        watermark_timestamp,
    })
}

/// What WeChat does for `wx.getUserInfo`: the simulator's side of
/// [`decrypt_user_data`]. Returns base64 ciphertext.
pub fn encrypt_user_data(
    session_key: &str,
    iv: &str,
    plaintext: &str,
) -> Result<String, CryptoError> {
    let (key, iv) = key_and_iv(session_key, iv)?;
    let cipher = Aes128CbcEnc::new(&key.into(), &iv.into());
    Ok(STANDARD.encode(cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes())))
}

#[cfg(test)]
mod tests {
    use aes::cipher::block_padding::NoPadding;

    use super::*;

    const APPID: &str = "wx4f4bc4dec97d474b";
    const KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    const PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

    #[test]
    fn tv1_official_sample_decrypts_exactly() {
        let data = decrypt_user_data(KEY, IV, DATA, APPID).unwrap();
        let expected: Map<String, Value> = serde_json::from_str(PLAIN).unwrap();
        assert_eq!(PLAIN.len(), 393);
        assert_eq!(data.fields, expected);
        assert_eq!(data.fields["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(data.watermark_timestamp, Some(1477314187));
    }

    #[test]
    fn tv1_encrypts_back_to_the_official_ciphertext() {
        assert_eq!(encrypt_user_data(KEY, IV, PLAIN).unwrap(), DATA);
    }

    #[test]
    fn tv6_phone_number_shape_and_watermark() {
        let data = decrypt_user_data(
            "lyY4HPQbaOYzZdG+JcYK9w==",
            "Cds8j3VYoGvnTp1BrjXdJg==",
            "Kf3TdPbzEmhWMuPKtlKxIWDkijhn402w1bxoHL4kLdcKr6jT1jNcIhvDJfjXmJcgDWLjmBiIGJ5acUuSvxLws3WgAkERmtTuiCG10CKLsJiR+AXVk7B2TUQzsq88YVilDz/YAN3647REE7glGmeBPfvUmdbfDzhL9BzvEiuRhABuCYyTMz4iaM8hFjbLB1caaeoOlykYAFMWC5pZi9P8uw==",
            "wxdaa2ab9ef87b5497",
        )
        .unwrap();
        let mut keys: Vec<&str> = data.fields.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["countryCode", "phoneNumber", "purePhoneNumber", "watermark"]
        );
        assert_eq!(data.fields["countryCode"], "86");
        let phone = data.fields["purePhoneNumber"].as_str().unwrap();
        assert_eq!(phone.len(), 11);
        assert!(phone.starts_with("180"));
        assert_eq!(data.watermark_timestamp, Some(1558787160));
    }

    #[test]
    fn foreign_watermark_is_refused() {
        assert_eq!(
            decrypt_user_data(KEY, IV, DATA, "wx0000000000000000"),
            Err(CryptoError::ForeignWatermark {
                appid: APPID.into()
            })
        );
    }

    #[test]
    fn missing_watermark_is_refused() {
        let data = encrypt_user_data(KEY, IV, r#"{"openId":"x"}"#).unwrap();
        assert_eq!(
            decrypt_user_data(KEY, IV, &data, APPID),
            Err(CryptoError::MissingWatermark)
        );
    }

    #[test]
    fn bad_base64_names_the_field() {
        assert_eq!(
            decrypt_user_data(KEY, IV, "%%%", APPID),
            Err(CryptoError::Base64 {
                field: "encryptedData"
            })
        );
        assert_eq!(
            decrypt_user_data(KEY, "not base64!", DATA, APPID),
            Err(CryptoError::Base64 { field: "iv" })
        );
        assert_eq!(
            decrypt_user_data("***", IV, DATA, APPID),
            Err(CryptoError::Base64 {
                field: "session_key"
            })
        );
    }

    #[test]
    fn wrong_key_and_iv_lengths() {
        assert_eq!(
            decrypt_user_data("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", IV, DATA, APPID),
            Err(CryptoError::KeyLength { len: 20 })
        );
        assert_eq!(
            decrypt_user_data(KEY, "AAAAAAAA", DATA, APPID),
            Err(CryptoError::IvLength { len: 6 })
        );
        assert_eq!(
            decrypt_user_data(KEY, IV, "AAAAAAAA", APPID),
            Err(CryptoError::CiphertextLength {
                field: "encryptedData",
                len: 6
            })
        );
        assert_eq!(
            decrypt_user_data(KEY, IV, "", APPID),
            Err(CryptoError::CiphertextLength {
                field: "encryptedData",
                len: 0
            })
        );
    }

    #[test]
    fn a_wrong_key_is_a_padding_or_content_error_never_data() {
        // Another user's session key: the plaintext is garbage. Whatever the
        // garbage, it must never come back as user data.
        let err = decrypt_user_data("HyVFkGl5F5OQWJZZaNzBBg==", IV, DATA, APPID).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::Padding | CryptoError::NotUtf8 | CryptoError::Json(_)
            ),
            "{err:?}"
        );
    }

    fn encrypt_raw(plain: &[u8]) -> String {
        let (key, iv) = key_and_iv(KEY, IV).unwrap();
        let cipher = Aes128CbcEnc::new(&key.into(), &iv.into());
        STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(plain))
    }

    #[test]
    fn padding_is_checked_strictly() {
        // Last byte says "2 bytes of padding" but the byte before it is not 2.
        let mut block = *b"{\"a\":1}         ";
        block[14] = 0x01;
        block[15] = 0x02;
        assert_eq!(
            decrypt_user_data(KEY, IV, &encrypt_raw(&block), APPID),
            Err(CryptoError::Padding)
        );
        // A zero padding byte and an over-long one are both invalid.
        block[15] = 0x00;
        assert_eq!(
            decrypt_user_data(KEY, IV, &encrypt_raw(&block), APPID),
            Err(CryptoError::Padding)
        );
        block[15] = 0x11;
        assert_eq!(
            decrypt_user_data(KEY, IV, &encrypt_raw(&block), APPID),
            Err(CryptoError::Padding)
        );
    }

    #[test]
    fn bad_json_and_non_objects_are_refused() {
        let data = encrypt_user_data(KEY, IV, "{not json").unwrap();
        assert!(matches!(
            decrypt_user_data(KEY, IV, &data, APPID),
            Err(CryptoError::Json(_))
        ));
        let data = encrypt_user_data(KEY, IV, "[1,2]").unwrap();
        assert!(matches!(
            decrypt_user_data(KEY, IV, &data, APPID),
            Err(CryptoError::Json(_))
        ));
        let mut bytes = vec![0xffu8; 15];
        bytes.push(0x01);
        assert_eq!(
            decrypt_user_data(KEY, IV, &encrypt_raw(&bytes), APPID),
            Err(CryptoError::NotUtf8)
        );
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let mut raw = STANDARD.decode(DATA).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        let err = decrypt_user_data(KEY, IV, &STANDARD.encode(&raw), APPID).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::Padding | CryptoError::NotUtf8 | CryptoError::Json(_)
            ),
            "{err:?}"
        );
    }
}
