//! Strategies. An executor can only open what it committed to, so a cheating one is an
//! honest player over a wrong trace; the honest challenger compares every node with the
//! trace the statement calls for, which it computes itself.

use super::messages::{Move, Opening, WHOLE};
use super::referee::{needs, Need, Phase, Referee, Stage};
use super::statement::Statement;
use crate::error::Result;
use crate::forward::Kernel;
use crate::generate::{drive, pick, Observer, Params, Run};
use crate::model::Model;
use crate::trace::{chunk_leaves, commit_op, commit_position, Hash, Layout, OpKind, Tree, CHUNK};

/// A whole trace: every op output of every position, and its trees.
pub struct Trace {
    pub values: Vec<Vec<Vec<i32>>>,
    pub op_roots: Vec<Vec<Hash>>,
    pub leaves: Vec<Hash>,
    pos_tree: Tree,
}

impl Trace {
    pub fn from_values(values: Vec<Vec<Vec<i32>>>) -> Trace {
        let op_roots: Vec<Vec<Hash>> = values.iter().map(|ops| ops.iter().map(|v| commit_op(v)).collect()).collect();
        let leaves: Vec<Hash> = op_roots.iter().enumerate().map(|(p, r)| commit_position(p, r)).collect();
        Trace { pos_tree: Tree::new(&leaves), values, op_roots, leaves }
    }

    pub fn root(&self) -> Hash {
        self.pos_tree.root()
    }

    fn tree(&self, stage: Stage) -> Option<Tree> {
        Some(match stage {
            Stage::Positions => return None,
            Stage::Ops { pos } => Tree::new(self.op_roots.get(pos)?),
            Stage::Chunks { pos, op } => Tree::new(&chunk_leaves(self.values.get(pos)?.get(op)?)),
        })
    }

    /// Node `index` at `level` of `stage`'s tree, if this trace's tree has it.
    fn node(&self, stage: Stage, level: usize, index: usize) -> Option<Hash> {
        match stage {
            Stage::Positions => self.pos_tree.get(level, index),
            _ => self.tree(stage)?.get(level, index),
        }
    }

    fn chunk(&self, pos: usize, op: usize, c: usize) -> Option<&[i32]> {
        let v = self.values.get(pos)?.get(op)?;
        v.get(c * CHUNK..((c + 1) * CHUNK).min(v.len()))
    }

    fn opening(&self, need: Need) -> Option<Opening> {
        let (pos, op, chunk) = match need {
            Need::Whole { pos, op } => (pos, op, None),
            Need::Chunk { pos, op, chunk } => (pos, op, Some(chunk)),
        };
        let ct = self.tree(Stage::Chunks { pos, op })?;
        let ot = self.tree(Stage::Ops { pos })?;
        Some(Opening {
            pos: pos as u32,
            op: op as u32,
            chunk: chunk.map(|c| c as u32).unwrap_or(WHOLE),
            values: match chunk {
                None => self.values[pos][op].clone(),
                Some(c) => self.chunk(pos, op, c)?.to_vec(),
            },
            chunk_path: chunk.map(|c| ct.path(c)).unwrap_or_default(),
            op_path: ot.path(op),
            pos_path: self.pos_tree.path(pos),
        })
    }
}

/// Runs a decoding through `drive`, keeping every op output (after `tamper`).
pub fn record(
    model: &Model,
    prompt: &[u32],
    params: &Params,
    choose: &mut dyn FnMut(u64, u32) -> u32,
    tamper: &mut dyn FnMut(usize, usize, &mut Vec<i32>),
) -> Result<(Run, Trace)> {
    let mut values: Vec<Vec<Vec<i32>>> = Vec::new();
    let hook = &mut |pos: usize, op: usize, v: &mut Vec<i32>| {
        tamper(pos, op, v);
        if values.len() <= pos {
            values.resize(pos + 1, Vec::new());
        }
        values[pos].push(v.clone());
    };
    let run = drive(
        model,
        prompt,
        params,
        Kernel::Fast,
        2,
        Observer { choose, hook, on_text: &mut |_| std::ops::ControlFlow::Continue(()) },
    )?;
    let trace = Trace::from_values(values);
    debug_assert_eq!(trace.leaves, run.leaves, "the recorded trace is the committed one");
    Ok((run, trace))
}

