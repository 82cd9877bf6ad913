//! The platform's configuration: the environment variables of the table in
//! `architecture.md`, read and validated once at start. Every error names its
//! variable. WeChat's credentials are read by `wechat::WechatConfig` (the
//! protocol crate owns them); everything else is here.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use crate::money::AmountFen;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

/// Where a service keeps its tables, chosen once by the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    MySql(String),
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("sqlite:") {
            Ok(DatabaseUrl::Sqlite(text.to_owned()))
        } else if text.starts_with("mysql://") || text.starts_with("mariadb://") {
            Ok(DatabaseUrl::MySql(text.replacen(
                "mariadb://",
                "mysql://",
                1,
            )))
        } else {
            Err("must start with sqlite: or mysql://".into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite(url) | DatabaseUrl::MySql(url) => url,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::MySql(_) => "mysql",
        }
    }
}

/// Hides the password: URLs are logged and shown in errors.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.as_str()))
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub gateway_addr: SocketAddr,
    pub auth_addr: SocketAddr,
    pub payment_addr: SocketAddr,
    pub ledger_addr: SocketAddr,
    pub auth_database_url: DatabaseUrl,
    pub payment_database_url: DatabaseUrl,
    pub ledger_database_url: DatabaseUrl,
    /// Unset: the in-process session store.
    pub redis_url: Option<String>,
    pub session_ttl: Duration,
    /// How WeChat reaches the gateway; notify_url is built from it.
    pub public_base_url: String,
    pub sandbox_addr: SocketAddr,
    pub default_merchant: Option<String>,
    pub max_order_fen: AmountFen,
    pub trusted_proxies: Vec<IpNet>,
    /// When set, getinfo refuses data encrypted longer ago than this.
    pub watermark_max_age: Option<Duration>,
    /// Deadline the gateway gives each gRPC call.
    pub grpc_deadline: Duration,
    pub log_format: LogFormat,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        fn parsed<T: FromStr>(
            variable: &'static str,
            text: Option<String>,
            default: &str,
            expected: &str,
        ) -> Result<T, ConfigError> {
            let text = text.unwrap_or_else(|| default.to_owned());
            text.trim().parse().map_err(|_| ConfigError {
                variable,
                reason: format!("must be {expected}, got {text:?}"),
            })
        }
        let addr = |variable: &'static str, default: &str| -> Result<SocketAddr, ConfigError> {
            parsed(variable, get(variable), default, "host:port")
        };
        let db = |variable: &'static str, default: &str| -> Result<DatabaseUrl, ConfigError> {
            let text = get(variable).unwrap_or_else(|| default.to_owned());
            DatabaseUrl::parse(&text).map_err(|reason| ConfigError { variable, reason })
        };
        let secs = |variable: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let n: u64 = parsed(
                variable,
                get(variable),
                default,
                "a whole number of seconds",
            )?;
            if n == 0 {
                return Err(ConfigError {
                    variable,
                    reason: "must be at least 1".into(),
                });
            }
            Ok(Duration::from_secs(n))
        };

        let redis_url = match get("MINIPAY_REDIS_URL") {
            Some(url) if !(url.starts_with("redis://") || url.starts_with("rediss://")) => {
                return Err(ConfigError {
                    variable: "MINIPAY_REDIS_URL",
                    reason: "must start with redis:// or rediss://".into(),
                });
            }
            other => other,
        };
        let public_base_url = get("MINIPAY_PUBLIC_BASE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8000".into())
            .trim_end_matches('/')
            .to_owned();
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            return Err(ConfigError {
                variable: "MINIPAY_PUBLIC_BASE_URL",
                reason: "must be an http(s) URL".into(),
            });
        }
        let max_order: i64 = parsed(
            "MINIPAY_MAX_ORDER_FEN",
            get("MINIPAY_MAX_ORDER_FEN"),
            "100000000",
            "an integer number of fen",
        )?;
        let max_order_fen = AmountFen::positive(max_order).map_err(|e| ConfigError {
            variable: "MINIPAY_MAX_ORDER_FEN",
            reason: e.to_string(),
        })?;
        let trusted_proxies = match get("MINIPAY_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|cidr| {
                    cidr.parse::<IpNet>()
                        .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| ConfigError {
                            variable: "MINIPAY_TRUSTED_PROXIES",
                            reason: format!("{cidr:?} is not a CIDR or an IP address"),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let log_format = match get("MINIPAY_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "MINIPAY_LOG_FORMAT",
                    reason: format!("must be text or json, got {other:?}"),
                });
            }
        };
        let grpc_deadline_ms: u64 = parsed(
            "MINIPAY_GRPC_DEADLINE_MS",
            get("MINIPAY_GRPC_DEADLINE_MS"),
            "10000",
            "whole milliseconds",
        )?;
        Ok(Self {
            gateway_addr: addr("MINIPAY_GATEWAY_ADDR", "127.0.0.1:8000")?,
            auth_addr: addr("MINIPAY_AUTH_ADDR", "127.0.0.1:50052")?,
            payment_addr: addr("MINIPAY_PAYMENT_ADDR", "127.0.0.1:50053")?,
            ledger_addr: addr("MINIPAY_LEDGER_ADDR", "127.0.0.1:50051")?,
            auth_database_url: db("MINIPAY_AUTH_DATABASE_URL", "sqlite://data/auth.db")?,
            payment_database_url: db("MINIPAY_PAYMENT_DATABASE_URL", "sqlite://data/payment.db")?,
            ledger_database_url: db("MINIPAY_LEDGER_DATABASE_URL", "sqlite://data/ledger.db")?,
            redis_url,
            session_ttl: secs("MINIPAY_SESSION_TTL_SECS", "7200")?,
            public_base_url,
            sandbox_addr: addr("MINIPAY_SANDBOX_ADDR", "127.0.0.1:8900")?,
            default_merchant: get("MINIPAY_DEFAULT_MERCHANT"),
            max_order_fen,
            trusted_proxies,
            watermark_max_age: match get("MINIPAY_WATERMARK_MAX_AGE_SECS") {
                None => None,
                Some(_) => Some(secs("MINIPAY_WATERMARK_MAX_AGE_SECS", "")?),
            },
            grpc_deadline: Duration::from_millis(grpc_deadline_ms.max(1)),
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_match_the_architecture_table() {
        let cfg = from(&[]).unwrap();
        assert_eq!(cfg.gateway_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(cfg.auth_addr.to_string(), "127.0.0.1:50052");
        assert_eq!(cfg.payment_addr.to_string(), "127.0.0.1:50053");
        assert_eq!(cfg.ledger_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(
            cfg.auth_database_url,
            DatabaseUrl::Sqlite("sqlite://data/auth.db".into())
        );
        assert_eq!(cfg.redis_url, None);
        assert_eq!(cfg.session_ttl, Duration::from_secs(7200));
        assert_eq!(cfg.public_base_url, "http://127.0.0.1:8000");
        assert_eq!(cfg.max_order_fen.fen(), 100_000_000);
        assert!(cfg.trusted_proxies.is_empty());
        assert_eq!(cfg.watermark_max_age, None);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (variable, value) in [
            ("MINIPAY_GATEWAY_ADDR", "localhost"),
            ("MINIPAY_AUTH_DATABASE_URL", "postgres://x"),
            ("MINIPAY_REDIS_URL", "http://x"),
            ("MINIPAY_SESSION_TTL_SECS", "0"),
            ("MINIPAY_SESSION_TTL_SECS", "2h"),
            ("MINIPAY_PUBLIC_BASE_URL", "ftp://x"),
            ("MINIPAY_MAX_ORDER_FEN", "1.5"),
            ("MINIPAY_MAX_ORDER_FEN", "0"),
            ("MINIPAY_TRUSTED_PROXIES", "10.0.0.0/8, nonsense"),
            ("MINIPAY_LOG_FORMAT", "xml"),
            ("MINIPAY_WATERMARK_MAX_AGE_SECS", "soon"),
        ] {
            let err = from(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }

    #[test]
    fn overrides_are_read() {
        let cfg = from(&[
            ("MINIPAY_REDIS_URL", "redis://127.0.0.1:6379/"),
            (
                "MINIPAY_AUTH_DATABASE_URL",
                "mysql://root:pw@127.0.0.1/auth",
            ),
            ("MINIPAY_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            ("MINIPAY_PUBLIC_BASE_URL", "https://pay.example.com/"),
        ])
        .unwrap();
        assert_eq!(cfg.redis_url.as_deref(), Some("redis://127.0.0.1:6379/"));
        assert_eq!(cfg.auth_database_url.backend(), "mysql");
        assert_eq!(
            format!("{:?}", cfg.auth_database_url),
            "mysql://root:***@127.0.0.1/auth"
        );
        assert_eq!(cfg.trusted_proxies.len(), 2);
        assert_eq!(cfg.public_base_url, "https://pay.example.com");
    }
}
