//! The `ai.onnx.ml` domain (scikit-learn models converted by skl2onnx), lowered onto
//! existing float ops.
//!
//! A tree ensemble becomes matrix products over comparison booleans (hummingbird's GEMM
//! strategy): one Gather picks the tested feature of every branch node, one Compare per
//! mode tests them all against the thresholds, per tree a Linear with ±1 weights counts
//! for each leaf the conditions on its path that fail, the leaf is reached iff that count
//! is below ½, and a Linear from the leaf booleans gives the per-class (per-target) sums.
//! When the ensemble reads a graph input directly, each feature gets an affine map into
//! the input quantization that spreads its thresholds over the quantized range, and the
//! input's range is fixed to that span: features on very different scales each keep
//! their own resolution, and values beyond the thresholds clamp without changing a
//! comparison.

use std::collections::HashMap;

use crate::error::Result;
use crate::fgraph::{Binary, FOp, Unary};
use crate::ftensor::FTensor;
use crate::translate::{checked_numel, Builder, Cx, Out};
use verity_model::CmpMode;

/// Thresholds map into `[-(1 - MARGIN), 1 - MARGIN]` of the fixed input range 1, so that
/// a value beyond every threshold stays beyond them once clamped.
const MARGIN: f64 = 1.0 / 32.0;
/// Deepest tree accepted: a path's failed-condition count must stay exact at 8 bits.
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 1 << 16;

/// What a branch node tests: `x mode threshold`, negated for BRANCH_NEQ.
#[derive(Clone, Copy)]
enum Mode {
    Leaf,
    Branch(CmpMode, bool),
}

struct TreeNode {
    tree: i64,
    id: i64,
    mode: Mode,
    feature: usize,
    value: f64,
    /// Indices (into the node list) of the true and false children.
    kids: (usize, usize),
}

/// A parsed, checked ensemble.
struct Ensemble {
    nodes: Vec<TreeNode>,
    /// Every leaf (node index) with its path: (branch node index, goes to the true child).
    leaves: Vec<(usize, Vec<(usize, bool)>)>,
    n_trees: usize,
}

impl Ensemble {
    /// The leaf positions (into `leaves`) of each tree.
    fn trees(&self) -> Vec<Vec<usize>> {
        let mut by_tree: Vec<(i64, Vec<usize>)> = Vec::new();
        for (k, (i, _)) in self.leaves.iter().enumerate() {
            let t = self.nodes[*i].tree;
            match by_tree.iter_mut().find(|(id, _)| *id == t) {
                Some((_, v)) => v.push(k),
                None => by_tree.push((t, vec![k])),
            }
        }
        by_tree.into_iter().map(|(_, v)| v).collect()
    }
}

fn ints(cx: &Cx, name: &str) -> Result<Vec<i64>> {
    cx.a.ints(name).ok_or_else(|| cx.fail(format!("attribute {name} is missing")))
}

/// A float list attribute, or its `*_as_tensor` form; `None` when neither is given.
fn floats_opt(cx: &Cx, name: &str) -> Result<Option<Vec<f64>>> {
    if let Some(v) = cx.a.floats(name) {
        return Ok(Some(v));
    }
    match cx.a.tensor(&format!("{name}_as_tensor")) {
        Some(t) => Ok(Some(t.map_err(|e| cx.fail(e.to_string()))?.data)),
        None => Ok(None),
    }
}

fn floats(cx: &Cx, name: &str) -> Result<Vec<f64>> {
    floats_opt(cx, name)?.ok_or_else(|| cx.fail(format!("attribute {name} is missing")))
}

fn same_len(cx: &Cx, name: &str, len: usize, what: &str, n: usize) -> Result<()> {
    if len != n {
        return Err(cx.fail(format!("{name} has {len} entries, {what} has {n}")));
    }
    Ok(())
}

fn mode(cx: &Cx, s: &str, at: (i64, i64)) -> Result<Mode> {
    Ok(match s {
        "LEAF" => Mode::Leaf,
        "BRANCH_LEQ" => Mode::Branch(CmpMode::LessEq, false),
        "BRANCH_LT" => Mode::Branch(CmpMode::Less, false),
        "BRANCH_GTE" => Mode::Branch(CmpMode::GreaterEq, false),
        "BRANCH_GT" => Mode::Branch(CmpMode::Greater, false),
        "BRANCH_EQ" => Mode::Branch(CmpMode::Equal, false),
        "BRANCH_NEQ" => Mode::Branch(CmpMode::Equal, true),
        other => return Err(cx.fail(format!("node {} of tree {}: mode '{other}' is not supported", at.1, at.0))),
    })
}

