//! The referee: holds the model (whose id the receipt signs), the statement and the game's
//! position; checks every move against the commitments and, at the end, recomputes one
//! element of one op of one position from openings, never replaying a prefix.

use std::collections::BTreeMap;

use super::messages::{Move, Opening, WHOLE};
use super::statement::Statement;
use crate::forward::{attn_mix, attn_score, embed_value, exp_neg, gated, matvec_row, rmsnorm, rope_pair};
use crate::generate::pick;
use crate::model::Model;
use crate::trace::{
    chunk_count, chunk_leaf, chunk_leaves, depth_for, op_root, position_leaf, root_from_path, tree_root, Hash, Layout, OpKind,
    CHUNK, EMPTY,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Executor,
    Challenger,
}

impl Party {
    pub fn name(self) -> &'static str {
        match self {
            Party::Executor => "executor",
            Party::Challenger => "challenger",
        }
    }
    pub fn other(self) -> Party {
        match self {
            Party::Executor => Party::Challenger,
            Party::Challenger => Party::Executor,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub winner: Party,
    pub reason: String,
    /// The (position, op, element) the game ended at, if it reached one.
    pub at: Option<(usize, usize, usize)>,
}

/// Which tree the game is descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Positions,
    Ops { pos: usize },
    Chunks { pos: usize, op: usize },
}

#[derive(Clone, Debug)]
pub enum Phase {
    /// Node `index` at `level` levels above the leaves of `stage`'s tree is disputed.
    Descend {
        stage: Stage,
        level: usize,
        index: usize,
        hash: Hash,
        children: Option<(Hash, Hash)>,
    },
    /// Leaf `index` of `stage`'s tree is disputed; the executor opens it.
    Open {
        stage: Stage,
        index: usize,
        hash: Hash,
    },
    /// The executor opened chunk `chunk`; the challenger names an element.
    Pick {
        pos: usize,
        op: usize,
        chunk: usize,
        values: Vec<i32>,
    },
    /// The executor claims element `elem` is `claimed`; it proves it.
    Step {
        pos: usize,
        op: usize,
        elem: usize,
        claimed: i32,
    },
    Done(Verdict),
}

/// An operand the referee needs opened: a whole op output or one chunk of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Whole { pos: usize, op: usize },
    Chunk { pos: usize, op: usize, chunk: usize },
}

#[derive(Clone)]
pub struct Referee<'m> {
    model: &'m Model,
    st: Statement,
    layout: Layout,
    phase: Phase,
}

