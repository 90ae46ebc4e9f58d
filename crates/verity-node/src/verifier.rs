//! The verifier role: re-execute a sample of receipts and keep what is needed to open a
//! dispute whenever a genuinely signed receipt, for the model and input it is checked
//! against, claims an output or trace the re-execution does not reproduce.
//!
//! Audits of issued and submitted receipts, and of issued chat completions, run on one
//! background thread with the *reference interpreter* (for chat, the reference kernel) —
//! an implementation independent of the engine that produced the receipt, so an engine
//! bug or a faulty machine shows up as a mismatch. The queue is
//! bounded: when audits arrive faster than they run, new ones are dropped and counted
//! (`verity_audits_total{result="dropped"}`) rather than delaying inference.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Result;
use serde_json::json;
use serde_json::value::RawValue;
use verity_exec::api::{MismatchRecord, MismatchSource};
use verity_exec::{CheckError, Executed};
use verity_receipt::Receipt;

use crate::budget::{ByteBudget, Reservation};
use crate::metrics::{Audit, Metrics};
use crate::state::Loaded;
use crate::store::Store;

/// Whether the receipt with this signing hash is in the sample of fraction `p`. Derived from
/// the hash rather than a random number generator: no dependency, reproducible, and no
/// party can choose which receipts get audited without changing what they sign.
pub fn sampled(p: f64, signing_hash: &[u8; 32]) -> bool {
    if p >= 1.0 {
        return true; // u64::MAX rounds up to 2^64 as an f64
    }
    let mut head = [0u8; 8];
    head.copy_from_slice(&signing_hash[..8]);
    (u64::from_be_bytes(head) as f64) < p * 18_446_744_073_709_551_616.0 // 2^64
}

pub struct AuditJob {
    pub source: MismatchSource,
    pub receipt: Receipt,
    pub input: Box<RawValue>,
    pub model: Arc<Loaded>,
}

/// An issued chat completion, to be derived again from its prompt and parameters.
pub struct ChatAudit {
    pub file: verity_llm::receipt::ReceiptFile,
    pub llm: Arc<crate::chat::Llm>,
}

enum Job {
    Receipt(AuditJob),
    Chat(ChatAudit),
}

/// A queued job with the bytes its input holds against the queue's budget.
struct Held(Job, Reservation);

pub struct Auditor {
    tx: Mutex<Option<SyncSender<Held>>>,
    budget: Arc<ByteBudget>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stopping: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Auditor {
    pub fn start(store: Arc<Store>, metrics: Arc<Metrics>, queue: usize, queue_bytes: usize) -> Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Held>(queue.max(1));
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop, m) = (stopping.clone(), metrics.clone());
        let thread = std::thread::Builder::new().name("verifier".into()).spawn(move || {
            for Held(job, _bytes) in rx {
                if stop.load(Ordering::Relaxed) {
                    m.audit(Audit::Dropped);
                    continue;
                }
                match job {
                    Job::Receipt(job) => audit(&store, &m, job),
                    Job::Chat(job) => audit_chat(&store, &m, job),
                }
            }
        })?;
        let budget = ByteBudget::new(queue_bytes);
        Ok(Auditor { tx: Mutex::new(Some(tx)), budget, thread: Mutex::new(Some(thread)), stopping, metrics })
    }

    /// Queues an audit; false (and counted as dropped) if the queue is full, its inputs
    /// would exceed the queue's byte budget, or the auditor is stopped.
    pub fn submit(&self, job: AuditJob) -> bool {
        let bytes = job.input.get().len();
        self.enqueue(Job::Receipt(job), bytes)
    }

    /// Queues a chat audit, as [`Auditor::submit`].
    pub fn submit_chat(&self, job: ChatAudit) -> bool {
        let c = &job.file.completion;
        let bytes = 4 * (c.prompt_tokens.len() + c.tokens.len()) + c.text.len();
        self.enqueue(Job::Chat(job), bytes)
    }

    fn enqueue(&self, job: Job, bytes: usize) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            self.metrics.audit(Audit::Dropped);
            return false;
        };
        let Some(bytes) = self.budget.try_reserve(bytes) else {
            self.metrics.audit(Audit::Dropped);
            return false;
        };
        match tx.try_send(Held(job, bytes)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.audit(Audit::Dropped);
                false
            }
        }
    }

    /// Finishes the audit in progress, drops the queued ones and stops the thread.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn audit(store: &Store, metrics: &Metrics, job: AuditJob) {
    let m = &job.model;
    let result = verity_exec::parse_input(&m.model, job.input.get())
        .map_err(verity_exec::ExecError::from)
        .and_then(|inputs| verity_exec::execute_reference(&m.model, &inputs));
    let ex = match result {
        Ok(ex) => ex,
        Err(e) => {
            // Inputs are validated before a job is queued, so this is unexpected.
            tracing::error!("audit of receipt {} could not re-execute: {e}", verity_exec::receipt_id(&job.receipt));
            metrics.audit(Audit::Error);
            return;
        }
    };
    match verity_exec::check_execution(&job.receipt, &m.id, &ex) {
        Ok(()) => metrics.audit(Audit::Ok),
        Err(err) if !err.proves_fault() => {
            // The routes only queue receipts for the input they were issued for, so this
            // means a bug; it is not evidence against the executor either way.
            tracing::error!("audit of receipt {} does not apply to its input: {err}", verity_exec::receipt_id(&job.receipt));
            metrics.audit(Audit::Error);
        }
        Err(err) => {
            metrics.audit(Audit::Mismatch);
            if let Err(e) = record_mismatch(store, metrics, job.source, &m.id_hex, &job.receipt, &job.input, &err, &ex) {
                tracing::error!("cannot store a mismatch record: {e:#}");
            }
        }
    }
}

