use std::time::Duration;

use reqwest::Url;

use crate::keys::{ApiKey, AppSecret};
use crate::sign::SignType;

/// WeChat's production endpoints, used when no base URL is configured.
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
pub const WECHAT_PAY_BASE: &str = "https://api.mch.weixin.qq.com";

/// Everything the client needs to talk to WeChat (or the simulator).
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub appid: String,
    pub app_secret: AppSecret,
    pub mch_id: String,
    pub api_key: ApiKey,
    /// The sign type for unifiedorder, orderquery, closeorder and paySign.
    /// Transfers are always MD5.
    pub sign_type: SignType,
    /// Base of `/sns/jscode2session`.
    pub api_base: Url,
    /// Base of `/pay/…` and `/mmpaymkttransfers/…`.
    pub pay_base: Url,
    /// The whole call, connect to last byte.
    pub timeout: Duration,
    /// The merchant API certificate (apiclient_cert.pem + apiclient_key.pem)
    /// that WeChat demands for transfers and gettransferinfo. The simulator
    /// does not ask for one.
    pub client_identity: Option<reqwest::Identity>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl WechatConfig {
    /// Reads the `MINIPAY_WECHAT_*` variables through `lookup` (the process
    /// environment in production, a map in tests). Each error names its
    /// variable and never echoes a secret's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |variable: &'static str| {
            lookup(variable)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError {
                    variable,
                    reason: "is required".into(),
                })
        };
        let url = |variable: &'static str, default: &str| {
            let text = lookup(variable).filter(|v| !v.is_empty());
            parse_base_url(text.as_deref().unwrap_or(default))
                .map_err(|reason| ConfigError { variable, reason })
        };
        let sign_type = match lookup("MINIPAY_WECHAT_SIGN_TYPE").filter(|v| !v.is_empty()) {
            None => SignType::Md5,
            Some(text) => text
                .parse()
                .map_err(|e: crate::sign::UnknownSignType| ConfigError {
                    variable: "MINIPAY_WECHAT_SIGN_TYPE",
                    reason: e.to_string(),
                })?,
        };
        let timeout = match lookup("MINIPAY_WECHAT_TIMEOUT_MS").filter(|v| !v.is_empty()) {
            None => Duration::from_secs(5),
            Some(text) => match text.parse::<u64>() {
                Ok(ms) if (1..=120_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError {
                        variable: "MINIPAY_WECHAT_TIMEOUT_MS",
                        reason: format!("must be milliseconds from 1 to 120000, got {text:?}"),
                    });
                }
            },
        };
        Ok(Self {
            appid: required("MINIPAY_WECHAT_APPID")?,
            app_secret: AppSecret::parse(required("MINIPAY_WECHAT_APP_SECRET")?).map_err(|e| {
                ConfigError {
                    variable: "MINIPAY_WECHAT_APP_SECRET",
                    reason: e.to_string(),
                }
            })?,
            mch_id: required("MINIPAY_WECHAT_MCH_ID")?,
            api_key: ApiKey::parse(required("MINIPAY_WECHAT_PAY_KEY")?).map_err(|e| {
                ConfigError {
                    variable: "MINIPAY_WECHAT_PAY_KEY",
                    reason: e.to_string(),
                }
            })?,
            sign_type,
            api_base: url("MINIPAY_WECHAT_API_BASE", WECHAT_API_BASE)?,
            pay_base: url("MINIPAY_WECHAT_PAY_BASE", WECHAT_PAY_BASE)?,
            timeout,
            client_identity: client_identity(
                lookup("MINIPAY_WECHAT_CLIENT_CERT").filter(|v| !v.is_empty()),
                lookup("MINIPAY_WECHAT_CLIENT_KEY").filter(|v| !v.is_empty()),
            )?,
        })
    }
}

/// Reads the certificate and key PEM files into one identity. Both or
/// neither; errors name the file's variable, never its content.
fn client_identity(
    cert: Option<String>,
    key: Option<String>,
) -> Result<Option<reqwest::Identity>, ConfigError> {
    let read = |variable: &'static str, path: &str| {
        std::fs::read(path).map_err(|e| ConfigError {
            variable,
            reason: format!("cannot read {path:?}: {e}"),
        })
    };
    let (cert_path, key_path) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            return Err(ConfigError {
                variable: "MINIPAY_WECHAT_CLIENT_KEY",
                reason: "is required when MINIPAY_WECHAT_CLIENT_CERT is set".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError {
                variable: "MINIPAY_WECHAT_CLIENT_CERT",
                reason: "is required when MINIPAY_WECHAT_CLIENT_KEY is set".into(),
            });
        }
    };
    let cert = read("MINIPAY_WECHAT_CLIENT_CERT", &cert_path)?;
    if !cert.windows(17).any(|w| w == b"BEGIN CERTIFICATE") {
        return Err(ConfigError {
            variable: "MINIPAY_WECHAT_CLIENT_CERT",
            reason: format!("{cert_path:?} holds no PEM certificate"),
        });
    }
    let key = read("MINIPAY_WECHAT_CLIENT_KEY", &key_path)?;
    let mut pem = cert;
    pem.push(b'\n');
    pem.extend_from_slice(&key);
    let identity = reqwest::Identity::from_pem(&pem).map_err(|_| ConfigError {
        variable: "MINIPAY_WECHAT_CLIENT_KEY",
        reason: format!("{key_path:?} is not a PEM private key for the certificate"),
    });
    pem.fill(0);
    identity.map(Some)
}

