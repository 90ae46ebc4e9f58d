//! The node on chain (`--chain-rpc`, `--chain-deployment`; docs/settlement.md, "Nodes on
//! chain"). An executor signs every receipt into a batch, posts each batch's root (first
//! registering the models it names), watches the dispute game for challenges of its
//! receipts and plays each one to the end with its own execution. A verifier whose
//! re-execution of another executor's receipt disagrees challenges it on chain and plays
//! the challenger's side. Every transaction is signed by the node's executor key, which
//! must hold a stake (`verity stake`) for its batches to be accepted.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use verity_commit::ModelCommitment;
use verity_dispute::{Challenger, Execution, Party};
use verity_model::Tensor;
use verity_receipt::Receipt;
use verity_settlement::party::{play_side, referee, Opened};
use verity_settlement::{Address, BatchStatus, Chain, Deployment, Settlement, B256, U256};

use crate::state::AppState;

/// What `verity node` was told about the chain.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub rpc: String,
    /// The deployment file that `verity chain deploy` wrote (with the dispute game).
    pub deployment: PathBuf,
}

/// How often the node looks at the chain (new challenges, moves, deadlines).
const POLL: Duration = Duration::from_millis(500);
/// How long a verifier waits for a receipt's batch to appear on chain before giving up.
const BATCH_WAIT: Duration = Duration::from_secs(120);

/// The attached contracts, once started, and the chain's event counters.
#[derive(Default)]
pub struct OnChain {
    settlement: OnceLock<Settlement>,
    counters: Mutex<BTreeMap<&'static str, u64>>,
}

impl OnChain {
    pub fn attached(&self) -> bool {
        self.settlement.get().is_some()
    }

    fn count(&self, event: &'static str) {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()).entry(event).or_default() += 1;
    }

    /// `verity_chain_events_total{event="..."}` lines (empty when not on a chain).
    pub fn metrics(&self) -> String {
        if self.settlement.get().is_none() {
            return String::new();
        }
        let mut out = String::from("# TYPE verity_chain_events_total counter\n");
        for (k, v) in self.counters.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!("verity_chain_events_total{{event=\"{k}\"}} {v}\n"));
        }
        out
    }
}

/// Attaches to the deployment and starts the executor's side; must run in the node's runtime.
pub async fn start(st: &Arc<AppState>) -> Result<()> {
    let Some(c) = &st.config.chain else { return Ok(()) };
    let d = Deployment::load(&c.deployment)?;
    anyhow::ensure!(
        d.game.is_some(),
        "{} has no dispute game, so receipts could not be challenged (deploy without --challenger-manager)",
        c.deployment.display()
    );
    let chain = Chain::connect(&c.rpc, Some(&st.signer.secret_hex())).await.context("--chain-rpc")?;
    anyhow::ensure!(
        chain.chain_id() == d.chain_id,
        "{} is a deployment on chain {}, but {} is chain {}",
        c.deployment.display(),
        d.chain_id,
        c.rpc,
        chain.chain_id()
    );
    let s = chain.attach(&d).await?;
    let executes = st.config.p2p.as_ref().is_none_or(|p| crate::p2p::executes(p.role));
    if executes {
        let stake = s.stake_of(s.chain().sender()).await?;
        if !stake.active {
            tracing::warn!(
                "chain: executor {} has no active stake: its batches will be refused (run `verity stake`)",
                st.executor
            );
        }
        post_batches(st, s.clone());
        tokio::spawn(defend_all(st.clone(), s.clone(), d.block));
    }
    tracing::info!("chain: attached to chain {} as {}", d.chain_id, st.executor);
    let _ = st.chain.settlement.set(s);
    Ok(())
}

/// Posts the root of every batch the receipt writer commits, registering its models first.
fn post_batches(st: &Arc<AppState>, s: Settlement) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Receipt>>();
    st.receipts.announce_to(tx);
    let st = st.clone();
    tokio::spawn(async move {
        let mut registered = HashSet::new();
        while let Some(receipts) = rx.recv().await {
            let Some(first) = receipts.first() else { continue };
            let Some(proof) = &first.batch else { continue };
            for id in receipts.iter().map(|r| r.body.model_id).collect::<HashSet<_>>() {
                if registered.contains(&id) {
                    continue;
                }
                match s.model(B256::from(id)).await {
                    Ok(Some(_)) => {}
                    Ok(None) => match s.register_model(B256::from(id)).await {
                        Ok(_) => st.chain.count("models_registered"),
                        Err(e) => tracing::warn!("chain: registering model {}: {e}", verity_commit::hash::hex(&id)),
                    },
                    Err(e) => {
                        tracing::warn!("chain: reading the registry: {e}");
                        continue;
                    }
                }
                registered.insert(id);
            }
            let root = proof.root(&first.body.signing_hash());
            match s.post_batch(B256::from(root), proof.path.len() as u8).await {
                Ok(_) => st.chain.count("batches_posted"),
                Err(e) => {
                    st.chain.count("batch_post_failed");
                    tracing::error!("chain: posting a batch of {} receipts: {e}", receipts.len());
                }
            }
        }
    });
}