/// Derives an issued completion again with the reference kernel, one thread; a different
/// token, text or trace root is a mismatch, stored with the completion as its input (what
/// `verity dispute` on the GGUF replays).
fn audit_chat(store: &Store, metrics: &Metrics, job: ChatAudit) {
    let c = &job.file.completion;
    let receipt = match Receipt::from_json(&job.file.receipt) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("audit of a chat receipt: the node's own receipt does not parse: {e}");
            metrics.audit(Audit::Error);
            return;
        }
    };
    let again =
        match verity_llm::generate::complete(&job.llm.model, &c.prompt_tokens, &c.params, verity_llm::Kernel::Reference, 1) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("audit of chat receipt {} could not re-derive: {e}", verity_exec::receipt_id(&receipt));
                metrics.audit(Audit::Error);
                return;
            }
        };
    if &again == c {
        metrics.audit(Audit::Ok);
        return;
    }
    metrics.audit(Audit::Mismatch);
    let field = if again.tokens != c.tokens || again.text != c.text { "output_hash" } else { "trace_root" };
    let error = format!(
        "the completion does not re-derive: {} tokens and trace root {} claimed, {} tokens and trace root {} computed",
        c.tokens.len(),
        c.trace_root,
        again.tokens.len(),
        again.trace_root
    );
    let computed = json!({
        "tokens": again.tokens,
        "text": again.text,
        "trace_root": again.trace_root,
    });
    let stored =
        serde_json::to_string(c).map_err(anyhow::Error::from).and_then(|s| Ok(RawValue::from_string(s)?)).and_then(|input| {
            store_mismatch(store, metrics, MismatchSource::Issued, &job.llm.id_hex, &receipt, &input, field, error, computed)
        });
    if let Err(e) = stored {
        tracing::error!("cannot store a mismatch record: {e:#}");
    }
}

/// Stores the evidence for a dispute: the receipt, the model id and the input it was
/// re-executed on, which field failed, and what the re-execution computed.
#[allow(clippy::too_many_arguments)]
pub fn record_mismatch(
    store: &Store,
    metrics: &Metrics,
    source: MismatchSource,
    model_id: &str,
    receipt: &Receipt,
    input: &RawValue,
    err: &CheckError,
    ex: &Executed,
) -> Result<u64> {
    let hex = verity_commit::hash::hex;
    let computed = json!({
        "input_hash": hex(&ex.input_hash),
        "output_hash": hex(&ex.output_hash),
        "trace_root": hex(&ex.trace.root()),
    });
    store_mismatch(store, metrics, source, model_id, receipt, input, &err.field().to_string(), err.to_string(), computed)
}

