//! Comparisons, boolean logic and selection: Less, LessOrEqual, Greater, GreaterOrEqual,
//! Equal, Not, And, Or, Xor, Where. Booleans are exact values 0 and 1 (8 bits, scale 1).

use crate::error::Result;
use crate::fgraph::{Binary, FOp};
use crate::ftensor::FTensor;
use crate::translate::{Builder, Cx, Out};
use verity_model::CmpMode;

pub fn compare(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let mode = match cx.op {
        "Less" => CmpMode::Less,
        "LessOrEqual" => CmpMode::LessEq,
        "Greater" => CmpMode::Greater,
        "GreaterOrEqual" => CmpMode::GreaterEq,
        _ => CmpMode::Equal,
    };
    Ok(Out::Node(FOp::Compare(mode), vec![cx.x()?, cx.input(1)?]))
}

/// `x == 0`.
fn not(b: &mut Builder, cx: &Cx, x: usize, last: bool) -> Result<Out> {
    let zero = b.add_const(&cx.part("zero"), FTensor::new(vec![], vec![0.0]));
    let op = FOp::Compare(CmpMode::Equal);
    Ok(if last {
        Out::Node(op, vec![x, zero])
    } else {
        Out::Alias(b.push(cx.name, cx.op, op, vec![x, zero], &cx.part("not"))?)
    })
}

pub fn logic(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    if cx.op == "Not" {
        return not(b, cx, x, true);
    }
    let y = cx.input(1)?;
    Ok(match cx.op {
        "And" => Out::Node(FOp::Binary(Binary::Mul), vec![x, y]),
        // x ? x : y is x or y, for booleans.
        "Or" => Out::Node(FOp::Where, vec![x, x, y]),
        _ => {
            let eq = b.push(cx.name, cx.op, FOp::Compare(CmpMode::Equal), vec![x, y], &cx.part("equal"))?;
            not(b, cx, eq, true)?
        }
    })
}

pub fn select(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Ok(Out::Node(FOp::Where, vec![cx.x()?, cx.input(1)?, cx.input(2)?]))
}
