//! Resize and Upsample, one axis at a time: `nearest` is a Gather of the source
//! positions (the input's integers copied exactly); `linear` and `cubic` are a Linear over
//! the axis (moved last by a Transpose when it is not) whose weight rows hold the two or
//! four interpolation weights of each output position.

use crate::error::Result;
use crate::fgraph::FOp;
use crate::translate::{checked_numel, norm_axis, Builder, Cx, Out};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    /// Keys' cubic convolution with coefficient `a`; `exclude` drops (and renormalizes
    /// away) the taps outside the input instead of repeating its edge.
    Cubic {
        a: f64,
        exclude: bool,
    },
}

pub fn resize(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let r = s.len();
    let mode = match cx.a.string("mode").as_deref().unwrap_or("nearest") {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        "cubic" | "bicubic" => {
            let a = cx.a.float("cubic_coeff_a", -0.75);
            if !a.is_finite() {
                return Err(cx.fail(format!("cubic_coeff_a {a} must be a finite number")));
            }
            let exclude = match cx.a.int("exclude_outside", 0) {
                0 => false,
                1 => true,
                v => return Err(cx.fail(format!("exclude_outside must be 0 or 1, not {v}"))),
            };
            Mode::Cubic { a, exclude }
        }
        m => return Err(cx.fail(format!("mode '{m}' is not supported (nearest, linear, cubic are)"))),
    };
    if cx.a.int("antialias", 0) != 0 {
        return Err(cx.fail("antialias=1 is not supported"));
    }
    if !matches!(cx.a.string("keep_aspect_ratio_policy").as_deref().unwrap_or("stretch"), "stretch") {
        return Err(cx.fail("keep_aspect_ratio_policy other than 'stretch' is not supported"));
    }
    let axes: Vec<usize> = match cx.a.ints("axes") {
        Some(ax) => ax.iter().map(|&a| norm_axis(a, r)).collect::<Option<_>>().ok_or_else(|| cx.fail("axis out of range"))?,
        None => (0..r).collect(),
    };
    // Upsample and opset-10 Resize take (X, scales); later Resize (X, roi, scales, sizes).
    let legacy = cx.op == "Upsample" || b.opset < 11;
    let scales = if legacy && cx.op == "Upsample" && b.opset < 9 {
        cx.a.floats("scales")
    } else {
        cx.konst_opt(if legacy { 1 } else { 2 }, "scales")?.map(|t| t.data).filter(|v| !v.is_empty())
    };
    let sizes = if legacy { None } else { cx.konst_opt(3, "sizes")?.map(|t| t.ints()).filter(|v| !v.is_empty()) };
    let default_ct = if legacy { "asymmetric" } else { "half_pixel" };
    let ct = cx.a.string("coordinate_transformation_mode").unwrap_or_else(|| default_ct.into());
    if !matches!(
        ct.as_str(),
        "half_pixel" | "half_pixel_symmetric" | "pytorch_half_pixel" | "align_corners" | "asymmetric" | "tf_half_pixel_for_nn"
    ) {
        return Err(cx.fail(format!("coordinate_transformation_mode '{ct}' is not supported")));
    }
    let default_nm = if legacy { "floor" } else { "round_prefer_floor" };
    let nearest_mode = cx.a.string("nearest_mode").unwrap_or_else(|| default_nm.into());
    if !matches!(nearest_mode.as_str(), "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil") {
        return Err(cx.fail(format!("nearest_mode '{nearest_mode}' is not supported")));
    }
    // Per axis: output size and the scale the coordinate transform uses.
    let mut out = s.clone();
    let mut scale = vec![1.0; r];
    match (sizes, scales) {
        (Some(sz), _) => {
            if sz.len() != axes.len() || sz.iter().any(|&d| d < 1) {
                return Err(cx.fail(format!("sizes {sz:?} must be one positive size per resized axis ({} axes)", axes.len())));
            }
            for (&a, &d) in axes.iter().zip(&sz) {
                out[a] = d as usize;
                scale[a] = d as f64 / s[a] as f64;
            }
        }
        (None, Some(sc)) => {
            if sc.len() != axes.len() || sc.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
                return Err(cx.fail(format!("scales {sc:?} must be one positive scale per resized axis ({} axes)", axes.len())));
            }
            for (&a, &v) in axes.iter().zip(&sc) {
                out[a] = (s[a] as f64 * v).floor() as usize;
                scale[a] = v;
                if out[a] == 0 {
                    return Err(cx.fail(format!("scale {v} makes axis {a} (size {}) empty", s[a])));
                }
            }
        }
        (None, None) => return Err(cx.fail("neither scales nor sizes is given")),
    }
    checked_numel(&out).ok_or_else(|| cx.fail(format!("output shape {out:?} is too large")))?;
    let mut cur = x;
    let mut shape = s.clone();
    let changed: Vec<usize> = (0..r).filter(|&a| out[a] != s[a] || scale[a] != 1.0).collect();
    let Some(&last) = changed.last() else { return Ok(Out::Alias(x)) };
    for a in changed {
        let src = |o: usize| source(&ct, o as f64, scale[a], s[a], out[a]);
        let op_on = |b: &mut Builder, cur: usize, op: FOp, what: &str| -> Result<usize> {
            b.push(cx.name, cx.op, op, vec![cur], &cx.part(&format!("{what}{a}")))
        };
        let n_in = s[a];
        let step = match mode {
            Mode::Nearest => {
                let idx: Vec<usize> =
                    (0..out[a]).map(|o| nearest(&nearest_mode, src(o)).clamp(0, n_in as i64 - 1) as usize).collect();
                FOp::Gather { axis: a, indices: idx, indices_shape: vec![out[a]] }
            }
            Mode::Linear => {
                let mut w = vec![0.0; out[a] * n_in];
                for o in 0..out[a] {
                    let p = src(o).clamp(0.0, (n_in - 1) as f64);
                    let i0 = p.floor() as usize;
                    let i1 = (i0 + 1).min(n_in - 1);
                    let f = p - i0 as f64;
                    w[o * n_in + i0] += 1.0 - f;
                    w[o * n_in + i1] += f;
                }
                FOp::Linear { w, b: vec![0.0; out[a]] }
            }
            Mode::Cubic { a: coeff, exclude } => {
                let mut w = vec![0.0; out[a] * n_in];
                for o in 0..out[a] {
                    let row = &mut w[o * n_in..(o + 1) * n_in];
                    for (i, c) in cubic_taps(src(o), coeff) {
                        if (0..n_in as i64).contains(&i) || !exclude {
                            row[i.clamp(0, n_in as i64 - 1) as usize] += c;
                        }
                    }
                    if exclude {
                        let sum: f64 = row.iter().sum();
                        if sum != 0.0 {
                            row.iter_mut().for_each(|c| *c /= sum);
                        }
                    }
                }
                FOp::Linear { w, b: vec![0.0; out[a]] }
            }
        };
        let moved = matches!(step, FOp::Linear { .. }) && a != r - 1;
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(a, r - 1);
        if moved {
            cur = op_on(b, cur, FOp::Transpose { perm: perm.clone() }, "moved")?;
        }
        shape[a] = out[a];
        if a == last && !moved {
            return Ok(Out::Node(step, vec![cur]));
        }
        cur = op_on(b, cur, step, "resized")?;
        if moved {
            if a == last {
                return Ok(Out::Node(FOp::Transpose { perm }, vec![cur]));
            }
            cur = op_on(b, cur, FOp::Transpose { perm }, "back")?;
        }
    }
    unreachable!("the last changed axis returns")
}

