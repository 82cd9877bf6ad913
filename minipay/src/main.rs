//! `minipay`: with no subcommand, the whole platform in one process.

use anyhow::Context;
use auth_service::store::Revoke;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "minipay",
    version,
    about = "A payment platform for WeChat Mini Programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Merchants, in the ledger's database (works while the stack runs).
    Merchant {
        #[command(subcommand)]
        action: MerchantAction,
    },
    /// Checks the ledger's invariant for every merchant; exits 1 on any
    /// violation.
    Audit {
        /// Machine output.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (a table on stdout, JSON to a file).
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
    /// Walks a running stack through login → getinfo → pay → paid.
    Demo {
        /// The amount to pay, in fen.
        #[arg(long, default_value_t = 1)]
        money: i64,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// One merchant with N paid orders withdraws them in one call, against
    /// the bare claiming UPDATE on the same rows.
    Withdraw {
        #[arg(long, default_value_t = 1_000_000)]
        orders: i64,
        #[arg(long, default_value = "bench-withdraw.json")]
        json: String,
    },
}

#[derive(Debug, Subcommand)]
enum MerchantAction {
    /// Creates a merchant and its first API key; prints
    /// {"merchant_id", "api_key"} alone on stdout. The key is shown once.
    Create {
        #[arg(long)]
        name: String,
        /// The openid withdrawals are paid to.
        #[arg(long, default_value = "")]
        payout_openid: String,
    },
    /// Revokes one API key, or every key of a merchant; prints {"revoked"}.
    RevokeKey {
        #[arg(
            long,
            conflicts_with = "merchant_id",
            required_unless_present = "merchant_id"
        )]
        key_id: Option<String>,
        #[arg(long)]
        merchant_id: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    match cli.command {
        None => run(config).await,
        Some(Command::Merchant { action }) => merchant(&config, action).await,
        Some(Command::Bench {
            which: Bench::Withdraw { orders, json },
        }) => minipay::bench::withdraw(&config, orders, &json).await,
        Some(Command::Audit { json }) => {
            let (_, withdrawals) = ledger_service::store::connect_both(&config.ledger_database_url)
                .await
                .context("cannot open the ledger database")?;
            let report = withdrawals.audit(None).await?;
            if json {
                println!("{}", minipay::audit::to_json(&report));
            } else {
                print!("{}", minipay::audit::to_text(&report));
            }
            if report.violations().next().is_some() {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Demo { money }) => {
            let base = format!("http://{}/", config.gateway_addr);
            let sandbox = format!("http://{}/", config.sandbox_addr);
            let demo = minipay::demo::Demo::new(&base, &sandbox)?;
            // A merchant of its own, paid out to a sandbox user, so the
            // story can go on to withdraw.
            let payee = demo.sandbox_user().await?;
            let merchant = minipay::create_merchant(&config, "Demo shop", &payee).await?;
            demo.run(money, Some(merchant)).await
        }
    }
}

async fn merchant(config: &common::config::Config, action: MerchantAction) -> anyhow::Result<()> {
    let keys = auth_service::merchant_keys(&config.auth_database_url)
        .await
        .context("cannot open the auth database")?;
    match action {
        MerchantAction::Create {
            name,
            payout_openid,
        } => {
            let (merchant_id, api_key) =
                minipay::create_merchant(config, &name, &payout_openid).await?;
            // The only time the key is shown: stdout, once, never logged.
            println!(
                "{}",
                serde_json::json!({"merchant_id": merchant_id, "api_key": api_key})
            );
        }
        MerchantAction::RevokeKey {
            key_id,
            merchant_id,
        } => {
            let revoke = match (key_id, merchant_id) {
                (Some(key), _) => Revoke::Key(auth_service::KeyId::parse(key)?),
                (None, Some(merchant)) => {
                    Revoke::Merchant(auth_service::MerchantId::parse(merchant)?)
                }
                (None, None) => anyhow::bail!("give --key-id or --merchant-id"),
            };
            let revoked = keys.revoke(&revoke).await?;
            println!("{}", serde_json::json!({ "revoked": revoked }));
        }
    }
    Ok(())
}

async fn run(config: common::config::Config) -> anyhow::Result<()> {
    let shutdown = common::shutdown::on_signal();
    let lookup = |name: &str| std::env::var(name).ok();
    let stack = minipay::launch(&config, lookup, shutdown.clone()).await?;
    print_walkthrough(&config, &stack.addresses);
    stack.run_until_exit(shutdown).await
}

fn print_walkthrough(config: &common::config::Config, at: &minipay::Addresses) {
    let base = at.base_url();
    let sessions = match &config.redis_url {
        Some(_) => "Redis (MINIPAY_REDIS_URL)",
        None => "in this process",
    };
    println!("minipay is running (Ctrl-C stops everything).");
    println!();
    println!("  gateway          {base}   <- the mini-program's base URL");
    println!("  auth-service     {} (gRPC)", at.auth);
    println!("  payment-service  {} (gRPC)", at.payment);
    println!("  ledger-service   {} (gRPC)", at.ledger);
    match at.sandbox {
        Some(sandbox) => println!("  wechat-sandbox   http://{sandbox}/   (WeChat, simulated)"),
        None => println!("  WeChat           the configured MINIPAY_WECHAT_API_BASE"),
    }
    println!("  users            {:?}", config.auth_database_url);
    println!("  orders           {:?}", config.ledger_database_url);
    println!("  payments         {:?}", config.payment_database_url);
    println!("  sessions         {sessions}");
    println!("  default merchant {}", at.default_merchant);
    let Some(sandbox) = at.sandbox else {
        return;
    };
    println!();
    println!("The whole story in one command (from another terminal): cargo run --release -- demo");
    println!();
    println!("Or step by step, as a mini-program would do it:");
    println!("  1. wx.login: get a login code from the sandbox");
    println!("     curl -s -X POST http://{sandbox}/sandbox/login -d '{{}}'");
    println!("  2. log in with it (gives a token)");
    println!("     curl -s -X POST {base}login/ -d '{{\"code\":\"CODE\"}}'");
    println!("  3. wx.getUserInfo: the user's data, encrypted under the session key");
    println!(
        "     curl -s -X POST http://{sandbox}/sandbox/userinfo -d '{{\"openid\":\"OPENID\",\"user\":{{\"nickName\":\"小明\",\"gender\":1,\"city\":\"Guangzhou\"}}}}'"
    );
    println!("  4. decrypt and store it (paste iv, encryptedData, rawData, signature)");
    println!(
        "     curl -s -X POST {base}getinfo/ -H 'Authorization: Bearer TOKEN' -d '{{\"iv\":\"…\",\"encryptedData\":\"…\",\"rawData\":\"…\",\"signature\":\"…\"}}'"
    );
    println!("  5. pay 1 fen (gives the five wx.requestPayment fields and out_trade_no)");
    println!(
        "     curl -s -X POST {base}pay/ -H 'Authorization: Bearer TOKEN' -d '{{\"money\":1}}'"
    );
    println!("  6. the user confirms on the phone; WeChat notifies the platform");
    println!(
        "     curl -s -X POST http://{sandbox}/sandbox/pay -d '{{\"out_trade_no\":\"OUT_TRADE_NO\"}}'"
    );
    println!("  7. the order, now PAID");
    println!("     curl -s {base}orders/OUT_TRADE_NO -H 'Authorization: Bearer TOKEN'");
}