/// Reads and checks the `nodes_*` attributes for an input of `n_features` features.
fn parse(cx: &Cx, n_features: usize) -> Result<Ensemble> {
    let ids = ints(cx, "nodes_nodeids")?;
    let n = ids.len();
    if n == 0 || n > MAX_NODES {
        return Err(cx.fail(format!("nodes_nodeids has {n} entries (1 to {MAX_NODES} are supported)")));
    }
    let trees = ints(cx, "nodes_treeids")?;
    let features = ints(cx, "nodes_featureids")?;
    let modes = cx.a.strings("nodes_modes").ok_or_else(|| cx.fail("attribute nodes_modes is missing"))?;
    let values = floats(cx, "nodes_values")?;
    let (t_ids, f_ids) = (ints(cx, "nodes_truenodeids")?, ints(cx, "nodes_falsenodeids")?);
    for (name, len) in [
        ("nodes_treeids", trees.len()),
        ("nodes_featureids", features.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", t_ids.len()),
        ("nodes_falsenodeids", f_ids.len()),
    ] {
        same_len(cx, name, len, "nodes_nodeids", n)?;
    }
    if let Some(m) = cx.a.ints("nodes_missing_value_tracks_true") {
        same_len(cx, "nodes_missing_value_tracks_true", m.len(), "nodes_nodeids", n)?;
        if m.iter().any(|&v| v != 0) {
            return Err(cx.fail(
                "nodes_missing_value_tracks_true is set: NaN inputs have no quantized form, so missing-value routing is not supported",
            ));
        }
    }
    let mut index = HashMap::new();
    for i in 0..n {
        if index.insert((trees[i], ids[i]), i).is_some() {
            return Err(cx.fail(format!("node {} of tree {} appears twice", ids[i], trees[i])));
        }
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let at = (trees[i], ids[i]);
        let m = mode(cx, &modes[i], at)?;
        let (mut feature, mut kids) = (0, (0, 0));
        if let Mode::Branch(..) = m {
            feature = usize::try_from(features[i]).ok().filter(|&f| f < n_features).ok_or_else(|| {
                cx.fail(format!(
                    "node {} of tree {} tests feature {}; the input has {n_features} features",
                    at.1, at.0, features[i]
                ))
            })?;
            if !values[i].is_finite() {
                return Err(cx.fail(format!("node {} of tree {} has threshold {}", at.1, at.0, values[i])));
            }
            let kid = |c: i64| {
                index
                    .get(&(at.0, c))
                    .copied()
                    .ok_or_else(|| cx.fail(format!("node {} of tree {}: child node {c} is not in the tree", at.1, at.0)))
            };
            kids = (kid(t_ids[i])?, kid(f_ids[i])?);
        }
        nodes.push(TreeNode { tree: at.0, id: at.1, mode: m, feature, value: values[i], kids });
    }
    // Each tree's root is its one node that is no node's child.
    let mut is_child = vec![false; n];
    for nd in &nodes {
        if let Mode::Branch(..) = nd.mode {
            is_child[nd.kids.0] = true;
            is_child[nd.kids.1] = true;
        }
    }
    let mut tree_ids: Vec<i64> = trees.clone();
    tree_ids.sort_unstable();
    tree_ids.dedup();
    let mut leaves = Vec::new();
    let mut seen = vec![false; n];
    for &t in &tree_ids {
        let roots: Vec<usize> = (0..n).filter(|&i| trees[i] == t && !is_child[i]).collect();
        let &[root] = roots.as_slice() else {
            return Err(cx.fail(format!(
                "tree {t} has {} roots (nodes that are no node's child); a tree has one (no cycle)",
                roots.len()
            )));
        };
        let mut stack = vec![(root, Vec::new())];
        while let Some((i, path)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                return Err(cx.fail(format!("node {} of tree {t} is reached more than once (a cycle)", nodes[i].id)));
            }
            if path.len() > MAX_DEPTH {
                return Err(cx.fail(format!("tree {t} is deeper than {MAX_DEPTH}")));
            }
            match nodes[i].mode {
                Mode::Leaf => leaves.push((i, path)),
                Mode::Branch(..) => {
                    let (a, b) = nodes[i].kids;
                    let mut pf = path.clone();
                    pf.push((i, false));
                    stack.push((b, pf));
                    let mut pt = path;
                    pt.push((i, true));
                    stack.push((a, pt));
                }
            }
        }
    }
    if let Some(i) = (0..n).find(|&i| !seen[i]) {
        return Err(cx.fail(format!("node {} of tree {} is not reachable from its tree's root", nodes[i].id, nodes[i].tree)));
    }
    // Tree by tree, so that each tree's leaves are one block of the leaf booleans.
    leaves.sort_by_key(|(i, _)| (nodes[*i].tree, *i));
    Ok(Ensemble { nodes, leaves, n_trees: tree_ids.len() })
}

