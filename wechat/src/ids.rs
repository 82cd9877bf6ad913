//! Random nonces and merchant order numbers.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use common::OutTradeNo;
use rand::Rng;
use rand::distr::Alphanumeric;

/// A 32-character `nonce_str` from the thread's CSPRNG (ChaCha, seeded and
/// reseeded from the operating system).
pub fn nonce_str() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Crockford's base32: digits then upper-case letters, so the text sorts as
/// the number it encodes.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_CHARS: usize = 15;
const RANDOM_MASK: u128 = (1 << (5 * RANDOM_CHARS)) - 1;

/// Generates `out_trade_no`s: 17 digits of UTC time to the millisecond
/// (`yyyyMMddHHmmssSSS`) and 15 base32 characters (75 bits), 32 in all.
///
/// - Numbers sort by creation time: the time comes first, fixed width.
/// - Within one generator they strictly increase: in the same millisecond
///   (or if the clock steps back) the previous random part is incremented,
///   as ULID's monotonic mode does.
/// - Across processes they do not collide: each millisecond's random part is
///   75 fresh bits from the CSPRNG, so two processes meet with probability
///   about n²/2⁷⁶ for n numbers per millisecond.
#[derive(Debug, Default)]
pub struct OutTradeNoGenerator {
    last: Mutex<(u64, u128)>,
}

impl OutTradeNoGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next(&self) -> OutTradeNo {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.next_at(now_ms)
    }

    fn next_at(&self, now_ms: u64) -> OutTradeNo {
        let (ms, random) = {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let (last_ms, last_random) = *last;
            let next = if now_ms > last_ms {
                (now_ms, rand::rng().random::<u128>() & (RANDOM_MASK >> 1))
            } else if last_random < RANDOM_MASK {
                (last_ms, last_random + 1)
            } else {
                // 2^75 numbers in one millisecond: borrow the next one.
                (
                    last_ms + 1,
                    rand::rng().random::<u128>() & (RANDOM_MASK >> 1),
                )
            };
            *last = next;
            next
        };
        let time = DateTime::<Utc>::from_timestamp_millis(ms as i64)
            .unwrap_or_default()
            .format("%Y%m%d%H%M%S%3f")
            .to_string();
        let mut out = String::with_capacity(32);
        out.push_str(&time);
        for i in (0..RANDOM_CHARS).rev() {
            out.push(BASE32[((random >> (5 * i)) & 31) as usize] as char);
        }
        // 17 digits + 15 base32 characters: always a valid out_trade_no.
        OutTradeNo::parse(out).unwrap_or_else(|e| unreachable!("generated out_trade_no: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn nonce_is_32_alphanumerics_and_varies() {
        let a = nonce_str();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, nonce_str());
    }

    #[test]
    fn out_trade_no_has_wechat_shape_and_time_prefix() {
        let no = OutTradeNoGenerator::new().next_at(1_733_346_689_123);
        assert_eq!(no.as_str().len(), 32);
        assert!(no.as_str().starts_with("20241204211129123"), "{no}");
    }

    #[test]
    fn a_million_numbers_are_distinct_and_sorted() {
        let generator = OutTradeNoGenerator::new();
        let numbers: Vec<String> = (0..1_000_000)
            .map(|_| generator.next().into_string())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "not strictly increasing"
        );
        let distinct: HashSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), 1_000_000);
    }

    #[test]
    fn separate_generators_do_not_collide() {
        // Four generators stand for four processes: no shared state at all.
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let generator = OutTradeNoGenerator::new();
                    (0..250_000)
                        .map(|_| generator.next().into_string())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for handle in handles {
            for no in handle.join().unwrap() {
                assert!(all.insert(no), "collision across generators");
            }
        }
        assert_eq!(all.len(), 1_000_000);
    }

    #[test]
    fn same_millisecond_and_clock_going_back_still_increase() {
        let generator = OutTradeNoGenerator::new();
        let a = generator.next_at(2_000_000_000_000);
        let b = generator.next_at(2_000_000_000_000);
        let c = generator.next_at(1_999_999_999_000);
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
