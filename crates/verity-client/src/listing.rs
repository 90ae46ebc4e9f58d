//! `GET /v1/receipts` and `GET /v1/proofs` (the node's API key is sent): what the node
//! says it stored. Listed entries are unchecked; fetch one by id to have it verified.

use serde_json::Value;

use crate::error::Result;
use crate::{checked_id, decode, Client};

/// The filters and page of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub model: Option<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub limit: Option<usize>,
    pub after: Option<u64>,
}

impl ListQuery {
    fn query(&self) -> Result<String> {
        let mut q = Vec::new();
        if let Some(m) = &self.model {
            q.push(format!("model={}", checked_id("model id", m)?));
        }
        for (k, v) in [("since", self.since), ("until", self.until), ("after", self.after)] {
            if let Some(v) = v {
                q.push(format!("{k}={v}"));
            }
        }
        if let Some(l) = self.limit {
            q.push(format!("limit={l}"));
        }
        Ok(if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) })
    }
}

impl Client {
    fn get_json_auth(&self, what: &str, path: &str) -> Result<Value> {
        let body = self.send_retrying(what, || {
            let mut req = self.agent.get(self.url(path));
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            req.call()
        })?;
        decode(what, &body)
    }

    /// `{"receipts": [{receipt_id, model_id, input_hash, output_hash, executor, issued_at,
    /// number}], "next_after"?}`.
    pub fn list_receipts(&self, q: &ListQuery) -> Result<Value> {
        self.get_json_auth("list receipts", &format!("/v1/receipts{}", q.query()?))
    }

    /// `{"proofs": [proof job + seq], "next_after"?}`.
    pub fn list_proofs(&self, q: &ListQuery) -> Result<Value> {
        self.get_json_auth("list proofs", &format!("/v1/proofs{}", q.query()?))
    }
}