/// Watches the game for challenges of this node's receipts (from the deployment's block, so
/// a restarted node resumes the games it was playing) and defends each in its own task.
async fn defend_all(st: Arc<AppState>, s: Settlement, mut from: u64) {
    let own = s.chain().sender();
    let mut seen = HashSet::new();
    loop {
        match s.challenges_of(own, from).await {
            Ok((opened, next)) => {
                from = next;
                for o in opened.into_iter().filter(|o| seen.insert(o.id)) {
                    tokio::spawn(defend(st.clone(), s.clone(), o));
                }
            }
            Err(e) => tracing::warn!("chain: looking for challenges: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn defend(st: Arc<AppState>, s: Settlement, o: Opened) {
    let id = o.id;
    let record = match crate::routes::load_record(&st, o.receipt).await {
        Ok(r) => r,
        Err(e) => return tracing::error!("chain: game {id} is over a receipt this node cannot open: {}", e.message),
    };
    let st2 = st.clone();
    let defence = match tokio::task::spawn_blocking(move || crate::defence::Defence::of(&st2, record)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return tracing::error!("chain: cannot defend game {id}: {}", e.message),
        Err(e) => return tracing::error!("chain: cannot defend game {id}: {e}"),
    };
    let statement = match defence.statement() {
        Ok(x) => x,
        Err(e) => return tracing::error!("chain: cannot defend game {id}: {}", e.message),
    };
    st.chain.count("challenges_received");
    tracing::warn!("chain: receipt {} challenged (game {id}); defending", verity_commit::hash::hex(&o.receipt));
    let mut player = defence.player();
    match play_side(&s, id, o.block, Party::Executor, &mut referee(statement), &mut player, POLL).await {
        Ok(out) if out.winner == Party::Executor => st.chain.count("games_won"),
        Ok(_) => {
            st.chain.count("games_lost");
            tracing::warn!("chain: game {id} lost; the stake is slashed");
        }
        Err(e) => {
            st.chain.count("games_failed");
            tracing::error!("chain: game {id}: {e}");
        }
    }
}

/// What a verifier disputes on chain: `receipt`, whose re-execution here (`truth`, of the
/// model behind `commitment` on `inputs`) disagrees with it.
pub struct Disputed {
    pub receipt: Receipt,
    pub commitment: ModelCommitment,
    pub inputs: Vec<Tensor>,
    pub truth: Execution,
}

/// Challenges `d.receipt` on chain and plays the game, if this node is on a chain.
pub fn challenge(st: &Arc<AppState>, d: Disputed) {
    let Some(s) = st.chain.settlement.get().cloned() else { return };
    let st = st.clone();
    tokio::spawn(async move {
        match challenge_and_play(&st, &s, &d).await {
            Ok(Some(Party::Challenger)) => st.chain.count("challenges_won"),
            Ok(Some(_)) => st.chain.count("challenges_lost"),
            Ok(None) => {}
            Err(e) => {
                st.chain.count("challenges_failed");
                tracing::error!("chain: challenging receipt {}: {e:#}", verity_commit::hash::hex(&d.receipt.signing_hash()));
            }
        }
    });
}

async fn challenge_and_play(st: &AppState, s: &Settlement, d: &Disputed) -> Result<Option<Party>> {
    let proof = d.receipt.batch.as_ref().context("the receipt is not batch-signed, so it cannot be challenged on chain")?;
    let root = B256::from(proof.root(&d.receipt.signing_hash()));
    let executor = Address::from(d.receipt.body.executor);
    let deadline = Instant::now() + BATCH_WAIT;
    // The executor posts its batch after signing it: the announcement may come first.
    loop {
        match s.batch_status(executor, root).await?.status {
            BatchStatus::Open => break,
            BatchStatus::Final => {
                st.chain.count("challenge_window_closed");
                return Ok(None);
            }
            BatchStatus::Unknown if Instant::now() > deadline => {
                st.chain.count("batch_never_posted");
                return Ok(None);
            }
            BatchStatus::Unknown => tokio::time::sleep(POLL).await,
        }
    }
    let input_roots = verity_dispute::input_roots(&d.commitment.head.values, &d.inputs);
    let (id, tx) = match s.challenge(&d.receipt, &d.commitment, &input_roots).await {
        Ok(x) => x,
        // Refused at once, or, when another challenge was mined first in the same block,
        // reverted: either way the receipt's game is someone else's.
        Err(e) if e.rejection() == Some("AlreadyChallenged") || s.game_of(&d.receipt.signing_hash()).await? != U256::ZERO => {
            st.chain.count("already_challenged");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    st.chain.count("challenges_opened");
    tracing::warn!("chain: challenged receipt {} (game {id})", verity_commit::hash::hex(&d.receipt.signing_hash()));
    let statement = verity_dispute::statement(&d.commitment, &d.inputs, &d.receipt)?;
    let mut player = Challenger { run: &d.truth };
    let out = play_side(s, id, tx.block, Party::Challenger, &mut referee(statement), &mut player, POLL).await?;
    Ok(Some(out.winner))
}
