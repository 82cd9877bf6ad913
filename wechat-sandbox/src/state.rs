//! Everything the simulator remembers, in memory and bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, FixedOffset, Utc};
use common::AmountFen;
use rand::Rng;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wechat::SignType;
use wechat::messages::{TradeState, TransferStatus};

use crate::bounded::BoundedMap;
use crate::config::SandboxConfig;
use crate::faults::Faults;
use crate::notify::Pending;

#[derive(Debug)]
pub struct User {
    /// The current session_key (base64 text); rotated by every code2session.
    pub session_key: Option<String>,
}

#[derive(Debug)]
pub struct Code {
    pub openid: String,
    pub issued: Instant,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub out_trade_no: String,
    #[serde(serialize_with = "sign_type_name")]
    pub sign_type: SignType,
    pub total_fee: AmountFen,
    pub openid: String,
    pub body: String,
    pub attach: Option<String>,
    pub notify_url: String,
    #[serde(serialize_with = "trade_state_name")]
    pub trade_state: TradeState,
    pub transaction_id: Option<String>,
    /// `yyyyMMddHHmmss`, Beijing time.
    pub time_end: Option<String>,
    pub prepay_ids: Vec<String>,
    pub created_at: String,
    /// The request's parameters without nonce_str and sign: re-entry must
    /// repeat them exactly (in any order).
    #[serde(skip)]
    pub params: BTreeMap<String, String>,
    #[serde(skip)]
    pub created: Instant,
}

fn sign_type_name<S: serde::Serializer>(t: &SignType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

fn trade_state_name<S: serde::Serializer>(t: &TradeState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub partner_trade_no: String,
    pub openid: String,
    pub amount: AmountFen,
    pub desc: String,
    #[serde(serialize_with = "transfer_status_name")]
    pub status: TransferStatus,
    /// Why a FAILED transfer failed (WeChat's err_code).
    pub reason: Option<String>,
    /// Set when the money moved.
    pub payment_no: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub transfer_time: String,
    pub detail_id: String,
}

fn transfer_status_name<S: serde::Serializer>(t: &TransferStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// One delivery attempt of one notification, as `GET /sandbox/notifications` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub notification_id: u64,
    pub out_trade_no: String,
    pub attempt: u32,
    pub copy: u32,
    pub at: String,
    pub url: String,
    pub http_status: Option<u16>,
    pub reply: Option<String>,
    /// `acknowledged`, `refused`, `error` or `dropped`.
    pub outcome: &'static str,
}

#[derive(Debug)]
pub struct Inner {
    pub users: BoundedMap<User>,
    pub codes: BoundedMap<Code>,
    pub orders: BoundedMap<Order>,
    /// prepay_id → (out_trade_no, issued).
    pub prepay: BoundedMap<(String, Instant)>,
    pub transfers: BoundedMap<Transfer>,
    pub balance: AmountFen,
    pub attempts: VecDeque<Attempt>,
    pub faults: Faults,
    /// Added to the real clock: `POST /sandbox/clock` moves time forward.
    pub clock_offset: Duration,
    pub held: Vec<Pending>,
    pub next_notification: u64,
}

#[derive(Debug)]
pub struct Sandbox {
    pub cfg: SandboxConfig,
    inner: Mutex<Inner>,
    pub http: reqwest::Client,
    pub tasks: TaskTracker,
    pub shutdown: CancellationToken,
}

pub type Shared = Arc<Sandbox>;

impl Sandbox {
    pub fn new(cfg: SandboxConfig, shutdown: CancellationToken) -> Result<Shared, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(cfg.notify_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cap = cfg.capacity;
        let inner = Inner {
            users: BoundedMap::new(cap),
            codes: BoundedMap::new(cap),
            orders: BoundedMap::new(cap),
            prepay: BoundedMap::new(cap),
            transfers: BoundedMap::new(cap),
            balance: cfg.balance,
            attempts: VecDeque::new(),
            faults: Faults::default(),
            clock_offset: Duration::ZERO,
            held: Vec::new(),
            next_notification: 1,
        };
        Ok(Arc::new(Sandbox {
            cfg,
            inner: Mutex::new(inner),
            http,
            tasks: TaskTracker::new(),
            shutdown,
        }))
    }

    /// The state lock. Never held across an await: every handler takes it,
    /// changes what it must, and lets go before any I/O.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub fn record(&self, attempt: Attempt) {
        let mut inner = self.lock();
        if inner.attempts.len() >= self.cfg.capacity {
            inner.attempts.pop_front();
        }
        inner.attempts.push_back(attempt);
    }
}

impl Inner {
    /// The simulator's monotonic "now", which tests may move forward.
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    pub fn wall(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(SystemTime::now() + self.clock_offset)
    }
}

pub fn beijing(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    let east8 = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"));
    t.with_timezone(&east8)
}

pub fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

pub fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16usize)]))
        .collect()
}

pub fn new_session_key() -> String {
    STANDARD.encode(rand::rng().random::<[u8; 16]>())
}
