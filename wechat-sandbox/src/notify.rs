//! Delivering payment notifications the way WeChat does: signed XML posted
//! to the order's notify_url, repeated on WeChat's schedule until the reply
//! is an XML SUCCESS, each notification in its own task.

use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use tokio::task::JoinSet;
use wechat::FieldMap;
use wechat::messages::NotifyReply;

use crate::state::{Attempt, Shared};

/// WeChat's current retry schedule (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/
/// 3h/3h/3h/6h/6h: 24h4m in all): the waits between the first delivery and
/// each retry, in seconds.
pub const RETRY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// A notification waiting to be delivered, with the faults in force when
/// the payment happened.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: u64,
    pub out_trade_no: String,
    pub url: String,
    pub xml: String,
    pub drop_first: u32,
    pub duplicates: u32,
}

/// Starts delivering, or holds the notification back when the reorder
/// fault is on and releases the batch newest first once it is full.
pub fn enqueue(sandbox: &Shared, pending: Pending) {
    let batch = sandbox.faults().notify_reorder_batch as usize;
    if batch <= 1 {
        spawn_from(sandbox, pending, 1);
        return;
    }
    let released: Vec<Pending> = {
        let mut inner = sandbox.lock();
        inner.held.push(pending);
        if inner.held.len() < batch {
            return;
        }
        inner.held.drain(..).rev().collect()
    };
    release(sandbox, released);
}

/// Delivers everything held back (the reorder fault was cleared).
pub fn release_held(sandbox: &Shared) {
    let held: Vec<Pending> = sandbox.lock().held.drain(..).rev().collect();
    release(sandbox, held);
}

fn release(sandbox: &Shared, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let task_sandbox = sandbox.clone();
    // First attempts go out one after another so their order is the one
    // chosen; retries then run on each notification's own schedule.
    sandbox.tasks.spawn(async move {
        for pending in batch {
            if !attempt(&task_sandbox, &pending, 1).await {
                spawn_from(&task_sandbox, pending, 2);
            }
        }
    });
}

fn spawn_from(sandbox: &Shared, pending: Pending, first: u32) {
    let sandbox_for_task = sandbox.clone();
    sandbox.tasks.spawn(async move {
        run_from(sandbox_for_task, pending, first).await;
    });
}

async fn run_from(sandbox: Shared, pending: Pending, first: u32) {
    let last = RETRY_SCHEDULE_SECS.len() as u32 + 1;
    for n in first..=last {
        if n > 1 {
            let wait = RETRY_SCHEDULE_SECS[(n - 2) as usize] as f64 * sandbox.cfg.time_scale;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(wait)) => {}
                _ = sandbox.shutdown.cancelled() => return,
            }
        }
        if attempt(&sandbox, &pending, n).await {
            return;
        }
    }
    tracing::info!(
        out_trade_no = %pending.out_trade_no,
        "notification never acknowledged; WeChat gives up after its schedule"
    );
}

/// One scheduled attempt (all its duplicate copies); whether any copy was
/// acknowledged.
async fn attempt(sandbox: &Shared, pending: &Pending, n: u32) -> bool {
    if n <= pending.drop_first {
        sandbox.record(entry(sandbox, pending, n, 0, None, None, "dropped"));
        return false;
    }
    let mut copies = JoinSet::new();
    for copy in 0..=pending.duplicates {
        let sandbox = sandbox.clone();
        let pending = pending.clone();
        copies.spawn(async move {
            let response = sandbox
                .http
                .post(&pending.url)
                .header(CONTENT_TYPE, "text/xml; charset=utf-8")
                .body(pending.xml.clone())
                .send()
                .await;
            let (status, reply, acknowledged) = match response {
                Ok(response) => {
                    let status = response.status();
                    let body = response.bytes().await.unwrap_or_default();
                    let acknowledged = status.is_success()
                        && FieldMap::from_xml(&body)
                            .ok()
                            .and_then(|map| NotifyReply::from_fields(&map).ok())
                            == Some(NotifyReply::Success);
                    let reply: String = String::from_utf8_lossy(&body).chars().take(512).collect();
                    (Some(status.as_u16()), Some(reply), acknowledged)
                }
                Err(e) => (None, Some(e.without_url().to_string()), false),
            };
            let outcome = match (acknowledged, status) {
                (true, _) => "acknowledged",
                (false, Some(_)) => "refused",
                (false, None) => "error",
            };
            sandbox.record(entry(&sandbox, &pending, n, copy, status, reply, outcome));
            acknowledged
        });
    }
    let mut acknowledged = false;
    while let Some(result) = copies.join_next().await {
        acknowledged |= result.unwrap_or(false);
    }
    acknowledged
}

fn entry(
    sandbox: &Shared,
    pending: &Pending,
    attempt: u32,
    copy: u32,
    http_status: Option<u16>,
    reply: Option<String>,
    outcome: &'static str,
) -> Attempt {
    let at = sandbox
        .lock()
        .wall()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Attempt {
        notification_id: pending.id,
        out_trade_no: pending.out_trade_no.clone(),
        attempt,
        copy,
        at,
        url: pending.url.clone(),
        http_status,
        reply,
        outcome,
    }
}
