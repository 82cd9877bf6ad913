//! Metrics: the counters behind the gateway's `/metrics`, over gRPC.

use payment_service::NotifyOutcome;
use proto::payment::v1 as pb;
use serde_json::json;

use crate::helpers::{App, Options, eventually, ledger_status, spawn_app};

async fn metrics(app: &App) -> pb::MetricsResponse {
    app.payment
        .clone()
        .metrics(pb::MetricsRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn metrics_follow_the_notifications_handled() {
    let app = spawn_app(Options::default()).await;
    let fresh = metrics(&app).await;
    assert_eq!(fresh.anomalies, 0);
    let mut names: Vec<&str> = fresh
        .notifications_by_outcome
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = NotifyOutcome::ALL.iter().map(|o| o.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "every outcome, zeros included");
    assert!(fresh.notifications_by_outcome.values().all(|n| *n == 0));

    // Refused at once: counted before the reply.
    let reply = app.notify(b"not xml at all".to_vec()).await;
    assert_eq!(reply.http_status, 400);
    assert_eq!(metrics(&app).await.notifications_by_outcome["REFUSED"], 1);

    // Paid through the sandbox: the notification arrives via notify_url.
    let no = app.create(250).await.unwrap().out_trade_no;
    app.user_pays(json!({ "out_trade_no": no })).await;
    ledger_status(&app, &no, "PAID").await;
    let counted = eventually("APPLIED in Metrics", || async {
        let m = metrics(&app).await;
        (m.notifications_by_outcome["APPLIED"] == 1).then_some(m)
    })
    .await;
    assert_eq!(counted.notifications_by_outcome["REFUSED"], 1);
    assert_eq!(counted.anomalies, 0);
    for outcome in NotifyOutcome::ALL {
        assert_eq!(
            counted.notifications_by_outcome[outcome.as_str()],
            app.metrics.notifications(outcome),
            "{outcome}"
        );
    }
}
