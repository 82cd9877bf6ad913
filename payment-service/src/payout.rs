//! Payouts: every withdrawal the ledger holds PAYING_OUT is paid to the
//! merchant's payout openid with WeChat's enterprise transfer, its
//! withdrawal_id as the partner_trade_no — the same number however often it
//! is retried, never a new one.
//!
//! A payout has three outcomes. Success (transfers answered SUCCESS, or
//! gettransferinfo says SUCCESS) completes it in the ledger. A definite
//! failure — only gettransferinfo reporting FAILED — fails it, which releases
//! its orders. Anything else (timeouts, SYSTEMERROR, NOTENOUGH, any transfers
//! refusal, which WeChat does not sign) is unknown: the withdrawal stays
//! PAYING_OUT and the next round asks gettransferinfo first, then retries
//! transfers with the same number. Its memory is the ledger (PAYING_OUT), so
//! a restart resumes it.

use std::time::Duration;

use common::{AmountFen, PartnerTradeNo};
use proto::ledger::v1 as pb;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use wechat::WechatClient;
use wechat::client::NewTransfer;
use wechat::messages::TransferStatus;

use crate::ledger::LedgerError;

/// The most withdrawals asked for per ListPayingOut page.
const PAGE: u32 = 100;

/// The most characters of a failure reason the ledger accepts.
const MAX_REASON_CHARS: usize = 256;

/// What one look at one withdrawal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// WeChat paid it; the ledger has it PAID_OUT.
    PaidOut,
    /// WeChat reports it FAILED; the ledger has it FAILED, orders released.
    Failed(String),
    /// WeChat is still processing it.
    Wait(String),
    /// Outcome unknown or the ledger did not answer: the next round asks again.
    Retry(String),
}

pub(crate) struct Payouts {
    pub(crate) wechat: WechatClient,
    pub(crate) withdrawals: WithdrawalServiceClient<Channel>,
    /// Deadline of each ledger call.
    pub(crate) timeout: Duration,
}

/// Runs a round every `interval` until `shutdown`.
pub(crate) async fn run(payouts: Payouts, interval: Duration, shutdown: CancellationToken) {
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "payout loop started"
    );
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        round += 1;
        payouts.round(round, &shutdown).await;
    }
    tracing::info!("payout loop stopped");
}

impl Payouts {
    fn request<T>(&self, message: T, request_id: &str) -> tonic::Request<T> {
        common::grpc::request(message, request_id, self.timeout)
    }

    /// One round: every PAYING_OUT withdrawal, oldest first, page by page,
    /// until the last page or shutdown.
    pub(crate) async fn round(&self, round: u64, shutdown: &CancellationToken) {
        let request_id = format!("payout-{round}");
        let mut cursor = String::new();
        loop {
            let request = self.request(
                pb::ListPayingOutRequest {
                    limit: PAGE,
                    cursor: cursor.clone(),
                },
                &request_id,
            );
            let page = match self.withdrawals.clone().list_paying_out(request).await {
                Ok(page) => page.into_inner(),
                Err(status) => {
                    tracing::warn!(round, error = %LedgerError::from(status), "payouts cannot list PAYING_OUT withdrawals");
                    return;
                }
            };
            for withdrawal in &page.withdrawals {
                if shutdown.is_cancelled() {
                    return;
                }
                let id = withdrawal.withdrawal_id.as_str();
                match self.pay_out(withdrawal, &request_id).await {
                    Step::PaidOut => {
                        tracing::info!(
                            withdrawal_id = id,
                            amount_fen = withdrawal.amount_fen,
                            "payout: paid out"
                        );
                    }
                    Step::Failed(reason) => {
                        tracing::warn!(
                            withdrawal_id = id,
                            reason,
                            "payout: failed, orders released"
                        );
                    }
                    Step::Wait(why) => {
                        tracing::debug!(withdrawal_id = id, why, "payout: waiting");
                    }
                    Step::Retry(why) => {
                        tracing::warn!(
                            withdrawal_id = id,
                            why,
                            "payout: unresolved, will try again"
                        );
                    }
                }
            }
            if page.next_cursor.is_empty() || page.withdrawals.is_empty() {
                return;
            }
            cursor = page.next_cursor;
        }
    }

