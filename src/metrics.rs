//! Process-wide counters and histograms, rendered in the Prometheus text format (0.0.4) at
//! `GET /metrics` on the plain listener.
//!
//! Everything is a fixed array of atomics in one `static`: recording is a relaxed atomic add,
//! never a lock or an allocation, so instrumenting the hot paths costs nanoseconds. Label values
//! come from fixed lists so the series count is bounded whatever clients send.

use crate::service::ListenerKind;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why an `/apikey` request was refused: the `reason` label of
/// `apikey_sts_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredentials,
    InvalidCredentials,
    /// Stays last (see the assertions at `METRICS`).
    Throttled,
}

impl AuthFailure {
    pub const ALL: [AuthFailure; 3] = [
        AuthFailure::MissingCredentials,
        AuthFailure::InvalidCredentials,
        AuthFailure::Throttled,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::MissingCredentials => "missing_credentials",
            AuthFailure::InvalidCredentials => "invalid_credentials",
            AuthFailure::Throttled => "throttled",
        }
    }
}

/// A `/validate` answer: the `result` label of `apikey_sts_validations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationResult {
    Valid,
    Missing,
    Malformed,
    TooLong,
    BadAlgorithm,
    UnknownKey,
    BadSignature,
    CriticalExtension,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    BadClaim,
    Revoked,
    ApiNotAllowed,
    ApiUnspecified,
    ClientNotPermitted,
    KeyTypeNotAccepted,
    /// A failure of the server's own (the signer or the RNG), not of the key. Stays last.
    Other,
}

impl ValidationResult {
    pub const ALL: [ValidationResult; 19] = [
        ValidationResult::Valid,
        ValidationResult::Missing,
        ValidationResult::Malformed,
        ValidationResult::TooLong,
        ValidationResult::BadAlgorithm,
        ValidationResult::UnknownKey,
        ValidationResult::BadSignature,
        ValidationResult::CriticalExtension,
        ValidationResult::WrongIssuer,
        ValidationResult::WrongAudience,
        ValidationResult::Expired,
        ValidationResult::NotYetValid,
        ValidationResult::BadClaim,
        ValidationResult::Revoked,
        ValidationResult::ApiNotAllowed,
        ValidationResult::ApiUnspecified,
        ValidationResult::ClientNotPermitted,
        ValidationResult::KeyTypeNotAccepted,
        ValidationResult::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ValidationResult::Valid => "valid",
            ValidationResult::Missing => "missing",
            ValidationResult::Malformed => "malformed",
            ValidationResult::TooLong => "too_long",
            ValidationResult::BadAlgorithm => "bad_algorithm",
            ValidationResult::UnknownKey => "unknown_key",
            ValidationResult::BadSignature => "bad_signature",
            ValidationResult::CriticalExtension => "critical_extension",
            ValidationResult::WrongIssuer => "wrong_issuer",
            ValidationResult::WrongAudience => "wrong_audience",
            ValidationResult::Expired => "expired",
            ValidationResult::NotYetValid => "not_yet_valid",
            ValidationResult::BadClaim => "bad_claim",
            ValidationResult::Revoked => "revoked",
            ValidationResult::ApiNotAllowed => "api_not_allowed",
            ValidationResult::ApiUnspecified => "api_unspecified",
            ValidationResult::ClientNotPermitted => "client_not_permitted",
            ValidationResult::KeyTypeNotAccepted => "key_type_not_accepted",
            ValidationResult::Other => "other",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds (100 µs .. 5 s).
const BUCKETS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

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
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    validations: [AtomicU64; ValidationResult::ALL.len()],
    /// [hit, miss]
    cache: [AtomicU64; 2],
    latency: [Histogram; ListenerKind::ALL.len()],
    open_connections: AtomicU64,
    slow_checks: AtomicU64,
}

// The counters are indexed by discriminant: `ALL` lists every variant in declaration order, and
// a variant added after the last one below would be past the end of `ALL`.
const _: () = assert!(AuthFailure::Throttled as usize + 1 == AuthFailure::ALL.len());
const _: () = assert!(ValidationResult::Other as usize + 1 == ValidationResult::ALL.len());
const _: () = assert!(ListenerKind::Plain as usize + 1 == ListenerKind::ALL.len());

static METRICS: Metrics = Metrics {
    keys_issued: AtomicU64::new(0),
    auth_failures: [const { AtomicU64::new(0) }; AuthFailure::ALL.len()],
    validations: [const { AtomicU64::new(0) }; ValidationResult::ALL.len()],
    cache: [const { AtomicU64::new(0) }; 2],
    latency: [const { Histogram::new() }; ListenerKind::ALL.len()],
    open_connections: AtomicU64::new(0),
    slow_checks: AtomicU64::new(0),
};

/// One API key issued.
pub fn key_issued() {
    METRICS.keys_issued.fetch_add(1, Ordering::Relaxed);
}

/// A refused `/apikey` request.
pub fn auth_failure(reason: AuthFailure) {
    METRICS.auth_failures[reason as usize].fetch_add(1, Ordering::Relaxed);
}

/// One `/validate` answer.
pub fn validation(result: ValidationResult) {
    METRICS.validations[result as usize].fetch_add(1, Ordering::Relaxed);
}

/// A verified-key cache lookup.
pub fn validation_cache(hit: bool) {
    METRICS.cache[usize::from(!hit)].fetch_add(1, Ordering::Relaxed);
}

/// Time from a complete request to its response being queued.
pub fn request_served(kind: ListenerKind, took: Duration) {
    let i = kind as usize;
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    METRICS.latency[i].observe(us);
}

/// Connections currently open (all listeners).
pub fn set_open_connections(n: usize) {
    METRICS.open_connections.store(n as u64, Ordering::Relaxed);
}

/// Slow password checks (PBKDF2) running now.
pub fn set_slow_checks(n: usize) {
    METRICS.slow_checks.store(n as u64, Ordering::Relaxed);
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
    render_with(None)
}

/// The shared revocation store's gauges (`store = "redis"`). The caller reads them from the
/// store, so that this module imports no revocation code (`config` → `auth` → `metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationStoreGauges {
    /// Whether the store answers.
    pub up: bool,
    /// Seconds since the last confirmed sync; None if there never was one.
    pub since_sync: Option<i64>,
    /// Malformed records read from the store and skipped.
    pub rejected: u64,
}

