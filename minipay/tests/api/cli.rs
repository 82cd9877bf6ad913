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

#[tokio::test]
async fn audit_passes_a_clean_ledger_and_fails_a_corrupted_one() {
    use sqlx::Connection;

    let dir = std::env::temp_dir().join(unique("minipay_audit"));
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, created, stderr) = minipay(
        &dir,
        &[
            "merchant",
            "create",
            "--name",
            "Audited",
            "--payout-openid",
            "oPayout1",
        ],
    );
    assert!(ok, "{stderr}");
    let merchant = created["merchant_id"].as_str().unwrap().to_owned();
    let (ok, report, stderr) = minipay(&dir, &["audit", "--json"]);
    assert!(ok, "a clean ledger passes: {stderr}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["merchants"][0]["merchant_id"], merchant.as_str());

    // A withdrawal that claims more than the order it holds: the bug the
    // platform exists to prevent, written straight into the tables.
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}/ledger.db", dir.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO withdrawals (withdrawal_id, merchant_id, payout_openid, amount_fen, \
         order_count, status, created_at, updated_at) \
         VALUES ('WCORRUPT1', '{merchant}', 'oPayout1', 150, 1, 'PAYING_OUT', 1, 1); \
         INSERT INTO orders (out_trade_no, merchant_id, payer_openid, amount_fen, description, \
         status, transaction_id, created_at, paid_at, withdrawal_id) \
         VALUES ('ORDER_CORRUPT_1', '{merchant}', 'oPayer', 100, '', 'PAID', 'T1', 1, 2, 'WCORRUPT1');"
    )))
    .execute(&mut db)
    .await
    .unwrap();

    let (ok, report, _) = minipay(&dir, &["audit", "--json"]);
    assert!(!ok, "a violation exits non-zero");
    assert_eq!(report["ok"], false, "{report}");
    let kinds: Vec<&str> = report["merchants"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"WITHDRAWAL_MISMATCH"), "{report}");
    let output = Command::new(env!("CARGO_BIN_EXE_minipay"))
        .arg("audit")
        .env(
            "MINIPAY_LEDGER_DATABASE_URL",
            format!("sqlite://{}/ledger.db", dir.display()),
        )
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("VIOLATED") && text.contains("1 merchants, "),
        "{text}"
    );
}

#[tokio::test]
async fn bench_withdraw_reports_and_writes_json() {
    let dir = std::env::temp_dir().join(unique("minipay_bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_minipay"))
        .args(["bench", "withdraw", "--orders", "2500", "--json"])
        .arg(&json_path)
        .env(
            "MINIPAY_LEDGER_DATABASE_URL",
            format!("sqlite://{}/ledger.db", dir.display()),
        )
        .output()
        .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{table} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(table.contains("withdraw/floor"), "{table}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(report["orders"], 2500);
    // Σ (1 + i % 100) for i in 1..=2500: what was loaded is what was withdrawn.
    assert_eq!(
        report["amount_fen"],
        (1..=2500i64).map(|i| 1 + i % 100).sum::<i64>()
    );
    assert!(report["withdraw_ms"].as_f64().unwrap() > 0.0);
    assert!(report["bare_claim_ms"].as_f64().unwrap() > 0.0);
}