impl<'m> Referee<'m> {
    /// `model` must be the one whose id the statement's receipt signs
    /// (`Statement::from_receipt` checked it).
    pub fn new(model: &'m Model, st: Statement) -> Referee<'m> {
        let layout = Layout::of(&model.config);
        let mut r = Referee { model, layout, phase: Phase::Open { stage: Stage::Positions, index: 0, hash: EMPTY }, st };
        r.phase = match &r.st.inconsistent {
            Some(why) => Phase::Done(Verdict {
                winner: Party::Challenger,
                reason: format!("the signed claims contradict themselves: {why}"),
                at: None,
            }),
            None => r.enter(Stage::Positions, r.st.trace_root),
        };
        r
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn statement(&self) -> &Statement {
        &self.st
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn verdict(&self) -> Option<&Verdict> {
        match &self.phase {
            Phase::Done(v) => Some(v),
            _ => None,
        }
    }

    pub fn turn(&self) -> Option<Party> {
        Some(match &self.phase {
            Phase::Done(_) => return None,
            Phase::Descend { children: Some(_), .. } | Phase::Pick { .. } => Party::Challenger,
            _ => Party::Executor,
        })
    }

    /// The party on turn let its deadline pass (or has no valid move): it loses.
    pub fn timeout(&mut self) {
        if let Some(p) = self.turn() {
            self.phase = Phase::Done(Verdict {
                winner: p.other(),
                reason: format!("the {} made no valid move before its deadline", p.name()),
                at: None,
            });
        }
    }

    /// Leaves of `stage`'s tree.
    pub fn leaves(&self, stage: Stage) -> usize {
        match stage {
            Stage::Positions => self.st.positions,
            Stage::Ops { .. } => self.layout.n_ops(),
            Stage::Chunks { pos, op } => chunk_count(self.op_len(pos, op)),
        }
    }

    fn op_len(&self, pos: usize, op: usize) -> usize {
        self.layout.kind(op).map(|k| self.layout.len(k, pos)).unwrap_or(0)
    }

    fn enter(&self, stage: Stage, root: Hash) -> Phase {
        match depth_for(self.leaves(stage)) {
            0 => Phase::Open { stage, index: 0, hash: root },
            level => Phase::Descend { stage, level, index: 0, hash: root, children: None },
        }
    }

    /// Applies `party`'s move. An invalid move is rejected and changes nothing.
    pub fn apply(&mut self, party: Party, mv: &Move) -> Result<(), String> {
        let turn = self.turn().ok_or("the game is decided")?;
        if party != turn {
            return Err(format!("it is the {}'s turn", turn.name()));
        }
        self.phase = self.next_phase(mv)?;
        Ok(())
    }

    fn next_phase(&self, mv: &Move) -> Result<Phase, String> {
        let wrong = |want: &str| Err(format!("expected a {want} move, got {}", mv.name()));
        match (&self.phase, mv) {
            (Phase::Descend { stage, level, index, hash, children: None }, Move::Children { left, right }) => {
                if crate::trace::node(left, right) != *hash {
                    return Err("children do not hash to the disputed node".into());
                }
                Ok(Phase::Descend { stage: *stage, level: *level, index: *index, hash: *hash, children: Some((*left, *right)) })
            }
            (Phase::Descend { children: None, .. }, _) => wrong("children"),
            (Phase::Descend { stage, level, index, children: Some((l, r)), .. }, Move::Choose { right }) => {
                let (index, h) = (2 * index + *right as usize, if *right { *r } else { *l });
                if *level > 1 {
                    return Ok(Phase::Descend { stage: *stage, level: level - 1, index, hash: h, children: None });
                }
                if index >= self.leaves(*stage) {
                    let winner = if h == EMPTY { Party::Executor } else { Party::Challenger };
                    return Ok(Phase::Done(Verdict {
                        winner,
                        reason: format!("padding leaf {index} of {stage:?} must be empty"),
                        at: None,
                    }));
                }
                Ok(Phase::Open { stage: *stage, index, hash: h })
            }
            (Phase::Descend { .. }, _) => wrong("choose"),
            (Phase::Open { stage: Stage::Positions, index, hash }, Move::Open { root }) => {
                if position_leaf(*index, root) != *hash {
                    return Err(format!("position {index}'s leaf does not commit to that op tree root"));
                }
                Ok(self.enter(Stage::Ops { pos: *index }, *root))
            }
            (Phase::Open { stage: Stage::Ops { pos }, index, hash }, Move::Open { root }) => {
                if op_root(self.op_len(*pos, *index), root) != *hash {
                    return Err(format!("op {index} of position {pos} does not commit to that chunk tree root"));
                }
                Ok(self.enter(Stage::Chunks { pos: *pos, op: *index }, *root))
            }
            (Phase::Open { stage: Stage::Chunks { pos, op }, index, hash }, Move::Chunk { values }) => {
                let want = self.op_len(*pos, *op).saturating_sub(index * CHUNK).min(CHUNK);
                if values.len() != want || chunk_leaf(values) != *hash {
                    return Err("chunk values do not hash to the disputed leaf".into());
                }
                Ok(Phase::Pick { pos: *pos, op: *op, chunk: *index, values: values.clone() })
            }
            (Phase::Open { stage: Stage::Chunks { .. }, .. }, _) => wrong("chunk"),
            (Phase::Open { .. }, _) => wrong("open"),
            (Phase::Pick { pos, op, chunk, values }, Move::Element { offset }) => {
                let o = *offset as usize;
                if o >= values.len() {
                    return Err("element offset outside the chunk".into());
                }
                Ok(Phase::Step { pos: *pos, op: *op, elem: chunk * CHUNK + o, claimed: values[o] })
            }
            (Phase::Pick { .. }, _) => wrong("element"),
            (Phase::Step { pos, op, elem, claimed }, Move::Step { openings }) => {
                let opened = self.check_openings(*pos, *op, *elem, openings)?;
                let (y, valid) = self.eval(*pos, *op, *elem, &opened)?;
                let kind = self.layout.kind(*op).expect("op inside the layout");
                let at = Some((*pos, *op, *elem));
                let (winner, reason) = if y != *claimed {
                    (
                        Party::Challenger,
                        format!("position {pos} {kind:?} element {elem} recomputes to {y}, the executor claimed {claimed}"),
                    )
                } else if !valid {
                    (
                        Party::Challenger,
                        format!("position {pos}: the token picked from the logits is {y}, not the one the receipt claims"),
                    )
                } else {
                    (Party::Executor, format!("position {pos} {kind:?} element {elem} recomputes to the executor's {claimed}"))
                };
                Ok(Phase::Done(Verdict { winner, reason, at }))
            }
            (Phase::Step { .. }, _) => wrong("step"),
            (Phase::Done(_), _) => Err("the game is decided".into()),
        }
    }

    /// Checks each opening against the trace root and that they are exactly [`needs`].
    fn check_openings(&self, pos: usize, op: usize, elem: usize, openings: &[Opening]) -> Result<Opened, String> {
        let needs = needs(&self.layout, self.st.n_prompt(), pos, op, elem);
        if openings.len() != needs.len() {
            return Err(format!("{} openings, the referee needs {}", openings.len(), needs.len()));
        }
        let mut opened = Opened::default();
        for (o, need) in openings.iter().zip(&needs) {
            let (p, q, c) = match *need {
                Need::Whole { pos, op } => (pos, op, WHOLE),
                Need::Chunk { pos, op, chunk } => (pos, op, chunk as u32),
            };
            if (o.pos as usize, o.op as usize, o.chunk) != (p, q, c) {
                return Err(format!("opening of position {} op {} is not the operand needed", o.pos, o.op));
            }
            let len = self.op_len(p, q);
            let chunk_root = if c == WHOLE {
                if o.values.len() != len || !o.chunk_path.is_empty() {
                    return Err(format!("position {p} op {q}: a whole opening has {len} values and no chunk path"));
                }
                tree_root(&chunk_leaves(&o.values))
            } else {
                let want = len.saturating_sub(c as usize * CHUNK).min(CHUNK);
                if o.values.len() != want || o.chunk_path.len() != depth_for(chunk_count(len)) {
                    return Err(format!("position {p} op {q} chunk {c}: wrong size or path length"));
                }
                root_from_path(&chunk_leaf(&o.values), c as usize, &o.chunk_path)
            };
            if o.op_path.len() != depth_for(self.layout.n_ops()) || o.pos_path.len() != depth_for(self.st.positions) {
                return Err(format!("position {p} op {q}: wrong path length"));
            }
            let ops_root = root_from_path(&op_root(len, &chunk_root), q, &o.op_path);
            if root_from_path(&position_leaf(p, &ops_root), p, &o.pos_path) != self.st.trace_root {
                return Err(format!("position {p} op {q}: the opening does not lead to the trace root"));
            }
            if c == WHOLE {
                opened.whole.insert((p, q), o.values.clone());
            } else {
                opened.chunks.insert((p, q, c as usize), o.values.clone());
            }
        }
        Ok(opened)
    }

    /// The true value of the element given its (agreed) operands, and whether it is valid:
    /// a picked token must also be the token the receipt claims.
    fn eval(&self, p: usize, op: usize, e: usize, o: &Opened) -> Result<(i32, bool), String> {
        let (m, ly) = (self.model, &self.layout);
        let c = &m.config;
        let hd = c.head_dim;
        let group = c.n_head / c.n_head_kv;
        let kind = ly.kind(op).ok_or("op outside the layout")?;
        let ix = |k: OpKind| ly.index(k);
        let y = match kind {
            OpKind::Embed => embed_value(m, self.st.token(p) as usize, e),
            OpKind::AttnNorm(l) => rmsnorm(o.row(p, ix(ly.resid_in(l)))?, &m.layers[l].attn_norm, m.eps_q32)[e],
            OpKind::Q(l) | OpKind::K(l) => {
                let w = if matches!(kind, OpKind::Q(_)) { &m.layers[l].wq } else { &m.layers[l].wk };
                let h = o.row(p, ix(OpKind::AttnNorm(l)))?;
                let r0 = e - e % 2;
                let (a, b) = rope_pair(m, matvec_row(w, h, r0), matvec_row(w, h, r0 + 1), p, (e % hd) / 2);
                if e.is_multiple_of(2) {
                    a
                } else {
                    b
                }
            }
            OpKind::V(l) => matvec_row(&m.layers[l].wv, o.row(p, ix(OpKind::AttnNorm(l)))?, e),
            OpKind::Weights(l, h) => {
                let g = h / group;
                let q: Vec<i32> = (h * hd..(h + 1) * hd).map(|i| o.elem(p, ix(OpKind::Q(l)), i)).collect::<Result<_, _>>()?;
                let scores = (0..=p)
                    .map(|j| {
                        let k: Vec<i32> =
                            (g * hd..(g + 1) * hd).map(|i| o.elem(j, ix(OpKind::K(l)), i)).collect::<Result<_, _>>()?;
                        Ok(attn_score(m, &q, &k))
                    })
                    .collect::<Result<Vec<i64>, String>>()?;
                let mx = *scores.iter().max().expect("p >= 0");
                exp_neg(m, mx - scores[e]) as i32
            }
            OpKind::Att(l) => {
                let (h, i) = (e / hd, e % hd);
                let w = o.row(p, ix(OpKind::Weights(l, h)))?;
                let v: Vec<i32> = (0..=p).map(|j| o.elem(j, ix(OpKind::V(l)), (h / group) * hd + i)).collect::<Result<_, _>>()?;
                attn_mix(w, v.into_iter())
            }
            OpKind::Resid1(l) => {
                let att = o.row(p, ix(OpKind::Att(l)))?;
                o.elem(p, ix(ly.resid_in(l)), e)?.saturating_add(matvec_row(&m.layers[l].wo, att, e))
            }
            OpKind::FfnNorm(l) => rmsnorm(o.row(p, ix(OpKind::Resid1(l)))?, &m.layers[l].ffn_norm, m.eps_q32)[e],
            OpKind::Act(l) => {
                let h = o.row(p, ix(OpKind::FfnNorm(l)))?;
                gated(m, matvec_row(&m.layers[l].w_gate, h, e), matvec_row(&m.layers[l].w_up, h, e))
            }
            OpKind::Resid2(l) => {
                let act = o.row(p, ix(OpKind::Act(l)))?;
                o.elem(p, ix(OpKind::Resid1(l)), e)?.saturating_add(matvec_row(&m.layers[l].w_down, act, e))
            }
            OpKind::Logits => {
                let h = rmsnorm(o.row(p, ix(ly.resid_in(c.n_layer)))?, &m.out_norm, m.eps_q32);
                matvec_row(&m.embed, &h, e)
            }
            OpKind::Next => {
                let (n, comp) = (self.st.n_prompt(), &self.st.completion);
                if p + 1 < n {
                    return Ok((comp.prompt_tokens[p + 1] as i32, true));
                }
                let s = p + 1 - n;
                let t = pick(m, o.row(p, ix(OpKind::Logits))?, &comp.params, s as u64);
                let valid = match comp.tokens.get(s) {
                    Some(claimed) => t == *claimed,
                    None => s == comp.tokens.len() && (t == m.eos || t == m.im_end),
                };
                return Ok((t as i32, valid));
            }
        };
        Ok((y, true))
    }
}

/// The operands of element `e` of op `op` at position `p`, all earlier in the trace order
/// (earlier positions, or earlier ops of `p`): whole rows where the op needs a max, a sum
/// or a sum of squares (norms, attention weights, matrix-vector inputs), single chunks
/// otherwise, and the keys / values of every position `<= p` for attention — the KV cache,
/// read from the committed trace instead of a replay.
pub fn needs(ly: &Layout, n_prompt: usize, p: usize, op: usize, e: usize) -> Vec<Need> {
    let ix = |k: OpKind| ly.index(k);
    let whole = |pos: usize, k: OpKind| Need::Whole { pos, op: ix(k) };
    let chunk = |pos: usize, k: OpKind, i: usize| Need::Chunk { pos, op: ix(k), chunk: i / CHUNK };
    let range = |pos: usize, k: OpKind, lo: usize, hi: usize| {
        (lo / CHUNK..=(hi - 1) / CHUNK).map(move |c| Need::Chunk { pos, op: ix(k), chunk: c })
    };
    let Some(kind) = ly.kind(op) else { return vec![] };
    let (hd, group) = (ly.head_dim, ly.n_head / ly.n_head_kv);
    match kind {
        OpKind::Embed => vec![],
        OpKind::AttnNorm(l) => vec![whole(p, ly.resid_in(l))],
        OpKind::Q(l) | OpKind::K(l) | OpKind::V(l) => vec![whole(p, OpKind::AttnNorm(l))],
        OpKind::Weights(l, h) => {
            let g = h / group;
            let mut v: Vec<Need> = range(p, OpKind::Q(l), h * hd, (h + 1) * hd).collect();
            for j in 0..=p {
                v.extend(range(j, OpKind::K(l), g * hd, (g + 1) * hd));
            }
            v
        }
        OpKind::Att(l) => {
            let (h, i) = (e / hd, e % hd);
            let mut v = vec![whole(p, OpKind::Weights(l, h))];
            v.extend((0..=p).map(|j| chunk(j, OpKind::V(l), (h / group) * hd + i)));
            v
        }
        OpKind::Resid1(l) => vec![whole(p, OpKind::Att(l)), chunk(p, ly.resid_in(l), e)],
        OpKind::FfnNorm(l) => vec![whole(p, OpKind::Resid1(l))],
        OpKind::Act(l) => vec![whole(p, OpKind::FfnNorm(l))],
        OpKind::Resid2(l) => vec![whole(p, OpKind::Act(l)), chunk(p, OpKind::Resid1(l), e)],
        OpKind::Logits => vec![whole(p, ly.resid_in(ly.n_layer))],
        OpKind::Next if p + 1 < n_prompt => vec![],
        OpKind::Next => vec![whole(p, OpKind::Logits)],
    }
}

/// Verified operand values.
#[derive(Default)]
struct Opened {
    whole: BTreeMap<(usize, usize), Vec<i32>>,
    chunks: BTreeMap<(usize, usize, usize), Vec<i32>>,
}

impl Opened {
    fn row(&self, pos: usize, op: usize) -> Result<&[i32], String> {
        self.whole.get(&(pos, op)).map(|v| v.as_slice()).ok_or_else(|| format!("position {pos} op {op} not opened"))
    }
    fn elem(&self, pos: usize, op: usize, i: usize) -> Result<i32, String> {
        if let Some(v) = self.whole.get(&(pos, op)) {
            return v.get(i).copied().ok_or_else(|| format!("element {i} outside position {pos} op {op}"));
        }
        self.chunks
            .get(&(pos, op, i / CHUNK))
            .and_then(|c| c.get(i % CHUNK))
            .copied()
            .ok_or_else(|| format!("element {i} of position {pos} op {op} not opened"))
    }
}
