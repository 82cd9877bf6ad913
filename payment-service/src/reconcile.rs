//! Reconciliation: orders whose notification never came (or whose
//! unifiedorder never answered) are asked about with orderquery and settled —
//! paid in the ledger when WeChat says paid, closed when WeChat says closed
//! (or closes them at our request, no sooner than WeChat's 5 minutes), never
//! closed on a local timer alone. Its memory is the payments table
//! (ORDERING/ORDERED rows, `checked_at`), so a restart resumes it.

use std::sync::Arc;
use std::time::Duration;

use common::OutTradeNo;
use tokio_util::sync::CancellationToken;
use wechat::messages::TradeState;

use crate::domain::{Payment, beijing_millis};
use crate::ledger::LedgerError;
use crate::service::{Core, Settlement};
use crate::store::now_millis;

/// The most payments looked at in one round.
const BATCH: u32 = 100;

/// What one look at one payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The ledger now has it paid (or already had).
    Paid(Settlement),
    /// Closed in WeChat (or never known there) and in the ledger.
    Closed(&'static str),
    /// Nothing to do yet.
    Wait(String),
    /// Something failed; the next round tries again.
    Retry(String),
}

/// Runs a round every `interval` until `shutdown`.
pub(crate) async fn run(core: Arc<Core>, interval: Duration, shutdown: CancellationToken) {
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        after_ms = core.reconcile_after.as_millis() as u64,
        close_after_ms = core.close_after.as_millis() as u64,
        "reconciliation started"
    );
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        round += 1;
        core.reconcile_round(round, &shutdown).await;
    }
    tracing::info!("reconciliation stopped");
}

impl Core {
    /// One round: every due payment, oldest check first, until the batch
    /// ends or shutdown comes.
    pub(crate) async fn reconcile_round(&self, round: u64, shutdown: &CancellationToken) {
        let cutoff = now_millis().saturating_sub(millis(self.reconcile_after));
        let due = match self.payments.due_for_reconciliation(cutoff, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(round, error = %e, "reconciliation cannot read payments");
                return;
            }
        };
        let request_id = format!("reconcile-{round}");
        for payment in due {
            if shutdown.is_cancelled() {
                break;
            }
            let no = payment.out_trade_no.clone();
            let step = self.reconcile(&payment, &request_id).await;
            if let Err(e) = self.payments.record_check(&no, now_millis()).await {
                tracing::warn!(out_trade_no = %no, error = %e, "check not recorded");
            }
            match &step {
                Step::Paid(Settlement::Anomaly(reason)) => {
                    tracing::error!(out_trade_no = %no, reason, "reconciliation found an anomaly");
                }
                Step::Paid(settlement) => {
                    tracing::info!(out_trade_no = %no, ?settlement, "reconciliation: paid");
                }
                Step::Closed(why) => {
                    tracing::info!(out_trade_no = %no, why, "reconciliation: closed");
                }
                Step::Wait(why) => {
                    tracing::debug!(out_trade_no = %no, why, "reconciliation: waiting");
                }
                Step::Retry(why) => {
                    tracing::warn!(out_trade_no = %no, why, "reconciliation: will try again");
                    if let Err(e) = self.payments.record_error(&no, why, now_millis()).await {
                        tracing::warn!(out_trade_no = %no, error = %e, "last_error not recorded");
                    }
                }
            }
        }
    }

    /// Asks WeChat about one payment and acts on the answer.
    pub(crate) async fn reconcile(&self, payment: &Payment, request_id: &str) -> Step {
        let no = &payment.out_trade_no;
        let age = Duration::from_millis(
            u64::try_from(now_millis().saturating_sub(payment.created_at_ms)).unwrap_or(0),
        );
        let closable = age >= self.close_after;
        let query = match self.wechat.order_query(no).await {
            Ok(query) => query,
            Err(e) if e.wechat_code().as_deref() == Some("ORDERNOTEXIST") => {
                // WeChat never took the order. A CreatePayment still retrying
                // unifiedorder could yet place it: wait until none can be.
                return if closable && age >= self.call_deadline * 2 {
                    self.close_in_ledger(no, request_id, "WeChat never took the order")
                        .await
                } else {
                    Step::Wait("ORDERNOTEXIST; too young to close".into())
                };
            }
            Err(e) => return Step::Retry(e.to_string()),
        };
        match query.trade_state {
            TradeState::Success | TradeState::Refund => {
                let (Some(transaction_id), Some(total_fee)) =
                    (query.transaction_id.as_deref(), query.total_fee)
                else {
                    return Step::Retry("orderquery: paid without transaction or amount".into());
                };
                if total_fee != payment.amount {
                    let reason = format!(
                        "WeChat reports {total_fee} fen paid by {transaction_id} for an order of {} fen",
                        payment.amount
                    );
                    return Step::Paid(self.record_anomaly(no, transaction_id, &reason).await);
                }
                let paid_at_ms = query
                    .time_end
                    .as_deref()
                    .and_then(beijing_millis)
                    .unwrap_or_else(now_millis);
                match self
                    .settle_paid(payment, transaction_id, paid_at_ms, request_id)
                    .await
                {
                    Settlement::Refused(why) | Settlement::Deferred(why) => Step::Retry(why),
                    settled => Step::Paid(settled),
                }
            }
            TradeState::NotPay | TradeState::UserPaying if closable => {
                match self.wechat.close_order(no).await {
                    Ok(()) => {
                        self.close_in_ledger(no, request_id, "closed in WeChat")
                            .await
                    }
                    Err(e) if e.order_already_paid() => {
                        Step::Wait("closeorder: ORDERPAID; the next query settles it".into())
                    }
                    Err(e) => Step::Retry(e.to_string()),
                }
            }
            TradeState::NotPay | TradeState::UserPaying | TradeState::Accept => {
                Step::Wait(format!("trade_state {}", query.trade_state))
            }
            TradeState::Closed | TradeState::Revoked | TradeState::PayError => {
                self.close_in_ledger(no, request_id, "WeChat reports it closed")
                    .await
            }
        }
    }

    async fn close_in_ledger(&self, no: &OutTradeNo, request_id: &str, why: &'static str) -> Step {
        match self.ledger.close_order(no, request_id).await {
            Ok(_) => {}
            Err(LedgerError::FailedPrecondition(refusal)) => {
                // The ledger has it in another state although WeChat has no
                // payment: a person must look.
                let status = match self.ledger.get_order(no, request_id).await {
                    Ok(order) => order.status,
                    Err(e) => e.to_string(),
                };
                tracing::error!(
                    out_trade_no = %no,
                    ledger_status = %status,
                    refusal = %refusal,
                    "WeChat has no payment but the ledger will not close the order",
                );
                return Step::Retry(format!("ledger refused to close: {refusal} ({status})"));
            }
            Err(e) => return Step::Retry(e.to_string()),
        }
        match self.payments.mark_closed(no, now_millis()).await {
            Ok(_) => Step::Closed(why),
            Err(e) => Step::Retry(format!("closed in the ledger, payment row not: {e}")),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
