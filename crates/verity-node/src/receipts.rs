//! Issuing receipts: one writer thread signs and stores them in group commits.
//!
//! Inferences hand their receipt bodies to the writer, which takes everything queued since
//! its last commit, signs it with one batch signature (`verity_receipt::batch`; a lone body
//! is signed plainly), appends the records in one redb transaction and only then answers
//! each request. Under load one signature and one fsync serve a whole batch instead of one
//! each; a receipt is still acknowledged only once it is durable.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use serde_json::value::RawValue;
use verity_exec::api::ReceiptRecord;
use verity_receipt::{Receipt, ReceiptBody, Signer};

use crate::metrics::Metrics;
use crate::store::Store;

/// Most receipts in one batch (bounds the latency a commit adds to the first one queued).
const MAX_BATCH: usize = 512;

struct Pending {
    body: ReceiptBody,
    input: Box<RawValue>,
    done: tokio::sync::oneshot::Sender<Result<Receipt, String>>,
}

enum Msg {
    Issue(Pending),
    Stop,
}

/// Where the writer sends each committed batch (the p2p layer, which announces it, and the
/// chain side, which posts its root).
type Announce = Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Vec<Receipt>>>>>;

pub struct ReceiptWriter {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
    announce: Announce,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ReceiptWriter {
    /// `always_batch`: give a lone receipt a batch proof too (an executor settling on chain,
    /// where only batch roots are posted).
    pub fn start(store: Arc<Store>, signer: Arc<Signer>, metrics: Arc<Metrics>, always_batch: bool) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let m = metrics.clone();
        let announce = Announce::default();
        let a = announce.clone();
        let thread = std::thread::Builder::new()
            .name("receipt-writer".into())
            .spawn(move || writer_loop(&store, &signer, &m, &rx, &a, always_batch))?;
        Ok(ReceiptWriter { tx, metrics, announce, thread: Mutex::new(Some(thread)) })
    }

    /// Sends every batch committed from now on to `tx` (as well as to earlier subscribers).
    pub fn announce_to(&self, tx: tokio::sync::mpsc::UnboundedSender<Vec<Receipt>>) {
        self.announce.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    /// Signs `body` (its executor is set to the node's) and stores it with the input it
    /// answers; resolves with the receipt once it is committed.
    pub async fn issue(&self, body: ReceiptBody, input: Box<RawValue>) -> Result<Receipt> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.metrics.receipts_pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Issue(Pending { body, input, done })).is_err() {
            self.metrics.receipts_pending.fetch_sub(1, Ordering::Relaxed);
            bail!("the receipt writer has stopped");
        }
        match rx.await {
            Ok(Ok(receipt)) => Ok(receipt),
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("the receipt writer stopped before committing"),
        }
    }

    /// Commits everything queued so far, then stops the thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn writer_loop(
    store: &Store,
    signer: &Signer,
    metrics: &Metrics,
    rx: &mpsc::Receiver<Msg>,
    announce: &Announce,
    always_batch: bool,
) {
    let mut stop = false;
    while !stop {
        let Ok(Msg::Issue(first)) = rx.recv() else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Issue(p)) => batch.push(p),
                Ok(Msg::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let bodies: Vec<ReceiptBody> = batch.iter().map(|p| p.body).collect();
        let signed = if always_batch { signer.sign_batch_always(&bodies) } else { signer.sign_batch(&bodies) };
        let signed = signed.map_err(|e| {
            tracing::error!("cannot sign receipts: {e}");
            "cannot sign the receipt".to_string()
        });
        let issued_at = verity_exec::unix_now();
        let stored = signed.and_then(|receipts| {
            let rows: Vec<([u8; 32], Vec<u8>)> =
                receipts.iter().zip(&batch).map(|(r, p)| (r.signing_hash(), encode_record(r, &p.input, issued_at))).collect();
            store.put_receipts(&rows).map(|()| receipts).map_err(|e| {
                tracing::error!("cannot store receipts: {e:#}");
                "cannot store the receipt".to_string()
            })
        });
        metrics.receipts_pending.fetch_sub(batch.len() as i64, Ordering::Relaxed);
        match stored {
            Ok(receipts) => {
                metrics.receipt_batches.fetch_add(1, Ordering::Relaxed);
                for tx in announce.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    let _ = tx.send(receipts.clone());
                }
                for (p, r) in batch.into_iter().zip(receipts) {
                    let _ = p.done.send(Ok(r));
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// A stored record: `issued_at` (u64 BE) ‖ receipt length (u16 BE) ‖ receipt (binary
/// encoding) ‖ the input JSON exactly as the client sent it.
fn encode_record(receipt: &Receipt, input: &RawValue, issued_at: u64) -> Vec<u8> {
    let bytes = receipt.encode();
    let mut out = Vec::with_capacity(10 + bytes.len() + input.get().len());
    out.extend_from_slice(&issued_at.to_be_bytes());
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(&bytes);
    out.extend_from_slice(input.get().as_bytes());
    out
}

/// The API form of a stored record.
pub fn decode_record(record: &[u8]) -> Result<ReceiptRecord> {
    let (issued_at, rest) = record.split_first_chunk::<8>().context("truncated receipt record")?;
    let (len, rest) = rest.split_first_chunk::<2>().context("truncated receipt record")?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (bytes, input) = rest.split_at_checked(len).context("truncated receipt record")?;
    let receipt = Receipt::decode(bytes).context("corrupted receipt in a stored record")?;
    let input = String::from_utf8(input.to_vec()).context("stored input is not UTF-8")?;
    Ok(ReceiptRecord {
        receipt_id: verity_exec::receipt_id(&receipt),
        model_id: verity_commit::hash::hex(&receipt.body.model_id),
        input: RawValue::from_string(input).context("stored input is not JSON")?,
        receipt,
        issued_at: u64::from_be_bytes(*issued_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_receipt::EvidenceKind;

    #[test]
    fn records_round_trip_and_corruption_is_an_error() {
        let signer = Signer::from_secret_bytes(&[3; 32]).unwrap();
        let body = ReceiptBody {
            model_id: [1; 32],
            input_hash: [2; 32],
            output_hash: [3; 32],
            trace_root: [4; 32],
            evidence: EvidenceKind::Reexecution,
            executor: [0; 20],
            timestamp: 5,
        };
        let input = RawValue::from_string(r#"{"input_data": [[1.5]]}"#.into()).unwrap();
        for r in signer.sign_batch(&[body, ReceiptBody { timestamp: 6, ..body }]).unwrap().into_iter().chain([signer.sign(body)])
        {
            let bytes = encode_record(&r, &input, 77);
            let back = decode_record(&bytes).unwrap();
            assert_eq!((back.receipt, back.input.get(), back.issued_at), (r.clone(), input.get(), 77));
            assert_eq!(back.receipt_id, verity_exec::receipt_id(&r));
            assert_eq!(back.model_id, verity_commit::hash::hex(&[1; 32]));
            for cut in [0, 9, 11, 100] {
                assert!(decode_record(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
