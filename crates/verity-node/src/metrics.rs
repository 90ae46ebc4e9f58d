//! Prometheus metrics in the text exposition format, kept by hand (a few counters and one
//! histogram family do not justify a metrics framework).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Upper bounds (seconds) of the proving-time histogram buckets.
const PROOF_BUCKETS: [f64; 14] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Audit outcomes, in the order of [`Metrics::audits`].
pub const AUDIT_RESULTS: [&str; 4] = ["ok", "mismatch", "dropped", "error"];

#[derive(Default)]
pub struct Metrics {
    /// (route, method, status) → count
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latency histogram
    latency: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicI64,
    pub receipts_issued: AtomicU64,
    /// Receipts handed to the writer and not yet committed.
    pub receipts_pending: AtomicI64,
    /// Group commits of receipts (each one batch signature, or one plain signature).
    pub receipt_batches: AtomicU64,
    pub inferences: AtomicU64,
    /// Streamed chat completions stopped because their client disconnected.
    pub chat_cancelled: AtomicU64,
    pub mismatches_recorded: AtomicU64,
    /// Requests refused because their body did not fit the in-flight byte budget.
    pub bodies_refused: AtomicU64,
    /// Indexed like [`AUDIT_RESULTS`].
    pub audits: [AtomicU64; 4],
    pub proofs_made: AtomicU64,
    pub proof_jobs_failed: AtomicU64,
    pub proof_jobs_queued: AtomicI64,
    pub proof_jobs_running: AtomicI64,
    /// `POST /v1/verify/proof` outcomes: [valid, invalid].
    pub proof_checks: [AtomicU64; 2],
    /// Time from starting a job to its stored proof, in [`PROOF_BUCKETS`].
    proof_seconds: Mutex<Histogram>,
}

pub enum Audit {
    Ok = 0,
    Mismatch = 1,
    Dropped = 2,
    Error = 3,
}

