//! `minipay demo`: the whole story against a running stack, step by step,
//! over the same HTTP a mini-program and the user's phone would use.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct Demo {
    http: reqwest::Client,
    base: String,
    sandbox: String,
}

impl Demo {
    pub fn new(base: &str, sandbox: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            sandbox: sandbox.trim_end_matches('/').to_owned(),
        })
    }

    async fn post(&self, url: String, body: Value, token: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self.http.post(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}: is the stack running?"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("POST {url}: not JSON ({status})"))?;
        Ok(body)
    }

    /// The gateway's envelope: the data on code 0, an error naming the step otherwise.
    fn data(step: &str, reply: Value) -> anyhow::Result<Value> {
        match reply["code"].as_i64() {
            Some(0) => Ok(reply["data"].clone()),
            _ => bail!("{step} failed: {reply}"),
        }
    }

    /// A new user on the sandbox, to receive a merchant's payouts.
    pub async fn sandbox_user(&self) -> anyhow::Result<String> {
        let login = self
            .post(format!("{}/sandbox/login", self.sandbox), json!({}), None)
            .await?;
        Ok(login["openid"]
            .as_str()
            .context("no openid from the sandbox")?
            .to_owned())
    }

    /// The story, paying `merchant` when given (`(merchant_id, api_key)`),
    /// which then withdraws and is paid out; the default merchant otherwise.
    pub async fn run(&self, money: i64, merchant: Option<(String, String)>) -> anyhow::Result<()> {
        println!("1. wx.login on the phone: the sandbox issues a login code");
        let login = self
            .post(format!("{}/sandbox/login", self.sandbox), json!({}), None)
            .await?;
        let code = login["code"].as_str().context("no code from the sandbox")?;
        let openid = login["openid"]
            .as_str()
            .context("no openid from the sandbox")?;
        println!("   code {code} for user {openid}");

        println!("2. POST /login/ with the code");
        let data = Self::data(
            "login",
            self.post(format!("{}/login/", self.base), json!({"code": code}), None)
                .await?,
        )?;
        let token = data["token"].as_str().context("no token")?.to_owned();
        println!("   token received, expires in {}s", data["expires_in"]);

        println!("3. wx.getUserInfo on the phone, then POST /getinfo/");
        let info = self
            .post(
                format!("{}/sandbox/userinfo", self.sandbox),
                json!({"openid": openid, "user": {"nickName": "小明 🐼", "gender": 1, "city": "Guangzhou"}}),
                None,
            )
            .await?;
        let data = Self::data(
            "getinfo",
            self.post(format!("{}/getinfo/", self.base), info, Some(&token))
                .await?,
        )?;
        println!("   user stored: {}", data["user"]);

        println!("4. POST /pay/ with money = {money} fen");
        let mut body = json!({"money": money});
        if let Some((merchant_id, _)) = &merchant {
            body["merchant_id"] = json!(merchant_id);
        }
        let pay = Self::data(
            "pay",
            self.post(format!("{}/pay/", self.base), body, Some(&token))
                .await?,
        )?;
        let out_trade_no = pay["out_trade_no"]
            .as_str()
            .context("no out_trade_no")?
            .to_owned();
        println!("   order {out_trade_no}; wx.requestPayment gets: {pay}");

        println!("5. the user confirms payment on the phone");
        let paid = self
            .post(
                format!("{}/sandbox/pay", self.sandbox),
                json!({"out_trade_no": out_trade_no}),
                None,
            )
            .await?;
        println!("   WeChat transaction {}", paid["transaction_id"]);

        println!("6. WeChat notifies the platform; waiting for the order to be PAID");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .http
                .get(format!("{}/orders/{out_trade_no}", self.base))
                .bearer_auth(&token)
                .send()
                .await?;
            let order = Self::data("order", response.json().await?)?;
            if order["status"] == "PAID" {
                println!("   order PAID at {}: {order}", order["paid_at"]);
                break;
            }
            if Instant::now() > deadline {
                bail!("the order is still {} after 30 s: {order}", order["status"]);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Some((_, key)) = merchant else {
            return Ok(());
        };
        self.withdraw(&key).await
    }

    async fn get(&self, path: &str, key: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await?;
        Self::data(path, response.json().await?)
    }

    async fn withdraw(&self, key: &str) -> anyhow::Result<()> {
        println!("7. the merchant's balance (GET /merchant/balance)");
        println!("   {}", self.get("/merchant/balance", key).await?);
        println!("8. POST /merchant/withdraw: every PAID order no withdrawal holds, atomically");
        let response = self
            .http
            .post(format!("{}/merchant/withdraw", self.base))
            .bearer_auth(key)
            .header("Idempotency-Key", "minipay-demo-1")
            .send()
            .await?;
        let withdrawal = Self::data("withdraw", response.json().await?)?;
        let id = withdrawal["withdrawal_id"]
            .as_str()
            .context("no withdrawal_id")?
            .to_owned();
        println!("   {withdrawal}");
        println!("9. the payout to the merchant's WeChat change (transfers); waiting for PAID_OUT");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self
                .get(&format!("/merchant/withdrawals/{id}"), key)
                .await?;
            match now["status"].as_str() {
                Some("PAID_OUT") => {
                    println!("   PAID_OUT: {now}");
                    break;
                }
                Some("FAILED") => bail!("the payout failed: {now}"),
                _ if Instant::now() > deadline => bail!("still {} after 60 s", now["status"]),
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        println!("10. the balance afterwards");
        println!("   {}", self.get("/merchant/balance", key).await?);
        Ok(())
    }
}