/// The leaf weights `(leaf position, output column, weight)` from the `{prefix}_*`
/// attributes (`target` or `class`), with columns below `n_out`.
fn leaf_weights(cx: &Cx, e: &Ensemble, prefix: &str, n_out: usize) -> Result<Vec<(usize, usize, f64)>> {
    let (what, limit) = if prefix == "target" { ("target", "n_targets") } else { ("class", "classlabels") };
    let nodes = ints(cx, &format!("{prefix}_nodeids"))?;
    let trees = ints(cx, &format!("{prefix}_treeids"))?;
    let cols = ints(cx, &format!("{prefix}_ids"))?;
    let ws = floats(cx, &format!("{prefix}_weights"))?;
    let n = nodes.len();
    for (name, len) in [("treeids", trees.len()), ("ids", cols.len()), ("weights", ws.len())] {
        same_len(cx, &format!("{prefix}_{name}"), len, &format!("{prefix}_nodeids"), n)?;
    }
    let leaf_at: HashMap<(i64, i64), usize> =
        e.leaves.iter().enumerate().map(|(k, (i, _))| ((e.nodes[*i].tree, e.nodes[*i].id), k)).collect();
    (0..n)
        .map(|j| {
            let leaf = leaf_at
                .get(&(trees[j], nodes[j]))
                .copied()
                .ok_or_else(|| cx.fail(format!("a weight is for node {} of tree {}, which is not a leaf", nodes[j], trees[j])))?;
            let col = usize::try_from(cols[j])
                .ok()
                .filter(|&c| c < n_out)
                .ok_or_else(|| cx.fail(format!("a weight is for {what} {}, out of range for {limit} {n_out}", cols[j])))?;
            if !ws[j].is_finite() {
                return Err(cx.fail(format!("weight {j} is {}", ws[j])));
            }
            Ok((leaf, col, ws[j]))
        })
        .collect()
}

/// Checks that every row gives each of `cols` a weight: onnxruntime leaves a column that
/// no reached leaf weighs without its base value (0, or out of the label's choice), which
/// a sum cannot express. One tree weighing the column at every leaf suffices.
fn always_scored(cx: &Cx, e: &Ensemble, ws: &[(usize, usize, f64)], cols: usize, what: &str) -> Result<()> {
    let trees = e.trees();
    for c in 0..cols {
        let has: std::collections::HashSet<usize> = ws.iter().filter(|w| w.1 == c).map(|w| w.0).collect();
        if !trees.iter().any(|t| t.iter().all(|l| has.contains(l))) {
            return Err(cx.fail(format!(
                "{what} {c} has no weight at some leaves of every tree; onnxruntime then leaves out its base value, \
                 which is not supported"
            )));
        }
    }
    Ok(())
}

/// The per-feature affine map `(mul, add)` that spreads each feature's thresholds over
/// `[-(1 - MARGIN), 1 - MARGIN]` (identity for untested features); `tests` are the
/// (feature, threshold) pairs.
pub(crate) fn feature_maps(tests: impl Iterator<Item = (usize, f64)>, n_features: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![f64::INFINITY; n_features];
    let mut hi = vec![f64::NEG_INFINITY; n_features];
    for (f, v) in tests {
        lo[f] = lo[f].min(v);
        hi[f] = hi[f].max(v);
    }
    let (mut mul, mut add) = (vec![1.0; n_features], vec![0.0; n_features]);
    for f in 0..n_features {
        if lo[f] > hi[f] {
            continue;
        }
        // One threshold: only the side matters, so a narrow span gives fine resolution
        // around it (everything else clamps to one side).
        let span = if hi[f] > lo[f] { hi[f] - lo[f] } else { 1e-3 * lo[f].abs().max(1.0) };
        let centre = (hi[f] + lo[f]) / 2.0;
        mul[f] = 2.0 * (1.0 - MARGIN) / span;
        add[f] = -(centre * mul[f]);
    }
    (mul, add)
}

