//! Validated types for merchant credentials: the ledger's [`MerchantId`],
//! a key's public [`KeyId`], the secret [`MerchantApiKey`] (its `Debug` is
//! redacted and it has no `Display`), and the [`KeyHash`] that is stored
//! instead of it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;

use crate::error::AuthError;

const ID_RANDOM_LEN: usize = 20;
const ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `prefix` and [`ID_RANDOM_LEN`] characters of [`ID_ALPHABET`].
fn id_shape(text: &str, prefix: char) -> bool {
    text.len() == 1 + ID_RANDOM_LEN
        && text.starts_with(prefix)
        && text[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn parse_id(
    field: &'static str,
    prefix: char,
    text: impl Into<String>,
) -> Result<String, AuthError> {
    let text = text.into();
    if text.is_empty() {
        return Err(AuthError::Missing { field });
    }
    if !id_shape(&text, prefix) {
        return Err(AuthError::Invalid {
            field,
            reason: format!("must be {prefix} followed by 20 uppercase letters or digits"),
        });
    }
    Ok(text)
}

/// A merchant's id as the ledger makes them: `M` and 20 uppercase letters
/// or digits. Only the shape is checked here; whether the merchant exists
/// is the ledger's business.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MerchantId(String);

impl MerchantId {
    /// Errors name the field `merchant_id`.
    pub fn parse(text: impl Into<String>) -> Result<Self, AuthError> {
        parse_id("merchant_id", 'M', text).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant key's public id: `K` and 20 uppercase letters or digits from
/// the CSPRNG (about 103 bits). Names a key in lists and revocations; it is
/// not a credential.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut id = String::with_capacity(1 + ID_RANDOM_LEN);
        id.push('K');
        for _ in 0..ID_RANDOM_LEN {
            let index = rng.random_range(0..ID_ALPHABET.len());
            id.push(char::from(ID_ALPHABET[index]));
        }
        Self(id)
    }

    /// Errors name the field `key_id`.
    pub fn parse(text: impl Into<String>) -> Result<Self, AuthError> {
        parse_id("key_id", 'K', text).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant API key: the secret itself. Made by [`generate`](Self::generate)
/// (256 bits from the CSPRNG, `mk_` + base64url without padding, 46
/// characters) or wrapped as presented by a caller with
/// [`presented`](Self::presented). `Debug` prints no part of it; there is no
/// `Display`; read it with [`expose_secret`](Self::expose_secret) only to
/// hand it to its owner.
pub struct MerchantApiKey(String);

impl MerchantApiKey {
    pub const PREFIX: &'static str = "mk_";
    /// Bytes of randomness in a key.
    pub const RANDOM_BYTES: usize = 32;
    /// Characters in a generated key.
    pub const LEN: usize = 46;

    pub fn generate() -> Self {
        let bytes = rand::rng().random::<[u8; Self::RANDOM_BYTES]>();
        Self(format!("{}{}", Self::PREFIX, URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Whatever a caller presented, unchecked: a key is judged only by
    /// whether its hash is stored, so that no check here depends on it.
    pub fn presented(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks keys up by.
    pub fn hash(&self) -> KeyHash {
        use sha2::{Digest, Sha256};
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for MerchantApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MerchantApiKey(<redacted>)")
    }
}

/// The SHA-256 of a [`MerchantApiKey`]'s text, lowercase hex (64
/// characters): all that is stored of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn merchant_ids_have_the_ledgers_shape() {
        let id = MerchantId::parse("M0123456789ABCDEFGHIJ").unwrap();
        assert_eq!(id.as_str(), "M0123456789ABCDEFGHIJ");
        for bad in [
            "m0123456789ABCDEFGHIJ",
            "M0123456789ABCDEFGHI",
            "M0123456789ABCDEFGHIJK",
            "M0123456789abcdefghij",
            "K0123456789ABCDEFGHIJ",
            "M0123456789ABCDEFGH-J",
            "M0123456789ABCDEFGHIÄ",
        ] {
            let err = MerchantId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("merchant_id"), "{bad}: {err}");
        }
        assert!(matches!(
            MerchantId::parse(""),
            Err(AuthError::Missing {
                field: "merchant_id"
            })
        ));
    }

    #[test]
    fn key_ids_are_generated_in_the_shape_they_are_parsed_in() {
        let ids: HashSet<String> = (0..1_000)
            .map(|_| KeyId::generate().as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 1_000);
        for id in &ids {
            assert_eq!(KeyId::parse(id.clone()).unwrap().as_str(), id);
        }
        let err = KeyId::parse("M0123456789ABCDEFGHIJ").unwrap_err();
        assert!(err.to_string().contains("key_id"), "{err}");
    }

    #[test]
    fn keys_are_256_random_bits_in_base64url() {
        let keys: HashSet<String> = (0..1_000)
            .map(|_| MerchantApiKey::generate().expose_secret().to_owned())
            .collect();
        assert_eq!(keys.len(), 1_000);
        for key in &keys {
            assert_eq!(key.len(), MerchantApiKey::LEN);
            let body = key.strip_prefix("mk_").unwrap();
            let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
            assert_eq!(bytes.len(), 32);
        }
    }

    #[test]
    fn the_hash_is_the_lowercase_hex_sha256_of_the_key_text() {
        assert_eq!(
            MerchantApiKey::presented("abc").hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key = MerchantApiKey::generate();
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains(key.expose_secret()), "{shown}");
        assert!(!shown.contains(&key.expose_secret()[3..10]), "{shown}");
    }
}
