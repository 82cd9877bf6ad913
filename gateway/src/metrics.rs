//! The gateway's own counters and their Prometheus text exposition
//! (format 0.0.4), written by hand: requests by route template and HTTP
//! status, request latency per route, gRPC client calls and latency per
//! (service, method), and payment-service's counters as it reported them.
//!
//! Labels come from a bounded set only: matched route templates (never the
//! raw path; an unmatched request is [`UNMATCHED`]), HTTP status codes, the
//! gateway's own service and method names, gRPC codes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use proto::payment::v1::MetricsResponse;

/// The `route` label of a request no route matched.
pub(crate) const UNMATCHED: &str = "unmatched";

/// What `GET /metrics` answers with.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds (5 ms … 10 s); `+Inf`
/// is implied.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with [`BUCKETS`].
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket, *not* cumulative; those above the last
    /// bound are only in `count`.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    /// `_bucket` (cumulative, ending with `+Inf` = `_count`), `_sum` and
    /// `_count` lines of `name` for one label set (`labels` without braces).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// One route template's requests.
#[derive(Debug, Clone, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// One gRPC method's calls.
#[derive(Debug, Clone, Default)]
struct RpcStats {
    by_code: BTreeMap<&'static str, u64>,
    latency: Histogram,
}

/// The counters of one gateway (one [`crate::router`]), shared by every
/// request. Each observation takes a short lock.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
    rpcs: Mutex<HashMap<(&'static str, &'static str), RpcStats>>,
}

/// A counter is still right after a panic elsewhere: ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// A request to `route` (a template, or [`UNMATCHED`]) answered with
    /// `status` after `elapsed`.
    pub(crate) fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        let mut routes = lock(&self.routes);
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_owned()).or_default(),
        };
        *stats.by_status.entry(status).or_default() += 1;
        stats.latency.observe(elapsed);
    }

    /// A call to `service`'s `method` that ended with `code` after `elapsed`
    /// (a deadline the gateway enforced itself counts as DeadlineExceeded).
    pub(crate) fn observe_call(
        &self,
        service: &'static str,
        method: &'static str,
        code: tonic::Code,
        elapsed: Duration,
    ) {
        let mut rpcs = lock(&self.rpcs);
        let stats = rpcs.entry((service, method)).or_default();
        *stats.by_code.entry(code_name(code)).or_default() += 1;
        stats.latency.observe(elapsed);
    }

    /// The whole exposition. `payment` is payment-service's answer to
    /// Metrics, or `None` when it gave none: then `minipay_payment_up 0` and
    /// none of its series.
    pub(crate) fn render(&self, payment: Option<&MetricsResponse>) -> String {
        let mut out = String::new();
        self.render_routes(&mut out);
        self.render_rpcs(&mut out);
        render_payment(&mut out, payment);
        out
    }

    fn render_routes(&self, out: &mut String) {
        let routes: BTreeMap<String, RouteStats> = lock(&self.routes)
            .iter()
            .map(|(route, stats)| (route.clone(), stats.clone()))
            .collect();

        header(
            out,
            "minipay_http_requests_total",
            "counter",
            "HTTP requests answered, by route template and HTTP status.",
        );
        for (route, stats) in &routes {
            let route = escape(route);
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "minipay_http_requests_total{{route=\"{route}\",code=\"{status}\"}} {n}"
                );
            }
        }

        let name = "minipay_http_request_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Time to answer an HTTP request (until the response head), by route template.",
        );
        for (route, stats) in &routes {
            let labels = format!("route=\"{}\"", escape(route));
            stats.latency.render(out, name, &labels);
        }
    }

    fn render_rpcs(&self, out: &mut String) {
        let rpcs: BTreeMap<(&str, &str), RpcStats> = lock(&self.rpcs)
            .iter()
            .map(|(key, stats)| (*key, stats.clone()))
            .collect();

        header(
            out,
            "minipay_grpc_client_calls_total",
            "counter",
            "gRPC calls the gateway made, by service, method and gRPC code.",
        );
        for ((service, method), stats) in &rpcs {
            for (code, n) in &stats.by_code {
                let _ = writeln!(
                    out,
                    "minipay_grpc_client_calls_total{{service=\"{}\",method=\"{}\",grpc_code=\"{code}\"}} {n}",
                    escape(service),
                    escape(method),
                );
            }
        }

        let name = "minipay_grpc_client_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Latency of the gateway's gRPC calls, by service and method.",
        );
        for ((service, method), stats) in &rpcs {
            let labels = format!(
                "service=\"{}\",method=\"{}\"",
                escape(service),
                escape(method)
            );
            stats.latency.render(out, name, &labels);
        }
    }
}

