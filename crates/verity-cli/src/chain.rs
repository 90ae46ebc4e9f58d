//! `verity chain …` and `verity stake`: the settlement contracts on an EVM chain (see
//! docs/settlement.md). Every command but `deploy` reads the deployment file that `deploy`
//! writes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use verity_settlement::{block_on, Address, Chain, DeployParams, Deployment, GameParams, Settlement, B256, MAX_BATCH_DEPTH};

use crate::files::{read_input, read_model};

#[derive(Args)]
pub struct Conn {
    /// JSON-RPC endpoint of the chain, e.g. http://127.0.0.1:8545.
    #[arg(long, env = "VERITY_RPC")]
    rpc: String,
    /// Signing key, 64 hex digits (default on anvil's chain id 31337: its first dev account).
    #[arg(long, env = "VERITY_CHAIN_KEY", hide_env_values = true, conflicts_with = "key_file")]
    key: Option<String>,
    /// File holding the signing key, e.g. a node's executor.key (the key that signs receipts
    /// is the one that stakes and posts).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct At {
    #[command(flatten)]
    conn: Conn,
    /// The deployment file written by `verity chain deploy`.
    #[arg(long, default_value = "verity-chain.json")]
    contracts: PathBuf,
}

#[derive(Subcommand)]
pub enum ChainCommand {
    /// Deploy the staking, batch-settlement and model-registry contracts and write the
    /// deployment file (addresses, chain id, block) that the other commands read.
    Deploy {
        #[command(flatten)]
        conn: Conn,
        /// Where to write the deployment file.
        #[arg(long, default_value = "verity-chain.json")]
        contracts: PathBuf,
        /// Smallest stake of an active executor, in wei.
        #[arg(long, default_value_t = 10u128.pow(18))]
        min_stake: u128,
        /// Seconds from `verity chain unbond` until the stake can be withdrawn.
        #[arg(long, default_value_t = 7 * 86_400)]
        unbonding_delay: u64,
        /// Seconds after posting during which a batch can be challenged (at most the unbonding delay).
        #[arg(long, default_value_t = 86_400)]
        challenge_window: u64,
        /// The account allowed to lock and slash stakes instead of the dispute game; by
        /// default the dispute game is deployed and is that account.
        #[arg(long)]
        manager: Option<Address>,
        /// The challenger's bond, in wei (with the dispute game).
        #[arg(long, default_value_t = 10u128.pow(17))]
        bond: u128,
        /// Seconds each party has for its move in a dispute (silence loses).
        #[arg(long, default_value_t = 3_600)]
        move_timeout: u64,
        /// Print one JSON object: deployment, gas, file.
        #[arg(long)]
        json: bool,
    },
    /// Register a canonical model (.vrt) in the registry under its id, as publisher.
    RegisterModel {
        #[command(flatten)]
        at: At,
        model: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Post the Merkle root of a receipt batch as the signing executor (which must be staked).
    PostBatch {
        #[command(flatten)]
        at: At,
        /// The batch root, 32 bytes in hex.
        #[arg(long)]
        root: B256,
        /// The batch depth (its receipts' path length), 1..=20.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=MAX_BATCH_DEPTH as i64))]
        depth: u8,
        #[arg(long)]
        json: bool,
    },
    /// Stop being an active executor; the stake can be withdrawn after the unbonding delay.
    Unbond {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw the stake once the unbonding delay has passed and no challenge holds it.
    Withdraw {
        #[command(flatten)]
        at: At,
        #[arg(long)]
        json: bool,
    },
    /// Show the deployment, an executor's stake and, if asked, a batch or a model.
    Status {
        #[command(flatten)]
        at: At,
        /// The executor to show (default: the signing account).
        #[arg(long)]
        executor: Option<Address>,
        /// Also show this batch root of the executor.
        #[arg(long)]
        root: Option<B256>,
        /// Also show this model id's registry entry.
        #[arg(long)]
        model_id: Option<B256>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct StakeArgs {
    #[command(flatten)]
    at: At,
    /// Amount to stake (or add), in wei.
    #[arg(long)]
    amount: u128,
    #[arg(long)]
    json: bool,
}

fn key(conn: &Conn) -> Result<Option<String>> {
    match (&conn.key, &conn.key_file) {
        (Some(k), _) => Ok(Some(k.clone())),
        (None, Some(f)) => Ok(Some(std::fs::read_to_string(f).with_context(|| format!("cannot read key file {}", f.display()))?)),
        (None, None) => Ok(None),
    }
}

async fn attach(at: &At, read_only: bool) -> Result<Settlement> {
    let deployment = Deployment::load(&at.contracts)?;
    let key = key(&at.conn)?;
    let chain = if read_only {
        Chain::connect_read_only(&at.conn.rpc, key.as_deref()).await?
    } else {
        Chain::connect(&at.conn.rpc, key.as_deref()).await?
    };
    Ok(chain.attach(&deployment).await?)
}

fn print_tx(what: &str, tx: &verity_settlement::Tx, as_json: bool, extra: serde_json::Value) {
    if as_json {
        let mut v = json!({"tx": tx.hash, "block": tx.block, "gas_used": tx.gas_used});
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        println!("{v}");
    } else {
        println!("{what}: tx {} in block {}, gas {}", tx.hash, tx.block, tx.gas_used);
    }
}

pub fn stake(a: StakeArgs) -> Result<()> {
    block_on(async {
        if a.amount == 0 {
            bail!("--amount must be positive (wei)");
        }
        let s = attach(&a.at, false).await?;
        let tx = s.stake(a.amount).await?;
        let info = s.stake_of(s.chain().sender()).await?;
        print_tx(
            &format!("staked {} wei as {} (total {}, active: {})", a.amount, s.chain().sender(), info.amount, info.active),
            &tx,
            a.json,
            json!({"executor": s.chain().sender(), "stake": info}),
        );
        Ok(())
    })?
}

pub fn run(command: ChainCommand) -> Result<()> {
    block_on(async {
        match command {
            ChainCommand::Deploy {
                conn,
                contracts,
                min_stake,
                unbonding_delay,
                challenge_window,
                manager,
                bond,
                move_timeout,
                json,
            } => {
                let params = DeployParams {
                    min_stake,
                    unbonding_delay,
                    challenge_window,
                    challenger_manager: manager.unwrap_or(Address::ZERO),
                };
                let game = manager.is_none().then_some(GameParams { bond, move_timeout });
                deploy(&conn, &contracts, params, game, json).await
            }
            ChainCommand::RegisterModel { at, model, json } => {
                let m = read_model(&model)?;
                let id: B256 = m.id().parse().context("the model id is not 32 bytes of hex")?;
                let s = attach(&at, false).await?;
                let tx = s.register_model(id).await?;
                print_tx(&format!("registered model {id}"), &tx, json, json!({"model_id": id}));
                Ok(())
            }
            ChainCommand::PostBatch { at, root, depth, json } => {
                let s = attach(&at, false).await?;
                let tx = s.post_batch(root, depth).await?;
                let info = s.batch_status(s.chain().sender(), root).await?;
                print_tx(
                    &format!("posted batch {root} (depth {depth}); final at unix time {}", info.final_at),
                    &tx,
                    json,
                    json!({"root": root, "depth": depth, "batch": info}),
                );
                Ok(())
            }
            ChainCommand::Unbond { at, json } => {
                let s = attach(&at, false).await?;
                let tx = s.request_unbond().await?;
                let info = s.stake_of(s.chain().sender()).await?;
                print_tx(&format!("unbonding; withdraw possible at unix time {}", info.unbond_at), &tx, json, json!({}));
                Ok(())
            }
            ChainCommand::Withdraw { at, json } => {
                let s = attach(&at, false).await?;
                let amount = s.stake_of(s.chain().sender()).await?.amount;
                let tx = s.withdraw().await?;
                print_tx(&format!("withdrew {amount} wei"), &tx, json, json!({}));
                Ok(())
            }
            ChainCommand::Status { at, executor, root, model_id, json } => status(&at, executor, root, model_id, json).await,
        }
    })?
}

async fn deploy(conn: &Conn, file: &Path, params: DeployParams, game: Option<GameParams>, as_json: bool) -> Result<()> {
    let key = key(conn)?;
    let chain = Chain::connect(&conn.rpc, key.as_deref()).await?;
    let deployed = match game {
        Some(g) => chain.deploy_with_game(&params, &g).await?,
        None => chain.deploy(&params).await?,
    };
    deployed.deployment.save(file)?;
    let d = &deployed.deployment;
    if as_json {
        let gas: serde_json::Map<_, _> = deployed.gas.iter().map(|(n, g)| (n.to_string(), json!(g))).collect();
        println!("{}", json!({"deployment": d, "gas": gas, "file": file}));
        return Ok(());
    }
    println!("deployed on chain {} at block {} by {}", d.chain_id, d.block, d.deployer);
    let address = |n: &str| match (n, d.game) {
        ("Staking", _) => d.staking,
        ("BatchSettlement", _) => d.settlement,
        ("OneStepReferee", Some(g)) => g.referee,
        ("DisputeGame", Some(g)) => g.game,
        _ => d.registry,
    };
    for (name, gas) in &deployed.gas {
        println!("  {name:<16} {}  gas {gas}", address(name));
    }
    println!("wrote {}", file.display());
    Ok(())
}

async fn status(at: &At, executor: Option<Address>, root: Option<B256>, model_id: Option<B256>, as_json: bool) -> Result<()> {
    let has_key = at.conn.key.is_some() || at.conn.key_file.is_some();
    let s = attach(at, true).await?;
    let d = s.deployment();
    let who = match executor {
        Some(a) => a,
        None if has_key || d.chain_id == verity_settlement::ANVIL_CHAIN_ID => s.chain().sender(),
        None => bail!("give --executor ADDRESS (or a key, whose address is shown)"),
    };
    let block = s.chain().block_number().await?;
    let stake = s.stake_of(who).await?;
    let batches = s.batch_count().await?;
    let batch = match root {
        Some(r) => Some(s.batch_status(who, r).await?),
        None => None,
    };
    let model = match model_id {
        Some(id) => Some(s.model(id).await?),
        None => None,
    };
    if as_json {
        println!(
            "{}",
            json!({
                "chain_id": d.chain_id, "block": block, "deployment": d, "batches": batches,
                "executor": who, "stake": stake, "batch": batch, "model": model.map(|m| json!(m)),
            })
        );
        return Ok(());
    }
    println!("chain {} at block {}; {batches} batches posted", d.chain_id, block);
    println!("  registry {}  staking {}  settlement {}", d.registry, d.staking, d.settlement);
    println!(
        "  min stake {} wei, unbonding delay {} s, challenge window {} s",
        d.min_stake, d.unbonding_delay, d.challenge_window
    );
    println!(
        "executor {who}: stake {} wei, {}{}",
        stake.amount,
        if stake.active { "active" } else { "not active" },
        match (stake.unbond_at, stake.locks) {
            (0, 0) => String::new(),
            (t, l) => format!(", unbonding until {t}, {l} pending challenges"),
        }
    );
    if let (Some(r), Some(b)) = (root, batch) {
        println!("batch {r}: {:?}, depth {}, posted at {}, final at {}", b.status, b.depth, b.posted_at, b.final_at);
    }
    if let (Some(id), Some(m)) = (model_id, model) {
        match m {
            Some(m) => println!(
                "model {id}: publisher {}, kind {}, commitment {}, registered at {}",
                m.publisher, m.kind, m.commitment, m.registered_at
            ),
            None => println!("model {id}: not registered"),
        }
    }
    Ok(())
}

/// `verity challenge RECEIPT`: opens a dispute on chain over a batch-signed receipt whose
/// batch its executor posted, with the deployment's bond.
#[derive(Args)]
pub struct ChallengeArgs {
    #[command(flatten)]
    at: At,
    /// The receipt (JSON, as `verity run --receipt` writes it), batch-signed.
    receipt: PathBuf,
    /// The model the receipt is about (.vrt).
    #[arg(long)]
    model: PathBuf,
    /// The input the receipt claims to have run on.
    #[arg(long)]
    input: PathBuf,
    /// Print one JSON object: game, tx, gas_used.
    #[arg(long)]
    json: bool,
}

pub fn challenge(a: ChallengeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.receipt).with_context(|| format!("cannot read {}", a.receipt.display()))?;
    let receipt =
        verity_receipt::Receipt::from_json(&text).with_context(|| format!("{} is not a receipt", a.receipt.display()))?;
    let m = read_model(&a.model)?;
    let inputs = read_input(&m, &a.input)?;
    let commitment = verity_commit::ModelCommitment::new(&m);
    // The contract would refuse these too; saying so here names what is wrong.
    verity_dispute::statement(&commitment, &inputs, &receipt)
        .context("this receipt cannot be disputed with this model and input")?;
    let roots = verity_dispute::input_roots(&m.values, &inputs);
    block_on(async {
        let s = attach(&a.at, false).await?;
        let (id, tx) = s.challenge(&receipt, &commitment, &roots).await?;
        print_tx(&format!("opened dispute game {id}"), &tx, a.json, json!({"game": id.to_string()}));
        Ok(())
    })?
}

/// `verity dispute MODEL --input I --cheat K --chain RPC`: the whole game on chain (anvil's
/// dev accounts), from deployment to payout; prints one JSON object with `--json`.
pub fn dispute_on_chain(model: &Path, input: &Path, kind: &str, rpc: &str, as_json: bool) -> Result<()> {
    use verity_dispute::Cheat;
    let kinds = Cheat::ALL.map(Cheat::name).join(", ");
    let kind = Cheat::parse(kind).with_context(|| format!("unknown cheat '{kind}' (one of: {kinds})"))?;
    let m = read_model(model)?;
    let inputs = read_input(&m, input)?;
    let challenger = if kind == Cheat::None {
        verity_settlement::dispute::ChallengerKind::Random(1)
    } else {
        verity_settlement::dispute::ChallengerKind::Honest
    };
    let r = block_on(verity_settlement::dispute::run(rpc, &m, &inputs, kind, challenger))??;
    if as_json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!("model {}  cheat: {} ({})", r.model_id, r.cheat, r.detail);
    println!("verdict on chain: {} wins after {} moves — {}", r.winner, r.rounds, r.reason);
    println!("executor stake {} -> {} wei (slashed: {})", r.stake_before, r.stake_after, r.slashed);
    println!("dispute gas: total {}, largest transaction {}", r.gas.total, r.gas.max_tx);
    for (step, g) in &r.gas.per_step {
        println!("  {step:<10} {:>2} tx  {:>9} gas (max {})", g.txs, g.total, g.max);
    }
    Ok(())
}