#[allow(clippy::too_many_arguments)]
fn store_mismatch(
    store: &Store,
    metrics: &Metrics,
    source: MismatchSource,
    model_id: &str,
    receipt: &Receipt,
    input: &RawValue,
    field: &str,
    error: String,
    computed: serde_json::Value,
) -> Result<u64> {
    let receipt_id = verity_exec::receipt_id(receipt);
    let id = store.add_mismatch(|id| {
        let record = MismatchRecord {
            id,
            detected_at: verity_exec::unix_now(),
            source,
            receipt_id: receipt_id.clone(),
            model_id: model_id.to_string(),
            field: field.to_string(),
            error: error.clone(),
            receipt: receipt.clone(),
            input: input.to_owned(),
            computed: computed.clone(),
        };
        Ok(serde_json::to_vec(&record)?)
    })?;
    metrics.mismatches_recorded.fetch_add(1, Ordering::Relaxed);
    tracing::warn!("mismatch {id}: receipt {receipt_id} ({source:?}): {error}");
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use verity_llm::{complete, Kernel, Model, Params};

    /// A chat audit re-derives the completion: the node's own accepts, a changed token is a
    /// mismatch stored with the completion as its input.
    #[test]
    fn chat_audits_accept_the_true_completion_and_store_a_changed_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("data"), None).unwrap();
        let metrics = Metrics::default();
        let gguf = dir.path().join("tiny.gguf");
        std::fs::write(&gguf, verity_llm::testutil::tiny_gguf(11, "llama")).unwrap();
        let model = Model::load(&gguf).unwrap();
        let c = complete(&model, &[1, 2, 3], &Params::default(), Kernel::Fast, 1).unwrap();
        assert!(!c.tokens.is_empty());
        let id_hex = model.id_hex();
        let llm = Arc::new(crate::chat::Llm { name: "tiny".into(), id_hex: id_hex.clone(), model, loaded_at: 0 });
        let signer = verity_receipt::Signer::generate().unwrap();
        let honest = verity_llm::receipt::sign(&signer, &c, 1).unwrap();
        audit_chat(&store, &metrics, ChatAudit { file: honest, llm: llm.clone() });
        assert_eq!(metrics.audits[Audit::Ok as usize].load(Ordering::Relaxed), 1);
        assert!(store.list_mismatches(0, 10).unwrap().0.is_empty());

        let mut lie = c.clone();
        lie.tokens[0] ^= 1;
        let file = verity_llm::receipt::sign(&signer, &lie, 1).unwrap();
        audit_chat(&store, &metrics, ChatAudit { file, llm });
        assert_eq!(metrics.audits[Audit::Mismatch as usize].load(Ordering::Relaxed), 1);
        let (rows, _) = store.list_mismatches(0, 10).unwrap();
        let rec: MismatchRecord = serde_json::from_slice(&rows[0]).unwrap();
        assert_eq!((rec.model_id.as_str(), rec.field.as_str()), (id_hex.as_str(), "output_hash"));
        assert_eq!(rec.computed["tokens"], serde_json::json!(c.tokens));
        let claimed: verity_llm::Completion = serde_json::from_str(rec.input.get()).unwrap();
        assert_eq!(claimed, lie);
    }

    #[test]
    fn sampling_bounds() {
        let (lo, hi) = ([0u8; 32], [0xff; 32]);
        assert!(!sampled(0.0, &lo) && !sampled(0.0, &hi));
        assert!(sampled(1.0, &lo) && sampled(1.0, &hi));
        let mut mid = [0u8; 32];
        mid[0] = 0x80;
        assert!(sampled(0.51, &mid) && !sampled(0.49, &mid));
        // About half of a spread of hashes at p = 0.5.
        let n = (0..=255u8).filter(|&b| sampled(0.5, &[b; 32])).count();
        assert_eq!(n, 128);
    }
}
