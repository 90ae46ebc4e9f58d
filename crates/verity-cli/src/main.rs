//! `verity`: turn ONNX models into canonical integer models and run them exactly.

mod bench;
mod dispute;
mod exec;
mod files;
mod import;
mod inspect;
mod receipt;
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
    /// Check a receipt: its signature, then a re-execution that must reproduce the model
    /// id, input hash, output hash and trace root. Exits 0 only if all hold.
    Verify {
        #[arg(long)]
        receipt: PathBuf,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
    },
    /// Play a bisection dispute between an honest challenger and an executor that
    /// cheats in the chosen way, in front of a referee holding only roots.
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
        Command::Import { model, calibration, output, bits } => import::run(&model, &calibration, &output, bits),
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
        Command::Verify { receipt, model, input } => receipt::verify(&receipt, &model, &input),
        Command::Dispute { model, input, cheat, json } => dispute::run(&model, &input, &cheat, json),
        Command::Bench { model, input, seconds, threads } => bench::run(&model, &input, seconds, threads),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
