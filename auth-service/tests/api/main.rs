//! auth-service over gRPC, with the sandbox as WeChat: what the gateway
//! relies on (status codes and reasons, renewal, readiness, health).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use auth_service::AuthConfig;
use common::config::DatabaseUrl;
use common::status::{Reason, reason};
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::auth::v1::{LoginRequest, LogoutRequest, ReadinessRequest, ResolveTokenRequest};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use wechat::client::parse_base_url;
use wechat::{SignType, WechatConfig};
use wechat_sandbox::SandboxConfig;

struct App {
    client: AuthServiceClient<Channel>,
    channel: Channel,
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
        database_url: DatabaseUrl::Sqlite(format!("sqlite://{}", db.display())),
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
        channel,
        sandbox,
        shutdown,
    }
}

impl App {
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