/// The float ops of an ensemble up to the leaf booleans `[N, leaves]`.
fn reached_leaves(b: &mut Builder, cx: &Cx, e: &Ensemble) -> Result<usize> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let &[_, n_features] = s.as_slice() else {
        return Err(cx.fail(format!("input must be [N, features], got shape {s:?}")));
    };
    let tests = e.nodes.iter().filter(|nd| matches!(nd.mode, Mode::Branch(..))).map(|nd| (nd.feature, nd.value));
    let (mul, add) = feature_maps(tests, n_features);
    let read_as = cx.node.input.first().map_or("", String::as_str);
    let (x, map) = match b.map_input(x, read_as, None, (&mul, &add), Some(1.0)) {
        Some(id) => (id, true),
        None => (x, false),
    };
    // Branch nodes grouped by comparison mode: one Gather and one Compare per mode.
    let mut groups: Vec<(CmpMode, Vec<usize>)> = Vec::new();
    for (i, nd) in e.nodes.iter().enumerate() {
        if let Mode::Branch(m, _) = nd.mode {
            match groups.iter_mut().find(|(g, _)| *g == m) {
                Some((_, v)) => v.push(i),
                None => groups.push((m, vec![i])),
            }
        }
    }
    if groups.is_empty() {
        return Err(cx.fail("the ensemble has no branch nodes: its output is a constant"));
    }
    let mut column = vec![usize::MAX; e.nodes.len()];
    let mut parts = Vec::new();
    let mut offset = 0;
    for (g, (m, members)) in groups.iter().enumerate() {
        let k = members.len();
        let indices: Vec<usize> = members.iter().map(|&i| e.nodes[i].feature).collect();
        let thr: Vec<f64> = members
            .iter()
            .map(|&i| {
                let nd = &e.nodes[i];
                if map {
                    nd.value * mul[nd.feature] + add[nd.feature]
                } else {
                    nd.value
                }
            })
            .collect();
        for (c, &i) in members.iter().enumerate() {
            column[i] = offset + c;
        }
        offset += k;
        let gather = FOp::Gather { axis: 1, indices, indices_shape: vec![k] };
        let picked = b.push(cx.name, cx.op, gather, vec![x], &cx.part(&format!("features {g}")))?;
        let t = b.add_const(&cx.part(&format!("thresholds {g}")), FTensor::new(vec![k], thr));
        parts.push(b.push(cx.name, cx.op, FOp::Compare(*m), vec![picked, t], &cx.part(&format!("tests {g}")))?);
    }
    let tests = match parts.as_slice() {
        [one] => *one,
        _ => b.push(cx.name, cx.op, FOp::Concat { axis: 1 }, parts, &cx.part("tests"))?,
    };
    // Per tree (so that the weights grow with each tree's size, not with the whole
    // ensemble's leaves times its branch nodes): the tree's tests, gathered, and per leaf
    // the failed conditions on its path, Σ (1 − c) over true turns and Σ c over false
    // turns with c the node's test (1 − test for a negated mode), a Linear of exact small
    // integers; a leaf is reached iff that is below ½.
    let mut branches: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, nd) in e.nodes.iter().enumerate() {
        if let Mode::Branch(..) = nd.mode {
            branches.entry(nd.tree).or_default().push(i);
        }
    }
    let trees = e.trees();
    let mut reached = Vec::with_capacity(trees.len());
    for (t, leaves) in trees.iter().enumerate() {
        let tree = e.nodes[e.leaves[leaves[0]].0].tree;
        let own = branches.get(&tree).map_or(&[][..], Vec::as_slice);
        // A lone leaf is always reached: zero weights over any one test.
        let cols: Vec<usize> = if own.is_empty() { vec![0] } else { own.iter().map(|&i| column[i]).collect() };
        let local: HashMap<usize, usize> = own.iter().enumerate().map(|(j, &i)| (i, j)).collect();
        let (n, l) = (cols.len(), leaves.len());
        checked_numel(&[l, n]).ok_or_else(|| cx.fail(format!("tree {tree}: {l} leaves by {n} branch nodes is too large")))?;
        let (mut w, mut bias) = (vec![0.0; l * n], vec![0.0; l]);
        for (k, &leaf) in leaves.iter().enumerate() {
            for &(i, went_true) in &e.leaves[leaf].1 {
                let Mode::Branch(_, negated) = e.nodes[i].mode else { unreachable!("paths hold branch nodes") };
                let j = local[&i];
                // The condition taken is `test` when went_true != negated, else `1 − test`.
                if went_true != negated {
                    bias[k] += 1.0;
                    w[k * n + j] -= 1.0;
                } else {
                    w[k * n + j] += 1.0;
                }
            }
        }
        let all = trees.len() == 1 && cols.iter().enumerate().all(|(j, &c)| j == c) && cols.len() == offset;
        let picked = if all {
            tests
        } else {
            let gather = FOp::Gather { axis: 1, indices: cols, indices_shape: vec![n] };
            b.push(cx.name, cx.op, gather, vec![tests], &cx.part(&format!("tree {t} tests")))?
        };
        let failed = b.push(cx.name, cx.op, FOp::Linear { w, b: bias }, vec![picked], &cx.part(&format!("tree {t} failed")))?;
        let half = b.add_const(&cx.part(&format!("tree {t} half")), FTensor::new(vec![l], vec![0.5; l]));
        reached.push(b.push(
            cx.name,
            cx.op,
            FOp::Compare(CmpMode::Less),
            vec![failed, half],
            &cx.part(&format!("tree {t} leaves")),
        )?);
    }
    match reached.as_slice() {
        [one] => Ok(*one),
        _ => b.push(cx.name, cx.op, FOp::Concat { axis: 1 }, reached, &cx.part("leaves")),
    }
}

