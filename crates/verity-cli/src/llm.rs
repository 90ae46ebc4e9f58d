//! `verity chat` and `verity verify-llm`: exact LLM completions from a GGUF and their receipts.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use verity_llm::model::render_chat;
use verity_llm::receipt::{sign, verify, ReceiptFile};
use verity_llm::{complete, Kernel, Model, Params};
use verity_receipt::{to_checksum_address, Signer};

#[derive(Args)]
pub struct ChatArgs {
    /// A Llama GGUF (e.g. SmolLM2-135M-Instruct.Q4_1.gguf); it is read directly.
    pub model: PathBuf,
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
    /// Executor key file (default: $VERITY_KEY or ~/.verity/executor.key; created if missing).
    #[arg(long)]
    pub key: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The receipt file `verity chat --receipt` wrote.
    #[arg(long)]
    pub receipt: PathBuf,
    /// The GGUF the completion claims to come from.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

fn key_path(key: Option<&Path>) -> Result<PathBuf> {
    if let Some(k) = key {
        return Ok(k.to_path_buf());
    }
    if let Some(k) = std::env::var_os("VERITY_KEY") {
        return Ok(PathBuf::from(k));
    }
    let home = std::env::var_os("HOME").context("no --key given and HOME is not set")?;
    Ok(PathBuf::from(home).join(".verity").join("executor.key"))
}

pub fn chat(a: ChatArgs) -> Result<()> {
    let params = Params::from_floats(a.max_tokens, a.temperature, a.top_p, a.top_k, a.seed, a.stop.clone())?;
    let model = Model::load(&a.model)?;
    let prompt = model.tokenizer.encode(&render_chat(a.system.as_deref(), &a.prompt))?;
    let kernel = if a.reference { Kernel::Reference } else { Kernel::Fast };
    let c = complete(&model, &prompt, &params, kernel, a.threads)?;
    if let Some(path) = &a.receipt {
        let kp = key_path(a.key.as_deref())?;
        let (signer, created) = Signer::load_or_create(&kp).with_context(|| format!("executor key {}", kp.display()))?;
        if created {
            eprintln!("created executor key {} (address {})", kp.display(), to_checksum_address(&signer.address()));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let file = sign(&signer, &c, now)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&file)?).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        println!("{}", c.text);
    }
    Ok(())
}

pub fn verify_receipt(a: VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.receipt).with_context(|| format!("reading {}", a.receipt.display()))?;
    let file: ReceiptFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not an LLM receipt file", a.receipt.display()))?;
    let model = Model::load(&a.model)?;
    let c = verify(&model, &file, a.threads)?;
    println!("ok: {} tokens re-derived, model {}, trace root {}", c.tokens.len(), c.model_id, c.trace_root);
    Ok(())
}
