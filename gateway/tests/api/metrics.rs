//! `GET /metrics`: Prometheus text, by route template and status, with
//! well-formed histograms, and payment-service's counters when it answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tonic::Code;

use crate::helpers::{
    GOOD_TOKEN, Options, PaymentCall, PaymentMetrics, TestApp, spawn_app, spawn_app_with,
};
use crate::services::{CREATED_ORDER, PAID_ORDER};

/// One scrape, checked line by line: every line is a `# HELP`, a `# TYPE`
/// or a sample of a family whose TYPE came before it.
struct Scrape {
    text: String,
    /// `name{labels}` → value, in the order written.
    samples: Vec<(String, f64)>,
    types: HashMap<String, String>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        assert!(text.ends_with('\n'), "{text}");
        let mut samples = Vec::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps = Vec::new();
        for line in text.lines() {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let (name, doc) = help.split_once(' ').unwrap();
                assert!(!doc.is_empty(), "{line}");
                helps.push(name.to_owned());
            } else if let Some(kind) = line.strip_prefix("# TYPE ") {
                let (name, kind) = kind.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert_eq!(helps.last().map(String::as_str), Some(name), "{line}");
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "family {name} declared twice"
                );
            } else {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
                let name = series.split('{').next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| {
                        name.strip_suffix(suffix)
                            .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                    })
                    .unwrap_or(name);
                assert!(types.contains_key(family), "no TYPE before {line}");
                if series.contains('{') {
                    assert!(series.ends_with('}'), "{line}");
                }
                samples.push((series.to_owned(), value));
            }
        }
        Self {
            text,
            samples,
            types,
        }
    }

    fn get(&self, series: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
    }

    fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.text))
    }

    /// Every sample of `name` (exactly, labels aside).
    fn family(&self, name: &str) -> Vec<(String, f64)> {
        self.samples
            .iter()
            .filter(|(s, _)| s.split('{').next() == Some(name))
            .cloned()
            .collect()
    }

    /// Checks every label set of histogram `name`: `le` ascending up to
    /// `+Inf`, counts never decreasing, `+Inf` equal to `_count`, a `_sum`.
    /// Returns how many label sets it has.
    fn check_histogram(&self, name: &str) -> usize {
        assert_eq!(self.types[name], "histogram");
        let mut by_labels: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (series, value) in self.family(&format!("{name}_bucket")) {
            let labels = series
                .strip_prefix(&format!("{name}_bucket{{"))
                .unwrap()
                .strip_suffix('}')
                .unwrap();
            let (rest, le) = labels.rsplit_once(",le=").unwrap();
            let le = le.trim_matches('"');
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            match by_labels.last_mut() {
                Some((current, buckets)) if current == rest => buckets.push((le, value)),
                _ => by_labels.push((rest.to_owned(), vec![(le, value)])),
            }
        }
        for (labels, buckets) in &by_labels {
            assert!(buckets.len() >= 2, "{labels}");
            for pair in buckets.windows(2) {
                assert!(
                    pair[0].0 < pair[1].0,
                    "{name}{{{labels}}}: le not ascending"
                );
                assert!(
                    pair[0].1 <= pair[1].1,
                    "{name}{{{labels}}}: buckets not cumulative"
                );
            }
            let (last_le, inf) = *buckets.last().unwrap();
            assert_eq!(last_le, f64::INFINITY, "{name}{{{labels}}}");
            assert_eq!(self.value(&format!("{name}_count{{{labels}}}")), inf);
            assert!(self.value(&format!("{name}_sum{{{labels}}}")) >= 0.0);
        }
        let names: Vec<&String> = by_labels.iter().map(|(l, _)| l).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{name}: label sets interleaved");
        by_labels.len()
    }
}

async fn scrape(app: &TestApp, path: &str) -> Scrape {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("# HELP "), "no envelope: {text}");
    Scrape::parse(text)
}

fn requests(route: &str, code: u16) -> String {
    format!("minipay_http_requests_total{{route=\"{route}\",code=\"{code}\"}}")
}