/// `[n_out, leaves]` weights from `(leaf, column, weight)` triples, each scaled by `k`.
fn score_matrix(n_leaves: usize, n_out: usize, ws: &[(usize, usize, f64)], k: f64) -> Vec<f64> {
    let mut w = vec![0.0; n_out * n_leaves];
    for &(leaf, col, v) in ws {
        w[col * n_leaves + leaf] += v * k;
    }
    w
}

/// `x · wᵀ + bias` (`w` is `[n, k]`) with about 14-bit weights: Linear stores 8-bit
/// weights per output row, so the row's 8-bit approximation and its remainder are two
/// Linears, added. Leaf values of one class differ widely (boosting's first trees weigh
/// most), and each reached leaf's rounding would add up over the trees otherwise.
/// Each value's range is fixed: exactly one leaf of each tree in `trees` (leaf
/// positions) is reached, so a row's extremes are its bias plus each tree's extreme weights.
fn precise_linear(
    b: &mut Builder,
    cx: &Cx,
    w: Vec<f64>,
    bias: Vec<f64>,
    x: usize,
    trees: &[Vec<usize>],
    out: &str,
) -> Result<usize> {
    let bound = |w: &[f64], bias: &[f64]| {
        let k = w.len() / bias.len().max(1);
        let r = bias
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let row = &w[j * k..(j + 1) * k];
                let ext =
                    |f: fn(f64, f64) -> f64, z: f64| c + trees.iter().map(|t| t.iter().map(|&l| row[l]).fold(z, f)).sum::<f64>();
                ext(f64::max, f64::NEG_INFINITY).abs().max(ext(f64::min, f64::INFINITY).abs())
            })
            .fold(0.0f64, f64::max);
        if r > 0.0 && r.is_finite() {
            r
        } else {
            1.0
        }
    };
    let k = w.len() / bias.len().max(1);
    checked_numel(&[bias.len(), k]).ok_or_else(|| cx.fail(format!("{} scores of {k} leaves is too large", bias.len())))?;
    let mut hi = w.clone();
    for row in hi.chunks_mut(k.max(1)) {
        let m = row.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if m > 0.0 {
            // The same rounding as the importer's int8 weights, so this row is exact.
            let s = m / 127.0;
            row.iter_mut().for_each(|v| *v = (*v / s).round().clamp(-127.0, 127.0) * s);
        }
    }
    let lo: Vec<f64> = w.iter().zip(&hi).map(|(a, h)| a - h).collect();
    let total = bound(&w, &bias);
    if lo.iter().all(|&v| v == 0.0) {
        let y = b.push(cx.name, cx.op, FOp::Linear { w: hi, b: bias }, vec![x], out)?;
        b.fix_range(y, total);
        return Ok(y);
    }
    let n = bias.len();
    let zeros = vec![0.0; n];
    let (rh, rl) = (bound(&hi, &bias), bound(&lo, &zeros));
    let h = b.push(cx.name, cx.op, FOp::Linear { w: hi, b: bias }, vec![x], &format!("{out}/coarse"))?;
    let l = b.push(cx.name, cx.op, FOp::Linear { w: lo, b: zeros }, vec![x], &format!("{out}/fine"))?;
    let y = b.push(cx.name, cx.op, FOp::Binary(Binary::Add), vec![h, l], out)?;
    b.fix_range(h, rh);
    b.fix_range(l, rl);
    b.fix_range(y, total);
    Ok(y)
}

