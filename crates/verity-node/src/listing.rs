//! `GET /v1/receipts` and `GET /v1/proofs`: the node's receipts and proof jobs, by model
//! and by time, a page at a time (docs/node.md, "Listing receipts and proofs").
//!
//! Both need the node's API key. A receipt or a proof is public evidence to whoever holds
//! its id — the id is the capability, and the stored record carries the client's input
//! (a proof file, the quantized input) — but a list hands out every id, so anyone could
//! read every client's inputs. The node has no notion of which client asked for what, so
//! enumerating is the operator's, not a client's: a client keeps the ids it was given.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use verity_exec::parse_id;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this model's.
    model: Option<String>,
    /// Unix seconds: issued (receipts) or accepted (proof jobs) at or after.
    since: Option<u64>,
    /// Unix seconds: at or before.
    until: Option<u64>,
    limit: Option<usize>,
    /// The `next_after` of the previous page.
    after: Option<u64>,
}

/// How many stored rows one page may read past before it stops (and says where to go on),
/// so that a filter that matches little cannot make one request read the whole store.
pub const SCAN_BUDGET: usize = 100_000;

struct Filter {
    model: Option<[u8; 32]>,
    since: u64,
    until: u64,
}

impl Filter {
    fn new(q: &ListQuery) -> ApiResult<Filter> {
        let model = q.model.as_deref().map(|m| crate::routes::id_param("model", m)).transpose()?;
        let (since, until) = (q.since.unwrap_or(0), q.until.unwrap_or(u64::MAX));
        if since > until {
            return Err(ApiError::bad_request(format!("`since` ({since}) is after `until` ({until})")));
        }
        Ok(Filter { model, since, until })
    }

    fn keeps(&self, model: &[u8; 32], time: u64) -> bool {
        self.model.is_none_or(|m| m == *model) && (self.since..=self.until).contains(&time)
    }
}

/// A listing's scan: the filter, the cursor and the page size give the page's items and
/// the cursor of the next page.
type Scan = fn(&AppState, &Filter, Option<u64>, usize) -> anyhow::Result<(Vec<Value>, Option<u64>)>;

/// Runs a scan on the blocking pool: `scan(filter, limit)` returns the page's items and
/// the cursor of the next page.
async fn page(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
    key: &str,
    scan: Scan,
) -> ApiResult<Json<Value>> {
    crate::routes::authorize(st, headers)?;
    let q = crate::routes::query(q)?;
    let filter = Filter::new(&q)?;
    let limit = crate::routes::page_limit(q.limit)?;
    let st2 = st.clone();
    let (items, next) = tokio::task::spawn_blocking(move || scan(&st2, &filter, q.after, limit))
        .await
        .map_err(|e| ApiError::internal("listing failed", e))?
        .map_err(|e| ApiError::internal("cannot list", format!("{e:#}")))?;
    let mut out = json!({ key: items });
    if let Some(n) = next {
        out["next_after"] = n.into();
    }
    Ok(Json(out))
}

pub async fn list_receipts(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    page(&st, &headers, q, "receipts", scan_receipts).await
}

pub async fn list_proofs(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    page(&st, &headers, q, "proofs", scan_proofs).await
}

/// Each receipt as `{receipt_id, model_id, input_hash, output_hash, executor, issued_at,
/// number}` (without the input: `GET /v1/receipts/{id}` has it).
fn scan_receipts(st: &AppState, f: &Filter, after: Option<u64>, limit: usize) -> anyhow::Result<(Vec<Value>, Option<u64>)> {
    let (mut out, mut next, mut read) = (Vec::new(), None, 0usize);
    let mut last = after;
    st.store.scan_receipts(after, &mut |n, bytes| {
        read += 1;
        if read > SCAN_BUDGET {
            next = last;
            return Ok(false);
        }
        let rec = crate::receipts::decode_record(bytes)?;
        let body = &rec.receipt.body;
        // A repeated id is listed once, at its latest number (what GET returns).
        let latest = parse_id(&rec.receipt_id).and_then(|id| st.store.receipt_number(&id)) == Some(n);
        if latest && f.keeps(&body.model_id, rec.issued_at) {
            if out.len() == limit {
                next = last;
                return Ok(false);
            }
            out.push(json!({
                "number": n,
                "receipt_id": rec.receipt_id,
                "model_id": rec.model_id,
                "input_hash": verity_commit::hash::hex(&body.input_hash),
                "output_hash": verity_commit::hash::hex(&body.output_hash),
                "executor": verity_receipt::to_checksum_address(&body.executor),
                "issued_at": rec.issued_at,
            }));
        }
        last = Some(n);
        Ok(true)
    })?;
    Ok((out, next))
}

/// Each proof job as `GET /v1/proofs/{id}` shows it (without live progress), plus `seq`.
fn scan_proofs(st: &AppState, f: &Filter, after: Option<u64>, limit: usize) -> anyhow::Result<(Vec<Value>, Option<u64>)> {
    let (mut out, mut next, mut read) = (Vec::new(), None, 0usize);
    let mut last = after;
    st.store.scan_jobs(after, &mut |seq, row| {
        read += 1;
        if read > SCAN_BUDGET {
            next = last;
            return Ok(false);
        }
        let model = parse_id(&row.job.model_id).unwrap_or_default();
        if f.keeps(&model, row.job.created_at) {
            if out.len() == limit {
                next = last;
                return Ok(false);
            }
            let mut v = serde_json::to_value(&row.job)?;
            v["seq"] = seq.into();
            out.push(v);
        }
        last = Some(seq);
        Ok(true)
    })?;
    Ok((out, next))
}
