//! Einsum of one or two operands, as the products and sums it names: letters only one
//! operand has and the output lacks are summed first; then the operands are transposed
//! to `[batch, free, contracted]` and `[batch, contracted, free]`, multiplied (a Linear
//! when one side is a constant matrix, else a MatMul), and the result is reshaped and
//! transposed to the output's letter order. An ellipsis is spelled out as upper-case
//! letters; a letter repeated within one operand takes that operand's diagonal first.

use crate::error::Result;
use crate::fgraph::FOp;
use crate::ftensor::{self as f};
use crate::translate::{Builder, Cx, Out};

/// One operand in flight: its value and the letter of each axis.
struct Term {
    id: usize,
    letters: Vec<char>,
}

/// `...` spelled out as upper-case letters (the equation's own letters must be lower
/// case): each operand's ellipsis stands for its axes beyond its letters, aligned to the
/// right as NumPy aligns broadcast axes.
fn expand_ellipses(cx: &Cx, eq: &str) -> Result<String> {
    if eq.chars().any(|c| c.is_ascii_uppercase()) || eq.replace("...", "").replace("->", "").contains('.') {
        return Err(cx.fail(format!("equation '{eq}' must use lower-case letters and '...'")));
    }
    if !eq.contains("...") {
        return Ok(eq.to_string());
    }
    let (lhs, rhs) = eq.split_once("->").map_or((eq, None), |(l, r)| (l, Some(r)));
    let mut dims = Vec::new();
    for (i, t) in lhs.split(',').enumerate() {
        let rank = cx.opt(i).map_or(0, |id| cx.shape_of(id).len());
        let named = t.replace("...", "").chars().count();
        if t.matches("...").count() > 1 || rank < named {
            return Err(cx.fail(format!("operand {i} '{t}' does not fit its rank {rank}")));
        }
        dims.push(if t.contains("...") { rank - named } else { 0 });
    }
    let e = dims.iter().copied().max().unwrap_or(0);
    if e > 26 {
        return Err(cx.fail("an ellipsis of more than 26 axes"));
    }
    let letters: Vec<char> = (0..e as u8).map(|k| (b'A' + k) as char).collect();
    let spell = |n: usize| letters[e - n..].iter().collect::<String>();
    let mut out = lhs.split(',').zip(&dims).map(|(t, &n)| t.replace("...", &spell(n))).collect::<Vec<_>>().join(",");
    if let Some(r) = rhs {
        out.push_str("->");
        out.push_str(&r.replace("...", &spell(e)));
    }
    Ok(out)
}