impl Metrics {
    pub fn audit(&self, a: Audit) {
        self.audits[a as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_proof(&self, seconds: f64) {
        let mut h = self.proof_seconds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = PROOF_BUCKETS.iter().position(|&b| seconds <= b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r.entry((route.to_string(), method.to_string(), status)).or_default() += 1;
        drop(r);
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = l.entry(route.to_string()).or_default();
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The exposition text; `queued`/`running`/`rejected` come from the compute limiter.
    pub fn render(&self, queued: usize, running: usize, rejected: u64, body_bytes: usize) -> String {
        let mut s = String::new();
        let _ = self.render_into(&mut s, queued, running, rejected, body_bytes);
        s
    }

    fn render_into(&self, s: &mut String, queued: usize, running: usize, rejected: u64, body_bytes: usize) -> std::fmt::Result {
        writeln!(s, "# HELP verity_http_requests_total HTTP requests answered, by route template, method and status.")?;
        writeln!(s, "# TYPE verity_http_requests_total counter")?;
        for ((route, method, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            writeln!(s, "verity_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}")?;
        }
        writeln!(s, "# HELP verity_http_request_duration_seconds Time from request to response head, by route template.")?;
        writeln!(s, "# TYPE verity_http_request_duration_seconds histogram")?;
        for (route, h) in self.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let mut cumulative = 0;
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                cumulative += c;
                writeln!(s, "verity_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cumulative}")?;
            }
            writeln!(s, "verity_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count)?;
            writeln!(s, "verity_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum)?;
            writeln!(s, "verity_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count)?;
        }
        let gauges: [(&str, &str, &str, String); 13] = [
            (
                "verity_body_bytes_held",
                "gauge",
                "Request-body bytes reserved against --max-inflight-bytes.",
                body_bytes.to_string(),
            ),
            (
                "verity_bodies_refused_total",
                "counter",
                "Requests refused with 503 because their body did not fit --max-inflight-bytes.",
                self.bodies_refused.load(Ordering::Relaxed).to_string(),
            ),
            ("verity_http_in_flight", "gauge", "Requests being handled.", self.in_flight.load(Ordering::Relaxed).to_string()),
            (
                "verity_compute_running",
                "gauge",
                "Compute jobs (imports, inferences, re-executions) running.",
                running.to_string(),
            ),
            ("verity_compute_queued", "gauge", "Compute jobs waiting for a slot.", queued.to_string()),
            (
                "verity_compute_rejected_total",
                "counter",
                "Requests refused with 503 because compute was saturated.",
                rejected.to_string(),
            ),
            ("verity_inferences_total", "counter", "Inferences answered.", self.inferences.load(Ordering::Relaxed).to_string()),
            (
                "verity_chat_cancelled_total",
                "counter",
                "Streamed chat completions stopped (no receipt) because their client disconnected.",
                self.chat_cancelled.load(Ordering::Relaxed).to_string(),
            ),
            (
                "verity_receipts_issued_total",
                "counter",
                "Receipts signed and durably stored.",
                self.receipts_issued.load(Ordering::Relaxed).to_string(),
            ),
            (
                "verity_receipts_pending",
                "gauge",
                "Receipts waiting to be signed and committed.",
                self.receipts_pending.load(Ordering::Relaxed).max(0).to_string(),
            ),
            (
                "verity_receipt_batches_total",
                "counter",
                "Group commits of receipts, each under one signature.",
                self.receipt_batches.load(Ordering::Relaxed).to_string(),
            ),
            (
                "verity_mismatches_total",
                "counter",
                "Mismatch records stored since start.",
                self.mismatches_recorded.load(Ordering::Relaxed).to_string(),
            ),
            ("verity_up", "gauge", "1 while the node serves.", "1".to_string()),
        ];
        for (name, kind, help, value) in gauges {
            writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}")?;
        }
        writeln!(s, "# HELP verity_audits_total Receipt re-executions by the verifier role, by result.")?;
        writeln!(s, "# TYPE verity_audits_total counter")?;
        for (name, n) in AUDIT_RESULTS.iter().zip(&self.audits) {
            writeln!(s, "verity_audits_total{{result=\"{name}\"}} {}", n.load(Ordering::Relaxed))?;
        }
        let load = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0).to_string();
        let proofs: [(&str, &str, &str, String); 4] = [
            (
                "verity_proofs_made_total",
                "counter",
                "Proofs made and durably stored (evidence zk).",
                self.proofs_made.load(Ordering::Relaxed).to_string(),
            ),
            (
                "verity_proof_jobs_failed_total",
                "counter",
                "Proof jobs that failed.",
                self.proof_jobs_failed.load(Ordering::Relaxed).to_string(),
            ),
            ("verity_proof_jobs_queued", "gauge", "Proof jobs waiting for the prover.", load(&self.proof_jobs_queued)),
            ("verity_proof_jobs_running", "gauge", "Proof jobs being proved.", load(&self.proof_jobs_running)),
        ];
        for (name, kind, help, value) in proofs {
            writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}")?;
        }
        writeln!(s, "# HELP verity_proof_checks_total Proofs checked through POST /v1/verify/proof, by result.")?;
        writeln!(s, "# TYPE verity_proof_checks_total counter")?;
        for (name, n) in ["valid", "invalid"].iter().zip(&self.proof_checks) {
            writeln!(s, "verity_proof_checks_total{{result=\"{name}\"}} {}", n.load(Ordering::Relaxed))?;
        }
        writeln!(s, "# HELP verity_proof_seconds Time to prove and store one proof job.")?;
        writeln!(s, "# TYPE verity_proof_seconds histogram")?;
        let h = self.proof_seconds.lock().unwrap_or_else(|e| e.into_inner());
        let mut cumulative = 0;
        for (b, c) in PROOF_BUCKETS.iter().zip(h.counts) {
            cumulative += c;
            writeln!(s, "verity_proof_seconds_bucket{{le=\"{b}\"}} {cumulative}")?;
        }
        writeln!(s, "verity_proof_seconds_bucket{{le=\"+Inf\"}} {}", h.count)?;
        writeln!(s, "verity_proof_seconds_sum {}", h.sum)?;
        writeln!(s, "verity_proof_seconds_count {}", h.count)?;
        Ok(())
    }
}

/// Middleware: counts every request by its route template (not the raw path, which would
/// make one series per model id) and times it.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    // Only standard methods become label values: arbitrary method tokens would let any
    // client create unbounded series.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m,
        _ => "other",
    }
    .to_string();
    let start = Instant::now();
    let guard = InFlight::enter(state.clone());
    let response = next.run(req).await;
    drop(guard);
    state.metrics.observe(&route, &method, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// Counts a request as in flight until dropped, even if its future is cancelled.
struct InFlight(Arc<AppState>);

impl InFlight {
    fn enter(state: Arc<AppState>) -> Self {
        state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
