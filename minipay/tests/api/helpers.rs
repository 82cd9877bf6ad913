use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct TestStack {
    pub config: common::config::Config,
    pub base: String,
    pub sandbox: String,
    pub default_merchant: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:x}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Starts the whole stack on port 0 with an SQLite file of its own and the
/// in-process session store, plus `env` on top.
pub async fn spawn(env: &[(&str, &str)]) -> TestStack {
    let dir = std::env::temp_dir().join(unique("minipay_stack"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut vars: HashMap<String, String> = [
        ("MINIPAY_GATEWAY_ADDR", "127.0.0.1:0"),
        ("MINIPAY_AUTH_ADDR", "127.0.0.1:0"),
        ("MINIPAY_PAYMENT_ADDR", "127.0.0.1:0"),
        ("MINIPAY_LEDGER_ADDR", "127.0.0.1:0"),
        ("MINIPAY_SANDBOX_ADDR", "127.0.0.1:0"),
        ("MINIPAY_SANDBOX_TIME_SCALE", "0.001"),
        ("MINIPAY_GRPC_DEADLINE_MS", "5000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for service in ["auth", "payment", "ledger"] {
        vars.insert(
            format!("MINIPAY_{}_DATABASE_URL", service.to_uppercase()),
            format!("sqlite://{}/{service}.db", dir.display()),
        );
    }
    vars.insert("MINIPAY_DATA_DIR".into(), dir.display().to_string());
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    let lookup = move |name: &str| vars.get(name).cloned();
    let config = common::config::Config::from_lookup(&lookup).unwrap();
    let shutdown = CancellationToken::new();
    let stack = minipay::launch(&config, &lookup, shutdown.clone())
        .await
        .unwrap();
    let addresses = stack.addresses.clone();
    tokio::spawn(stack.run_until_exit(shutdown.clone()));
    let test = TestStack {
        config: config.clone(),
        base: format!("http://{}", addresses.gateway),
        sandbox: format!("http://{}", addresses.sandbox.unwrap()),
        default_merchant: addresses.default_merchant.clone(),
        http: reqwest::Client::new(),
        shutdown,
    };
    test.wait_ready().await;
    test
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> i64 {
        self.body["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no code: {}", self.body))
    }

    pub fn msg(&self) -> &str {
        self.body["msg"].as_str().unwrap()
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// An error envelope: the code, its HTTP status, and no data.
    pub fn assert_error(&self, code: i64, status: u16) {
        assert_eq!(self.code(), code, "{}", self.body);
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert!(self.data().is_null(), "errors carry no data: {}", self.body);
    }
}

impl TestStack {
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self.get("/readyz", None).await;
            if ready.status == StatusCode::OK {
                return;
            }
            assert!(Instant::now() < deadline, "never ready: {}", ready.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> Reply {
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
            .await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn sandbox(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "sandbox {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn sandbox_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// wx.login on the phone: a fresh code for `openid` (a new user if None).
    pub async fn code(&self, openid: Option<&str>) -> (String, String) {
        let body = match openid {
            Some(openid) => json!({"openid": openid}),
            None => json!({}),
        };
        let reply = self.sandbox("/sandbox/login", body).await;
        (
            reply["code"].as_str().unwrap().to_owned(),
            reply["openid"].as_str().unwrap().to_owned(),
        )
    }

    /// A logged-in user: (token, openid).
    pub async fn login(&self) -> (String, String) {
        let (code, openid) = self.code(None).await;
        let reply = self.post("/login/", json!({"code": code}), None).await;
        assert_eq!(reply.code(), 0, "{}", reply.body);
        (reply.data()["token"].as_str().unwrap().to_owned(), openid)
    }

    /// wx.getUserInfo on the phone.
    pub async fn user_info(&self, openid: &str, user: Value) -> Value {
        self.sandbox("/sandbox/userinfo", json!({"openid": openid, "user": user}))
            .await
    }

    pub async fn faults(&self, faults: Value) {
        self.sandbox("/sandbox/faults", faults).await;
    }
}