pub fn einsum(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let eq: String =
        cx.a.string("equation").ok_or_else(|| cx.fail("missing equation"))?.chars().filter(|c| !c.is_whitespace()).collect();
    let eq = expand_ellipses(cx, &eq)?;
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let specs: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    if specs.len() != cx.n_inputs() || !(1..=2).contains(&specs.len()) {
        return Err(cx.fail(format!(
            "equation '{eq}' has {} operands for {} inputs (one or two are supported)",
            specs.len(),
            cx.n_inputs()
        )));
    }
    if specs
        .iter()
        .flatten()
        .chain(rhs.iter().flat_map(|r| r.chars()).collect::<Vec<_>>().iter())
        .any(|c| !c.is_ascii_alphabetic())
    {
        return Err(cx.fail(format!("equation '{eq}' must use letters only")));
    }
    let out: Vec<char> = match rhs {
        Some(r) => r.chars().collect(),
        None => {
            // Implicit output: the ellipsis's letters (upper case, so first), then the
            // letters that occur once, in alphabetical order.
            let once_or_ellipsis = |c: &char| c.is_ascii_uppercase() || specs.iter().flatten().filter(|d| *d == c).count() == 1;
            let mut once: Vec<char> = specs.iter().flatten().copied().filter(once_or_ellipsis).collect();
            once.sort_unstable();
            once.dedup();
            once
        }
    };
    let mut size = std::collections::HashMap::new();
    let mut terms = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let id = cx.input(i)?;
        let s = cx.shape_of(id);
        if s.len() != spec.len() {
            return Err(cx.fail(format!(
                "operand {i} has rank {} but '{}' names {} axes",
                s.len(),
                spec.iter().collect::<String>(),
                spec.len()
            )));
        }
        for (k, &c) in spec.iter().enumerate() {
            if *size.entry(c).or_insert(s[k]) != s[k] {
                return Err(cx.fail(format!("letter '{c}' has sizes {} and {}", size[&c], s[k])));
            }
        }
        terms.push(diagonal(b, cx, i, Term { id, letters: spec.clone() }, &s)?);
    }
    for (k, &c) in out.iter().enumerate() {
        if !size.contains_key(&c) || out[..k].contains(&c) {
            return Err(cx.fail(format!("output letter '{c}' is repeated or names no input axis")));
        }
    }
    // Sum away what only one operand has and the output lacks.
    for t in 0..terms.len() {
        let others: Vec<char> = terms.iter().enumerate().filter(|(u, _)| *u != t).flat_map(|(_, o)| o.letters.clone()).collect();
        let gone: Vec<usize> = (0..terms[t].letters.len())
            .filter(|&k| !out.contains(&terms[t].letters[k]) && !others.contains(&terms[t].letters[k]))
            .collect();
        if !gone.is_empty() {
            let op = FOp::Reduce { axes: gone.clone(), keep_dims: false, mean: false };
            terms[t].id = b.push(cx.name, cx.op, op, vec![terms[t].id], &cx.part(&format!("summed{t}")))?;
            let kept = terms[t].letters.iter().enumerate().filter(|(k, _)| !gone.contains(k)).map(|(_, &c)| c).collect();
            terms[t].letters = kept;
        }
    }
    let (id, letters) = if terms.len() == 1 {
        (terms[0].id, terms[0].letters.clone())
    } else {
        product(b, cx, &terms[0], &terms[1], &out, &size)?
    };
    // Now `letters` are the output's letters in some order.
    let perm: Vec<usize> =
        out.iter().map(|c| letters.iter().position(|d| d == c).expect("every output letter survives")).collect();
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(Out::Alias(id));
    }
    Ok(Out::Node(FOp::Transpose { perm }, vec![id]))
}

/// An operand whose letter repeats (`ii`) stands for its diagonal: a Gather of the
/// elements whose repeated axes agree, with one axis per distinct letter, in the order of
/// their first occurrence.
fn diagonal(b: &mut Builder, cx: &Cx, i: usize, t: Term, s: &[usize]) -> Result<Term> {
    let mut letters: Vec<char> = Vec::new();
    t.letters.iter().for_each(|c| {
        if !letters.contains(c) {
            letters.push(*c)
        }
    });
    if letters.len() == t.letters.len() {
        return Ok(t);
    }
    let shape: Vec<usize> = letters.iter().map(|c| s[t.letters.iter().position(|d| d == c).expect("a letter of t")]).collect();
    let strides = verity_model::shape::strides(s);
    // For each letter of the diagonal, the stride it moves in the source (its axes' sum).
    let step: Vec<usize> =
        letters.iter().map(|c| t.letters.iter().zip(&strides).filter(|(d, _)| *d == c).map(|(_, st)| st).sum()).collect();
    let mut indices = Vec::new();
    f::for_each_index(&shape, |p| indices.push(p.iter().zip(&step).map(|(a, b)| a * b).sum()));
    let flat = FOp::Reshape { shape: vec![s.iter().product()] };
    let x = b.push(cx.name, cx.op, flat, vec![t.id], &cx.part(&format!("flat{i}")))?;
    let id = b.push(
        cx.name,
        cx.op,
        FOp::Gather { axis: 0, indices, indices_shape: shape },
        vec![x],
        &cx.part(&format!("diagonal{i}")),
    )?;
    Ok(Term { id, letters })
}

