//! `minipay audit`: the ledger's invariant for every merchant, read straight
//! from the ledger's database (it may run while the stack is up).
//!
//! ```text
//! Σ paid orders = Σ unwithdrawn paid orders + Σ live withdrawals
//! each live withdrawal's amount = Σ of the orders stamped with its id
//! ```

use ledger_service::domain::AuditReport;
use serde_json::{Value, json};

/// The report as JSON (`--json`).
pub fn to_json(report: &AuditReport) -> Value {
    let merchants: Vec<Value> = report
        .merchants
        .iter()
        .map(|m| {
            json!({
                "merchant_id": m.merchant_id.as_str(),
                "paid_fen": m.paid_fen,
                "paid_orders": m.paid_orders,
                "withdrawable_fen": m.withdrawable_fen,
                "withdrawable_orders": m.withdrawable_orders,
                "paying_out_fen": m.paying_out_fen,
                "paid_out_fen": m.paid_out_fen,
                "ok": m.violations.is_empty(),
                "violations": m.violations.iter().map(|v| json!({
                    "kind": v.kind.as_str(),
                    "withdrawal_id": v.withdrawal_id.as_ref().map(|w| w.as_str().to_owned()),
                    "out_trade_no": v.out_trade_no.as_ref().map(|o| o.as_str().to_owned()),
                    "detail": v.detail,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "merchants": merchants,
        "violations": report.violations().count(),
        "violations_truncated": report.truncated,
        "ok": report.violations().next().is_none(),
    })
}

/// The report as lines a person reads: one per merchant, then a summary.
pub fn to_text(report: &AuditReport) -> String {
    let mut out = String::new();
    for m in &report.merchants {
        let verdict = if m.violations.is_empty() {
            "ok"
        } else {
            "VIOLATED"
        };
        out.push_str(&format!(
            "{verdict:8} {}  paid {} fen ({} orders) = withdrawable {} + paying out {} + paid out {}\n",
            m.merchant_id.as_str(),
            m.paid_fen,
            m.paid_orders,
            m.withdrawable_fen,
            m.paying_out_fen,
            m.paid_out_fen,
        ));
        for v in &m.violations {
            out.push_str(&format!("         {}: {}\n", v.kind.as_str(), v.detail));
        }
    }
    let violations = report.violations().count();
    out.push_str(&format!(
        "{} merchants, {} violations{}\n",
        report.merchants.len(),
        violations,
        if report.truncated {
            " (list truncated)"
        } else {
            ""
        }
    ));
    out
}