    /// Asks WeChat about one withdrawal's payout first, and transfers (with
    /// the same number) only when WeChat has no record of it or did not say.
    pub(crate) async fn pay_out(&self, withdrawal: &pb::Withdrawal, request_id: &str) -> Step {
        let no = match PartnerTradeNo::parse(withdrawal.withdrawal_id.clone()) {
            Ok(no) => no,
            Err(e) => {
                return Step::Retry(format!(
                    "withdrawal_id is no partner_trade_no ({e}); a person must look"
                ));
            }
        };
        match self.wechat.transfer_info(&no).await {
            Ok(info) => match info.status {
                TransferStatus::Success => return self.complete(withdrawal, request_id).await,
                TransferStatus::Failed => {
                    let reason = info.reason.unwrap_or_else(|| "FAILED".to_owned());
                    return self
                        .fail(
                            withdrawal,
                            &format!("WeChat transfer FAILED: {reason}"),
                            request_id,
                        )
                        .await;
                }
                TransferStatus::Processing => {
                    return Step::Wait("gettransferinfo: PROCESSING".into());
                }
            },
            // NOT_FOUND (never recorded) or no usable answer: transfer with
            // the same number, which WeChat carries out at most once.
            Err(e) => {
                tracing::debug!(withdrawal_id = %no, error = %e, "gettransferinfo gave no status; transferring");
            }
        }
        let Ok(amount) = AmountFen::positive(withdrawal.amount_fen) else {
            return Step::Retry(format!(
                "amount_fen {} is not payable; a person must look",
                withdrawal.amount_fen
            ));
        };
        if withdrawal.payout_openid.is_empty() {
            return Step::Retry("no payout_openid; a person must look".into());
        }
        let transfer = NewTransfer {
            partner_trade_no: no.clone(),
            openid: withdrawal.payout_openid.clone(),
            amount,
            desc: format!("minipay withdrawal {no}"),
            re_user_name: None,
            spbill_create_ip: None,
        };
        match self.wechat.transfer(&transfer).await {
            Ok(_) => self.complete(withdrawal, request_id).await,
            // Never taken as definite on its own word (unsigned, and it may
            // follow an attempt that went through): only gettransferinfo
            // FAILED releases the orders. NOTENOUGH waits for the balance.
            Err(e) => Step::Retry(format!(
                "transfers: {e} (retry with the same number: {})",
                e.retry_with_same_id()
            )),
        }
    }

    async fn complete(&self, withdrawal: &pb::Withdrawal, request_id: &str) -> Step {
        let request = self.request(
            pb::CompletePayoutRequest {
                withdrawal_id: withdrawal.withdrawal_id.clone(),
            },
            request_id,
        );
        match self.withdrawals.clone().complete_payout(request).await {
            Ok(_) => Step::PaidOut,
            Err(status) => {
                let e = LedgerError::from(status);
                if matches!(e, LedgerError::FailedPrecondition(_)) {
                    tracing::error!(
                        withdrawal_id = %withdrawal.withdrawal_id,
                        error = %e,
                        "WeChat paid the withdrawal but the ledger will not complete it",
                    );
                }
                Step::Retry(format!("paid in WeChat, CompletePayout failed: {e}"))
            }
        }
    }

    async fn fail(&self, withdrawal: &pb::Withdrawal, reason: &str, request_id: &str) -> Step {
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REASON_CHARS)
            .collect();
        let request = self.request(
            pb::FailPayoutRequest {
                withdrawal_id: withdrawal.withdrawal_id.clone(),
                reason: reason.clone(),
            },
            request_id,
        );
        match self.withdrawals.clone().fail_payout(request).await {
            Ok(_) => Step::Failed(reason),
            Err(status) => {
                let e = LedgerError::from(status);
                if matches!(e, LedgerError::FailedPrecondition(_)) {
                    tracing::error!(
                        withdrawal_id = %withdrawal.withdrawal_id,
                        error = %e,
                        "WeChat reports the payout FAILED but the ledger will not fail it",
                    );
                }
                Step::Retry(format!("FAILED in WeChat, FailPayout failed: {e}"))
            }
        }
    }
}
