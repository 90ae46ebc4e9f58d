//! `verity chat` and `verity verify --receipt R MODEL.gguf`: exact LLM completions from a
//! GGUF (or from a node, checked) and their receipts.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use verity_llm::model::render_chat;
use verity_llm::receipt::{sign, verify, ReceiptFile};
use verity_llm::{complete, Kernel, Model, Params};

#[derive(Args)]
pub struct ChatArgs {
    /// A Llama GGUF (e.g. SmolLM2-135M-Instruct.Q4_1.gguf), read directly; with --node, the
    /// node's LLM id or name (default: the node's only LLM).
    pub model: Option<String>,
    /// Ask this node's /v1/chat/completions instead, and check its answer before printing.
    #[arg(long)]
    pub node: Option<String>,
    /// With --node: the LLM's GGUF, to re-execute the answer locally (without it only the
    /// receipt's signature and claims are checked).
    #[arg(long, value_name = "PATH.gguf")]
    pub model_file: Option<PathBuf>,
    #[command(flatten)]
    pub signer: crate::remote::SignerArgs,
    #[command(flatten)]
    pub tls: crate::remote::TlsArgs,
    /// The user message (rendered with the ChatML template).
    #[arg(long)]
    pub prompt: String,
    /// The system message (default: SmolLM2's).
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long, default_value_t = 64)]
    pub max_tokens: u32,
    /// 0 is greedy; otherwise exact sampling at this temperature (thousandths kept).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// 0: no top-k cut.
    #[arg(long, default_value_t = 0)]
    pub top_k: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop sequence (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Use the reference kernels (slow; same bits).
    #[arg(long)]
    pub reference: bool,
    /// Write a signed receipt (JSON with the completion) here.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// Executor key file (default: $VERITY_KEY or ~/.verity/executor.key; created on first use).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Create the key named by --key or $VERITY_KEY if it does not exist.
    #[arg(long)]
    pub new_key: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn chat(a: ChatArgs) -> Result<()> {
    let params = Params::from_floats(a.max_tokens, a.temperature, a.top_p, a.top_k, a.seed, a.stop.clone())?;
    if let Some(node) = a.node.clone() {
        return chat_remote(&node, a);
    }
    if a.model_file.is_some() || a.signer.executor.is_some() || a.signer.any_executor {
        anyhow::bail!("--model-file, --executor and --any-executor go with --node; without it, MODEL is the GGUF");
    }
    let path = PathBuf::from(a.model.as_deref().context("give the MODEL.gguf to run, or --node URL to ask a node")?);
    let model = Model::load(&path)?;
    let prompt = model.tokenizer.encode(&render_chat(a.system.as_deref(), &a.prompt))?;
    let kernel = if a.reference { Kernel::Reference } else { Kernel::Fast };
    let c = complete(&model, &prompt, &params, kernel, a.threads)?;
    if let Some(path) = &a.receipt {
        let signer = crate::receipt::signer(a.key.as_deref(), a.new_key)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let file = sign(&signer, &c, now)?;
        crate::files::write_atomic(path, serde_json::to_string_pretty(&file)?.as_bytes())?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        println!("{}", c.text);
    }
    Ok(())
}

/// `verity chat --node URL [MODEL]`: the node's answer, printed only once checked
/// (`verity_client::chat`): re-executed when `--model-file` is given.
fn chat_remote(node: &str, a: ChatArgs) -> Result<()> {
    if a.reference {
        anyhow::bail!("--reference is for local runs; with --node, --model-file re-executes with the fast kernels (same bits)");
    }
    if a.key.is_some() || a.new_key {
        anyhow::bail!("--key and --new-key sign local runs; a node's answer is signed by the node");
    }
    let model = match &a.model_file {
        Some(p) => Some(Model::load(p)?),
        None => None,
    };
    let mut turns = Vec::new();
    if let Some(s) = &a.system {
        turns.push(("system".to_string(), s.clone()));
    }
    turns.push(("user".to_string(), a.prompt.clone()));
    let req = verity_client::chat::ChatRequest {
        model: a.model.clone(),
        messages: turns,
        max_tokens: Some(a.max_tokens),
        temperature: Some(a.temperature),
        top_p: Some(a.top_p),
        top_k: Some(a.top_k),
        seed: Some(a.seed),
        stop: a.stop.clone(),
    };
    let client = a.signer.apply(crate::remote::client(node, None, &a.tls)?)?;
    let answer = client.chat_verified(&req, model.as_ref(), a.threads).with_context(|| format!("chat with {node}"))?;
    if let Some(path) = &a.receipt {
        crate::files::write_atomic(path, serde_json::to_string_pretty(&answer.file)?.as_bytes())?;
    }
    let c = answer.completion();
    let check = if answer.reexecuted { "reexecuted" } else { "receipt-claims" };
    if a.json {
        let mut v = serde_json::to_value(c)?;
        v["receipt_id"] = answer.receipt_id.clone().into();
        v["checked"] = check.into();
        println!("{v}");
    } else {
        println!("{}", c.text);
        if !answer.reexecuted {
            eprintln!("note: receipt signature and claims checked; not re-executed (give --model-file MODEL.gguf for that)");
        }
    }
    Ok(())
}

/// `verity verify --receipt R MODEL.gguf`: the signature and every claim, by re-deriving
/// the completion from what the receipt carries.
pub fn verify_receipt(receipt: &Path, model: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(receipt)
        .map_err(|e| crate::exit::io(anyhow::Error::new(e).context(format!("cannot read receipt {}", receipt.display()))))?;
    let file: ReceiptFile = serde_json::from_str(&text)
        .map_err(|e| crate::exit::invalid(anyhow::anyhow!("{} is not an LLM receipt file: {e}", receipt.display())))?;
    let model = Model::load(model)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let c = verify(&model, &file, threads)
        .map_err(|e| crate::exit::invalid(anyhow::anyhow!("receipt {} is INVALID: {e:#}", receipt.display())))?;
    if json {
        let v = serde_json::json!({"valid": true, "evidence": "llm-receipt", "model_id": c.model_id, "tokens": c.tokens.len(), "trace_root": c.trace_root});
        println!("{v}");
    } else {
        println!("ok: {} tokens re-derived, model {}, trace root {}", c.tokens.len(), c.model_id, c.trace_root);
    }
    Ok(())
}