fn calls(service: &str, method: &str, code: &str) -> String {
    format!(
        "minipay_grpc_client_calls_total{{service=\"{service}\",method=\"{method}\",grpc_code=\"{code}\"}}"
    )
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let app = spawn_app().await;
    let order = |no: &str| format!("/orders/{no}");
    for (path, status) in [
        (order(CREATED_ORDER), 200),
        (order(PAID_ORDER), 200),
        (order("ORDER-MISSING-1"), 404),
        (order("ORDER-LEDGER-DOWN"), 503),
        (format!("{}/", order(PAID_ORDER)), 200),
        ("/nope".to_owned(), 404),
        ("/orders".to_owned(), 404),
        ("/login/".to_owned(), 405),
    ] {
        let response = app.get_with_token(&path, GOOD_TOKEN).await;
        assert_eq!(response.status(), status, "{path}");
    }
    for (code, status) in [("good", 200), ("used", 502)] {
        let response = app.post_json("/login/", json!({ "code": code })).await;
        assert_eq!(response.status(), status, "{code}");
    }

    let s = scrape(&app, "/metrics").await;
    let expected = [
        (requests("/login/", 200), 1.0),
        (requests("/login/", 405), 1.0),
        (requests("/login/", 502), 1.0),
        (requests("/orders/{out_trade_no}", 200), 2.0),
        (requests("/orders/{out_trade_no}", 404), 1.0),
        (requests("/orders/{out_trade_no}", 503), 1.0),
        (requests("/orders/{out_trade_no}/", 200), 1.0),
        (requests("unmatched", 404), 2.0),
    ];
    assert_eq!(s.family("minipay_http_requests_total"), expected);
    // Never a raw path.
    assert!(!s.text.contains("ORDER-"), "{}", s.text);
    assert!(!s.text.contains("/nope"), "{}", s.text);

    // Each gRPC call, by method and code.
    assert_eq!(s.value(&calls("auth-service", "ResolveToken", "OK")), 5.0);
    assert_eq!(s.value(&calls("auth-service", "Login", "OK")), 1.0);
    assert_eq!(
        s.value(&calls("auth-service", "Login", "FailedPrecondition")),
        1.0
    );
    assert_eq!(s.value(&calls("ledger-service", "GetOrder", "OK")), 3.0);
    assert_eq!(
        s.value(&calls("ledger-service", "GetOrder", "NotFound")),
        1.0
    );
    assert_eq!(
        s.value(&calls("ledger-service", "GetOrder", "Unavailable")),
        1.0
    );
    assert_eq!(s.value(&calls("payment-service", "Metrics", "OK")), 1.0);
    assert_eq!(
        s.value(
            "minipay_grpc_client_duration_seconds_count{service=\"ledger-service\",method=\"GetOrder\"}"
        ),
        5.0
    );

    // A scrape counts once it is answered: the next one shows it.
    let s = scrape(&app, "/metrics/").await;
    assert_eq!(s.value(&requests("/metrics", 200)), 1.0);
    assert_eq!(s.get(&requests("/metrics/", 200)), None);
    assert_eq!(s.value(&calls("payment-service", "Metrics", "OK")), 2.0);
}

