//! `verity`: turn ONNX models into canonical integer models and run them exactly.

mod bench;
mod chain;
mod dispute;
mod files;
mod import;
mod inspect;
mod net;
mod node;
mod proof;
mod receipt;
mod remote;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "verity", version, about = "Verifiable inference: canonical integer models with one exact semantics")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a float ONNX model into a canonical integer model (.vrt), choosing
    /// quantization scales from calibration samples; prints the model id.
    Import {
        /// The ONNX model.
        model: PathBuf,
        /// Calibration inputs: {"input_data": [[...]]} or {"NAME": [...]}; each list may
        /// hold several samples back to back.
        #[arg(long)]
        calibration: PathBuf,
        /// Where to write the canonical model.
        #[arg(short, long)]
        output: PathBuf,
        /// Activation bit width (8 or 16); 16 trades speed for accuracy.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(8..=16))]
        bits: u8,
        /// Fix a graph input's shape, e.g. `--shape input=1x3x224x224` (repeatable):
        /// needed for inputs with symbolic dimensions such as a batch size.
        #[arg(long = "shape", value_name = "NAME=DxDx...", value_parser = import::parse_shape)]
        shapes: Vec<(String, Vec<usize>)>,
    },
    /// Show a canonical model's ops, shapes, scales, parameter count and id.
    Inspect {
        model: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a canonical model on an input file with the fast engine.
    Run {
        model: PathBuf,
        /// {"input_data": [[...]]} (one flat list per model input) or {"NAME": [...]}.
        #[arg(long)]
        input: PathBuf,
        /// Print one JSON object: model_id, input_hash, output_hash, outputs.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: all cores). Results are identical for any count.
        #[arg(long)]
        threads: Option<usize>,
        /// Also report every op's output shape and hash, in execution order.
        #[arg(long)]
        trace: bool,
        /// Use the slow reference interpreter instead of the engine.
        #[arg(long)]
        reference: bool,
        /// Also write a signed receipt (JSON) binding model, input, output and trace root.
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// Executor key file (default: $VERITY_KEY or ~/.verity/executor.key; created on first use).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Prove an inference: writes a proof file binding model id, input and output, which
    /// `verity verify --proof` checks without re-running the model (see docs/zk.md).
    Prove {
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        /// Where to write the proof.
        #[arg(short, long)]
        output: PathBuf,
        /// Print one JSON object: model_id, proof_bytes, key_ms, prove_ms, outputs.
        #[arg(long)]
        json: bool,
    },
    /// Check a proof (`--proof`, no input needed: the proof carries it) or a receipt
    /// (`--receipt` with `--input`: its signature, then a re-execution that must reproduce
    /// the model id, input hash, output hash and trace root). Exits 0 only if valid.
    #[command(group = clap::ArgGroup::new("evidence").args(["receipt", "proof"]).required(true))]
    Verify {
        #[arg(long, requires = "input")]
        receipt: Option<PathBuf>,
        #[arg(long)]
        proof: Option<PathBuf>,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: Option<PathBuf>,
        /// With --proof: print one JSON object (valid, model_id, verify_ms, outputs).
        #[arg(long)]
        json: bool,
    },
    /// Play a bisection dispute between an honest challenger and an executor that
    /// cheats in the chosen way, over the receipt it signs, in front of a referee that holds
    /// only that receipt and openings checked against it.
    Dispute {
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        /// none | output | weight | input | skip-layer | duplicate-layer | precision | bitflip
        /// (`none`: an honest executor facing a challenger who disputes anyway).
        #[arg(long, default_value = "bitflip")]
        cheat: String,
        /// Print one JSON object: winner, rounds, bytes, referee_step_us, moves.
        #[arg(long)]
        json: bool,
    },
    /// Time the engine (1 thread and all cores) and the reference interpreter; prints JSON.
    Bench {
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        /// Seconds of timed runs per configuration (after a short warm-up).
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Thread count of the multithreaded configuration (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run a node: an HTTP API that publishes models, answers inferences with signed
    /// receipts or proofs, and verifies receipts and proofs (see docs/node.md). Stops on
    /// SIGINT/SIGTERM.
    Node(node::NodeArgs),
    /// Show a node's p2p peers and the executors proven faulty (GET /v1/peers).
    Peers {
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
    },
    /// Publish a model to a node: a canonical .vrt, or an ONNX model with --calibration
    /// (also imported locally: the node's model id must match). Prints the model id.
    Publish {
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
        /// An ONNX model or a canonical .vrt.
        model: PathBuf,
        /// Calibration samples for an ONNX model (as for `verity import`).
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Activation bit width for ONNX imports (8 or 16).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(8..=16))]
        bits: u8,
        /// The node's API key (sent as Authorization: Bearer KEY).
        #[arg(long, env = "VERITY_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// Run a published model on a node. The answer is printed only after the model (checked
    /// against its id) is re-executed locally and agrees, receipt included; with
    /// `--evidence zk`, also only after the node's proof (waited for, progress on stderr)
    /// verifies with a key derived here from the model.
    Infer {
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
        model_id: String,
        /// {"input_data": [[...]]} (one flat list per model input) or {"NAME": [...]}.
        #[arg(long)]
        input: PathBuf,
        /// none | receipt | zk (a proof, waited for and verified locally).
        #[arg(long, default_value = "none")]
        evidence: String,
        /// Print one JSON object: the fields of `verity run --json` plus evidence (and
        /// receipt, receipt_id, or proof_job, proof_id, proof_bytes).
        #[arg(long)]
        json: bool,
        /// Also write the verified receipt (JSON, as `verity run --receipt` does).
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// With --evidence zk: also write the verified proof file (`verity verify --proof` reads it).
        #[arg(long)]
        proof: Option<PathBuf>,
        #[command(flatten)]
        signer: remote::SignerArgs,
    },
    /// Settlement on an EVM chain: deploy the contracts, register models, post receipt
    /// batches, show their state (see docs/settlement.md).
    Chain {
        #[command(subcommand)]
        command: chain::ChainCommand,
    },
    /// Stake native ETH as an executor on chain: the signing key becomes a staked executor
    /// address that may post receipt batches (see docs/settlement.md).
    Stake(chain::StakeArgs),
    /// Fetch a model, a receipt or a proof from a node by id, checked before it is written:
    /// a model's bytes must hash to its id; a receipt must be signed and reproduce on
    /// re-execution; a proof (by job id or proof id; waited for if not done) must verify
    /// with a key derived here from its model.
    Fetch {
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
        /// A model id, receipt id, proof job id or proof id (64 hex digits).
        id: String,
        /// Where to write the .vrt, the receipt JSON or the proof file (default: print the
        /// model's `inspect --json`, the receipt, or a JSON summary of the proof).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// For receipts: also write the input it was issued for.
        #[arg(long)]
        input_out: Option<PathBuf>,
        #[command(flatten)]
        signer: remote::SignerArgs,
    },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`verity ... | head`), like other Unix tools,
    // instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import { model, calibration, output, bits, shapes } => import::run(&model, &calibration, &output, bits, &shapes),
        Command::Inspect { model, json } => inspect::run(&model, json),
        Command::Run { model, input, json, threads, trace, reference, receipt, key } => run::run(run::RunArgs {
            model: &model,
            input: &input,
            json,
            threads,
            trace,
            reference,
            receipt: receipt.as_deref(),
            key: key.as_deref(),
        }),
        Command::Prove { model, input, output, json } => proof::run_prove(&model, &input, &output, json),
        Command::Verify { receipt, proof, model, input, json } => match (receipt, proof, input) {
            (Some(r), None, Some(i)) => receipt::verify(&r, &model, &i),
            (None, Some(p), None) => proof::run_verify(&p, &model, json),
            (None, Some(_), Some(_)) => Err(anyhow::anyhow!("--input is for receipts; a proof carries its own input")),
            _ => Err(anyhow::anyhow!("give --proof, or --receipt with --input")),
        },
        Command::Dispute { model, input, cheat, json } => dispute::run(&model, &input, &cheat, json),
        Command::Bench { model, input, seconds, threads } => bench::run(&model, &input, seconds, threads),
        Command::Node(args) => node::run(args),
        Command::Peers { node } => net::peers(&node),
        Command::Publish { node, model, calibration, bits, api_key } => {
            remote::publish(&node, &model, calibration.as_deref(), bits, api_key)
        }
        Command::Infer { node, model_id, input, evidence, json, receipt, proof, signer } => remote::infer(remote::InferArgs {
            node: &node,
            model_id: &model_id,
            input: &input,
            evidence: &evidence,
            json,
            receipt: receipt.as_deref(),
            proof: proof.as_deref(),
            signer: &signer,
        }),
        Command::Fetch { node, id, output, input_out, signer } => {
            remote::fetch(&node, &id, output.as_deref(), input_out.as_deref(), &signer)
        }
        Command::Chain { command } => chain::run(command),
        Command::Stake(args) => chain::stake(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
