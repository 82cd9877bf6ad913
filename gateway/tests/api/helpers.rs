//! Scripted fakes of AuthService, PaymentService and LedgerService, the
//! gateway in front of them, and a client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::AmountFen;
use common::status::{Reason, with_reason};
use gateway::GatewayConfig;
use ipnet::IpNet;
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::auth::v1::auth_service_server::{AuthService, AuthServiceServer};
use proto::auth::v1::merchant_key_service_client::MerchantKeyServiceClient;
use proto::auth::v1::merchant_key_service_server::MerchantKeyServiceServer;
use proto::auth::v1::{
    DecryptUserDataRequest, DecryptUserDataResponse, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, ReadinessRequest, ReadinessResponse, ResolveTokenRequest, ResolveTokenResponse,
    User,
};
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::ledger::v1::withdrawal_service_server::WithdrawalServiceServer;
use proto::payment::v1::payment_service_client::PaymentServiceClient;
use proto::payment::v1::payment_service_server::PaymentServiceServer;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

pub use crate::services::{
    FakeLedger, FakeMerchantKeys, FakePayment, FakeWithdrawals, LedgerCall, PaymentCall,
    PaymentMetrics,
};

pub const GOOD_TOKEN: &str = "tok-good";
pub const GOOD_OPENID: &str = "o-openid-1";
/// Another user's token, resolving to [`OTHER_OPENID`].
pub const OTHER_TOKEN: &str = "tok-other";
pub const OTHER_OPENID: &str = "o-openid-2";
pub const USED_CODE_MESSAGE: &str = "WeChat jscode2session: errcode 40163: code been used";

/// One call a fake received, with the metadata the gateway sent.
#[derive(Debug, Clone)]
pub struct Seen<C = Call> {
    pub call: C,
    pub request_id: Option<String>,
    pub grpc_timeout: Option<String>,
}

/// The calls a fake received, in order.
#[derive(Debug)]
pub struct Recorder<C>(Arc<Mutex<Vec<Seen<C>>>>);

impl<C> Clone for Recorder<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> Default for Recorder<C> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<C: Clone> Recorder<C> {
    pub fn record<T>(&self, request: &Request<T>, call: C) {
        let get = |key: &str| {
            request
                .metadata()
                .get(key)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.0.lock().unwrap().push(Seen {
            call,
            request_id: get("x-request-id"),
            grpc_timeout: get("grpc-timeout"),
        });
    }

    pub fn seen(&self) -> Vec<Seen<C>> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Login(LoginRequest),
    Decrypt(DecryptUserDataRequest),
    Logout(LogoutRequest),
    Resolve(ResolveTokenRequest),
    Readiness,
}

/// What Readiness answers.
#[derive(Debug, Clone)]
pub enum Readiness {
    Deps(HashMap<String, String>),
    Fail(Code, String),
    Hang,
}

impl Readiness {
    /// Every store of `stores` answers.
    pub fn ok(stores: &[&str]) -> Self {
        Readiness::Deps(
            stores
                .iter()
                .map(|s| ((*s).to_owned(), "ok".to_owned()))
                .collect(),
        )
    }