fn render_payment(out: &mut String, payment: Option<&MetricsResponse>) {
    header(
        out,
        "minipay_payment_up",
        "gauge",
        "Whether payment-service answered Metrics for this scrape (1) or not (0).",
    );
    let Some(payment) = payment else {
        out.push_str("minipay_payment_up 0\n");
        return;
    };
    out.push_str("minipay_payment_up 1\n");

    header(
        out,
        "minipay_notifications_total",
        "counter",
        "WeChat payment notifications handled by payment-service since it started, by outcome.",
    );
    let outcomes: BTreeMap<&String, &u64> = payment.notifications_by_outcome.iter().collect();
    for (outcome, n) in outcomes {
        let _ = writeln!(
            out,
            "minipay_notifications_total{{outcome=\"{}\"}} {n}",
            escape(outcome)
        );
    }

    header(
        out,
        "minipay_payment_anomalies_total",
        "counter",
        "Payments for orders the ledger had closed, since payment-service started.",
    );
    let _ = writeln!(out, "minipay_payment_anomalies_total {}", payment.anomalies);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The code's name, as gRPC spells it in `grpc_code` labels elsewhere.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let mut h = Histogram::default();
        for ms in [1, 5, 7, 300, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(&mut out, "x", "route=\"/a\"");
        let values: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("x_bucket"))
            .filter_map(|l| l.rsplit(' ').next())
            .collect();
        assert_eq!(
            values,
            ["2", "3", "3", "3", "3", "3", "4", "4", "4", "4", "4", "5"],
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.005\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 5\n"),
            "{out}"
        );
        assert!(out.contains("x_count{route=\"/a\"} 5\n"), "{out}");
        assert!(out.contains("x_sum{route=\"/a\"} 20.313"), "{out}");
    }

    #[test]
    fn requests_count_by_route_and_status() {
        let m = Metrics::default();
        m.observe_request("/orders/{out_trade_no}", 200, Duration::from_millis(3));
        m.observe_request("/orders/{out_trade_no}", 200, Duration::from_millis(3));
        m.observe_request("/orders/{out_trade_no}", 404, Duration::from_millis(3));
        m.observe_request(UNMATCHED, 404, Duration::from_millis(1));
        let text = m.render(None);
        assert_eq!(
            lines_of(&text, "minipay_http_requests_total{"),
            [
                "minipay_http_requests_total{route=\"/orders/{out_trade_no}\",code=\"200\"} 2",
                "minipay_http_requests_total{route=\"/orders/{out_trade_no}\",code=\"404\"} 1",
                "minipay_http_requests_total{route=\"unmatched\",code=\"404\"} 1",
            ]
        );
        assert!(text.ends_with("minipay_payment_up 0\n"), "{text}");
        assert!(!text.contains("minipay_notifications_total"), "{text}");
    }

    #[test]
    fn calls_count_by_service_method_and_code() {
        let m = Metrics::default();
        m.observe_call("auth-service", "Login", tonic::Code::Ok, Duration::ZERO);
        m.observe_call(
            "auth-service",
            "Login",
            tonic::Code::DeadlineExceeded,
            Duration::from_secs(30),
        );
        let text = m.render(None);
        assert_eq!(
            lines_of(&text, "minipay_grpc_client_calls_total{"),
            [
                "minipay_grpc_client_calls_total{service=\"auth-service\",method=\"Login\",grpc_code=\"DeadlineExceeded\"} 1",
                "minipay_grpc_client_calls_total{service=\"auth-service\",method=\"Login\",grpc_code=\"OK\"} 1",
            ]
        );
        assert!(text.contains(
            "minipay_grpc_client_duration_seconds_bucket{service=\"auth-service\",method=\"Login\",le=\"10\"} 1\n"
        ));
        assert!(text.contains(
            "minipay_grpc_client_duration_seconds_count{service=\"auth-service\",method=\"Login\"} 2\n"
        ));
    }

    #[test]
    fn payment_counters_are_sorted_and_escaped() {
        let payment = MetricsResponse {
            notifications_by_outcome: [
                ("REFUSED".to_owned(), 4),
                ("APPLIED".to_owned(), 7),
                ("we\"ird\n".to_owned(), 1),
            ]
            .into_iter()
            .collect(),
            anomalies: 2,
        };
        let text = Metrics::default().render(Some(&payment));
        assert_eq!(
            lines_of(&text, "minipay_notifications_total{"),
            [
                "minipay_notifications_total{outcome=\"APPLIED\"} 7",
                "minipay_notifications_total{outcome=\"REFUSED\"} 4",
                "minipay_notifications_total{outcome=\"we\\\"ird\\n\"} 1",
            ]
        );
        assert!(text.contains("\nminipay_payment_up 1\n"), "{text}");
        assert!(
            text.ends_with("\nminipay_payment_anomalies_total 2\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE minipay_payment_anomalies_total counter\n"));
    }
}
