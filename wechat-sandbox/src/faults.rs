//! The ways the simulator can misbehave, set through `POST /sandbox/faults`.
//! A POST replaces the whole set (fields left out are off), so a test states
//! every fault it relies on; `DELETE` turns everything off.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Extra latency before answering, per endpoint.
    pub latency_ms: Latency,
    /// Probability (0–1) that unifiedorder answers SYSTEMERROR without
    /// creating the order.
    pub unifiedorder_systemerror_rate: f64,
    /// Probability (0–1) that transfers answers SYSTEMERROR without paying.
    pub transfers_systemerror_rate: f64,
    /// code2session answers -1 (system busy).
    pub code2session_busy: bool,
    /// code2session answers 45011 (minute quota reached).
    pub code2session_rate_limited: bool,
    /// Each notification delivery is sent this many extra times at once.
    pub notify_duplicates: u32,
    /// The first this-many delivery attempts of each notification are
    /// dropped (logged, never sent), as if lost on the way.
    pub notify_drop_first: u32,
    /// First deliveries are held until this many are waiting, then sent
    /// newest first. 0 or 1: no reordering.
    pub notify_reorder_batch: u32,
    /// A transfer is carried out, then its reply waits this long (past the
    /// client's timeout, to make the outcome unknown to the caller).
    pub transfer_reply_delay_ms: u64,
    /// Replies are signed with a key that is not the merchant's.
    pub wrong_key_replies: bool,
    /// Notifications are signed with a key that is not the merchant's.
    pub wrong_key_notifications: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    pub jscode2session: u64,
    pub unifiedorder: u64,
    pub orderquery: u64,
    pub closeorder: u64,
    pub transfers: u64,
    pub gettransferinfo: u64,
}

/// The longest latency or delay a knob may ask for.
const MAX_DELAY_MS: u64 = 120_000;

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            (
                "unifiedorder_systemerror_rate",
                self.unifiedorder_systemerror_rate,
            ),
            (
                "transfers_systemerror_rate",
                self.transfers_systemerror_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        let l = &self.latency_ms;
        for (name, ms) in [
            ("latency_ms.jscode2session", l.jscode2session),
            ("latency_ms.unifiedorder", l.unifiedorder),
            ("latency_ms.orderquery", l.orderquery),
            ("latency_ms.closeorder", l.closeorder),
            ("latency_ms.transfers", l.transfers),
            ("latency_ms.gettransferinfo", l.gettransferinfo),
            ("transfer_reply_delay_ms", self.transfer_reply_delay_ms),
        ] {
            if ms > MAX_DELAY_MS {
                return Err(format!("{name} must be at most {MAX_DELAY_MS}, got {ms}"));
            }
        }
        if self.notify_duplicates > 10 {
            return Err("notify_duplicates must be at most 10".into());
        }
        if self.notify_reorder_batch > 1000 {
            return Err("notify_reorder_batch must be at most 1000".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_knobs_and_bad_values_are_refused() {
        let err = serde_json::from_str::<Faults>(r#"{"latency":{}}"#).unwrap_err();
        assert!(err.to_string().contains("latency"), "{err}");
        let faults: Faults =
            serde_json::from_str(r#"{"transfers_systemerror_rate": 1.5}"#).unwrap();
        assert!(
            faults
                .validate()
                .unwrap_err()
                .contains("transfers_systemerror_rate")
        );
        let faults: Faults =
            serde_json::from_str(r#"{"latency_ms": {"orderquery": 999999}}"#).unwrap();
        assert!(
            faults
                .validate()
                .unwrap_err()
                .contains("latency_ms.orderquery")
        );
        let faults: Faults = serde_json::from_str("{}").unwrap();
        assert_eq!(faults, Faults::default());
    }
}
