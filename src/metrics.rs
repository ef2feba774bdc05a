//! Process-wide counters and histograms, rendered in the Prometheus text format (0.0.4) at
//! `GET /metrics` on the plain listener.
//!
//! Everything is a fixed array of atomics in one `static`: recording is a relaxed atomic add,
//! never a lock or an allocation, so instrumenting the hot paths costs nanoseconds. Label values
//! come from fixed lists so the series count is bounded whatever clients send.

use crate::server::Kind;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `reason` label values of `apikey_sts_auth_failures_total`.
pub const AUTH_FAILURE_REASONS: [&str; 4] = [
    "missing_credentials",
    "invalid_credentials",
    "throttled",
    "other",
];

/// `result` label values of `apikey_sts_validations_total`; the validator's rejection reasons.
pub const VALIDATION_RESULTS: [&str; 17] = [
    "valid",
    "missing",
    "malformed",
    "too_long",
    "bad_algorithm",
    "unknown_key",
    "bad_signature",
    "critical_extension",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "not_yet_valid",
    "bad_claim",
    "revoked",
    "api_not_allowed",
    "api_unspecified",
    "other",
];

/// Upper bounds of the latency buckets, in microseconds (100 µs .. 5 s).
const BUCKETS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];
const LISTENERS: [&str; 2] = ["https", "plain"];

struct Histogram {
    /// Non-cumulative counts; the last slot is for observations above every bound.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS_US.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe(&self, us: u64) {
        let i = BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

struct Metrics {
    keys_issued: AtomicU64,
    auth_failures: [AtomicU64; AUTH_FAILURE_REASONS.len()],
    validations: [AtomicU64; VALIDATION_RESULTS.len()],
    /// [hit, miss]
    cache: [AtomicU64; 2],
    latency: [Histogram; LISTENERS.len()],
    open_connections: AtomicU64,
}

static METRICS: Metrics = Metrics {
    keys_issued: AtomicU64::new(0),
    auth_failures: [const { AtomicU64::new(0) }; AUTH_FAILURE_REASONS.len()],
    validations: [const { AtomicU64::new(0) }; VALIDATION_RESULTS.len()],
    cache: [const { AtomicU64::new(0) }; 2],
    latency: [const { Histogram::new() }; LISTENERS.len()],
    open_connections: AtomicU64::new(0),
};

/// Index of `label` in `list`, else of its last entry ("other").
fn index(list: &[&str], label: &str) -> usize {
    list.iter()
        .position(|l| *l == label)
        .unwrap_or(list.len() - 1)
}

/// One API key issued.
pub fn key_issued() {
    METRICS.keys_issued.fetch_add(1, Ordering::Relaxed);
}

/// A refused `/apikey` request; `reason` is one of `AUTH_FAILURE_REASONS`.
pub fn auth_failure(reason: &str) {
    METRICS.auth_failures[index(&AUTH_FAILURE_REASONS, reason)].fetch_add(1, Ordering::Relaxed);
}

/// One `/validate` answer; `result` is one of `VALIDATION_RESULTS`.
pub fn validation(result: &str) {
    METRICS.validations[index(&VALIDATION_RESULTS, result)].fetch_add(1, Ordering::Relaxed);
}

/// A verified-key cache lookup.
pub fn validation_cache(hit: bool) {
    METRICS.cache[usize::from(!hit)].fetch_add(1, Ordering::Relaxed);
}

/// Time from a complete request to its response being queued.
pub fn request_served(kind: Kind, took: Duration) {
    let i = match kind {
        Kind::Https => 0,
        Kind::Plain => 1,
    };
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    METRICS.latency[i].observe(us);
}

/// Connections currently open (all listeners).
pub fn set_open_connections(n: usize) {
    METRICS.open_connections.store(n as u64, Ordering::Relaxed);
}

/// `Content-Type` of `render`'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let m = &METRICS;
    let mut out = String::with_capacity(4096);
    // Written out family by family; `writeln!` to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP apikey_sts_keys_issued_total API keys issued.\n\
         # TYPE apikey_sts_keys_issued_total counter\n\
         apikey_sts_keys_issued_total {}",
        load(&m.keys_issued)
    );
    let _ = writeln!(
        out,
        "# HELP apikey_sts_auth_failures_total Refused /apikey requests, by reason.\n\
         # TYPE apikey_sts_auth_failures_total counter"
    );
    for (label, v) in AUTH_FAILURE_REASONS.iter().zip(&m.auth_failures) {
        let _ = writeln!(
            out,
            "apikey_sts_auth_failures_total{{reason=\"{label}\"}} {}",
            load(v)
        );
    }
    let _ = writeln!(
        out,
        "# HELP apikey_sts_validations_total /validate answers, by result.\n\
         # TYPE apikey_sts_validations_total counter"
    );
    for (label, v) in VALIDATION_RESULTS.iter().zip(&m.validations) {
        let _ = writeln!(
            out,
            "apikey_sts_validations_total{{result=\"{label}\"}} {}",
            load(v)
        );
    }
    let _ = writeln!(
        out,
        "# HELP apikey_sts_validation_cache_total Verified-key cache lookups.\n\
         # TYPE apikey_sts_validation_cache_total counter\n\
         apikey_sts_validation_cache_total{{result=\"hit\"}} {}\n\
         apikey_sts_validation_cache_total{{result=\"miss\"}} {}",
        load(&m.cache[0]),
        load(&m.cache[1])
    );
    let _ = writeln!(
        out,
        "# HELP apikey_sts_request_duration_seconds Request handling time, by listener.\n\
         # TYPE apikey_sts_request_duration_seconds histogram"
    );
    for (listener, h) in LISTENERS.iter().zip(&m.latency) {
        let mut cumulative = 0;
        for (bound, v) in BUCKETS_US.iter().zip(&h.buckets) {
            cumulative += load(v);
            let _ = writeln!(
                out,
                "apikey_sts_request_duration_seconds_bucket{{listener=\"{listener}\",le=\"{}\"}} {cumulative}",
                seconds(*bound).trim_end_matches('0').trim_end_matches('.')
            );
        }
        cumulative += load(&h.buckets[BUCKETS_US.len()]);
        let _ = writeln!(
            out,
            "apikey_sts_request_duration_seconds_bucket{{listener=\"{listener}\",le=\"+Inf\"}} {cumulative}\n\
             apikey_sts_request_duration_seconds_sum{{listener=\"{listener}\"}} {}\n\
             apikey_sts_request_duration_seconds_count{{listener=\"{listener}\"}} {cumulative}",
            seconds(load(&h.sum_us))
        );
    }
    let _ = writeln!(
        out,
        "# HELP apikey_sts_open_connections Connections currently open.\n\
         # TYPE apikey_sts_open_connections gauge\n\
         apikey_sts_open_connections {}",
        load(&m.open_connections)
    );
    render_revocation_store(&mut out);
    out
}