fn base_values(cx: &Cx, n: usize) -> Result<Vec<f64>> {
    match floats_opt(cx, "base_values")? {
        None => Ok(vec![0.0; n]),
        Some(v) if v.is_empty() => Ok(vec![0.0; n]),
        Some(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
        Some(v) => Err(cx.fail(format!("base_values has {} entries, expected {n}", v.len()))),
    }
}

/// The post-transform as a float op on the scores, or `None` for NONE.
fn post_transform(cx: &Cx, allowed: &[&str]) -> Result<Option<FOp>> {
    let p = cx.a.string("post_transform").unwrap_or_else(|| "NONE".into());
    if !allowed.contains(&p.as_str()) {
        return Err(cx.fail(format!("post_transform {p} is not supported here (supported: {allowed:?})")));
    }
    Ok(match p.as_str() {
        "LOGISTIC" => Some(FOp::Unary(Unary::Sigmoid)),
        "SOFTMAX" => Some(FOp::Softmax { axis: 1 }),
        _ => None,
    })
}

fn output_name(cx: &Cx, k: usize, what: &str) -> String {
    cx.node.output.get(k).filter(|o| !o.is_empty()).cloned().unwrap_or_else(|| cx.part(what))
}

pub fn tree_regressor(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let n_targets = cx.a.int("n_targets", 1);
    let n_out = usize::try_from(n_targets)
        .ok()
        .filter(|n| (1..=4096).contains(n))
        .ok_or_else(|| cx.fail(format!("n_targets {n_targets} is out of range (1 to 4096)")))?;
    let n_features = cx.shape_of(cx.x()?).last().copied().unwrap_or(0);
    let e = parse(cx, n_features)?;
    let k = match cx.a.string("aggregate_function").as_deref().unwrap_or("SUM") {
        "SUM" => 1.0,
        "AVERAGE" => 1.0 / e.n_trees as f64,
        other => return Err(cx.fail(format!("aggregate_function {other} is not supported (SUM and AVERAGE are)"))),
    };
    let ws = leaf_weights(cx, &e, "target", n_out)?;
    always_scored(cx, &e, &ws, n_out, "target")?;
    let base = base_values(cx, n_out)?;
    let post = post_transform(cx, &["NONE", "LOGISTIC", "SOFTMAX"])?;
    let leaves = reached_leaves(b, cx, &e)?;
    let w = score_matrix(e.leaves.len(), n_out, &ws, k);
    match post {
        None => Ok(Out::Alias(precise_linear(b, cx, w, base, leaves, &e.trees(), &output_name(cx, 0, "scores"))?)),
        Some(op) => {
            let scores = precise_linear(b, cx, w, base, leaves, &e.trees(), &cx.part("scores"))?;
            Ok(Out::Node(op, vec![scores]))
        }
    }
}

/// Class labels, which must be `0..n` (the label is then the index of the top score).
fn class_count(cx: &Cx, attr: &str) -> Result<usize> {
    let strings = attr.replace("int64s", "strings").replace("ints", "strings");
    if cx.a.strings(&strings).is_some_and(|s| !s.is_empty()) {
        return Err(cx.fail(format!("string class labels ({strings}) are not supported; train with integer labels 0..n-1")));
    }
    let labels = cx.a.ints(attr).ok_or_else(|| cx.fail(format!("attribute {attr} is missing")))?;
    if labels.len() < 2 || labels.len() > 4096 || labels.iter().enumerate().any(|(i, &l)| l != i as i64) {
        return Err(cx.fail(format!("class labels must be 0..n-1 with 2 to 4096 classes, got {labels:?}")));
    }
    Ok(labels.len())
}

/// `[label, probabilities]` from the scores' Linear: the label is the index of the top
/// score (first on ties, as onnxruntime), the probabilities the post-transformed scores.
/// The scores are `linear` over `x`, or, for trees, the precise Linear of `(w, bias)`.
enum Scores {
    Plain(FOp),
    /// Weights, bias and the leaf positions of each tree.
    Precise(Vec<f64>, Vec<f64>, Vec<Vec<usize>>),
}

fn classify(b: &mut Builder, cx: &Cx, linear: Scores, x: usize, post: Option<FOp>) -> Result<Out> {
    let probs_name = output_name(cx, 1, "probabilities");
    let scores_name = if post.is_none() { probs_name.clone() } else { cx.part("scores") };
    let scores = match linear {
        Scores::Plain(op) => b.push(cx.name, cx.op, op, vec![x], &scores_name)?,
        Scores::Precise(w, bias, trees) => precise_linear(b, cx, w, bias, x, &trees, &scores_name)?,
    };
    let probs = match post {
        None => scores,
        Some(op) => b.push(cx.name, cx.op, op, vec![scores], &probs_name)?,
    };
    let arg = FOp::Arg { axis: 1, keep_dims: false, min: false, last: false };
    let label = b.push(cx.name, cx.op, arg, vec![scores], &output_name(cx, 0, "label"))?;
    Ok(Out::Many(vec![label, probs]))
}

pub fn tree_classifier(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let n_classes = class_count(cx, "classlabels_int64s")?;
    let n_features = cx.shape_of(cx.x()?).last().copied().unwrap_or(0);
    let e = parse(cx, n_features)?;
    let ws = leaf_weights(cx, &e, "class", n_classes)?;
    always_scored(cx, &e, &ws, if n_classes > 2 { n_classes } else { 1 }, "class")?;
    let l = e.leaves.len();
    let used = |c: usize| ws.iter().any(|w| w.1 == c);
    let (linear, post) = if n_classes > 2 {
        let base = base_values(cx, n_classes)?;
        let post = post_transform(cx, &["NONE", "LOGISTIC", "SOFTMAX"])?;
        (Scores::Precise(score_matrix(l, n_classes, &ws, 1.0), base, e.trees()), post)
    } else {
        // Two classes with one score column s (onnxruntime's binary case): the scores are
        // [1 − s, s] when every weight is non-negative (the label is s > ½), else [−s, s]
        // (the label is s > 0), either before a logistic post-transform.
        if used(1) {
            return Err(cx.fail("a two-class ensemble with weights for class 1 is not supported (only class 0 scores)"));
        }
        let base = base_values(cx, 1)?[0];
        let positive = ws.iter().all(|w| w.2 >= 0.0);
        let post = post_transform(cx, if positive { &["NONE"] } else { &["NONE", "LOGISTIC"] })?;
        let s = score_matrix(l, 1, &ws, 1.0);
        let mut w: Vec<f64> = s.iter().map(|v| -v).collect();
        w.extend(&s);
        let bias = if positive { vec![1.0 - base, base] } else { vec![-base, base] };
        (Scores::Precise(w, bias, e.trees()), post)
    };
    let leaves = reached_leaves(b, cx, &e)?;
    classify(b, cx, linear, leaves, post)
}

/// `(coefficients [n, k], intercepts [n])` of a linear model over the input's last axis.
fn linear_params(cx: &Cx, n: usize) -> Result<FOp> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let &[_, k] = s.as_slice() else { return Err(cx.fail(format!("input must be [N, features], got shape {s:?}"))) };
    let w = floats(cx, "coefficients")?;
    if w.len() != n * k {
        return Err(cx.fail(format!("coefficients has {} entries; {n} outputs of {k} features need {}", w.len(), n * k)));
    }
    let b = floats_opt(cx, "intercepts")?.unwrap_or_else(|| vec![0.0; n]);
    if b.len() != n {
        return Err(cx.fail(format!("intercepts has {} entries, expected {n}", b.len())));
    }
    if w.iter().chain(&b).any(|v| !v.is_finite()) {
        return Err(cx.fail("coefficients and intercepts must be finite"));
    }
    Ok(FOp::Linear { w, b })
}

