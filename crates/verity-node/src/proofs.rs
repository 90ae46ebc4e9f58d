//! Proof jobs (evidence `zk`).
//!
//! `POST /v1/infer` answers at once (the output, like evidence `none`) and commits a proof
//! job to the store before answering; this module proves the jobs, one at a time, on a
//! background task:
//!
//! 1. take the next job id from the in-memory queue (filled from the store's durable
//!    `job_queue` at startup, then by each accepted request);
//! 2. wait for a compute slot ([`Limiter::acquire_background`](crate::limiter::Limiter)):
//!    the proof takes one of the `--max-concurrency` slots, in first-come order with the
//!    inferences waiting for one;
//! 3. mark the job `running` (committed, with the attempt counted), build the witness with
//!    the reference interpreter, prove, and write the proof file as a content-addressed
//!    blob (fsynced and renamed before the commit that marks the job `done`).
//!
//! A crash at any point leaves the job in `job_queue`; the next start queues it again
//! (`Store::recover_jobs`). Graceful shutdown finishes the proof in progress and leaves
//! the others queued for the next start.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use verity_exec::api::{JobProgress, JobState, ProofJob};
use verity_exec::parse_id;
use verity_zk::file::ProofFile;
use verity_zk::protocol::{keygen, prove, trace_values, ProvingKey};

use crate::hooks::Pause;
use crate::state::{AppState, Loaded};
use crate::store::JobRow;

/// The public id of the proof of `model_id` on the input with `input_hash`: the same
/// request made twice is the same job (idempotent retries, no duplicate proving).
pub fn job_id(model_id: &[u8; 32], input_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("verity node 2025 proof job id v1");
    h.update(model_id);
    h.update(input_hash);
    *h.finalize().as_bytes()
}

/// Proving keys by model id, the most recently derived ones (keygen commits to every
/// weight: tens of milliseconds and a few MB per model, worth keeping, not without bound).
pub struct Keys {
    cap: usize,
    inner: Mutex<KeyMap>,
}

/// Keys by model id, and ids in insertion order (the oldest is evicted first).
type KeyMap = (HashMap<[u8; 32], Arc<ProvingKey>>, VecDeque<[u8; 32]>);

impl Keys {
    fn new(cap: usize) -> Self {
        Keys { cap: cap.max(1), inner: Mutex::default() }
    }

    /// The model's proving key, or why the model cannot be proved (an unsupported op,
    /// named with its node). Call from a blocking context.
    pub fn get(&self, m: &Loaded) -> Result<Arc<ProvingKey>, String> {
        if let Some(k) = self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.get(&m.id) {
            return Ok(k.clone());
        }
        let key = Arc::new(keygen(&m.model)?);
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(m.id, key.clone()).is_none() {
            order.push_back(m.id);
            while order.len() > self.cap {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        Ok(key)
    }
}

/// The prover's in-memory side: the queue it takes jobs from, the progress of the job it
/// is proving, and the key cache.
pub struct Prover {
    tx: mpsc::UnboundedSender<u64>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<u64>>>,
    progress: Mutex<HashMap<u64, JobProgress>>,
    pub keys: Keys,
}

impl Prover {
    /// A prover whose queue starts with `pending` (jobs owed from before a restart).
    pub fn new(pending: &[u64], keys: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        for &seq in pending {
            let _ = tx.send(seq);
        }
        Prover { tx, rx: Mutex::new(Some(rx)), progress: Mutex::default(), keys: Keys::new(keys) }
    }

    /// Hands a durably queued job to the prover.
    pub fn enqueue(&self, seq: u64) {
        // The receiver lives as long as the node serves; after shutdown the job simply
        // stays queued in the store for the next start.
        let _ = self.tx.send(seq);
    }

    pub fn progress(&self, seq: u64) -> Option<JobProgress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).get(&seq).cloned()
    }

    fn set_progress(&self, seq: u64, step: &str, done: usize, total: usize) {
        let p = JobProgress { step: step.to_string(), done: done as u64, total: total as u64 };
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).insert(seq, p);
    }

    fn clear_progress(&self, seq: u64) {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq);
    }
}

/// The public view of a stored job: its row plus what only memory knows (progress of a
/// running job, or how many jobs are ahead of a queued one).
pub fn public_job(st: &AppState, seq: u64, row: JobRow) -> anyhow::Result<ProofJob> {
    let mut job = row.job;
    match job.state {
        JobState::Running => job.progress = st.prover.progress(seq),
        JobState::Queued => job.ahead = Some(st.store.jobs_ahead(seq)?),
        JobState::Done | JobState::Failed => {}
    }
    Ok(job)
}