/// The trace the statement calls for (the prompt and the claimed tokens fed, each next
/// token the one picked from the logits) and the first position whose pick is not the
/// claimed token, if any. An honest challenger computes it from the statement alone.
pub fn expected_trace(model: &Model, st: &Statement) -> Result<(Trace, Option<usize>)> {
    let c = &st.completion;
    let n = c.prompt_tokens.len();
    // Feed the claimed tokens; after the last, claim the end (the statement's rules stop there).
    let claimed = |s: u64| c.tokens.get(s as usize).copied().unwrap_or(model.eos);
    let (_, mut trace) = record(model, &c.prompt_tokens, &c.params, &mut |s, _| claimed(s), &mut |_, _, _| {})?;
    let ly = Layout::of(&model.config);
    let next = ly.index(OpKind::Next);
    let logits = ly.index(OpKind::Logits);
    let mut invalid = None;
    for p in n - 1..trace.values.len() {
        let s = p + 1 - n;
        let t = pick(model, &trace.values[p][logits], &c.params, s as u64);
        let ok = match c.tokens.get(s) {
            Some(x) => *x == t,
            None => t == model.eos || t == model.im_end,
        };
        if !ok && invalid.is_none() {
            invalid = Some(p);
        }
        trace.values[p][next] = vec![t as i32];
    }
    Ok((Trace::from_values(trace.values), invalid))
}

pub trait Player {
    /// The next move in the referee's position, or None if it has none to make.
    fn play(&mut self, referee: &Referee) -> Option<Move>;
}

/// Defends its trace (honest or not).
pub struct Executor<'a> {
    pub trace: &'a Trace,
}

impl Player for Executor<'_> {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        let t = self.trace;
        Some(match r.phase() {
            Phase::Descend { stage, level, index, children: None, .. } => {
                Move::Children { left: t.node(*stage, level - 1, 2 * index)?, right: t.node(*stage, level - 1, 2 * index + 1)? }
            }
            Phase::Open { stage: Stage::Positions, index, .. } => Move::Open { root: t.tree(Stage::Ops { pos: *index })?.root() },
            Phase::Open { stage: Stage::Ops { pos }, index, .. } => {
                Move::Open { root: t.tree(Stage::Chunks { pos: *pos, op: *index })?.root() }
            }
            Phase::Open { stage: Stage::Chunks { pos, op }, index, .. } => {
                Move::Chunk { values: t.chunk(*pos, *op, *index)?.to_vec() }
            }
            Phase::Step { pos, op, elem, .. } => Move::Step {
                openings: needs(r.layout(), r.statement().n_prompt(), *pos, *op, *elem)
                    .into_iter()
                    .map(|n| t.opening(n))
                    .collect::<Option<_>>()?,
            },
            _ => return None,
        })
    }
}

/// Disputes the first element of the executor's trace that differs from the expected
/// trace, or the first picked token that is not the claimed one, whichever comes first.
pub struct Challenger<'a> {
    pub trace: &'a Trace,
    /// The position whose pick contradicts the claimed tokens (`expected_trace`).
    pub invalid: Option<usize>,
    pub layout: Layout,
}

impl Challenger<'_> {
    /// Whether leaves `[lo, hi)` of `stage`'s tree hold the invalid pick.
    fn holds_invalid(&self, stage: Stage, lo: usize, hi: usize) -> bool {
        let Some(p) = self.invalid else { return false };
        let next = self.layout.index(OpKind::Next);
        match stage {
            Stage::Positions => (lo..hi).contains(&p),
            Stage::Ops { pos } => pos == p && (lo..hi).contains(&next),
            Stage::Chunks { pos, op } => pos == p && op == next && lo == 0,
        }
    }
}

impl Player for Challenger<'_> {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        let t = self.trace;
        Some(match r.phase() {
            Phase::Descend { stage, level, index, children: Some((l, r)), .. } => {
                let w = 1 << (level - 1);
                let bad = |i: usize, h: &Hash| {
                    t.node(*stage, level - 1, i) != Some(*h) || self.holds_invalid(*stage, i * w, (i + 1) * w)
                };
                // Right only while the left child agrees; with nothing wrong on either side
                // (a dispute of an honest trace), it disputes the first element.
                Move::Choose { right: !bad(2 * index, l) && bad(2 * index + 1, r) }
            }
            Phase::Pick { pos, op, chunk, values } => {
                let own = t.chunk(*pos, *op, *chunk).unwrap_or(&[]);
                let off = values.iter().enumerate().position(|(i, v)| own.get(i) != Some(v)).unwrap_or(0);
                Move::Element { offset: off as u32 }
            }
            _ => return None,
        })
    }
}

/// Answers at random (an honest executor must win whatever it says).
pub struct RandomChallenger {
    pub state: u64,
}

impl RandomChallenger {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.state >> 33
    }
}

impl Player for RandomChallenger {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        Some(match r.phase() {
            Phase::Descend { children: Some(_), .. } => Move::Choose { right: self.next() & 1 == 1 },
            Phase::Pick { values, .. } => Move::Element { offset: (self.next() % values.len().max(1) as u64) as u32 },
            _ => return None,
        })
    }
}
