//! `verity`: turn ONNX models into canonical integer models and run them exactly.

mod bench;
mod files;
mod import;
mod inspect;
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import { model, calibration, output, bits } => import::run(&model, &calibration, &output, bits),
        Command::Inspect { model, json } => inspect::run(&model, json),
        Command::Run { model, input, json, threads, trace, reference } => {
            run::run(&model, &input, json, threads, trace, reference)
        }
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