/// The prover task: proves queued jobs one at a time until `stop` turns true; the proof
/// in progress then is finished, the queued ones stay queued in the store.
pub async fn run(st: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let Some(mut rx) = st.prover.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    loop {
        let seq = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            seq = rx.recv() => match seq {
                Some(s) => s,
                None => break,
            },
        };
        st.metrics.proof_jobs_queued.fetch_sub(1, Ordering::Relaxed);
        let permit = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            p = st.limiter.acquire_background() => p,
        };
        let st2 = st.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            prove_job(&st2, seq)
        })
        .await;
        if let Err(e) = outcome {
            // A panic in the prover: the job failed, the node goes on.
            st.prover.clear_progress(seq);
            st.metrics.proof_jobs_running.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("proof job {seq}: the prover panicked: {e}");
            st.metrics.proof_jobs_failed.fetch_add(1, Ordering::Relaxed);
            let store = st.store.clone();
            let failed = tokio::task::spawn_blocking(move || store.fail_job(seq, "internal error: the prover panicked")).await;
            if !matches!(failed, Ok(Ok(()))) {
                tracing::error!("proof job {seq}: cannot record the failure; it stays queued until the next start");
            }
        }
    }
}

/// Proves one job and records the outcome. Runs on the blocking pool, holding a slot.
fn prove_job(st: &AppState, seq: u64) {
    let row = match st.store.start_job(seq) {
        Ok(Some(row)) => row,
        Ok(None) => return, // no longer queued (nothing else finishes jobs; defensive)
        Err(e) => {
            tracing::error!("proof job {seq}: cannot mark it running: {e:#}; it stays queued until the next start");
            return;
        }
    };
    let m = &st.metrics;
    m.proof_jobs_running.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let result = make_proof(st, seq, &row);
    st.prover.clear_progress(seq);
    let outcome = match result {
        Ok(bytes) => match st.store.finish_job(seq, &bytes) {
            Ok(id) => {
                let secs = t0.elapsed().as_secs_f64();
                m.proofs_made.fetch_add(1, Ordering::Relaxed);
                m.observe_proof(secs);
                tracing::info!(
                    "proof job {} done in {secs:.2} s: proof {} ({} bytes)",
                    row.job.job_id,
                    verity_commit::hash::hex(&id),
                    bytes.len()
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!("proof job {}: cannot store the proof: {e:#}", row.job.job_id);
                Err("internal error: the node could not store the proof".to_string())
            }
        },
        Err(e) => {
            tracing::warn!("proof job {} failed: {e}", row.job.job_id);
            Err(e)
        }
    };
    if let Err(e) = outcome {
        m.proof_jobs_failed.fetch_add(1, Ordering::Relaxed);
        if let Err(err) = st.store.fail_job(seq, &e) {
            tracing::error!("proof job {seq}: cannot record its failure: {err:#}; it is retried at the next start");
        }
    }
    m.proof_jobs_running.fetch_sub(1, Ordering::Relaxed);
}

/// The proof file for a job: the model's key, the witness from the reference interpreter,
/// the proof, and the statement (model id, quantized input, output).
fn make_proof(st: &AppState, seq: u64, row: &JobRow) -> Result<Vec<u8>, String> {
    let id = parse_id(&row.job.model_id).ok_or("the job's model id is malformed")?;
    let m = st.model(&id).map_err(|e| e.message)?;
    let pk = st.prover.keys.get(&m)?;
    let inputs = verity_exec::parse_input(&m.model, &row.input).map_err(|e| e.to_string())?;
    let values = trace_values(&m.model, &inputs)?;
    let outputs = m
        .model
        .outputs
        .iter()
        .map(|&v| values.get(v as usize).cloned().flatten())
        .collect::<Option<Vec<_>>>()
        .ok_or("the witness lacks a model output")?;
    // The proof must be of the answer already given (computed by the engine); the two
    // implementations agreeing is tested, but a proof of another output would be worse
    // than none.
    let output_hash = verity_commit::hash::hex(&verity_exec::list_root(&m.model, &m.model.outputs, &outputs));
    if output_hash != row.job.output_hash {
        return Err(format!(
            "internal error: the reference interpreter's output ({output_hash}) differs from the answer given ({})",
            row.job.output_hash
        ));
    }
    let mut first = true;
    let proof = prove(&m.model, &pk, &values, &mut |step, done, total| {
        st.prover.set_progress(seq, step, done, total);
        if first {
            first = false;
            Pause::at(&st.config.pause, "proof:proving");
        }
    })?;
    Ok(ProofFile { model_id: m.id, inputs, outputs, proof }.encode())
}
