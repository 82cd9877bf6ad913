//! The CLI against real databases, as an operator runs it.

use std::process::Command;

use serde_json::Value;

use crate::helpers::unique;

fn minipay(dir: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_minipay"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "MINIPAY_AUTH_DATABASE_URL",
            format!("sqlite://{}/auth.db", dir.display()),
        )
        .env(
            "MINIPAY_LEDGER_DATABASE_URL",
            format!("sqlite://{}/ledger.db", dir.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (output.status.success(), json, stderr)
}

#[tokio::test]
async fn merchant_create_prints_the_key_once_and_revoke_kills_it() {
    let dir = std::env::temp_dir().join(unique("minipay_cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, created, stderr) = minipay(&dir, &["merchant", "create", "--name", "Tea 🍵 shop"]);
    assert!(ok, "{stderr}");
    let merchant_id = created["merchant_id"].as_str().unwrap().to_owned();
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    assert!(
        merchant_id.starts_with('M') && api_key.starts_with("mk_"),
        "{created}"
    );
    assert_eq!(
        created.as_object().unwrap().len(),
        2,
        "stdout is the JSON alone"
    );
    assert!(!stderr.contains(&api_key), "the key is never logged");

    let url = common::config::DatabaseUrl::Sqlite(format!("sqlite://{}/auth.db", dir.display()));
    let keys = auth_service::merchant_keys(&url).await.unwrap();
    let presented = auth_service::MerchantApiKey::presented(api_key.clone());
    let owner = keys.resolve(&presented).await.unwrap().unwrap();
    assert_eq!(owner.merchant_id.as_str(), merchant_id);

    let (ok, revoked, stderr) = minipay(
        &dir,
        &["merchant", "revoke-key", "--merchant-id", &merchant_id],
    );
    assert!(ok, "{stderr}");
    assert_eq!(revoked["revoked"], 1);
    assert!(keys.resolve(&presented).await.unwrap().is_none());

    let (ok, _, stderr) = minipay(&dir, &["merchant", "create", "--name", ""]);
    assert!(!ok);
    assert!(stderr.contains("name"), "{stderr}");
}
