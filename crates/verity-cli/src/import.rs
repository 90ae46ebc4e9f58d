use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use verity_import::{calibrate, calibration_samples, calibration_warnings, load_onnx_fixed, ImportOptions};

use crate::files::write_atomic;

/// Fixed input shapes and fixed input values, by input name.
pub type Fixed<'a> = (&'a [(String, Vec<usize>)], &'a [(String, Vec<f64>)]);

pub fn run(onnx: &Path, calibration: &Path, output: &Path, bits: u8, (shapes, values): Fixed, json: bool) -> Result<()> {
    // Fail on a mistyped output path before the (possibly long) calibration.
    let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(dir.is_dir(), "cannot write {}: directory {} does not exist", output.display(), dir.display());
    let bytes = std::fs::read(onnx)
        .map_err(|e| crate::exit::io(anyhow::Error::new(e).context(format!("cannot read {}", onnx.display()))))?;
    let cal = std::fs::read_to_string(calibration)
        .map_err(|e| crate::exit::io(anyhow::Error::new(e).context(format!("cannot read {}", calibration.display()))))?;
    let ctx = || format!("cannot import {}", onnx.display());
    let fg = load_onnx_fixed(&bytes, shapes, values).with_context(ctx)?;
    let samples = calibration_samples(&fg, &cal).with_context(|| format!("bad calibration file {}", calibration.display()))?;
    let warnings = calibration_warnings(&fg, &cal);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let bar = ProgressBar::new(samples.len() as u64)
        .with_style(ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} samples {elapsed}").expect("static template"));
    let ranges = calibrate(&fg, &samples, |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    let model = verity_import::quantize(&fg, &ranges, &ImportOptions { bits }).with_context(ctx)?;
    write_atomic(output, &model.encode())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"model_id": model.id(), "output": output.display().to_string(), "ops": model.nodes.len(),
                "parameters": model.param_count(), "samples": samples.len(), "warnings": warnings})
        );
        return Ok(());
    }
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

/// Parses `NAME=1x3x224x224` (every dimension a positive integer).
pub fn parse_shape(s: &str) -> std::result::Result<(String, Vec<usize>), String> {
    let (name, dims) = s.rsplit_once('=').ok_or_else(|| format!("'{s}' is not NAME=DxDx... (for example input=1x3x224x224)"))?;
    if name.is_empty() {
        return Err(format!("'{s}' names no input"));
    }
    let dims = dims
        .split('x')
        .map(|d| {
            d.trim().parse::<usize>().ok().filter(|&d| d > 0).ok_or_else(|| format!("'{d}' in '{s}' is not a positive dimension"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((name.to_string(), dims))
}

pub fn parse_value(s: &str) -> std::result::Result<(String, Vec<f64>), String> {
    let (name, vals) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=V[,V...] (for example sr=16000)"))?;
    if name.is_empty() {
        return Err(format!("'{s}' names no input"));
    }
    let vals = vals
        .split(',')
        .map(|v| {
            v.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("'{v}' in '{s}' is not a finite number"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((name.to_string(), vals))
}
