//! `Debug` for the generated messages that carry a session token or a
//! merchant API key: every other field is shown, the secret never is.

use std::fmt;

use crate::auth::v1 as auth;

const HIDDEN: &str = "[REDACTED]";

impl fmt::Debug for auth::LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &HIDDEN)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl fmt::Debug for auth::ResolveTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveTokenRequest")
            .field("token", &HIDDEN)
            .finish()
    }
}

impl fmt::Debug for auth::DecryptUserDataRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptUserDataRequest")
            .field("token", &HIDDEN)
            .field("iv", &self.iv)
            .field("encrypted_data", &self.encrypted_data)
            .field("raw_data", &self.raw_data)
            .field("signature", &self.signature)
            .finish()
    }
}

impl fmt::Debug for auth::LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("token", &HIDDEN)
            .finish()
    }
}

impl fmt::Debug for auth::CreateMerchantKeyResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateMerchantKeyResponse")
            .field("key_id", &self.key_id)
            .field("api_key", &HIDDEN)
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

impl fmt::Debug for auth::ResolveMerchantKeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveMerchantKeyRequest")
            .field("api_key", &HIDDEN)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_appear_in_debug() {
        let shown = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?}",
            auth::LoginResponse {
                token: "tok-secret".into(),
                expires_in: 7200
            },
            auth::ResolveTokenRequest {
                token: "tok-secret".into()
            },
            auth::DecryptUserDataRequest {
                token: "tok-secret".into(),
                iv: "iv".into(),
                ..Default::default()
            },
            auth::LogoutRequest {
                token: "tok-secret".into()
            },
            auth::CreateMerchantKeyResponse {
                key_id: "k1".into(),
                api_key: "mk_secret".into(),
                created_at_ms: 1
            },
            auth::ResolveMerchantKeyRequest {
                api_key: "mk_secret".into()
            },
        );
        assert!(
            !shown.contains("tok-secret") && !shown.contains("mk_secret"),
            "{shown}"
        );
        assert!(shown.contains("expires_in: 7200") && shown.contains("k1"));
    }
}
