use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{AmountFen, OutTradeNo};
use reqwest::Url;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wechat::client::{NewOrder, parse_base_url};
use wechat::messages::NotifyReply;
use wechat::{FieldMap, SignType, WechatClient, WechatConfig};
use wechat_sandbox::SandboxConfig;

pub struct TestSandbox {
    pub base: String,
    pub cfg: SandboxConfig,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_sandbox() -> TestSandbox {
    spawn_sandbox_with(|_| {}).await
}

pub async fn spawn_sandbox_with(adjust: impl FnOnce(&mut SandboxConfig)) -> TestSandbox {
    let mut cfg = SandboxConfig::defaults();
    // WeChat's 24-hour schedule, in about 24 seconds.
    cfg.time_scale = 0.001;
    cfg.notify_timeout = Duration::from_secs(2);
    adjust(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(wechat_sandbox::serve(
        cfg.clone(),
        listener,
        shutdown.clone(),
    ));
    TestSandbox {
        base,
        cfg,
        http: reqwest::Client::new(),
        shutdown,
    }
}

impl TestSandbox {
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    /// A platform-side client configured as the platform would be.
    pub fn client(&self, sign_type: SignType) -> WechatClient {
        self.client_with(sign_type, Duration::from_secs(5), |_| {})
    }

    pub fn client_with(
        &self,
        sign_type: SignType,
        timeout: Duration,
        adjust: impl FnOnce(&mut WechatConfig),
    ) -> WechatClient {
        let mut cfg = WechatConfig {
            appid: self.cfg.appid.clone(),
            app_secret: self.cfg.app_secret.clone(),
            mch_id: self.cfg.mch_id.clone(),
            api_key: self.cfg.api_key.clone(),
            sign_type,
            api_base: parse_base_url(&self.base).unwrap(),
            pay_base: parse_base_url(&self.base).unwrap(),
            timeout,
            client_identity: None,
        };
        adjust(&mut cfg);
        WechatClient::new(cfg).unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.delete(self.url(path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// `wx.login` on the user's phone: a fresh code (a new user without openid).
    pub async fn login_code(&self, openid: Option<&str>) -> (String, String) {
        let body = match openid {
            Some(openid) => json!({"openid": openid}),
            None => json!({}),
        };
        let (status, reply) = self.post("/sandbox/login", body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        (
            reply["code"].as_str().unwrap().to_owned(),
            reply["openid"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn set_faults(&self, faults: Value) {
        let (status, reply) = self.post("/sandbox/faults", faults).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }

    pub async fn advance_clock(&self, secs: u64) {
        let (status, reply) = self
            .post("/sandbox/clock", json!({"advance_secs": secs}))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }

    /// The user confirms payment on the phone.
    pub async fn pay(&self, out_trade_no: &OutTradeNo) -> Value {
        let (status, reply) = self
            .post(
                "/sandbox/pay",
                json!({"out_trade_no": out_trade_no.as_str()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply
    }

    /// Posts raw bytes to a WeChat endpoint and reads the XML reply.
    pub async fn raw(&self, path: &str, body: impl Into<reqwest::Body>) -> FieldMap {
        let response = self
            .http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        FieldMap::from_xml(&response.bytes().await.unwrap()).unwrap()
    }

    pub async fn attempts(&self, out_trade_no: &OutTradeNo) -> Vec<Value> {
        let (_, reply) = self
            .get(&format!(
                "/sandbox/notifications?out_trade_no={out_trade_no}"
            ))
            .await;
        reply["attempts"].as_array().unwrap().clone()
    }
}

pub fn order(no: &str, fee: i64, notify_url: &str) -> NewOrder {
    NewOrder {
        out_trade_no: OutTradeNo::parse(no).unwrap(),
        total_fee: AmountFen::positive(fee).unwrap(),
        body: "minipay sandbox test".into(),
        openid: "oSandboxPayer000000000000001".into(),
        spbill_create_ip: "127.0.0.1".parse().unwrap(),
        notify_url: notify_url.into(),
        attach: None,
        time_expire: None,
    }
}

/// A merchant's notify_url: records every delivery and answers FAIL to the
/// first `fail_first`, SUCCESS after.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

struct ReceiverState {
    received: Vec<(Instant, FieldMap)>,
    fail_first: usize,
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, body: Bytes) -> Response {
    let fields = FieldMap::from_xml(&body).unwrap();
    let mut state = state.lock().unwrap();
    state.received.push((Instant::now(), fields));
    let reply = if state.received.len() <= state.fail_first {
        NotifyReply::Fail("not yet".into())
    } else {
        NotifyReply::Success
    };
    let status = if reply == NotifyReply::Success {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, reply.to_xml().unwrap()).into_response()
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            received: Vec::new(),
            fail_first,
        }));
        let router = Router::new()
            .route("/wechat/notify/pay", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/wechat/notify/pay",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { url, state }
    }

    pub fn received(&self) -> Vec<(Instant, FieldMap)> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (at most `limit`) until `n` deliveries have arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<(Instant, FieldMap)> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
