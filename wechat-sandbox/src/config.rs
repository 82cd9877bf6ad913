use std::net::SocketAddr;
use std::time::Duration;

use common::AmountFen;
use wechat::client::ConfigError;
use wechat::{ApiKey, AppSecret, WechatConfig};

/// The sandbox's own credentials, used when `MINIPAY_WECHAT_*` is unset.
/// They are public test values, good for nothing outside the simulator.
pub const SANDBOX_APPID: &str = "wx00000sandbox0001";
pub const SANDBOX_APP_SECRET: &str = "minipay-sandbox-app-secret";
pub const SANDBOX_MCH_ID: &str = "1900000109";
pub const SANDBOX_PAY_KEY: &str = "minipaysandboxapiv2key0000000000";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8900";

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub addr: SocketAddr,
    pub appid: String,
    pub app_secret: AppSecret,
    pub mch_id: String,
    pub api_key: ApiKey,
    /// Multiplies WeChat's notification retry schedule (1.0 = real time).
    pub time_scale: f64,
    /// How long a `wx.login` code stays valid (WeChat: 5 minutes).
    pub code_ttl: Duration,
    /// How old an order must be before closeorder accepts it (WeChat: 5 minutes).
    pub close_min_age: Duration,
    /// The merchant's balance for enterprise transfers.
    pub balance: AmountFen,
    /// How long a notify_url gets to answer one delivery (WeChat: ~5 s).
    pub notify_timeout: Duration,
    /// The most users, codes, orders, transfers and log entries kept each.
    pub capacity: usize,
}

impl SandboxConfig {
    /// Defaults only: what tests start from.
    pub fn defaults() -> Self {
        Self::from_lookup(|_| None).unwrap_or_else(|e| unreachable!("built-in defaults: {e}"))
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the same `MINIPAY_WECHAT_*` variables as the platform (with the
    /// sandbox's values as defaults) and the `MINIPAY_SANDBOX_*` knobs.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let wechat = WechatConfig::from_lookup(|name| {
            get(name).or_else(|| {
                Some(
                    match name {
                        "MINIPAY_WECHAT_APPID" => SANDBOX_APPID,
                        "MINIPAY_WECHAT_APP_SECRET" => SANDBOX_APP_SECRET,
                        "MINIPAY_WECHAT_MCH_ID" => SANDBOX_MCH_ID,
                        "MINIPAY_WECHAT_PAY_KEY" => SANDBOX_PAY_KEY,
                        _ => return None,
                    }
                    .to_owned(),
                )
            })
        })?;
        let error = |variable: &'static str, reason: String| ConfigError { variable, reason };
        let addr_text = get("MINIPAY_SANDBOX_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr_text.parse().map_err(|_| {
            error(
                "MINIPAY_SANDBOX_ADDR",
                format!("must be host:port, got {addr_text:?}"),
            )
        })?;
        let time_scale = match get("MINIPAY_SANDBOX_TIME_SCALE") {
            None => 1.0,
            Some(text) => match text.parse::<f64>() {
                Ok(scale) if scale > 0.0 && scale <= 1000.0 => scale,
                _ => {
                    return Err(error(
                        "MINIPAY_SANDBOX_TIME_SCALE",
                        format!("must be a number above 0 and at most 1000, got {text:?}"),
                    ));
                }
            },
        };
        let millis = |variable: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(variable) {
                None => Ok(Duration::from_millis(default)),
                Some(text) => text.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                    error(
                        variable,
                        format!("must be whole milliseconds, got {text:?}"),
                    )
                }),
            }
        };
        let balance = match get("MINIPAY_SANDBOX_BALANCE_FEN") {
            None => AmountFen::parse(10_000_000_000).unwrap_or_default(),
            Some(text) => text.parse().map_err(|e: common::AmountError| {
                error("MINIPAY_SANDBOX_BALANCE_FEN", e.to_string())
            })?,
        };
        Ok(Self {
            addr,
            appid: wechat.appid,
            app_secret: wechat.app_secret,
            mch_id: wechat.mch_id,
            api_key: wechat.api_key,
            time_scale,
            code_ttl: millis("MINIPAY_SANDBOX_CODE_TTL_MS", 300_000)?,
            close_min_age: millis("MINIPAY_SANDBOX_CLOSE_MIN_AGE_MS", 300_000)?,
            balance,
            notify_timeout: millis("MINIPAY_SANDBOX_NOTIFY_TIMEOUT_MS", 5_000)?,
            capacity: 100_000,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sandbox_credentials() {
        let cfg = SandboxConfig::defaults();
        assert_eq!(cfg.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(cfg.appid, SANDBOX_APPID);
        assert_eq!(cfg.mch_id, SANDBOX_MCH_ID);
        assert_eq!(cfg.time_scale, 1.0);
        assert_eq!(cfg.close_min_age, Duration::from_secs(300));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("MINIPAY_SANDBOX_ADDR", "nowhere"),
            ("MINIPAY_SANDBOX_TIME_SCALE", "0"),
            ("MINIPAY_SANDBOX_TIME_SCALE", "fast"),
            ("MINIPAY_SANDBOX_CODE_TTL_MS", "-1"),
            ("MINIPAY_SANDBOX_BALANCE_FEN", "1.5"),
            ("MINIPAY_WECHAT_PAY_KEY", "short"),
        ] {
            let err = SandboxConfig::from_lookup(|name| (name == variable).then(|| value.into()))
                .unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }

    #[test]
    fn platform_variables_override_the_defaults() {
        let cfg = SandboxConfig::from_lookup(|name| match name {
            "MINIPAY_WECHAT_APPID" => Some("wx1111111111111111".into()),
            "MINIPAY_SANDBOX_TIME_SCALE" => Some("0.001".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.appid, "wx1111111111111111");
        assert_eq!(cfg.time_scale, 0.001);
    }
}
