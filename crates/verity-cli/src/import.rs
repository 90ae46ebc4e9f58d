use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use verity_import::{calibrate, calibration_samples, load_onnx, ImportOptions};

use crate::files::write_atomic;

pub fn run(onnx: &Path, calibration: &Path, output: &Path, bits: u8) -> Result<()> {
    let bytes = std::fs::read(onnx).with_context(|| format!("cannot read {}", onnx.display()))?;
    let cal = std::fs::read_to_string(calibration).with_context(|| format!("cannot read {}", calibration.display()))?;
    let ctx = || format!("cannot import {}", onnx.display());
    let fg = load_onnx(&bytes).with_context(ctx)?;
    let samples = calibration_samples(&fg, &cal).with_context(|| format!("bad calibration file {}", calibration.display()))?;
    let bar = ProgressBar::new(samples.len() as u64)
        .with_style(ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} samples {elapsed}").expect("static template"));
    let ranges = calibrate(&fg, &samples, |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    let model = verity_import::quantize(&fg, &ranges, &ImportOptions { bits }).with_context(ctx)?;
    write_atomic(output, &model.encode())?;
    eprintln!(
        "imported {} ops, {} parameters, {} calibration samples -> {}",
        model.nodes.len(),
        model.param_count(),
        samples.len(),
        output.display()
    );
    println!("{}", model.id());
    Ok(())
}
