//! `minipay`: with no subcommand, the whole platform in one process.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "minipay",
    version,
    about = "A payment platform for WeChat Mini Programs"
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
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
    println!("  gateway         {base}   <- the mini-program's base URL");
    println!("  auth-service    {} (gRPC)", at.auth);
    match at.sandbox {
        Some(sandbox) => println!("  wechat-sandbox  http://{sandbox}/   (WeChat, simulated)"),
        None => println!("  WeChat          the configured MINIPAY_WECHAT_API_BASE"),
    }
    println!("  users           {:?}", config.auth_database_url);
    println!("  sessions        {sessions}");
    let Some(sandbox) = at.sandbox else {
        return;
    };
    println!();
    println!("Walk-through, as a mini-program would do it:");
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
    println!("  5. log out");
    println!("     curl -s -X POST {base}logout/ -H 'Authorization: Bearer TOKEN'");
}