/// The shared revocation store's state, when one is configured.
fn render_revocation_store(out: &mut String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let Some(s) = crate::revocation::redis::state(now) else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP apikey_sts_revocation_store_up 1 while the shared revocation store (Redis) \
         answers.\n\
         # TYPE apikey_sts_revocation_store_up gauge\n\
         apikey_sts_revocation_store_up {}\n\
         # HELP apikey_sts_revocation_store_sync_age_seconds Seconds since the last confirmed \
         sync with the shared revocation store (-1: never).\n\
         # TYPE apikey_sts_revocation_store_sync_age_seconds gauge\n\
         apikey_sts_revocation_store_sync_age_seconds {}\n\
         # HELP apikey_sts_revocation_store_rejected_total Malformed records read from the \
         shared revocation store and skipped.\n\
         # TYPE apikey_sts_revocation_store_rejected_total counter\n\
         apikey_sts_revocation_store_rejected_total {}",
        u8::from(s.up),
        s.since_sync.unwrap_or(-1),
        s.rejected
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the first sample line starting with `series ` (other tests run in parallel
    /// and share the statics, so tests compare before/after deltas only).
    fn sample(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    #[test]
    fn counters_move_and_unknown_labels_fall_into_other() {
        let before = render();
        key_issued();
        auth_failure("invalid_credentials");
        auth_failure("made-up");
        validation("expired");
        validation("\"}\n injected 1");
        validation_cache(true);
        validation_cache(false);
        let after = render();
        for (series, delta) in [
            ("apikey_sts_keys_issued_total", 1),
            (
                "apikey_sts_auth_failures_total{reason=\"invalid_credentials\"}",
                1,
            ),
            ("apikey_sts_auth_failures_total{reason=\"other\"}", 1),
            ("apikey_sts_validations_total{result=\"expired\"}", 1),
            ("apikey_sts_validations_total{result=\"other\"}", 1),
            ("apikey_sts_validation_cache_total{result=\"hit\"}", 1),
            ("apikey_sts_validation_cache_total{result=\"miss\"}", 1),
        ] {
            assert!(
                sample(&after, series) >= sample(&before, series) + delta,
                "{series}"
            );
        }
        assert!(!after.contains("injected"));
    }

    #[test]
    fn histogram_is_cumulative_with_bucket_edges() {
        let before = render();
        // Exactly at the first bound, just past it, and past every bound.
        request_served(Kind::Plain, Duration::from_micros(100));
        request_served(Kind::Plain, Duration::from_micros(101));
        request_served(Kind::Plain, Duration::from_secs(3600));
        let after = render();
        let b = |t: &str, le: &str| {
            sample(
                t,
                &format!(
                    "apikey_sts_request_duration_seconds_bucket{{listener=\"plain\",le=\"{le}\"}}"
                ),
            )
        };
        assert!(b(&after, "0.0001") > b(&before, "0.0001"));
        assert!(b(&after, "0.00025") >= b(&before, "0.00025") + 2);
        assert!(b(&after, "5") >= b(&before, "5") + 2);
        assert!(b(&after, "+Inf") >= b(&before, "+Inf") + 3);
        let count = |t: &str| {
            sample(
                t,
                "apikey_sts_request_duration_seconds_count{listener=\"plain\"}",
            )
        };
        assert!(count(&after) >= count(&before) + 3);
        assert!(after.contains("apikey_sts_request_duration_seconds_sum{listener=\"plain\"} "));
        // Every sample line is `name{labels} value` with a numeric value.
        for line in after.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn gauge_and_seconds_format() {
        set_open_connections(7);
        assert!(
            render()
                .lines()
                .any(|l| l == "apikey_sts_open_connections 7"),
            "{}",
            render()
        );
        assert_eq!(seconds(1_234_567), "1.234567");
        assert_eq!(seconds(5), "0.000005");
    }
}