/// `a · b` over their shared letters that the output lacks; returns the product's value
/// and its axes' letters (`[batch.., a's free.., b's free..]`).
fn product(
    b: &mut Builder,
    cx: &Cx,
    ta: &Term,
    tb: &Term,
    out: &[char],
    size: &std::collections::HashMap<char, usize>,
) -> Result<(usize, Vec<char>)> {
    let batch: Vec<char> = out.iter().copied().filter(|c| ta.letters.contains(c) && tb.letters.contains(c)).collect();
    let contracted: Vec<char> = ta.letters.iter().copied().filter(|c| tb.letters.contains(c) && !out.contains(c)).collect();
    let free_a: Vec<char> = ta.letters.iter().copied().filter(|c| !tb.letters.contains(c)).collect();
    let free_b: Vec<char> = tb.letters.iter().copied().filter(|c| !ta.letters.contains(c)).collect();
    let dims = |cs: &[char]| cs.iter().map(|c| size[c]).product::<usize>();
    let (nb, l, k, r) = (dims(&batch), dims(&free_a), dims(&contracted), dims(&free_b));
    // Each operand transposed to the given letter order and reshaped to `shape`.
    let arrange = |b: &mut Builder, t: &Term, order: Vec<char>, shape: Vec<usize>, what: &str| -> Result<usize> {
        let perm: Vec<usize> =
            order.iter().map(|c| t.letters.iter().position(|d| d == c).expect("letter of this term")).collect();
        let mut id = t.id;
        if let Some(c) = b.konst(id).cloned() {
            let moved = f::transpose(&c, &perm);
            return Ok(b.add_const(&cx.part(what), f::FTensor::new(shape, moved.data)));
        }
        if perm.iter().enumerate().any(|(i, &p)| i != p) {
            id = b.push(cx.name, cx.op, FOp::Transpose { perm }, vec![id], &cx.part(&format!("{what} moved")))?;
        }
        b.push(cx.name, cx.op, FOp::Reshape { shape }, vec![id], &cx.part(what))
    };
    let cat = |xs: &[&[char]]| xs.concat();
    let mut letters = cat(&[&batch, &free_a, &free_b]);
    let y = match (b.konst(ta.id).is_some(), b.konst(tb.id).is_some()) {
        // A constant side with no batch letters is a Linear weight over the other.
        (false, true) if batch.is_empty() => {
            let x = arrange(b, ta, cat(&[&free_a, &contracted]), vec![l, k], "a")?;
            let w = arrange(b, tb, cat(&[&free_b, &contracted]), vec![r, k], "weight")?;
            let w = b.konst(w).expect("constant").data.clone();
            b.push(cx.name, cx.op, FOp::Linear { w, b: vec![0.0; r] }, vec![x], &cx.part("product"))?
        }
        (true, false) if batch.is_empty() => {
            let x = arrange(b, tb, cat(&[&free_b, &contracted]), vec![r, k], "b")?;
            let w = arrange(b, ta, cat(&[&free_a, &contracted]), vec![l, k], "weight")?;
            let w = b.konst(w).expect("constant").data.clone();
            letters = cat(&[&free_b, &free_a]);
            b.push(cx.name, cx.op, FOp::Linear { w, b: vec![0.0; l] }, vec![x], &cx.part("product"))?
        }
        _ => {
            let x = arrange(b, ta, cat(&[&batch, &free_a, &contracted]), vec![nb, l, k], "a")?;
            let w = arrange(b, tb, cat(&[&batch, &contracted, &free_b]), vec![nb, k, r], "b")?;
            b.push(cx.name, cx.op, FOp::MatMul, vec![x, w], &cx.part("product"))?
        }
    };
    let shape: Vec<usize> = letters.iter().map(|c| size[c]).collect();
    let shape = if shape.is_empty() { vec![1] } else { shape };
    let id = b.push(cx.name, cx.op, FOp::Reshape { shape }, vec![y], &cx.part("unflattened"))?;
    Ok((id, letters))
}
