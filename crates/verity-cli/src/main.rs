//! `verity`: turn ONNX models into canonical integer models and run them exactly.

mod bench;
mod chain;
mod devnet;
mod dispute;
mod exit;
mod files;
mod import;
mod inspect;
mod llm;
mod llm_dispute;
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
        /// Fix a graph input to constant values, e.g. `--set sr=16000` (repeatable; a
        /// tensor as comma-separated values, row-major): the model is specialized for
        /// them, and what they select (an If on a sample rate) folds away.
        #[arg(long = "set", value_name = "NAME=V[,V...]", value_parser = import::parse_value)]
        values: Vec<(String, Vec<f64>)>,
        /// Print one JSON object: model_id, output, ops, parameters, samples.
        #[arg(long)]
        json: bool,
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
        /// A file, `-` (stdin) or inline JSON: {"input_data": [[...]]} (one flat list per
        /// model input) or {"NAME": [...]}.
        #[arg(long)]
        input: PathBuf,
        /// Print one JSON object: model_id, input_hash, output_hash, trace_root, outputs.
        #[arg(long)]
        json: bool,
        /// Also print the outputs' integers (`q`), bit widths and scales (value = q * scale).
        #[arg(long)]
        raw: bool,
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
        /// Executor key file (default: $VERITY_KEY or ~/.verity/executor.key). A named key
        /// must exist unless --new-key; the default one is created on first use.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Create the key named by --key or $VERITY_KEY if it does not exist.
        #[arg(long)]
        new_key: bool,
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
        /// Print one JSON object: model_id, proof, proof_bytes, key_ms, prove_ms,
        /// input_hash, output_hash, outputs.
        #[arg(long)]
        json: bool,
    },
    /// Write a model's verifying key (.vk): its public commitments, which `verity verify
    /// --proof P --vk MODEL.vk` needs instead of the weights (see docs/zk.md).
    Keygen {
        model: PathBuf,
        /// Where to write the key.
        #[arg(short, long)]
        output: PathBuf,
        /// Print one JSON object: model_id, vk, vk_bytes, vk_id, key_ms.
        #[arg(long)]
        json: bool,
    },
    /// Check a proof (`--proof`, against MODEL or its verifying key `--vk`; `--input`
    /// also checks that it proves that input) or a receipt (`--receipt` with MODEL and
    /// `--input`: its signature, then a re-execution that must reproduce the model id,
    /// input hash, output hash and trace root). Exits 0 only if valid, 1 if invalid.
    #[command(group = clap::ArgGroup::new("evidence").args(["receipt", "proof"]).required(true))]
    Verify {
        /// The canonical model (not needed with --vk).
        model: Option<PathBuf>,
        /// A receipt: of a .vrt model (needs --input), or of an LLM completion (MODEL.gguf).
        #[arg(long)]
        receipt: Option<PathBuf>,
        #[arg(long)]
        proof: Option<PathBuf>,
        /// A verifying key (`verity keygen`): check the proof without the model's weights.
        #[arg(long, requires = "proof", conflicts_with = "model")]
        vk: Option<PathBuf>,
        /// The input (file, `-` or inline JSON); with --proof, the proof must be for it.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print one JSON object: valid, evidence, model_id, input_hash, output_hash, outputs.
        #[arg(long)]
        json: bool,
        /// The model as a flag (older spelling of the positional MODEL).
        #[arg(long = "model", hide = true, conflicts_with = "model")]
        model_flag: Option<PathBuf>,
    },
    /// Play a bisection dispute between an honest challenger and an executor that
    /// cheats in the chosen way, over the receipt it signs, in front of a referee that holds
    /// only that receipt and openings checked against it.
    Dispute {
        /// A .vrt model (needs --input), or a Llama GGUF (needs --prompt).
        model: PathBuf,
        #[arg(long)]
        input: Option<PathBuf>,
        /// none | output | weight | input | skip-layer | duplicate-layer | precision | bitflip;
        /// for a GGUF: none | output | logit | weight | skip-layer | bitflip | token | seed | truncate
        /// (`none`: an honest executor facing a challenger who disputes anyway).
        #[arg(long, default_value = "bitflip")]
        cheat: String,
        /// The user message of the disputed completion (GGUF only).
        #[arg(long)]
        prompt: Option<String>,
        /// The system message (GGUF only; default: SmolLM2's).
        #[arg(long)]
        system: Option<String>,
        /// GGUF only.
        #[arg(long, default_value_t = 16)]
        max_tokens: u32,
        /// GGUF only: 0 is greedy (the seed cheat needs sampling).
        #[arg(long, default_value_t = 0.0)]
        temperature: f64,
        /// GGUF only: the sampling seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object: winner, rounds, bytes, referee_step_us, moves.
        #[arg(long)]
        json: bool,
        /// Play the game on this chain (anvil, chain id 31337: its dev accounts) from
        /// deployment to payout; --json then prints winner, rounds, slashed and gas.
        #[arg(long)]
        chain: Option<String>,
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
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
        /// Accepted for symmetry: the output is always one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run a node: an HTTP API that publishes models, answers inferences with signed
    /// receipts or proofs, and verifies receipts and proofs (see docs/node.md). Stops on
    /// SIGINT/SIGTERM.
    Node(node::NodeArgs),
    /// Start a local network of node processes on loopback (node 0 bootstraps the others;
    /// verifiers first, test-only cheaters last), print their URLs, and stop them all on
    /// SIGINT/SIGTERM. Publishing needs VERITY_API_KEY, as for a single node.
    Devnet(devnet::DevnetArgs),
    /// Show a node's p2p peers and the executors proven faulty (GET /v1/peers).
    Peers {
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
        /// Print the answer as one JSON object on one line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tls: remote::TlsArgs,
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
        /// Print one JSON object: model_id, created, node (and name, version).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: remote::HubArgs,
        #[command(flatten)]
        tls: remote::TlsArgs,
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
        /// With --evidence zk: check the proof with this verifying key (`verity keygen`)
        /// alone; the model is not downloaded.
        #[arg(long, conflicts_with_all = ["vk_id", "reexecute"])]
        vk: Option<PathBuf>,
        /// With --evidence zk: use the node's verifying key, only if its vk_id is this one.
        #[arg(long, conflicts_with = "reexecute")]
        vk_id: Option<String>,
        /// With --evidence zk: also download the model and re-execute it locally (default:
        /// the proof alone, checked with a key derived from the id-checked model).
        #[arg(long)]
        reexecute: bool,
        #[command(flatten)]
        signer: remote::SignerArgs,
        #[command(flatten)]
        tls: remote::TlsArgs,
    },
    /// List a node's receipts or proof jobs, by model and time, a page at a time (needs the
    /// node's API key: the records carry clients' inputs; see docs/node.md).
    List {
        /// receipts | proofs
        kind: String,
        /// Node URL, e.g. http://127.0.0.1:8700.
        #[arg(long)]
        node: String,
        /// Only this model's (its id).
        #[arg(long)]
        model: Option<String>,
        /// Unix seconds: issued (receipts) or accepted (proof jobs) at or after.
        #[arg(long)]
        since: Option<u64>,
        /// Unix seconds: at or before.
        #[arg(long)]
        until: Option<u64>,
        /// Entries per page (1 to 1000; default 100).
        #[arg(long)]
        limit: Option<usize>,
        /// The next_after of the previous page.
        #[arg(long)]
        after: Option<u64>,
        /// The node's API key (sent as Authorization: Bearer KEY).
        #[arg(long, env = "VERITY_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Print the node's JSON object ({"receipts"|"proofs": [...], "next_after"?}).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tls: remote::TlsArgs,
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
    /// Challenge a batch-signed receipt on chain, with the dispute game's bond.
    Challenge(chain::ChallengeArgs),
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
        /// Print one JSON object (kind, id, and what was checked) even when writing a file.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        signer: remote::SignerArgs,
        #[command(flatten)]
        tls: remote::TlsArgs,
    },
    /// Chat with a Llama GGUF (SmolLM2) exactly; optionally write a signed completion receipt.
    Chat(llm::ChatArgs),
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`verity ... | head`), like other Unix tools,
    // instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Every failure, clap's included, follows one grammar (exit codes, `--json` objects).
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            if json {
                // clap's message without its usage and help footer, on one line.
                let msg = e.render().to_string();
                let body = msg.split("\n\nUsage:").next().unwrap_or("").trim_start_matches("error: ");
                let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
                println!("{}", serde_json::json!({"error": text, "kind": "usage", "exit": 2}));
            }
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Import { model, calibration, output, bits, shapes, values, json } => {
            import::run(&model, &calibration, &output, bits, (&shapes, &values), json)
        }
        Command::Inspect { model, json } => inspect::run(&model, json),
        Command::Run { model, input, json, raw, threads, trace, reference, receipt, key, new_key } => run::run(run::RunArgs {
            model: &model,
            input: &input,
            json,
            threads,
            trace,
            reference,
            receipt: receipt.as_deref(),
            key: key.as_deref(),
            new_key,
            raw,
        }),
        Command::Prove { model, input, output, json } => proof::run_prove(&model, &input, &output, json),
        Command::Keygen { model, output, json } => proof::run_keygen(&model, &output, json),
        Command::Verify { model, receipt, proof, vk, input, json, model_flag } => {
            verify(model.or(model_flag), receipt, proof, vk, input, json)
        }
        Command::Dispute { model, input, cheat, prompt, system, max_tokens, temperature, seed, json, chain } => {
            dispute_any(&model, input, &cheat, (prompt, system, max_tokens, temperature, seed), json, chain.as_deref())
        }
        Command::Bench { model, input, seconds, threads, json: _ } => {
            bench::run(&model, &input, seconds, threads.map(|t| t as usize))
        }
        Command::Node(args) => node::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Peers { node, json, tls } => net::peers(&node, json, &tls),
        Command::Chat(args) => llm::chat(args),
        Command::Publish { node, model, calibration, bits, api_key, json, meta, tls } => remote::client(&node, api_key, &tls)
            .and_then(|c| remote::publish(&c, &node, &model, calibration.as_deref(), bits, json, &meta)),
        Command::Infer { node, model_id, input, evidence, json, receipt, proof, vk, vk_id, reexecute, signer, tls } => {
            remote::infer(remote::InferArgs {
                node: &node,
                model_id: &model_id,
                input: &input,
                evidence: &evidence,
                json,
                receipt: receipt.as_deref(),
                proof: proof.as_deref(),
                vk: vk.as_deref(),
                vk_id: vk_id.as_deref(),
                reexecute,
                signer: &signer,
                tls: &tls,
            })
        }
        Command::Fetch { node, id, output, input_out, json, signer, tls } => {
            remote::fetch(&node, &id, output.as_deref(), input_out.as_deref(), json, &signer, &tls)
        }
        Command::List { kind, node, model, since, until, limit, after, api_key, json, tls } => {
            let q = verity_client::ListQuery { model, since, until, limit, after };
            remote::list(&node, &kind, &q, api_key, json, &tls)
        }
        Command::Chain { command } => chain::run(command),
        Command::Stake(args) => chain::stake(args),
        Command::Challenge(args) => chain::challenge(args),
    };
    finish(result, json)
}