/// As `render`, plus the shared revocation store's gauges when one is configured.
pub fn render_with(store: Option<RevocationStoreGauges>) -> String {
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
    for (reason, v) in AuthFailure::ALL.iter().zip(&m.auth_failures) {
        let _ = writeln!(
            out,
            "apikey_sts_auth_failures_total{{reason=\"{}\"}} {}",
            reason.label(),
            load(v)
        );
    }
    let _ = writeln!(
        out,
        "# HELP apikey_sts_validations_total /validate answers, by result.\n\
         # TYPE apikey_sts_validations_total counter"
    );
    for (result, v) in ValidationResult::ALL.iter().zip(&m.validations) {
        let _ = writeln!(
            out,
            "apikey_sts_validations_total{{result=\"{}\"}} {}",
            result.label(),
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
    for (kind, h) in ListenerKind::ALL.iter().zip(&m.latency) {
        let listener = kind.label();
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
    let _ = writeln!(
        out,
        "# HELP apikey_sts_slow_password_checks Slow password checks (PBKDF2) running now.\n\
         # TYPE apikey_sts_slow_password_checks gauge\n\
         apikey_sts_slow_password_checks {}",
        load(&m.slow_checks)
    );
    if let Some(s) = store {
        render_revocation_store(&mut out, s);
    }
    out
}

/// The shared revocation store's state, when one is configured.
fn render_revocation_store(out: &mut String, s: RevocationStoreGauges) {
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

    #[test]
    fn revocation_store_gauges_only_when_configured() {
        assert!(!render().contains("apikey_sts_revocation_store_up"));
        let text = render_with(Some(RevocationStoreGauges {
            up: false,
            since_sync: None,
            rejected: 3,
        }));
        assert!(
            text.contains("\napikey_sts_revocation_store_up 0\n"),
            "{text}"
        );
        assert!(text.contains("\napikey_sts_revocation_store_sync_age_seconds -1\n"));
        assert!(text.contains("\napikey_sts_revocation_store_rejected_total 3\n"));
        let text = render_with(Some(RevocationStoreGauges {
            up: true,
            since_sync: Some(4),
            rejected: 0,
        }));
        assert!(
            text.contains("\napikey_sts_revocation_store_up 1\n"),
            "{text}"
        );
        assert!(text.contains("\napikey_sts_revocation_store_sync_age_seconds 4\n"));
    }

    /// The value of the first sample line starting with `series ` (other tests run in parallel
    /// and share the statics, so tests compare before/after deltas only).
    fn sample(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    #[test]
    fn counters_move_and_every_label_is_rendered() {
        let before = render();
        key_issued();
        auth_failure(AuthFailure::InvalidCredentials);
        validation(ValidationResult::Expired);
        validation(ValidationResult::Other);
        validation_cache(true);
        validation_cache(false);
        let after = render();
        for (series, delta) in [
            ("apikey_sts_keys_issued_total", 1),
            (
                "apikey_sts_auth_failures_total{reason=\"invalid_credentials\"}",
                1,
            ),
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
        // The arrays are indexed by the enums: each variant has its own slot, in `ALL` order.
        for (i, r) in AuthFailure::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            sample(
                &after,
                &format!("apikey_sts_auth_failures_total{{reason=\"{}\"}}", r.label()),
            );
        }
        for (i, k) in ListenerKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        for (i, r) in ValidationResult::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            sample(
                &after,
                &format!("apikey_sts_validations_total{{result=\"{}\"}}", r.label()),
            );
        }
    }

    #[test]
    fn histogram_is_cumulative_with_bucket_edges() {
        let before = render();
        // Exactly at the first bound, just past it, and past every bound.
        request_served(ListenerKind::Plain, Duration::from_micros(100));
        request_served(ListenerKind::Plain, Duration::from_micros(101));
        request_served(ListenerKind::Plain, Duration::from_secs(3600));
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
