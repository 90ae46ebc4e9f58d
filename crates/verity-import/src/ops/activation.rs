//! Activations. Relu and Clip are clamps, PRelu has its own canonical op, and every
//! other one is a lookup table (`Lut`) computed from its float function.

use crate::error::Result;
use crate::fgraph::{FOp, Unary};
use crate::translate::{Builder, Cx, Out};

pub fn activation(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let a = &cx.a;
    let positive = |name: &str, d: f64| -> Result<f64> {
        let v = a.float(name, d);
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(cx.fail(format!("{name} {v} must be a positive number")))
        }
    };
    let finite = |name: &str, d: f64| -> Result<f64> {
        let v = a.float(name, d);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(cx.fail(format!("{name} {v} is not finite")))
        }
    };
    let u = match cx.op {
        "Relu" => Unary::Relu,
        "LeakyRelu" => Unary::LeakyRelu(a.float("alpha", 0.01)),
        "Sigmoid" => Unary::Sigmoid,
        "Tanh" => Unary::Tanh,
        "Gelu" => Unary::Gelu { tanh: a.string("approximate").as_deref() == Some("tanh") },
        "Elu" => Unary::Elu(finite("alpha", 1.0)?),
        "Selu" => Unary::Selu(finite("alpha", 1.673_263_192_176_818_8)?, finite("gamma", 1.050_701_022_148_132_3)?),
        "Celu" => Unary::Celu(positive("alpha", 1.0)?),
        "Softplus" => Unary::Softplus,
        "Softsign" => Unary::Softsign,
        "HardSigmoid" => Unary::HardSigmoid(finite("alpha", 0.2)?, finite("beta", 0.5)?),
        "HardSwish" => Unary::HardSwish,
        "Mish" => Unary::Mish,
        other => unreachable!("activation is registered only for its ops, not {other}"),
    };
    Ok(Out::Node(FOp::Unary(u), vec![cx.x()?]))
}

pub fn clip(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let bound = |i: usize, attr: &str, d: f64| -> Result<f64> {
        match cx.opt(i) {
            Some(_) => cx.konst_in(i, "clip bound")?.data.first().copied().ok_or_else(|| cx.fail("empty clip bound")),
            None => Ok(cx.a.float(attr, d)),
        }
    };
    Ok(Out::Node(FOp::Unary(Unary::Clip(bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?)), vec![cx.x()?]))
}

pub fn prelu(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.konst_in(1, "slope")?;
    let c = cx.shape_of(x).get(1).copied().unwrap_or(1);
    if s.data.len() != 1 && s.data.len() != c {
        return Err(cx.fail(format!("slope shape {:?} is neither a scalar nor per-channel ({c})", s.shape)));
    }
    Ok(Out::Node(FOp::PRelu { slope: s.data }, vec![x]))
}
