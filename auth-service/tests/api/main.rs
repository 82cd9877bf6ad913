//! auth-service over gRPC, with the sandbox as WeChat: what the gateway
//! relies on (status codes and reasons, renewal, readiness, health, merchant
//! keys).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use auth_service::{AuthConfig, MERCHANT_KEY_REASON, MerchantApiKey, MerchantId};
use common::config::DatabaseUrl;
use common::status::{REASON_KEY, Reason, reason};
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::auth::v1::merchant_key_service_client::MerchantKeyServiceClient;
use proto::auth::v1::{
    CreateMerchantKeyRequest, CreateMerchantKeyResponse, ListMerchantKeysRequest, LoginRequest,
    LogoutRequest, ReadinessRequest, ResolveMerchantKeyRequest, ResolveTokenRequest,
    RevokeMerchantKeyRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::Status;
use tonic::transport::Channel;
use wechat::client::parse_base_url;
use wechat::{SignType, WechatConfig};
use wechat_sandbox::SandboxConfig;

struct App {
    client: AuthServiceClient<Channel>,
    keys: MerchantKeyServiceClient<Channel>,
    channel: Channel,
    db: PathBuf,
    sandbox: String,
    shutdown: CancellationToken,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn spawn_app() -> App {
    let shutdown = CancellationToken::new();
    let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = format!("http://{}", sandbox_listener.local_addr().unwrap());
    let sandbox_cfg = SandboxConfig::defaults();
    let wechat = WechatConfig {
        appid: sandbox_cfg.appid.clone(),
        app_secret: sandbox_cfg.app_secret.clone(),
        mch_id: sandbox_cfg.mch_id.clone(),
        api_key: sandbox_cfg.api_key.clone(),
        sign_type: SignType::Md5,
        api_base: parse_base_url(&sandbox).unwrap(),
        pay_base: parse_base_url(&sandbox).unwrap(),
        timeout: Duration::from_secs(5),
        client_identity: None,
    };
    tokio::spawn(wechat_sandbox::serve(
        sandbox_cfg,
        sandbox_listener,
        shutdown.clone(),
    ));

    let db = std::env::temp_dir().join(format!(
        "auth_api_{}_{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let cfg = AuthConfig {
        wechat,
        database_url: App::database_url(&db),
        redis_url: None,
        session_ttl: Duration::from_secs(60),
        watermark_max_age: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(auth_service::serve(cfg, listener, shutdown.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    App {
        client: AuthServiceClient::new(channel.clone()),
        keys: MerchantKeyServiceClient::new(channel.clone()),
        channel,
        db,
        sandbox,
        shutdown,
    }
}

impl App {
    fn database_url(db: &std::path::Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(format!("sqlite://{}", db.display()))
    }

    async fn create_key(&mut self, merchant_id: &str) -> CreateMerchantKeyResponse {
        self.keys
            .create_merchant_key(CreateMerchantKeyRequest {
                merchant_id: merchant_id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn resolve_key(
        &mut self,
        api_key: &str,
    ) -> Result<proto::auth::v1::ResolveMerchantKeyResponse, Status> {
        self.keys
            .resolve_merchant_key(ResolveMerchantKeyRequest {
                api_key: api_key.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn revoke_keys(&mut self, key_id: &str, merchant_id: &str) -> Result<i64, Status> {
        self.keys
            .revoke_merchant_key(RevokeMerchantKeyRequest {
                key_id: key_id.to_owned(),
                merchant_id: merchant_id.to_owned(),
            })
            .await
            .map(|r| r.into_inner().revoked)
    }

    async fn code(&self) -> String {
        let reply: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/sandbox/login", self.sandbox))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["code"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn login_resolve_logout_with_reasons_for_the_gateway() {
    let mut app = spawn_app().await;
    let code = app.code().await;
    let login = app
        .client
        .login(LoginRequest { code: code.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(login.expires_in, 60);
    assert_eq!(login.token.len(), 43, "256 bits, base64url");

    let who = app
        .client
        .resolve_token(ResolveTokenRequest {
            token: login.token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(who.openid.starts_with('o'));

    let reused = app.client.login(LoginRequest { code }).await.unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&reused), Some(Reason::Wechat));
    assert!(reused.message().contains("40163"), "{}", reused.message());

    let empty = app
        .client
        .login(LoginRequest {
            code: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().contains("code"));

    app.client
        .logout(LogoutRequest {
            token: login.token.clone(),
        })
        .await
        .unwrap();
    let gone = app
        .client
        .resolve_token(ResolveTokenRequest { token: login.token })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);
    assert_eq!(reason(&gone), Some(Reason::Token));
}

#[tokio::test]
async fn readiness_health_and_reflection() {
    let mut app = spawn_app().await;
    let ready = app
        .client
        .readiness(ReadinessRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ready
            .dependencies
            .get("sessions:memory")
            .map(String::as_str),
        Some("ok")
    );
    assert_eq!(
        ready.dependencies.get("users:sqlite").map(String::as_str),
        Some("ok")
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "minipay.auth.v1.AuthService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    assert!(
        proto::FILE_DESCRIPTOR_SET.len() > 100,
        "the descriptor set for reflection is built in"
    );
}

// ----------------------------------------------------------- merchant keys

const MERCHANT: &str = "M0123456789ABCDEFGHIJ";
const OTHER_MERCHANT: &str = "MZYXWVUTSRQPONMLKJIH9";

/// What the gateway maps to envelope code 8.
fn assert_merchant_key_refused(status: &Status, api_key: &str) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get(REASON_KEY)
            .and_then(|v| v.to_str().ok()),
        Some(MERCHANT_KEY_REASON)
    );
    assert_eq!(MERCHANT_KEY_REASON, "merchant-key");
    assert!(status.message().contains("merchant API key"), "{status:?}");
    if !api_key.is_empty() {
        assert!(!status.message().contains(api_key), "{status:?}");
    }
}

fn assert_invalid(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(field), "{status:?}");
}

#[tokio::test]
async fn create_resolve_list_revoke_a_merchant_key() {
    let mut app = spawn_app().await;
    let created = app.create_key(MERCHANT).await;
    assert!(created.api_key.starts_with("mk_"), "mk_ + base64url");
    assert_eq!(created.api_key.len(), 46, "256 bits, base64url");
    assert!(created.key_id.starts_with('K'));
    assert_eq!(created.key_id.len(), 21);
    assert!(created.created_at_ms > 1_600_000_000_000);

    let owner = app.resolve_key(&created.api_key).await.unwrap();
    assert_eq!(owner.merchant_id, MERCHANT);
    assert_eq!(owner.key_id, created.key_id);

    let listed = app
        .keys
        .list_merchant_keys(ListMerchantKeysRequest {
            merchant_id: MERCHANT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].key_id, created.key_id);
    assert_eq!(listed.keys[0].created_at_ms, created.created_at_ms);
    assert_eq!(listed.keys[0].revoked_at_ms, None);
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&created.api_key[3..]), "{shown}");
    let hash = MerchantApiKey::presented(created.api_key.clone()).hash();
    assert!(!shown.contains(hash.as_str()), "{shown}");

    assert_eq!(app.revoke_keys(&created.key_id, "").await.unwrap(), 1);
    let refused = app.resolve_key(&created.api_key).await.unwrap_err();
    assert_merchant_key_refused(&refused, &created.api_key);
    assert_eq!(app.revoke_keys(&created.key_id, "").await.unwrap(), 0);

    let listed = app
        .keys
        .list_merchant_keys(ListMerchantKeysRequest {
            merchant_id: MERCHANT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.keys[0]
            .revoked_at_ms
            .is_some_and(|at| at >= created.created_at_ms)
    );
}

#[tokio::test]
async fn revoking_by_merchant_or_scoped_key() {
    let mut app = spawn_app().await;
    let a1 = app.create_key(MERCHANT).await;
    let a2 = app.create_key(MERCHANT).await;
    let b1 = app.create_key(OTHER_MERCHANT).await;
    assert_ne!(a1.api_key, a2.api_key);
    assert_ne!(a1.key_id, a2.key_id);
    for key in [&a1, &a2, &b1] {
        app.resolve_key(&key.api_key).await.unwrap();
    }

    // Another merchant's key, named with this merchant: nothing happens.
    assert_eq!(app.revoke_keys(&b1.key_id, MERCHANT).await.unwrap(), 0);
    app.resolve_key(&b1.api_key).await.unwrap();

    // Every key of the merchant, only its.
    assert_eq!(app.revoke_keys("", MERCHANT).await.unwrap(), 2);
    for key in [&a1, &a2] {
        let refused = app.resolve_key(&key.api_key).await.unwrap_err();
        assert_merchant_key_refused(&refused, &key.api_key);
    }
    app.resolve_key(&b1.api_key).await.unwrap();
    assert_eq!(app.revoke_keys("", MERCHANT).await.unwrap(), 0);

    // The merchant's own key, scoped.
    assert_eq!(
        app.revoke_keys(&b1.key_id, OTHER_MERCHANT).await.unwrap(),
        1
    );
    let refused = app.resolve_key(&b1.api_key).await.unwrap_err();
    assert_merchant_key_refused(&refused, &b1.api_key);
}

#[tokio::test]
async fn merchant_key_errors_name_the_field_or_the_reason() {
    let mut app = spawn_app().await;

    for bad in [
        "",
        "m0123456789ABCDEFGHIJ",
        "M0123",
        "M0123456789abcdefghij",
    ] {
        let err = app
            .keys
            .create_merchant_key(CreateMerchantKeyRequest {
                merchant_id: bad.to_owned(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "merchant_id");
        let err = app
            .keys
            .list_merchant_keys(ListMerchantKeysRequest {
                merchant_id: bad.to_owned(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "merchant_id");
    }

    // Missing, malformed, unknown: all the same refusal.
    let never = MerchantApiKey::generate();
    for key in ["", "mk_", "not a key at all", never.expose_secret()] {
        let refused = app.resolve_key(key).await.unwrap_err();
        assert_merchant_key_refused(&refused, key);
    }

    let neither = app.revoke_keys("", "").await.unwrap_err();
    assert_invalid(&neither, "key_id or merchant_id");
    let bad_key_id = app.revoke_keys("K123", "").await.unwrap_err();
    assert_invalid(&bad_key_id, "key_id");
    let bad_merchant = app.revoke_keys("", "M123").await.unwrap_err();
    assert_invalid(&bad_merchant, "merchant_id");
    let unknown = app.revoke_keys("K0123456789ABCDEFGHIJ", "").await.unwrap();
    assert_eq!(unknown, 0);

    // A merchant with no keys lists none.
    let listed = app
        .keys
        .list_merchant_keys(ListMerchantKeysRequest {
            merchant_id: MERCHANT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.keys.is_empty());
}

#[tokio::test]
async fn a_key_the_cli_makes_while_the_service_runs_resolves_over_grpc() {
    let mut app = spawn_app().await;
    // The service has started (and migrated) before the CLI connects.
    app.create_key(OTHER_MERCHANT).await;

    let store = auth_service::merchant_keys(&App::database_url(&app.db))
        .await
        .unwrap();
    let merchant = MerchantId::parse(MERCHANT).unwrap();
    let created = store.create(&merchant).await.unwrap();
    let shown = format!("{created:?} {store:?}");
    assert!(!shown.contains(created.api_key.expose_secret()), "{shown}");

    let owner = app
        .resolve_key(created.api_key.expose_secret())
        .await
        .unwrap();
    assert_eq!(owner.merchant_id, MERCHANT);
    assert_eq!(owner.key_id, created.key_id.as_str());

    assert_eq!(app.revoke_keys("", MERCHANT).await.unwrap(), 1);
    assert_eq!(store.resolve(&created.api_key).await.unwrap(), None);
}

#[tokio::test]
async fn merchant_key_service_reports_serving() {
    let app = spawn_app().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "minipay.auth.v1.MerchantKeyService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