    /// What a Readiness call answers under this script.
    pub async fn answer(self) -> Result<HashMap<String, String>, Status> {
        match self {
            Readiness::Deps(dependencies) => Ok(dependencies),
            Readiness::Fail(code, message) => Err(Status::new(code, message)),
            Readiness::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(Status::internal("too late"))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct FakeAuth {
    seen: Recorder<Call>,
    readiness: Arc<Mutex<Readiness>>,
}

impl FakeAuth {
    fn new() -> Self {
        Self {
            seen: Recorder::default(),
            readiness: Arc::new(Mutex::new(Readiness::ok(&[
                "sessions:redis",
                "users:sqlite",
            ]))),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.seen()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the fake saw no call")
    }

    /// How many ResolveToken calls it answered.
    pub fn resolves(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| matches!(s.call, Call::Resolve(_)))
            .count()
    }

    pub fn set_readiness(&self, readiness: Readiness) {
        *self.readiness.lock().unwrap() = readiness;
    }

    fn record<T>(&self, request: &Request<T>, call: Call) {
        self.seen.record(request, call);
    }
}

pub fn good_user() -> User {
    User {
        openid: "o-openid-1".into(),
        nick_name: "小明😀".into(),
        avatar_url: "https://thirdwx.qlogo.cn/x/132".into(),
        gender: 1,
        city: "Guangzhou".into(),
        province: "Guangdong".into(),
        country: "China".into(),
        language: "zh_CN".into(),
    }
}

fn token_error(message: &str) -> Status {
    with_reason(Status::unauthenticated(message), Reason::Token)
}

#[tonic::async_trait]
impl AuthService for FakeAuth {
    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        self.record(&request, Call::Login(request.get_ref().clone()));
        match request.get_ref().code.as_str() {
            "good" => Ok(Response::new(LoginResponse {
                token: GOOD_TOKEN.into(),
                expires_in: 7200,
            })),
            "used" => Err(with_reason(
                Status::failed_precondition(USED_CODE_MESSAGE),
                Reason::Wechat,
            )),
            "quota" => Err(with_reason(
                Status::unavailable(
                    "WeChat jscode2session: errcode 45011: api minute-quota reach limit",
                ),
                Reason::Wechat,
            )),
            "" => Err(Status::invalid_argument("code must not be empty")),
            "boom" => Err(Status::internal("redis password rejected")),
            "limited" => Err(Status::resource_exhausted("too many logins")),
            "missing" => Err(Status::not_found("no such thing")),
            "conflict" => Err(Status::already_exists("already there")),
            "aborted" => Err(Status::aborted("lost a race")),
            "anon" => Err(Status::unauthenticated("who are you")),
            "down" => Err(Status::unavailable("sessions:redis unavailable")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(Status::internal("too late"))
            }
            _ => Err(Status::invalid_argument("code is not a wx.login code")),
        }
    }

    async fn resolve_token(
        &self,
        request: Request<ResolveTokenRequest>,
    ) -> Result<Response<ResolveTokenResponse>, Status> {
        self.record(&request, Call::Resolve(request.get_ref().clone()));
        let openid = match request.get_ref().token.as_str() {
            GOOD_TOKEN => GOOD_OPENID,
            OTHER_TOKEN => OTHER_OPENID,
            "tok-down" => return Err(Status::unavailable("sessions:redis unavailable")),
            _ => return Err(token_error("token unknown or expired")),
        };
        Ok(Response::new(ResolveTokenResponse {
            openid: openid.into(),
        }))
    }

    async fn decrypt_user_data(
        &self,
        request: Request<DecryptUserDataRequest>,
    ) -> Result<Response<DecryptUserDataResponse>, Status> {
        self.record(&request, Call::Decrypt(request.get_ref().clone()));
        let r = request.get_ref();
        if r.iv == "bad-iv" {
            return Err(Status::invalid_argument("iv is not valid base64"));
        }
        match r.token.as_str() {
            GOOD_TOKEN => Ok(Response::new(DecryptUserDataResponse {
                user: Some(good_user()),
            })),
            "tok-stale" => Err(with_reason(
                Status::invalid_argument("encryptedData does not decrypt: bad padding"),
                Reason::SessionKey,
            )),
            "tok-nouser" => Ok(Response::new(DecryptUserDataResponse { user: None })),
            _ => Err(token_error("token unknown or expired")),
        }
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        self.record(&request, Call::Logout(request.get_ref().clone()));
        if request.get_ref().token == GOOD_TOKEN {
            Ok(Response::new(LogoutResponse {}))
        } else {
            Err(token_error("token unknown or expired"))
        }
    }

    async fn readiness(
        &self,
        request: Request<ReadinessRequest>,
    ) -> Result<Response<ReadinessResponse>, Status> {
        self.record(&request, Call::Readiness);
        let readiness = self.readiness.lock().unwrap().clone();
        let dependencies = readiness.answer().await?;
        Ok(Response::new(ReadinessResponse { dependencies }))
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The fake AuthService.
    pub fake: FakeAuth,
    pub payment: FakePayment,
    pub ledger: FakeLedger,
    /// The fake WithdrawalService (ledger-service's).
    pub withdrawals: FakeWithdrawals,
    /// The fake MerchantKeyService (auth-service's).
    pub merchant_keys: FakeMerchantKeys,
    pub shutdown: CancellationToken,
    pub gateway: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct Options {
    /// Start the fake AuthService (otherwise its address refuses connections).
    pub auth_up: bool,
    pub payment_up: bool,
    pub ledger_up: bool,
    pub deadline: Duration,
    /// The JSON body limit (`GatewayConfig::body_limit`).
    pub body_limit: usize,
    pub max_order_fen: i64,
    pub trusted_proxies: Vec<IpNet>,
}

/// The platform's default `MINIPAY_MAX_ORDER_FEN`.
pub const MAX_ORDER_FEN: i64 = 100_000_000;

impl Default for Options {
    fn default() -> Self {
        Self {
            auth_up: true,
            payment_up: true,
            ledger_up: true,
            deadline: Duration::from_secs(2),
            body_limit: gateway::config::DEFAULT_BODY_LIMIT,
            max_order_fen: MAX_ORDER_FEN,
            trusted_proxies: Vec::new(),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_auth_down() -> TestApp {
    spawn_app_with(Options {
        auth_up: false,
        ..Options::default()
    })
    .await
}

/// Serves `$service` on a fresh loopback port when `$up`; otherwise the port
/// is closed again, so connections to it are refused. Yields a lazy channel.
macro_rules! fake_server {
    ($up:expr, $service:expr, $shutdown:expr) => {{
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        if $up {
            let server = tonic::transport::Server::builder()
                .add_service($service)
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener),
                    $shutdown.clone().cancelled_owned(),
                );
            tokio::spawn(server);
        } else {
            drop(listener);
        }
        Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy()
    }};
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let shutdown = CancellationToken::new();
    let fake = FakeAuth::new();
    let payment = FakePayment::default();
    let ledger = FakeLedger::default();
    let withdrawals = FakeWithdrawals::default();
    let merchant_keys = FakeMerchantKeys::default();

    let auth_channel = fake_server!(
        options.auth_up,
        AuthServiceServer::new(fake.clone()),
        shutdown
    );
    let payment_channel = fake_server!(
        options.payment_up,
        PaymentServiceServer::new(payment.clone()),
        shutdown
    );
    let ledger_channel = fake_server!(
        options.ledger_up,
        LedgerServiceServer::new(ledger.clone()),
        shutdown
    );
    // Like the real services, WithdrawalService shares ledger-service's
    // liveness and MerchantKeyService auth-service's.
    let withdrawals_channel = fake_server!(
        options.ledger_up,
        WithdrawalServiceServer::new(withdrawals.clone()),
        shutdown
    );
    let merchant_keys_channel = fake_server!(
        options.auth_up,
        MerchantKeyServiceServer::new(merchant_keys.clone()),
        shutdown
    );
    let cfg = GatewayConfig {
        deadline: options.deadline,
        body_limit: options.body_limit,
        trusted_proxies: options.trusted_proxies,
        ..GatewayConfig::new(
            AuthServiceClient::new(auth_channel),
            PaymentServiceClient::new(payment_channel),
            LedgerServiceClient::new(ledger_channel),
            WithdrawalServiceClient::new(withdrawals_channel),
            MerchantKeyServiceClient::new(merchant_keys_channel),
            AmountFen::positive(options.max_order_fen).unwrap(),
        )
    };

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = tokio::spawn(gateway::serve(cfg, listener, shutdown.clone()));

    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        fake,
        payment,
        ledger,
        withdrawals,
        merchant_keys,
        shutdown,
        gateway: Some(gateway),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A notification as WeChat sends it.
    pub async fn post_xml(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// HTTP status, then the envelope; checks it has exactly code, msg and data.
pub async fn envelope(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    assert!(
        response.headers().contains_key("x-request-id"),
        "no x-request-id on {status}"
    );
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{body}");
    assert!(body["code"].is_u64(), "{body}");
    assert!(body["msg"].is_string(), "{body}");
    (status, body)
}

/// Success: HTTP 200, code 0, msg "ok"; returns `data`.
pub async fn ok_data(response: reqwest::Response) -> Value {
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["code"], 0, "{body}");
    assert_eq!(body["msg"], "ok", "{body}");
    body["data"].clone()
}

/// An error: the HTTP status, the code, `data` null, and `msg` containing
/// each of `needles`. Returns `msg`.
pub async fn assert_error(
    response: reqwest::Response,
    http: u16,
    code: u64,
    needles: &[&str],
) -> String {
    let (status, body) = envelope(response).await;
    assert_eq!(status.as_u16(), http, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["data"].is_null(), "{body}");
    let msg = body["msg"].as_str().unwrap().to_owned();
    for needle in needles {
        assert!(msg.contains(needle), "msg {msg:?} lacks {needle:?}");
    }
    msg
}
