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

/// The peer whose checked record names `executor`: among the connected peers, else among
/// the DHT providers of the models this node holds (the only receipts it can check are of
/// those), which need not be connected to it.
pub async fn peer_of(st: &AppState, h: &Handle, executor: &[u8; 20]) -> Option<PeerId> {
    let find =
        |h: &Handle| h.book.lock().expect("book lock").records.iter().find(|(_, r)| r.executor == *executor).map(|(p, _)| *p);
    if let Some(p) = find(h) {
        return Some(p);
    }
    let fetch = |p: PeerId| async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), h.fetch_record(p)).await;
    };
    for p in h.peers().await.ok()? {
        fetch(p).await;
    }
    if let Some(p) = find(h) {
        return Some(p);
    }
    let store = st.store.clone();
    let models = tokio::task::spawn_blocking(move || store.list_models(None, 1000)).await.ok()?.ok()?.0;
    for id in models.iter().filter_map(|m| verity_exec::parse_id(&m.model_id)) {
        let Ok(Ok(providers)) = tokio::time::timeout(Duration::from_secs(10), h.find_providers(id)).await else { continue };
        for p in providers.into_iter().filter(|p| *p != h.peer_id && !h.book.lock().expect("book lock").records.contains_key(p)) {
            fetch(p).await;
        }
        if let Some(p) = find(h) {
            return Some(p);
        }
    }
    None
}

/// Checks the sampled receipts of one announced batch.
pub async fn audit_batch(st: Arc<AppState>, h: Handle, executor: [u8; 20], seq: u64, rate: f64) {
    let Some(ann) = h.book.lock().expect("book lock").batches.get(&(executor, seq)).cloned() else { return };
    let ids: Vec<[u8; 32]> = ann.receipt_ids.iter().copied().filter(|id| sampled(rate, id)).collect();
    if ids.is_empty() {
        return;
    }
    let Some(peer) = peer_of(&st, &h, &executor).await else {
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

/// A receipt fetched from its executor and re-executed here.
enum Recheck {
    Agrees,
    /// It does not re-execute, provably (`why`): what a game disputes.
    Disputed(String, Box<crate::settle::Disputed>),
}

/// Fetches receipt `id` and its input from `peer`, checks that the receipt is the one asked
/// for, `executor`'s and (given an announcement) in the announced batch, and re-executes it
/// on this node's copy of the model. `Err` is the counter of why nothing could be checked,
/// with the reason.
async fn recheck(
    st: &Arc<AppState>,
    h: &Handle,
    peer: PeerId,
    executor: [u8; 20],
    id: [u8; 32],
    ann: Option<&verity_net::BatchAnnouncement>,
) -> Result<Recheck, (&'static str, String)> {
    let (receipt, input) = match tokio::time::timeout(FETCH_TIMEOUT, h.fetch_receipt(peer, &id)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(("audit_fetch_failed", format!("receipt {}: {e}", verity_commit::hash::hex(&id)))),
        Err(_) => return Err(("audit_fetch_failed", "fetching a receipt timed out".into())),
    };
    let in_batch = |ann: &verity_net::BatchAnnouncement| match &receipt.batch {
        Some(p) => ann.depth as usize == p.path.len() && p.root(&id) == ann.root,
        None => ann.depth == 0 && ann.root == id,
    };
    if receipt.body.executor != executor || receipt.signing_hash() != id || !ann.is_none_or(in_batch) {
        return Err(("audit_wrong_receipt", "the executor sent a receipt other than the one asked for".into()));
    }
    let Ok(input) = String::from_utf8(input) else {
        return Err(("audit_bad_input", "the executor sent an input that is not UTF-8".into()));
    };
    let st2 = st.clone();
    // Re-execution, and the commitment and execution a game needs, are CPU work.
    let checked = tokio::task::spawn_blocking(move || -> Result<Recheck, String> {
        let m = st2.model(&receipt.body.model_id).map_err(|e| e.message)?;
        let inputs = verity_exec::parse_input(&m.model, &input).map_err(|e| e.to_string())?;
        let ex = verity_exec::execute(&m.engine, &m.model, &inputs).map_err(|e| e.to_string())?;
        match verity_exec::check_execution(&receipt, &m.id, &ex) {
            Ok(()) => Ok(Recheck::Agrees),
            Err(e) if !e.proves_fault() => Err(format!("the receipt does not apply: {e}")),
            Err(e) => {
                let values = verity_model::reference::run_tampered(&m.model, &inputs, |_, _| {}).map_err(|e| e.to_string())?;
                let truth = Execution::new(&m.model, values);
                let commitment = ModelCommitment::new(&m.model);
                Ok(Recheck::Disputed(e.to_string(), Box::new(crate::settle::Disputed { receipt, commitment, inputs, truth })))
            }
        }
    })
    .await;
    match checked {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(("audit_skipped", e)),
        Err(e) => Err(("audit_skipped", e.to_string())),
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
    let (why, disputed) = match recheck(st, h, peer, executor, id, Some(ann)).await {
        Ok(Recheck::Agrees) => return st.routes.count("audit_ok"),
        Ok(Recheck::Disputed(why, d)) => (why, d),
        Err((event, why)) => return fail(st, event, why),
    };
    st.routes.count("audit_mismatch");
    tracing::warn!("verifier: receipt {} does not re-execute ({why}); disputing", verity_commit::hash::hex(&id));
    let nonce = *blake3::hash(&[&id[..], &h.peer_id.to_bytes(), &verity_exec::unix_now().to_be_bytes()].concat()).as_bytes();
    let d = &disputed;
    let case = Case { commitment: &d.commitment, inputs: &d.inputs, receipt: &d.receipt, truth: &d.truth };
    let outcome = challenge(h, peer, case, nonce, STEP_TIMEOUT).await;
    // On a chain, the stake answers too: the same claim is challenged there.
    crate::settle::challenge(st, *disputed);
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

/// A fraud proof from the network, seen by a verifier on a chain: the convicted receipt is
/// fetched from its executor and re-executed here, and if it does not re-execute it is
/// challenged on chain, so that the stake answers for it even when whoever proved the fault
/// is not on the chain.
pub async fn challenge_convicted(st: Arc<AppState>, h: Handle, executor: [u8; 20], id: [u8; 32]) {
    if !st.chain.attached() {
        return;
    }
    let Some(peer) = peer_of(&st, &h, &executor).await else {
        return fail(&st, "conviction_no_peer", "no connected peer for a convicted executor".into());
    };
    match recheck(&st, &h, peer, executor, id, None).await {
        Ok(Recheck::Disputed(_, d)) => {
            st.routes.count("conviction_challenged");
            crate::settle::challenge(&st, *d);
        }
        Ok(Recheck::Agrees) => fail(&st, "conviction_reexecutes", "a convicted receipt re-executes here".into()),
        Err((event, why)) => fail(&st, event, why),
    }
}

fn fail(st: &AppState, event: &'static str, why: String) {
    st.routes.count(event);
    tracing::info!("verifier: {event}: {why}");
}
