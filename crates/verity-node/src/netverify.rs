//! The verifier role on the network (docs/network.md, "Verifiers"): for each receipt-batch
//! announcement of another executor, fetch the sampled receipts and their inputs from it,
//! re-execute them here, and on a mismatch play the dispute game with the executor; a game
//! it loses becomes a fraud proof, checked here (which marks the executor faulty) and
//! gossiped to every other node.

use std::sync::Arc;
use std::time::Duration;

use verity_commit::ModelCommitment;
use verity_dispute::Execution;
use verity_net::game::{challenge, Case, Outcome};
use verity_net::libp2p::PeerId;
use verity_net::{Handle, TOPIC_FRAUD};

use crate::state::AppState;
use crate::verifier::sampled;

/// How long the executor has to answer one step of a game before it loses by silence.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// The connected peer whose checked record names `executor`.
pub async fn peer_of(h: &Handle, executor: &[u8; 20]) -> Option<PeerId> {
    let find =
        |h: &Handle| h.book.lock().expect("book lock").records.iter().find(|(_, r)| r.executor == *executor).map(|(p, _)| *p);
    if let Some(p) = find(h) {
        return Some(p);
    }
    for p in h.peers().await.ok()? {
        let _ = tokio::time::timeout(Duration::from_secs(5), h.fetch_record(p)).await;
    }
    find(h)
}

/// Checks the sampled receipts of one announced batch.
pub async fn audit_batch(st: Arc<AppState>, h: Handle, executor: [u8; 20], seq: u64, rate: f64) {
    let Some(ann) = h.book.lock().expect("book lock").batches.get(&(executor, seq)).cloned() else { return };
    let ids: Vec<[u8; 32]> = ann.receipt_ids.iter().copied().filter(|id| sampled(rate, id)).collect();
    if ids.is_empty() {
        return;
    }
    let Some(peer) = peer_of(&h, &executor).await else {
        st.routes.count("audit_no_peer");
        tracing::info!("verifier: no connected peer for executor 0x{}", verity_net::record::hex(&executor));
        return;
    };
    for id in ids {
        if h.book.lock().expect("book lock").is_faulty(&executor) {
            return; // already convicted: no need for more proofs
        }
        audit_receipt(&st, &h, peer, executor, &ann, id).await;
    }
}

async fn audit_receipt(
    st: &Arc<AppState>,
    h: &Handle,
    peer: PeerId,
    executor: [u8; 20],
    ann: &verity_net::BatchAnnouncement,
    id: [u8; 32],
) {
    let (receipt, input) = match tokio::time::timeout(FETCH_TIMEOUT, h.fetch_receipt(peer, &id)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return fail(st, "audit_fetch_failed", format!("receipt {}: {e}", verity_commit::hash::hex(&id))),
        Err(_) => return fail(st, "audit_fetch_failed", "fetching a receipt timed out".into()),
    };
    // The receipt must be the announced executor's and belong to the announced batch.
    let in_batch = match &receipt.batch {
        Some(p) => ann.depth as usize == p.path.len() && p.root(&id) == ann.root,
        None => ann.depth == 0 && ann.root == id,
    };
    if receipt.body.executor != executor || !in_batch {
        return fail(st, "audit_wrong_receipt", "the executor sent a receipt outside the announced batch".into());
    }
    let Ok(input) = String::from_utf8(input) else {
        return fail(st, "audit_bad_input", "the executor sent an input that is not UTF-8".into());
    };
    let st2 = st.clone();
    let r = receipt.clone();
    // Re-execution, and the commitment and execution a game needs, are CPU work.
    let checked = tokio::task::spawn_blocking(move || -> Result<Option<_>, String> {
        let m = st2.model(&r.body.model_id).map_err(|e| e.message)?;
        let inputs = verity_exec::parse_input(&m.model, &input).map_err(|e| e.to_string())?;
        let ex = verity_exec::execute(&m.engine, &m.model, &inputs).map_err(|e| e.to_string())?;
        match verity_exec::check_execution(&r, &m.id, &ex) {
            Ok(()) => Ok(None),
            Err(e) if !e.proves_fault() => Err(format!("the receipt does not apply: {e}")),
            Err(e) => {
                let values = verity_model::reference::run_tampered(&m.model, &inputs, |_, _| {}).map_err(|e| e.to_string())?;
                let truth = Execution::new(&m.model, values);
                Ok(Some((e.to_string(), ModelCommitment::new(&m.model), inputs, truth)))
            }
        }
    })
    .await;
    let (why, commitment, inputs, truth) = match checked {
        Ok(Ok(None)) => return st.routes.count("audit_ok"),
        Ok(Ok(Some(x))) => x,
        Ok(Err(e)) => return fail(st, "audit_skipped", e),
        Err(e) => return fail(st, "audit_skipped", e.to_string()),
    };
    st.routes.count("audit_mismatch");
    tracing::warn!("verifier: receipt {} does not re-execute ({why}); disputing", verity_commit::hash::hex(&id));
    let nonce = *blake3::hash(&[&id[..], &h.peer_id.to_bytes(), &verity_exec::unix_now().to_be_bytes()].concat()).as_bytes();
    let case = Case { commitment: &commitment, inputs: &inputs, receipt: &receipt, truth: &truth };
    let outcome = challenge(h, peer, case, nonce, STEP_TIMEOUT).await;
    // On a chain, the stake answers too: the same claim is challenged there.
    crate::settle::challenge(st, crate::settle::Disputed { receipt, commitment, inputs, truth });
    match outcome {
        Ok(Outcome::Convicted(proof)) => {
            st.routes.count("disputes_won");
            let bytes = proof.encode();
            if let Err(e) = h.book.lock().expect("book lock").accept_fraud_proof(&bytes) {
                tracing::error!("verifier: own fraud proof refused: {e}");
                return;
            }
            tracing::warn!("verifier: executor 0x{} convicted; gossiping the fraud proof", verity_net::record::hex(&executor));
            // The mesh may still be forming: retry a few times.
            for _ in 0..20 {
                match h.publish(TOPIC_FRAUD, bytes.clone()).await {
                    Ok(()) => return,
                    Err(e) => tracing::debug!("verifier: publishing the fraud proof: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            st.routes.count("fraud_proof_unpublished");
        }
        Ok(Outcome::ExecutorWon(reason)) => fail(st, "disputes_lost", reason),
        Ok(Outcome::Unprovable(reason)) => fail(st, "disputes_unprovable", reason),
        Err(e) => fail(st, "disputes_failed", e.to_string()),
    }
}

fn fail(st: &AppState, event: &'static str, why: String) {
    st.routes.count(event);
    tracing::info!("verifier: {event}: {why}");
}