/// The four source positions `floor(p) − 1 ..= floor(p) + 2` and their weights under Keys'
/// cubic kernel with coefficient `a`. At a whole `p` all the weight falls on `p` (ONNX's
/// reference takes the taps one further left there, with the same result).
fn cubic_taps(p: f64, a: f64) -> [(i64, f64); 4] {
    let f = p.floor();
    let t = p - f;
    let k = |d: f64| {
        let d = d.abs();
        if d <= 1.0 {
            ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
        } else if d < 2.0 {
            ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
        } else {
            0.0
        }
    };
    let f = f as i64;
    [(f - 1, k(t + 1.0)), (f, k(t)), (f + 1, k(1.0 - t)), (f + 2, k(2.0 - t))]
}

/// The input coordinate of output position `o` (ONNX's coordinate transforms).
fn source(ct: &str, o: f64, scale: f64, n_in: usize, n_out: usize) -> f64 {
    match ct {
        "half_pixel" => (o + 0.5) / scale - 0.5,
        "half_pixel_symmetric" => {
            let adjustment = n_out as f64 / (scale * n_in as f64);
            let offset = n_in as f64 / 2.0 * (1.0 - adjustment);
            offset + (o + 0.5) / scale - 0.5
        }
        "pytorch_half_pixel" if n_out > 1 => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => 0.0,
        "align_corners" if n_out > 1 => o * (n_in - 1) as f64 / (n_out - 1) as f64,
        "align_corners" => 0.0,
        "tf_half_pixel_for_nn" => (o + 0.5) / scale,
        _ => o / scale, // asymmetric
    }
}

fn nearest(mode: &str, p: f64) -> i64 {
    let half = (p - p.floor() - 0.5).abs() < 1e-9;
    (match mode {
        "round_prefer_floor" if half => p.floor(),
        "round_prefer_ceil" if half => p.ceil(),
        "floor" => p.floor(),
        "ceil" => p.ceil(),
        _ => p.round(),
    }) as i64
}
