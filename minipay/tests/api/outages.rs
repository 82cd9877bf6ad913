//! A backend that stops answering: the platform says which one, quickly,
//! with code 503 — and /readyz names it. The outage is a TCP proxy in front
//! of the real server that the test switches off.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::spawn;

pub struct Proxy {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let accept_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(_) => return,
                    },
                    _ = accept_stop.cancelled() => return,
                };
                let conn_stop = accept_stop.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = conn_stop.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, stop }
    }

    /// The backend goes away: open connections drop, new ones are refused.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

fn host_port(url: &str) -> SocketAddr {
    let url = reqwest::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port_or_known_default().unwrap_or(3306))
        .parse()
        .unwrap()
}

fn with_addr(url: &str, addr: SocketAddr) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_ip_host(addr.ip()).unwrap();
    url.set_port(Some(addr.port())).unwrap();
    url.to_string()
}

/// A database of its own on the test MariaDB, so that its migrations meet
/// no other service's.
pub async fn database(url: &str, name: &str) -> String {
    let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
    // `name` is one of this file's constants, never input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn env_or_skip(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "CI must set {name}");
            eprintln!("skipped: {name} not set");
            None
        }
    }
}

#[tokio::test]
async fn redis_going_away_is_503_naming_redis() {
    let Some(redis) = env_or_skip("MINIPAY_TEST_REDIS_URL") else {
        return;
    };
    let proxy = Proxy::start(host_port(&redis)).await;
    let url = with_addr(&redis, proxy.addr);
    let stack = spawn(&[("MINIPAY_REDIS_URL", url.as_str())]).await;
    let (token, _) = stack.login().await;

    proxy.stop();
    let started = Instant::now();
    let (code, _) = stack.code(None).await;
    let reply = stack.post("/login/", json!({"code": code}), None).await;
    reply.assert_error(503, 503);
    assert!(reply.msg().contains("redis"), "{}", reply.body);
    let reply = stack.post("/logout/", json!({}), Some(&token)).await;
    reply.assert_error(503, 503);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_ne!(ready.data()["auth.sessions:redis"], "ok", "{}", ready.body);
    assert_eq!(ready.data()["auth.users:sqlite"], "ok", "{}", ready.body);
}

#[tokio::test]
async fn mariadb_going_away_is_503_naming_mysql() {
    let Some(mysql) = env_or_skip("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    let mysql = database(&mysql, "minipay_auth_e2e").await;
    let proxy = Proxy::start(host_port(&mysql)).await;
    let url = with_addr(&mysql, proxy.addr);
    let stack = spawn(&[("MINIPAY_AUTH_DATABASE_URL", url.as_str())]).await;
    let (token, openid) = stack.login().await;
    let info = stack.user_info(&openid, json!({"nickName": "x"})).await;

    proxy.stop();
    let started = Instant::now();
    let body = json!({
        "iv": info["iv"], "encryptedData": info["encryptedData"],
        "rawData": info["rawData"], "signature": info["signature"],
    });
    let reply = stack.post("/getinfo/", body, Some(&token)).await;
    reply.assert_error(503, 503);
    assert!(reply.msg().contains("mysql"), "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_ne!(ready.data()["auth.users:mysql"], "ok", "{}", ready.body);
}