/// The one failure grammar (docs/cli.md, `exit.rs`): exit 0, 1 (invalid evidence), 2
/// (usage or input) or 3 (I/O or network); with `--json`, `{"error", "kind"}` on stdout.
fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let kind = exit::classify(&e);
            let mut msg = format!("{e:#}");
            if let Some(h) = exit::hint(&msg) {
                msg = format!("{msg} ({h})");
            }
            if json {
                println!("{}", serde_json::json!({"error": msg, "kind": kind.name(), "exit": kind.code()}));
            }
            eprintln!("error: {msg}");
            ExitCode::from(kind.code())
        }
    }
}

type LlmRequest = (Option<String>, Option<String>, u32, f64, u64);

/// A `.gguf` is disputed as an LLM completion (`--prompt`), anything else as a `.vrt` run.
fn dispute_any(
    model: &std::path::Path,
    input: Option<PathBuf>,
    cheat: &str,
    (prompt, system, max_tokens, temperature, seed): LlmRequest,
    json: bool,
    chain: Option<&str>,
) -> anyhow::Result<()> {
    if model.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        if input.is_some() || chain.is_some() {
            anyhow::bail!("a GGUF completion is disputed from --prompt (no --input, no --chain)");
        }
        let prompt = prompt.ok_or_else(|| anyhow::anyhow!("a GGUF dispute needs --prompt"))?;
        let req = llm_dispute::Request { prompt: &prompt, system: system.as_deref(), max_tokens, temperature, seed };
        return llm_dispute::run(model, &req, cheat, json);
    }
    if prompt.is_some() || system.is_some() {
        anyhow::bail!("--prompt and --system are for a GGUF model; a .vrt dispute takes --input");
    }
    let input = input.ok_or_else(|| anyhow::anyhow!("a .vrt dispute needs --input"))?;
    dispute::run(model, &input, cheat, json, chain)
}

fn verify(
    model: Option<PathBuf>,
    receipt: Option<PathBuf>,
    proof: Option<PathBuf>,
    vk: Option<PathBuf>,
    input: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    match (receipt, proof, model, vk) {
        (Some(r), None, Some(m), None) if m.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) => {
            llm::verify_receipt(&r, &m, json)
        }
        (Some(r), None, Some(m), None) => match input {
            Some(i) => receipt::verify(&r, &m, &i, json),
            None => anyhow::bail!("a receipt of a .vrt model is checked by re-execution: give its --input"),
        },
        (None, Some(p), Some(m), None) => proof::run_verify(&p, proof::Against::Model(&m), input.as_deref(), json),
        (None, Some(p), None, Some(k)) => proof::run_verify(&p, proof::Against::Key(&k), input.as_deref(), json),
        (None, Some(_), None, None) => anyhow::bail!("give the MODEL the proof is for, or its verifying key with --vk MODEL.vk"),
        (Some(_), _, None, _) => anyhow::bail!("a receipt is checked by re-execution: give the MODEL (a .vrt)"),
        _ => anyhow::bail!("give --proof P (with MODEL or --vk K), or --receipt R with MODEL and --input I"),
    }
}