/// An http(s) URL with no query or fragment; a trailing slash is dropped so
/// paths join the same way whichever form was configured.
///
/// Errors never repeat the text: a URL may carry credentials.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be http or https, not {}", url.scheme()));
    }
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err("must be a plain base URL without query or fragment".into());
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("MINIPAY_WECHAT_APPID", "wx0123456789abcdef"),
        ("MINIPAY_WECHAT_APP_SECRET", "s3cr3t-app-secret"),
        ("MINIPAY_WECHAT_MCH_ID", "1900000109"),
        ("MINIPAY_WECHAT_PAY_KEY", "192006250b4c09247ec02edce69f6a2d"),
    ];

    #[test]
    fn defaults_point_at_wechat() {
        let cfg = WechatConfig::from_lookup(env(&BASE)).unwrap();
        assert_eq!(cfg.api_base.as_str(), "https://api.weixin.qq.com/");
        assert_eq!(cfg.pay_base.as_str(), "https://api.mch.weixin.qq.com/");
        assert_eq!(cfg.sign_type, SignType::Md5);
        assert_eq!(cfg.timeout, Duration::from_secs(5));
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("192006250b"));
    }

    #[test]
    fn overrides_are_read_and_validated() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("MINIPAY_WECHAT_API_BASE", "http://127.0.0.1:8900/"),
            ("MINIPAY_WECHAT_PAY_BASE", "http://127.0.0.1:8900/wx"),
            ("MINIPAY_WECHAT_SIGN_TYPE", "HMAC-SHA256"),
            ("MINIPAY_WECHAT_TIMEOUT_MS", "250"),
        ]);
        let cfg = WechatConfig::from_lookup(env(&pairs)).unwrap();
        assert_eq!(cfg.api_base.as_str(), "http://127.0.0.1:8900/");
        assert_eq!(cfg.pay_base.as_str(), "http://127.0.0.1:8900/wx");
        assert_eq!(cfg.sign_type, SignType::HmacSha256);
        assert_eq!(cfg.timeout, Duration::from_millis(250));
    }

    #[test]
    fn each_error_names_its_variable_without_the_secret() {
        let cases: [(&str, &str); 6] = [
            ("MINIPAY_WECHAT_PAY_KEY", "too-short-key"),
            ("MINIPAY_WECHAT_SIGN_TYPE", "SHA1"),
            ("MINIPAY_WECHAT_API_BASE", "ftp://x"),
            ("MINIPAY_WECHAT_PAY_BASE", "http://x/?a=1"),
            ("MINIPAY_WECHAT_TIMEOUT_MS", "0"),
            ("MINIPAY_WECHAT_APPID", ""),
        ];
        for (variable, value) in cases {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != variable);
            pairs.push((variable, value));
            let err = WechatConfig::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            assert!(err.to_string().starts_with(variable));
            if variable == "MINIPAY_WECHAT_PAY_KEY" {
                assert!(!err.to_string().contains("too-short-key"));
            }
        }
    }

    fn data(name: &str) -> String {
        format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_client_certificate_is_read_from_both_files() {
        let cert = data("test_client_cert.pem");
        let key = data("test_client_key.pem");
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("MINIPAY_WECHAT_CLIENT_CERT", cert.as_str()),
            ("MINIPAY_WECHAT_CLIENT_KEY", key.as_str()),
        ]);
        let cfg = WechatConfig::from_lookup(env(&pairs)).unwrap();
        assert!(cfg.client_identity.is_some());
        assert!(!format!("{cfg:?}").contains("PRIVATE KEY"));
        // And reqwest accepts it for a client.
        crate::WechatClient::new(cfg).unwrap();
    }

    #[test]
    fn a_half_configured_or_unreadable_certificate_is_refused() {
        let cert = data("test_client_cert.pem");
        let key = data("test_client_key.pem");
        let missing = data("no_such_file.pem");
        let tv5 = data("tv5_req_info.txt");
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[("MINIPAY_WECHAT_CLIENT_CERT", &cert)],
                "MINIPAY_WECHAT_CLIENT_KEY",
            ),
            (
                &[("MINIPAY_WECHAT_CLIENT_KEY", &key)],
                "MINIPAY_WECHAT_CLIENT_CERT",
            ),
            (
                &[
                    ("MINIPAY_WECHAT_CLIENT_CERT", &missing),
                    ("MINIPAY_WECHAT_CLIENT_KEY", &key),
                ],
                "MINIPAY_WECHAT_CLIENT_CERT",
            ),
            (
                &[
                    ("MINIPAY_WECHAT_CLIENT_CERT", &key),
                    ("MINIPAY_WECHAT_CLIENT_KEY", &key),
                ],
                "MINIPAY_WECHAT_CLIENT_CERT",
            ),
            (
                &[
                    ("MINIPAY_WECHAT_CLIENT_CERT", &cert),
                    ("MINIPAY_WECHAT_CLIENT_KEY", &tv5),
                ],
                "MINIPAY_WECHAT_CLIENT_KEY",
            ),
        ];
        for (extra, variable) in cases {
            let mut pairs = BASE.to_vec();
            pairs.extend_from_slice(extra);
            let err = WechatConfig::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            assert!(!err.to_string().contains("PRIVATE"), "{err}");
        }
    }

    #[test]
    fn url_errors_do_not_echo_credentials() {
        for text in [
            "ftp://user:hunter2@host",
            "http://user:hunter2@host/?a=1",
            "http://u:hunter2@h",
        ] {
            let err = parse_base_url(text).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