#[tokio::test]
async fn histograms_are_well_formed_and_cumulative() {
    let app = spawn_app_with(Options {
        deadline: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        let path = format!("/orders/{PAID_ORDER}");
        assert_eq!(app.get_with_token(&path, GOOD_TOKEN).await.status(), 200);
    }
    // Auth answers after 30 s: the gateway gives up at its 200 ms deadline.
    let response = app.post_json("/login/", json!({ "code": "slow" })).await;
    assert_eq!(response.status(), 503);
    app.get("/healthz").await;

    let s = scrape(&app, "/metrics").await;
    let http = "minipay_http_request_duration_seconds";
    assert_eq!(s.check_histogram(http), 3, "{}", s.text);
    let grpc = "minipay_grpc_client_duration_seconds";
    // ResolveToken, GetOrder, Login, Metrics.
    assert_eq!(s.check_histogram(grpc), 4, "{}", s.text);

    let route = "route=\"/orders/{out_trade_no}\"";
    assert_eq!(s.value(&format!("{http}_count{{{route}}}")), 3.0);
    assert_eq!(
        s.value(&format!("{http}_bucket{{{route},le=\"+Inf\"}}")),
        3.0
    );
    assert_eq!(s.value(&format!("{http}_bucket{{{route},le=\"10\"}}")), 3.0);
    assert!(s.value(&format!("{http}_sum{{{route}}}")) > 0.0);
    // The login waited at least its deadline: nothing at or under 100 ms.
    let login = "route=\"/login/\"";
    assert_eq!(
        s.value(&format!("{http}_bucket{{{login},le=\"0.1\"}}")),
        0.0
    );
    assert_eq!(s.value(&format!("{http}_count{{{login}}}")), 1.0);
    assert!(s.value(&format!("{http}_sum{{{login}}}")) >= 0.2);
    let login = "service=\"auth-service\",method=\"Login\"";
    assert_eq!(
        s.value(&format!("{grpc}_bucket{{{login},le=\"0.1\"}}")),
        0.0
    );
    assert_eq!(s.value(&format!("{grpc}_count{{{login}}}")), 1.0);
    assert_eq!(
        s.value(&calls("auth-service", "Login", "DeadlineExceeded")),
        1.0
    );
    assert_eq!(s.types["minipay_http_requests_total"], "counter");
    assert_eq!(s.types["minipay_grpc_client_calls_total"], "counter");
}

#[tokio::test]
async fn payment_services_counters_come_through() {
    let app = spawn_app().await;
    let s = scrape(&app, "/metrics").await;
    assert_eq!(s.value("minipay_payment_up"), 1.0);
    assert_eq!(s.types["minipay_payment_up"], "gauge");
    let outcome = |o: &str| format!("minipay_notifications_total{{outcome=\"{o}\"}}");
    assert_eq!(
        s.family("minipay_notifications_total"),
        [
            (outcome("ANOMALY"), 1.0),
            (outcome("APPLIED"), 3.0),
            (outcome("DEFERRED"), 0.0),
            (outcome("DUPLICATE"), 1.0),
            (outcome("FAILED_PAYMENT"), 0.0),
            (outcome("RECEIVED"), 0.0),
            (outcome("REFUSED"), 2.0),
        ]
    );
    assert_eq!(s.types["minipay_notifications_total"], "counter");
    assert_eq!(s.value("minipay_payment_anomalies_total"), 1.0);
    assert_eq!(s.types["minipay_payment_anomalies_total"], "counter");

    // Asked with the request id and a short deadline.
    let seen = app.payment.seen().pop().unwrap();
    assert_eq!(seen.call, PaymentCall::Metrics);
    assert!(seen.request_id.is_some());
    assert!(seen.grpc_timeout.is_some());
}

/// 200 with `minipay_payment_up 0` and none of payment-service's series.
fn assert_payment_down(s: &Scrape) {
    assert_eq!(s.value("minipay_payment_up"), 0.0);
    assert!(s.family("minipay_notifications_total").is_empty());
    assert!(
        !s.text.contains("minipay_notifications_total"),
        "{}",
        s.text
    );
    assert!(
        !s.text.contains("minipay_payment_anomalies_total"),
        "{}",
        s.text
    );
    // The gateway's own series are still there.
    assert!(s.types.contains_key("minipay_http_requests_total"));
}

#[tokio::test]
async fn payment_down_failing_or_hanging_still_gives_200_with_payment_up_0() {
    let app = spawn_app_with(Options {
        payment_up: false,
        ..Options::default()
    })
    .await;
    let s = scrape(&app, "/metrics").await;
    assert_payment_down(&s);
    assert_eq!(
        s.value(&calls("payment-service", "Metrics", "Unavailable")),
        1.0
    );

    let app = spawn_app().await;
    app.payment
        .set_metrics(PaymentMetrics::Fail(Code::Internal, "poisoned".into()));
    let s = scrape(&app, "/metrics").await;
    assert_payment_down(&s);
    assert!(!s.text.contains("poisoned"));

    app.payment.set_metrics(PaymentMetrics::Hang);
    let started = Instant::now();
    let s = scrape(&app, "/metrics").await;
    assert_payment_down(&s);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        s.value(&calls("payment-service", "Metrics", "DeadlineExceeded")),
        1.0
    );

    app.payment.set_metrics(PaymentMetrics::sample());
    let s = scrape(&app, "/metrics").await;
    assert_eq!(s.value("minipay_payment_up"), 1.0);
}
