//! [`SessionStore`] in process memory: for tests and single-node
//! development. Bounded, so a flood of logins cannot exhaust memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use wechat::SessionKey;

use super::{SessionStore, StoreError, TokenHash};

const BACKEND: &str = "memory";

/// Sessions in a map guarded by a mutex, with expiry measured on
/// `tokio::time::Instant` (so `tokio::time::pause` drives it in tests).
///
/// At most `max_sessions` tokens and `max_sessions` session keys are held.
/// When one more must fit, expired entries go first, then the least
/// recently used (created or resolved; for keys, also read).
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
}

struct Inner {
    tokens: Bounded<TokenHash, String>,
    session_keys: Bounded<String, SessionKey>,
}

impl MemorySessionStore {
    /// An empty store holding at most `max_sessions` sessions (at least 1).
    pub fn new(max_sessions: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                tokens: Bounded::new(max_sessions),
                session_keys: Bounded::new(max_sessions),
            }),
        }
    }

    /// No operation panics while holding the lock, but if one ever did the
    /// maps are still consistent enough to keep serving.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Shows sizes only: tokens, openids and keys stay out of logs.
impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemorySessionStore")
            .field("tokens", &inner.tokens.slots.len())
            .field("session_keys", &inner.session_keys.slots.len())
            .field("max_sessions", &inner.tokens.capacity)
            .finish()
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(
        &self,
        token: &TokenHash,
        openid: &str,
        session_key: &SessionKey,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl);
        let mut inner = self.lock();
        inner
            .tokens
            .insert(token.clone(), openid.to_owned(), expires_at, now);
        inner
            .session_keys
            .insert(openid.to_owned(), session_key.clone(), expires_at, now);
        Ok(())
    }

    async fn resolve(
        &self,
        token: &TokenHash,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl);
        let mut inner = self.lock();
        let Some(openid) = inner.tokens.touch(token, now, Some(expires_at)).cloned() else {
            return Ok(None);
        };
        inner.session_keys.touch(&openid, now, Some(expires_at));
        Ok(Some(openid))
    }

    async fn session_key(&self, openid: &str) -> Result<Option<SessionKey>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        Ok(inner
            .session_keys
            .touch(&openid.to_owned(), now, None)
            .cloned())
    }

    async fn revoke(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let removed = inner.tokens.remove(token);
        Ok(removed.is_some_and(|slot| slot.expires_at > now))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

/// `now + ttl`, or a century from now for a `ttl` too large to add.
fn deadline(now: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    now.checked_add(ttl).unwrap_or_else(|| now + CENTURY)
}

/// A map with a capacity, an expiry per entry, and two indexes so that
/// eviction costs a logarithm, not a scan: by expiry (to drop the expired)
/// and by last use (to drop the least recently used).
struct Bounded<K, V> {
    capacity: usize,
    slots: HashMap<K, Slot<V>>,
    /// Last-use tick → key; ticks are unique and only grow.
    by_use: BTreeMap<u64, K>,
    /// (expiry, tick) of every slot, soonest first.
    by_expiry: BTreeSet<(Instant, u64)>,
    next_tick: u64,
}

struct Slot<V> {
    value: V,
    expires_at: Instant,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: HashMap::new(),
            by_use: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            next_tick: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        tick
    }

    /// Stores `value` under `key` (replacing any previous one), making room
    /// first if the map is full.
    fn insert(&mut self, key: K, value: V, expires_at: Instant, now: Instant) {
        self.remove(&key);
        if self.slots.len() >= self.capacity {
            self.drop_expired(now);
        }
        while self.slots.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let tick = self.tick();
        self.by_use.insert(tick, key.clone());
        self.by_expiry.insert((expires_at, tick));
        self.slots.insert(
            key,
            Slot {
                value,
                expires_at,
                tick,
            },
        );
    }

    /// The live value under `key`, marked as just used and, with
    /// `renew_until`, given a new expiry. An expired entry is removed.
    fn touch(&mut self, key: &K, now: Instant, renew_until: Option<Instant>) -> Option<&V> {
        if self.slots.get(key)?.expires_at <= now {
            self.remove(key);
            return None;
        }
        let tick = self.tick();
        let slot = self.slots.get_mut(key)?;
        self.by_use.remove(&slot.tick);
        self.by_expiry.remove(&(slot.expires_at, slot.tick));
        slot.tick = tick;
        if let Some(expires_at) = renew_until {
            slot.expires_at = expires_at;
        }
        self.by_use.insert(tick, key.clone());
        self.by_expiry.insert((slot.expires_at, tick));
        Some(&slot.value)
    }

    fn remove(&mut self, key: &K) -> Option<Slot<V>> {
        let slot = self.slots.remove(key)?;
        self.by_use.remove(&slot.tick);
        self.by_expiry.remove(&(slot.expires_at, slot.tick));
        Some(slot)
    }

    fn drop_expired(&mut self, now: Instant) {
        while let Some(&(expires_at, tick)) = self.by_expiry.first() {
            if expires_at > now {
                break;
            }
            match self.by_use.get(&tick).cloned() {
                Some(key) => {
                    self.remove(&key);
                }
                None => {
                    self.by_expiry.pop_first();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use wechat::ExposeSecret;

    use super::*;
    use crate::store::token_hash;

    const MINUTE: Duration = Duration::from_secs(60);

    fn key() -> SessionKey {
        SessionKey::parse("tiihtNczf5v6AKRyjwEUhQ==").unwrap()
    }

    #[tokio::test]
    async fn a_full_store_drops_expired_sessions_before_the_least_recently_used() {
        tokio::time::pause();
        let store = MemorySessionStore::new(2);
        let (a, b, c) = (token_hash("a"), token_hash("b"), token_hash("c"));
        store.create(&b, "ob", &key(), 10 * MINUTE).await.unwrap();
        store.create(&a, "oa", &key(), MINUTE).await.unwrap();
        tokio::time::advance(2 * MINUTE).await;

        store.create(&c, "oc", &key(), MINUTE).await.unwrap();

        assert_eq!(
            store.resolve(&b, MINUTE).await.unwrap().as_deref(),
            Some("ob")
        );
        assert_eq!(
            store.resolve(&c, MINUTE).await.unwrap().as_deref(),
            Some("oc")
        );
        assert_eq!(store.resolve(&a, MINUTE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_store_drops_the_least_recently_used_session() {
        tokio::time::pause();
        let store = MemorySessionStore::new(2);
        let (a, b, c) = (token_hash("a"), token_hash("b"), token_hash("c"));
        store.create(&a, "oa", &key(), MINUTE).await.unwrap();
        store.create(&b, "ob", &key(), MINUTE).await.unwrap();
        assert!(store.resolve(&a, MINUTE).await.unwrap().is_some());

        store.create(&c, "oc", &key(), MINUTE).await.unwrap();

        assert_eq!(store.resolve(&b, MINUTE).await.unwrap(), None);
        assert!(store.session_key("ob").await.unwrap().is_none());
        assert_eq!(
            store.resolve(&a, MINUTE).await.unwrap().as_deref(),
            Some("oa")
        );
        assert_eq!(
            store.resolve(&c, MINUTE).await.unwrap().as_deref(),
            Some("oc")
        );
        assert_eq!(
            store
                .session_key("oa")
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            key().expose_secret()
        );
    }

    #[tokio::test]
    async fn re_creating_a_token_does_not_evict_another() {
        let store = MemorySessionStore::new(2);
        let (a, b) = (token_hash("a"), token_hash("b"));
        store.create(&a, "oa", &key(), MINUTE).await.unwrap();
        store.create(&b, "ob", &key(), MINUTE).await.unwrap();
        store.create(&a, "oa", &key(), MINUTE).await.unwrap();
        assert!(store.resolve(&a, MINUTE).await.unwrap().is_some());
        assert!(store.resolve(&b, MINUTE).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn debug_shows_no_tokens_openids_or_keys() {
        let store = MemorySessionStore::new(8);
        store
            .create(&token_hash("secret-token"), "o-visible", &key(), MINUTE)
            .await
            .unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains("o-visible"));
        assert!(!shown.contains(&token_hash("secret-token").0));
        assert!(!shown.contains("tiihtNczf5"));
        assert!(shown.contains("tokens: 1"));
    }
}