pub fn linear_regressor(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let t = cx.a.int("targets", 1);
    let n = usize::try_from(t)
        .ok()
        .filter(|n| (1..=4096).contains(n))
        .ok_or_else(|| cx.fail(format!("targets {t} is out of range")))?;
    let linear = linear_params(cx, n)?;
    match post_transform(cx, &["NONE", "LOGISTIC", "SOFTMAX"])? {
        None => Ok(Out::Node(linear, vec![cx.x()?])),
        Some(op) => {
            let y = b.push(cx.name, cx.op, linear, vec![cx.x()?], &cx.part("scores"))?;
            Ok(Out::Node(op, vec![y]))
        }
    }
}

pub fn linear_classifier(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let n = class_count(cx, "classlabels_ints")?;
    let rows = floats(cx, "coefficients")?.len() / cx.shape_of(cx.x()?).last().copied().unwrap_or(1).max(1);
    if rows != n {
        return Err(cx.fail(format!(
            "{rows} coefficient rows for {n} classes; only one row per class is supported (not the one-row binary form)"
        )));
    }
    let linear = linear_params(cx, n)?;
    let post = post_transform(cx, &["NONE", "LOGISTIC", "SOFTMAX"])?;
    classify(b, cx, Scores::Plain(linear), cx.x()?, post)
}

