//! What a node learns from the network and keeps: node records, receipt batches,
//! convictions of executors (with their fraud proofs, kept for settlement), and the
//! counters behind its metrics. Every gossip message goes through [`Book::accept`], which
//! decodes, checks and deduplicates it; a refusal is counted under its reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use libp2p::PeerId;

use crate::error::NetError;
use crate::evidence::{BatchAnnouncement, Conviction, FraudProof};
use crate::record::NodeRecord;

/// The most batches remembered per executor (older ones are dropped first).
const MAX_BATCHES: usize = 4096;

#[derive(Default)]
pub struct Book {
    /// Peer id → its latest checked record.
    pub records: HashMap<PeerId, NodeRecord>,
    /// (executor, seq) of announcements seen, and the announcements.
    pub batches: BTreeMap<([u8; 20], u64), BatchAnnouncement>,
    /// Executor → the first fraud proof that convicted it.
    pub faulty: HashMap<[u8; 20], (Conviction, FraudProof)>,
    convicted_receipts: HashSet<[u8; 32]>,
    pub counters: BTreeMap<String, u64>,
}

/// What an accepted message changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    Batch { executor: [u8; 20], seq: u64, receipts: usize },
    Conviction(Conviction),
}

impl Book {
    pub fn count(&mut self, name: &str) {
        *self.counters.entry(name.to_string()).or_default() += 1;
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    fn reject(&mut self, e: NetError) -> NetError {
        self.count(&format!("rejected_{}", e.label()));
        e
    }

    /// Whether routing to this executor is still allowed.
    pub fn is_faulty(&self, executor: &[u8; 20]) -> bool {
        self.faulty.contains_key(executor)
    }

    /// A record presented by `from` (the authenticated remote peer).
    pub fn accept_record(&mut self, from: &PeerId, bytes: &[u8]) -> Result<(), NetError> {
        let rec = NodeRecord::decode(bytes).and_then(|r| r.verify(from).map(|_| r)).map_err(|e| self.reject(e))?;
        if let Some(old) = self.records.get(from) {
            if old.timestamp >= rec.timestamp && *old != rec {
                return Err(self.reject(NetError::Replayed("node record (not newer than the one held)")));
            }
        }
        self.records.insert(*from, rec);
        self.count("records_accepted");
        Ok(())
    }

    pub fn accept_batch(&mut self, bytes: &[u8]) -> Result<Accepted, NetError> {
        let a = BatchAnnouncement::decode(bytes).and_then(|a| a.verify().map(|_| a)).map_err(|e| self.reject(e))?;
        let key = (a.executor, a.seq);
        if self.batches.contains_key(&key) {
            return Err(self.reject(NetError::Replayed("batch announcement")));
        }
        if self.batches.len() >= MAX_BATCHES {
            let oldest = *self.batches.keys().next().expect("non-empty");
            self.batches.remove(&oldest);
        }
        let out = Accepted::Batch { executor: a.executor, seq: a.seq, receipts: a.receipt_ids.len() };
        self.batches.insert(key, a);
        self.count("batches_accepted");
        Ok(out)
    }

    pub fn accept_fraud_proof(&mut self, bytes: &[u8]) -> Result<Accepted, NetError> {
        let proof = FraudProof::decode(bytes).map_err(|e| self.reject(e))?;
        if self.convicted_receipts.contains(&proof.receipt.signing_hash()) {
            return Err(self.reject(NetError::Replayed("fraud proof (this receipt is already convicted)")));
        }
        let c = proof.check().map_err(|e| self.reject(e))?;
        self.convicted_receipts.insert(c.receipt_id);
        self.faulty.entry(c.executor).or_insert_with(|| (c.clone(), proof));
        self.count("fraud_proofs_total");
        Ok(Accepted::Conviction(c))
    }

    /// Prometheus text (`verity_net_*`, and `verity_fraud_proofs_total`).
    pub fn metrics(&self, peers: usize) -> String {
        let mut out = String::new();
        out.push_str("# TYPE verity_fraud_proofs_total counter\n");
        out.push_str(&format!("verity_fraud_proofs_total {}\n", self.counter("fraud_proofs_total")));
        out.push_str("# TYPE verity_net_peers gauge\n");
        out.push_str(&format!("verity_net_peers {peers}\n"));
        out.push_str(&format!("verity_net_faulty_executors {}\n", self.faulty.len()));
        out.push_str("# TYPE verity_net_messages_total counter\n");
        for (k, v) in &self.counters {
            if k != "fraud_proofs_total" {
                out.push_str(&format!("verity_net_messages_total{{event=\"{k}\"}} {v}\n"));
            }
        }
        out
    }
}
