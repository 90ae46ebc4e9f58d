//! Control flow known at import: an If whose condition is a constant (a shape test, or
//! an input fixed with `verity import --set`) is replaced by the nodes of the branch it
//! takes. A run-time condition is refused: the canonical model has no branches.

use crate::error::Result;
use crate::translate::{Builder, Cx, Out};

pub fn if_(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let cond = b.konst(cx.x()?).cloned().ok_or_else(|| {
        cx.fail("the condition is computed at run time; fix the graph inputs it depends on with `verity import --set NAME=VALUE`")
    })?;
    let &[c] = cond.data.as_slice() else {
        return Err(cx.fail(format!("the condition must be one value, got shape {:?}", cond.shape)));
    };
    let which = if c != 0.0 { "then_branch" } else { "else_branch" };
    let branch = cx.a.graph(which).ok_or_else(|| cx.fail(format!("missing {which}")))?;
    for t in &branch.initializer {
        let v = crate::proto::tensor(t)?;
        b.add_const(t.name(), v);
    }
    for (i, node) in branch.node.iter().enumerate() {
        let name =
            if node.name().is_empty() { format!("{}/{which}/{}_{i}", cx.name, node.op_type()) } else { node.name().to_string() };
        b.translate(node, &name)?;
    }
    let outs = branch.output.iter().map(|o| b.lookup(o.name(), "branch output")).collect::<Result<Vec<_>>>()?;
    if outs.len() != cx.node.output.len() {
        return Err(cx.fail(format!("{which} has {} outputs, the node {}", outs.len(), cx.node.output.len())));
    }
    Ok(Out::Many(outs))
}