/// Scaler: `(x − offset) · scale`, per feature or one value for all.
pub fn scaler(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let k = cx.shape_of(x).last().copied().unwrap_or(1);
    let get = |name: &str, d: f64| -> Result<Vec<f64>> {
        match cx.a.floats(name) {
            None => Ok(vec![d; k]),
            Some(v) if v.len() == 1 => Ok(vec![v[0]; k]),
            Some(v) if v.len() == k && v.iter().all(|x| x.is_finite()) => Ok(v),
            Some(v) => Err(cx.fail(format!("{name} has {} entries, the input has {k} features", v.len()))),
        }
    };
    let (offset, scale) = (get("offset", 0.0)?, get("scale", 1.0)?);
    let (mul, add): (Vec<f64>, Vec<f64>) = offset.iter().zip(&scale).map(|(o, s)| (*s, -o * s)).unzip();
    let read_as = cx.node.input.first().map_or("", String::as_str);
    if let Some(id) = b.map_input(x, read_as, cx.node.output.first().map(String::as_str), (&mul, &add), None) {
        return Ok(Out::Alias(id));
    }
    let m = b.add_const(&cx.part("scale"), FTensor::new(vec![k], mul));
    let a = b.add_const(&cx.part("offset"), FTensor::new(vec![k], add));
    let y = b.push(cx.name, cx.op, FOp::Binary(Binary::Mul), vec![x, m], &cx.part("scaled"))?;
    Ok(Out::Node(FOp::Binary(Binary::Add), vec![y, a]))
}

/// Normalizer over the last axis: L1 (`x / Σ|x|`) and L2 (`x / √Σx²`).
pub fn normalizer(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let r = cx.shape_of(x).len();
    let norm = cx.a.string("norm").unwrap_or_else(|| "MAX".into());
    let first = match norm.as_str() {
        "L1" => Unary::Abs,
        "L2" => Unary::Pow(2.0),
        other => return Err(cx.fail(format!("norm {other} is not supported (L1 and L2 are)"))),
    };
    let t = b.push(cx.name, cx.op, FOp::Unary(first), vec![x], &cx.part("terms"))?;
    let mut n =
        b.push(cx.name, cx.op, FOp::Reduce { axes: vec![r - 1], keep_dims: true, mean: false }, vec![t], &cx.part("sum"))?;
    if norm == "L2" {
        n = b.push(cx.name, cx.op, FOp::Unary(Unary::Sqrt), vec![n], &cx.part("norm"))?;
    }
    Ok(Out::Node(FOp::Binary(Binary::Div), vec![x, n]))
}

/// ZipMap turns probabilities into a sequence of maps, which has no tensor form.
pub fn zipmap(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Err(cx.fail(
        "ZipMap outputs a sequence of maps, which Verity cannot represent; convert the classifier with \
         skl2onnx's options={'zipmap': False} so that the probabilities are a tensor",
    ))
}
