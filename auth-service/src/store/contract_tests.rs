//! One contract per store trait, run against every backend: the in-process
//! and SQLite ones always, Redis and MariaDB when `MINIPAY_TEST_REDIS_URL`
//! and `MINIPAY_TEST_MYSQL_URL` are set. Set but unreachable fails the test.
//! MariaDB tests use their own database, `minipay_auth_test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use common::testing::{TempDir, closed_port, silent_port};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::config::DatabaseUrl;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use wechat::{ExposeSecret, SessionKey};

use super::*;
use crate::domain::{KeyId, MerchantApiKey, MerchantId};

const KEY_1: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const KEY_2: &str = "AQIDBAUGBwgJCgsMDQ4PEA==";
const EMOJI_NAME: &str = "小明🐼‍🔥 𝒳";
const MYSQL_TEST_DATABASE: &str = "minipay_auth_test";
/// A bound on everything a test waits for, so a broken backend fails the
/// test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

fn key(text: &str) -> SessionKey {
    SessionKey::parse(text).unwrap()
}

/// A random tag so that reruns against a shared Redis or MariaDB never
/// meet earlier data.
fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn env_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|url| !url.is_empty());
    if url.is_none() {
        eprintln!("skipped: {var} is not set");
    }
    url
}

#[test]
fn token_hash_is_the_lowercase_hex_sha256_of_the_token() {
    assert_eq!(
        token_hash("abc").0,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// ---------------------------------------------------------------- sessions

/// How time passes for a backend: the memory store runs on tokio's paused
/// clock; Redis expires keys on its own, in real time.
#[derive(Clone, Copy)]
enum Clock {
    Paused,
    Real,
}

impl Clock {
    async fn pass(self, time: Duration) {
        match self {
            Self::Paused => tokio::time::advance(time).await,
            Self::Real => tokio::time::sleep(time).await,
        }
    }
}

/// `ttl` is the short TTL whose expiry the suite waits for; it waits about
/// 2.5 × `ttl` in all.
async fn session_store_contract(store: &impl SessionStore, clock: Clock, ttl: Duration) {
    let run = run_id();
    let token = |name: &str| token_hash(&format!("token-{run}-{name}"));
    let openid = |name: &str| format!("o-test-{run}-{name}");
    let long = ttl * 60;
    let key_of = async |openid: &str| {
        store
            .session_key(openid)
            .await
            .unwrap()
            .map(|key| key.expose_secret().to_owned())
    };

    // Unknown tokens and openids.
    assert_eq!(store.resolve(&token("never"), long).await.unwrap(), None);
    assert_eq!(key_of(&openid("never")).await, None);
    assert!(!store.revoke(&token("never")).await.unwrap());

    // A login, resolved.
    let alice = openid("alice");
    store
        .create(&token("a1"), &alice, &key(KEY_1), long)
        .await
        .unwrap();
    assert_eq!(
        store.resolve(&token("a1"), long).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(key_of(&alice).await.as_deref(), Some(KEY_1));

    // A new login replaces the session_key; the earlier token still works.
    store
        .create(&token("a2"), &alice, &key(KEY_2), long)
        .await
        .unwrap();
    assert_eq!(key_of(&alice).await.as_deref(), Some(KEY_2));
    assert_eq!(
        store.resolve(&token("a1"), long).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.resolve(&token("a2"), long).await.unwrap(),
        Some(alice.clone())
    );

    // Revocation is immediate and says whether the token existed.
    assert!(store.revoke(&token("a1")).await.unwrap());
    assert_eq!(store.resolve(&token("a1"), long).await.unwrap(), None);
    assert!(!store.revoke(&token("a1")).await.unwrap());
    assert_eq!(
        store.resolve(&token("a2"), long).await.unwrap(),
        Some(alice.clone())
    );

    // Expiry, and the sliding TTL: bob resolves every 0.6 ttl and lives on
    // (his session_key with him); carol does not and expires.
    let (bob, carol) = (openid("bob"), openid("carol"));
    store
        .create(&token("b"), &bob, &key(KEY_1), ttl)
        .await
        .unwrap();
    store
        .create(&token("c"), &carol, &key(KEY_2), ttl)
        .await
        .unwrap();
    clock.pass(ttl.mul_f64(0.6)).await;
    assert_eq!(
        store.resolve(&token("b"), ttl).await.unwrap(),
        Some(bob.clone())
    );
    clock.pass(ttl.mul_f64(0.6)).await;
    assert_eq!(store.resolve(&token("c"), ttl).await.unwrap(), None);
    assert_eq!(key_of(&carol).await, None);
    assert!(!store.revoke(&token("c")).await.unwrap());
    assert_eq!(
        store.resolve(&token("b"), ttl).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(key_of(&bob).await.as_deref(), Some(KEY_1));
    clock.pass(ttl.mul_f64(1.3)).await;
    assert_eq!(store.resolve(&token("b"), ttl).await.unwrap(), None);
    assert_eq!(key_of(&bob).await, None);

    store.ping().await.unwrap();
}

#[tokio::test]
async fn memory_session_store_meets_the_contract() {
    tokio::time::pause();
    let store = MemorySessionStore::new(1_000);
    assert_eq!(store.backend(), "memory");
    session_store_contract(&store, Clock::Paused, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn redis_session_store_meets_the_contract() {
    let Some(url) = env_url("MINIPAY_TEST_REDIS_URL") else {
        return;
    };
    let store = match RedisSessionStore::connect(&url).await {
        Ok(store) => store,
        Err(err) => panic!("MINIPAY_TEST_REDIS_URL is set but Redis is unreachable: {err}"),
    };
    assert_eq!(store.backend(), "redis");
    session_store_contract(&store, Clock::Real, Duration::from_secs(1)).await;

    // The key layout other tools rely on.
    let run = run_id();
    let token = token_hash(&format!("token-{run}-layout"));
    let openid = format!("o-test-{run}-layout");
    store
        .create(&token, &openid, &key(KEY_1), Duration::from_secs(60))
        .await
        .unwrap();
    let mut raw = ::redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let token_key = format!("minipay:auth:token:{}", token.0);
    let session_key_key = format!("minipay:auth:session_key:{openid}");
    for (key, value) in [(&token_key, openid.as_str()), (&session_key_key, KEY_1)] {
        let stored: Option<String> = ::redis::cmd("GET")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(stored.as_deref(), Some(value), "{key}");
        let ttl: i64 = ::redis::cmd("TTL")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!((1..=60).contains(&ttl), "{key} has TTL {ttl}");
    }
    let deleted: i64 = ::redis::cmd("DEL")
        .arg(&token_key)
        .arg(&session_key_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
}

// ------------------------------------------------------------------- users

/// What the user suite needs beyond [`UserStore`]: a given clock and a look
/// at the stored times.
trait UserRows: UserStore {
    async fn upsert_at(&self, user: &User, now_ms: i64) -> Result<(), StoreError>;
    async fn timestamps(&self, openid: &str) -> Result<Option<(i64, i64)>, StoreError>;
}

impl UserRows for SqliteUserStore {
    async fn upsert_at(&self, user: &User, now_ms: i64) -> Result<(), StoreError> {
        SqliteUserStore::upsert_at(self, user, now_ms).await
    }
    async fn timestamps(&self, openid: &str) -> Result<Option<(i64, i64)>, StoreError> {
        SqliteUserStore::timestamps(self, openid).await
    }
}

impl UserRows for MySqlUserStore {
    async fn upsert_at(&self, user: &User, now_ms: i64) -> Result<(), StoreError> {
        MySqlUserStore::upsert_at(self, user, now_ms).await
    }
    async fn timestamps(&self, openid: &str) -> Result<Option<(i64, i64)>, StoreError> {
        MySqlUserStore::timestamps(self, openid).await
    }
}

fn user(openid: &str, variant: u8) -> User {
    let v = variant.to_string();
    User {
        openid: openid.to_owned(),
        nick_name: format!("nick {v}"),
        avatar_url: format!("https://thirdwx.qlogo.cn/mmopen/vi_32/{v}/132"),
        gender: i32::from(variant % 3),
        city: format!("city {v}"),
        province: format!("province {v}"),
        country: format!("country {v}"),
        language: format!("zh_CN{v}"),
    }
}

/// Leaves behind rows whose openids carry `run`.
async fn user_store_contract(store: &impl UserRows, run: &str) {
    let openid = |name: &str| format!("o-test-{run}-{name}");

    assert_eq!(store.get(&openid("never")).await.unwrap(), None);

    // Insert, then an update that replaces every field but created_at.
    let alice = user(&openid("alice"), 1);
    store.upsert_at(&alice, 1_000).await.unwrap();
    assert_eq!(store.get(&alice.openid).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        store.timestamps(&alice.openid).await.unwrap(),
        Some((1_000, 1_000))
    );

    let changed = user(&alice.openid, 2);
    store.upsert_at(&changed, 2_000).await.unwrap();
    assert_eq!(
        store.get(&alice.openid).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store.timestamps(&alice.openid).await.unwrap(),
        Some((1_000, 2_000))
    );

    // Another user leaves the first alone.
    let bob = user(&openid("bob"), 3);
    store.upsert(&bob).await.unwrap();
    assert_eq!(store.get(&bob.openid).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.get(&alice.openid).await.unwrap(), Some(changed));

    // openids are case-sensitive.
    assert_eq!(store.get(&alice.openid.to_uppercase()).await.unwrap(), None);

    // Emoji (astral plane, a ZWJ sequence) come back byte for byte.
    let emoji = User {
        nick_name: EMOJI_NAME.to_owned(),
        city: "深圳 🏙️".to_owned(),
        ..user(&openid("emoji"), 4)
    };
    store.upsert(&emoji).await.unwrap();
    let read = store.get(&emoji.openid).await.unwrap().unwrap();
    assert_eq!(read.nick_name.as_bytes(), EMOJI_NAME.as_bytes());
    assert_eq!(read, emoji);

    // Real clock: both times set, in milliseconds.
    let (created, updated) = store.timestamps(&emoji.openid).await.unwrap().unwrap();
    assert_eq!(created, updated);
    assert!(
        created > 1_600_000_000_000,
        "{created} is not epoch milliseconds"
    );

    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_user_store_meets_the_contract() {
    let run = run_id();
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-auth-test-{run}")));
    // A directory that does not exist yet: connect creates it.
    let url = format!("sqlite://{}", dir.0.join("db").join("auth.db").display());
    let store = SqliteUserStore::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    user_store_contract(&store, &run).await;
    drop(store);

    // Reconnecting finds the data and the migrations already applied.
    let store = SqliteUserStore::connect(&url).await.unwrap();
    let openid = format!("o-test-{run}-bob");
    assert_eq!(store.get(&openid).await.unwrap(), Some(user(&openid, 3)));
}

/// Creates the dedicated test database on the server `url` names; options
/// that connect to it, so migrations never meet other services'.
async fn mysql_test_options(url: &str) -> MySqlConnectOptions {
    let server = MySqlConnectOptions::from_str(url).unwrap();
    let created = tokio::time::timeout(PATIENCE, async {
        let mut conn = MySqlConnection::connect_with(&server).await?;
        sqlx::query(
            "CREATE DATABASE IF NOT EXISTS minipay_auth_test \
             CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await
    })
    .await;
    match created {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!("MINIPAY_TEST_MYSQL_URL is set but MariaDB is unreachable: {err}"),
        Err(_) => panic!("MINIPAY_TEST_MYSQL_URL is set but MariaDB does not answer"),
    }
    server.database(MYSQL_TEST_DATABASE)
}

async fn mysql_test_store(url: &str) -> MySqlUserStore {
    MySqlUserStore::connect_with(mysql_test_options(url).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn mysql_user_store_meets_the_contract() {
    let Some(url) = env_url("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    let store = mysql_test_store(&url).await;
    assert_eq!(store.backend(), "mysql");
    let run = run_id();
    user_store_contract(&store, &run).await;

    // Reconnecting finds the migrations already applied.
    let again = mysql_test_store(&url).await;
    let openid = format!("o-test-{run}-bob");
    assert_eq!(again.get(&openid).await.unwrap(), Some(user(&openid, 3)));
}

// ----------------------------------------------------------- merchant keys

/// What the key suite needs beyond [`MerchantKeyStore`]: the stored row as
/// the database holds it.
trait KeyRows: MerchantKeyStore {
    async fn raw_row(&self, key_id: &KeyId) -> Result<Option<sql::RawKeyRow>, StoreError>;
}

impl KeyRows for SqliteMerchantKeyStore {
    async fn raw_row(&self, key_id: &KeyId) -> Result<Option<sql::RawKeyRow>, StoreError> {
        SqliteMerchantKeyStore::raw_row(self, key_id).await
    }
}

impl KeyRows for MySqlMerchantKeyStore {
    async fn raw_row(&self, key_id: &KeyId) -> Result<Option<sql::RawKeyRow>, StoreError> {
        MySqlMerchantKeyStore::raw_row(self, key_id).await
    }
}

/// A merchant id no earlier run used (about 103 random bits).
fn new_merchant() -> MerchantId {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let random: String = (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    MerchantId::parse(format!("M{random}")).unwrap()
}

fn presented(text: &str) -> MerchantApiKey {
    MerchantApiKey::presented(text)
}

fn owner(created: &CreatedKey) -> Option<KeyOwner> {
    Some(KeyOwner {
        merchant_id: created.merchant_id.clone(),
        key_id: created.key_id.clone(),
    })
}

/// Leaves behind rows of merchants made for this run.
async fn merchant_key_store_contract(store: &impl KeyRows) {
    let (alice, bob) = (new_merchant(), new_merchant());
    let resolve = async |text: &str| store.resolve(&presented(text)).await.unwrap();

    // Unknown keys: well-formed but never stored, empty, malformed.
    let never = MerchantApiKey::generate();
    assert_eq!(store.resolve(&never).await.unwrap(), None);
    assert_eq!(resolve("").await, None);
    assert_eq!(resolve("mk_not-a-key").await, None);
    assert_eq!(store.list(&alice).await.unwrap(), vec![]);

    // Create, then resolve.
    let a1 = store.create(&alice).await.unwrap();
    let a1_text = a1.api_key.expose_secret().to_owned();
    assert_eq!(a1.merchant_id, alice);
    assert_eq!(KeyId::parse(a1.key_id.as_str()).unwrap(), a1.key_id);
    let body = a1_text.strip_prefix("mk_").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32, "256 bits");
    assert_eq!(resolve(&a1_text).await, owner(&a1));
    let shown = format!("{a1:?}");
    assert!(!shown.contains(body), "Debug shows the key: {shown}");

    // The stored row holds the key's SHA-256, never the key.
    let (key_id, merchant_id, key_hash, created_at, revoked_at) =
        store.raw_row(&a1.key_id).await.unwrap().unwrap();
    assert_eq!(key_id, a1.key_id.as_str());
    assert_eq!(merchant_id, alice.as_str());
    assert_eq!(key_hash, hex::encode(Sha256::digest(a1_text.as_bytes())));
    for column in [&key_id, &merchant_id, &key_hash] {
        assert!(!column.contains(body), "{column} holds the key");
    }
    assert_eq!(created_at, a1.created_at_ms);
    assert!(
        created_at > 1_600_000_000_000,
        "{created_at} is not epoch ms"
    );
    assert_eq!(revoked_at, None);

    // Near misses are other keys.
    assert_eq!(resolve(&a1_text.to_uppercase()).await, None);
    assert_eq!(resolve(&a1_text[..a1_text.len() - 1]).await, None);
    assert_eq!(resolve(&format!("{a1_text} ")).await, None);
    assert_eq!(resolve(body).await, None);
    assert_eq!(resolve(&key_hash).await, None);

    // Two keys for one merchant, both live; another merchant's apart.
    let a2 = store.create(&alice).await.unwrap();
    let a2_text = a2.api_key.expose_secret().to_owned();
    assert_ne!(a2_text, a1_text);
    assert_ne!(a2.key_id, a1.key_id);
    assert_eq!(resolve(&a1_text).await, owner(&a1));
    assert_eq!(resolve(&a2_text).await, owner(&a2));
    let b1 = store.create(&bob).await.unwrap();
    let b1_text = b1.api_key.expose_secret().to_owned();
    assert_eq!(resolve(&b1_text).await, owner(&b1));
    let listed = store.list(&alice).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed[0].created_at_ms >= listed[1].created_at_ms,
        "newest first"
    );
    let mut ids: Vec<&KeyId> = listed.iter().map(|k| &k.key_id).collect();
    ids.sort();
    let mut expected = vec![&a1.key_id, &a2.key_id];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(listed.iter().all(|k| k.merchant_id == alice));
    assert!(listed.iter().all(|k| k.revoked_at_ms.is_none()));

    // Revoke one key by id: at once, once.
    assert_eq!(
        store.revoke(&Revoke::Key(a1.key_id.clone())).await.unwrap(),
        1
    );
    assert_eq!(resolve(&a1_text).await, None);
    assert_eq!(resolve(&a2_text).await, owner(&a2));
    assert_eq!(
        store.revoke(&Revoke::Key(a1.key_id.clone())).await.unwrap(),
        0
    );
    let (.., revoked_at) = store.raw_row(&a1.key_id).await.unwrap().unwrap();
    assert!(revoked_at.is_some_and(|at| at >= a1.created_at_ms));

    // A key id scoped to another merchant revokes nothing.
    let not_alices = Revoke::MerchantKey(alice.clone(), b1.key_id.clone());
    assert_eq!(store.revoke(&not_alices).await.unwrap(), 0);
    assert_eq!(resolve(&b1_text).await, owner(&b1));

    // Revoke by merchant: every live key of that merchant, no other.
    let a3 = store.create(&alice).await.unwrap();
    let a3_text = a3.api_key.expose_secret().to_owned();
    assert_eq!(
        store
            .revoke(&Revoke::Merchant(alice.clone()))
            .await
            .unwrap(),
        2
    );
    for text in [&a1_text, &a2_text, &a3_text] {
        assert_eq!(resolve(text).await, None);
    }
    assert_eq!(resolve(&b1_text).await, owner(&b1));
    assert_eq!(
        store
            .revoke(&Revoke::Merchant(alice.clone()))
            .await
            .unwrap(),
        0
    );
    let listed = store.list(&alice).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|k| k.revoked_at_ms.is_some()));

    // The merchant's own key, scoped.
    let bobs = Revoke::MerchantKey(bob.clone(), b1.key_id.clone());
    assert_eq!(store.revoke(&bobs).await.unwrap(), 1);
    assert_eq!(resolve(&b1_text).await, None);

    // Unknown key ids and merchants.
    assert_eq!(
        store.revoke(&Revoke::Key(KeyId::generate())).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .revoke(&Revoke::Merchant(new_merchant()))
            .await
            .unwrap(),
        0
    );

    // The database itself refuses a second row with a stored hash.
    let duplicate = KeyRecord {
        key_id: KeyId::generate(),
        merchant_id: bob.clone(),
        key_hash: a2.api_key.hash(),
        created_at_ms: 1,
    };
    assert!(store.insert(&duplicate).await.is_err());

    // Keys are distinct across many creations.
    let carol = new_merchant();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let created = store.create(&carol).await.unwrap();
        assert_eq!(created.api_key.expose_secret().len(), MerchantApiKey::LEN);
        assert!(seen.insert(created.api_key.expose_secret().to_owned()));
    }
    assert_eq!(store.list(&carol).await.unwrap().len(), 50);
    assert_eq!(store.revoke(&Revoke::Merchant(carol)).await.unwrap(), 50);

    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_merchant_key_store_meets_the_contract() {
    let run = run_id();
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-auth-test-{run}")));
    let url = format!("sqlite://{}", dir.0.join("auth.db").display());
    let store = SqliteMerchantKeyStore::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    merchant_key_store_contract(&store).await;

    // The service's wiring: on the user store's pool, same database.
    let users = SqliteUserStore::connect(&url).await.unwrap();
    let shared = SqliteMerchantKeyStore::sharing(&users);
    merchant_key_store_contract(&shared).await;

    // The CLI's entry point sees what the service's store wrote, and back.
    let cli = crate::merchant_keys(&DatabaseUrl::Sqlite(url))
        .await
        .unwrap();
    assert_eq!(cli.backend(), "sqlite");
    let merchant = new_merchant();
    let by_service = shared.create(&merchant).await.unwrap();
    let by_cli = cli.create(&merchant).await.unwrap();
    assert_eq!(
        cli.resolve(&by_service.api_key).await.unwrap(),
        owner(&by_service)
    );
    assert_eq!(
        shared.resolve(&by_cli.api_key).await.unwrap(),
        owner(&by_cli)
    );
}

#[tokio::test]
async fn mysql_merchant_key_store_meets_the_contract() {
    let Some(url) = env_url("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    let options = mysql_test_options(&url).await;
    let store = MySqlMerchantKeyStore::connect_with(options.clone())
        .await
        .unwrap();
    assert_eq!(store.backend(), "mysql");
    merchant_key_store_contract(&store).await;

    let users = MySqlUserStore::connect_with(options).await.unwrap();
    let shared = MySqlMerchantKeyStore::sharing(&users);
    merchant_key_store_contract(&shared).await;
}

// ------------------------------------------------------ unreachable backends

const PASSWORD: &str = "pw-must-not-leak";

fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    expected: &str,
) {
    let err = match result {
        Err(_) => panic!("{expected}: still waiting after {PATIENCE:?}"),
        Ok(Ok(store)) => panic!("{expected}: connected to nothing: {store:?}"),
        Ok(Err(err)) => err,
    };
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    match err {
        StoreError::Unavailable { backend, .. } => assert_eq!(backend, expected),
        other => panic!("{expected}: {other}"),
    }
}

#[tokio::test]
async fn unreachable_mysql_is_unavailable() {
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        closed_port()
    );
    let result = tokio::time::timeout(PATIENCE, MySqlUserStore::connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn silent_mysql_is_unavailable_not_a_hang() {
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        silent_port().await
    );
    let result = tokio::time::timeout(PATIENCE, MySqlUserStore::connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn unreachable_redis_is_unavailable() {
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/", closed_port());
    let result = tokio::time::timeout(PATIENCE, RedisSessionStore::connect(&url)).await;
    assert_unavailable(result, "redis");
}

#[tokio::test]
async fn silent_redis_is_unavailable_not_a_hang() {
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/", silent_port().await);
    let result = tokio::time::timeout(PATIENCE, RedisSessionStore::connect(&url)).await;
    assert_unavailable(result, "redis");
}

#[tokio::test]
async fn sqlite_under_a_file_is_unavailable() {
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-auth-test-{}", run_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let url = format!("sqlite://{}", file.join("auth.db").display());
    let result = tokio::time::timeout(PATIENCE, SqliteUserStore::connect(&url)).await;
    assert_unavailable(result, "sqlite");
}

#[tokio::test]
async fn unreachable_mysql_merchant_keys_are_unavailable() {
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        closed_port()
    );
    let url = DatabaseUrl::parse(&url).unwrap();
    let result = tokio::time::timeout(PATIENCE, crate::merchant_keys(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn sqlite_merchant_keys_under_a_file_are_unavailable() {
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-auth-test-{}", run_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let url = format!("sqlite://{}", file.join("auth.db").display());
    let result =
        tokio::time::timeout(PATIENCE, crate::merchant_keys(&DatabaseUrl::Sqlite(url))).await;
    assert_unavailable(result, "sqlite");
}
