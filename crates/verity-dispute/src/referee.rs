//! The referee: a state machine that holds only the statement (a signed receipt, the
//! model head and nodes root that hash to its model id, the input roots that hash to its
//! input hash) and the game's current position. It checks every move's proofs and, at
//! the end, recomputes one element.

use std::collections::BTreeMap;

use crate::error::DisputeError;
use crate::messages::{Move, StepProof};
use verity_commit::hash::{self, Hash, CHUNK, EMPTY};
use verity_commit::merkle::{depth_for, root_from_path};
use verity_commit::tensor::{chunk_count, in_range, verify_chunk};
use verity_commit::trace::prefix_tree;
use verity_commit::{verify_node, verify_path};
use verity_model::element::{eval, operands, OpContext};
use verity_model::{Model, ModelHead, Node, ValueInfo};
use verity_receipt::{Receipt, ReceiptBody};

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

/// What is disputed: an executor's signed receipt, with the openings the referee needs
/// beyond it — the model's head and nodes root, and the input tensors' roots — each
/// checked against what the receipt signs. Only [`Statement::from_receipt`] builds one, so
/// whoever assembles a statement cannot choose the model, the input or the claims.
#[derive(Clone, Debug)]
pub struct Statement {
    receipt: ReceiptBody,
    head: ModelHead,
    nodes_root: Hash,
    input_roots: Vec<Hash>,
}

impl Statement {
    /// Checks the receipt's signature, then that `head` and `nodes_root` hash to the
    /// receipt's model id (`verity_model::id`) and that `input_roots` list-hash to its input
    /// hash. The output hash and trace root are the receipt's own.
    pub fn from_receipt(
        receipt: &Receipt,
        head: &[u8],
        nodes_root: Hash,
        input_roots: Vec<Hash>,
    ) -> Result<Statement, DisputeError> {
        let bad = |m: String| Err(DisputeError::Statement(m));
        if let Err(e) = receipt.verify_signature() {
            return bad(format!("the receipt is not signed by its executor: {e}"));
        }
        let body = receipt.body;
        let id = hash::model(head, &nodes_root);
        if id != body.model_id {
            return bad(format!(
                "the model head and nodes root hash to model {}, the receipt is for model {}",
                hash::hex(&id),
                hash::hex(&body.model_id)
            ));
        }
        // The executor signed this id, so a head that does not parse is its own fault; but
        // nothing can be decided against it, and the referee must not read garbage.
        let head = match ModelHead::decode(head) {
            Ok(h) => h,
            Err(e) => return bad(format!("the receipt's model head is not a valid model head: {e}")),
        };
        if input_roots.len() != head.inputs.len() || hash::list(&input_roots) != body.input_hash {
            return bad(format!(
                "{} input roots that do not list-hash to the receipt's input hash (the model has {} inputs)",
                input_roots.len(),
                head.inputs.len()
            ));
        }
        Ok(Statement { receipt: body, head, nodes_root, input_roots })
    }

    /// The signed receipt body the game is about.
    pub fn receipt(&self) -> &ReceiptBody {
        &self.receipt
    }

    pub fn model_id(&self) -> Hash {
        self.receipt.model_id
    }

    /// The model's head, checked against the model id.
    pub fn head(&self) -> &ModelHead {
        &self.head
    }

    /// Root of the model's node tree, checked against the model id.
    pub fn nodes_root(&self) -> Hash {
        self.nodes_root
    }

    /// Roots of the input tensors, checked against the receipt's input hash.
    pub fn input_roots(&self) -> &[Hash] {
        &self.input_roots
    }

    pub fn output_hash(&self) -> Hash {
        self.receipt.output_hash
    }

    pub fn trace_root(&self) -> Hash {
        self.receipt.trace_root
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub winner: Party,
    pub reason: String,
}

/// Where the game stands; `Phase` also says who moves next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Executor opens its output roots against its trace root.
    Outputs,
    /// Bisection over prefix roots: `lo` is agreed, `hi` disputed. With `mid` set the
    /// challenger answers; otherwise the executor posts the prefix at the midpoint.
    Bisect {
        lo: usize,
        lo_root: Hash,
        hi: usize,
        hi_root: Hash,
        mid: Option<Hash>,
    },
    /// Executor opens leaf `k` (prefix `k-1` is agreed, prefix `k` disputed).
    OpenLeaf {
        k: usize,
        lo_root: Hash,
        hi_root: Hash,
    },
    /// Bisection down value `k`'s chunk tree: `hash` at (`level`, `index`) is disputed.
    Descend {
        k: usize,
        agreed: Hash,
        level: usize,
        index: usize,
        hash: Hash,
        children: Option<(Hash, Hash)>,
    },
    /// Executor reveals chunk `index` of value `k`; then the challenger picks an element.
    Chunk {
        k: usize,
        agreed: Hash,
        index: usize,
        leaf: Hash,
        values: Option<Vec<i32>>,
    },
    /// Executor proves element `j` of value `k`, which it claims is `claimed`.
    Step {
        k: usize,
        agreed: Hash,
        j: usize,
        claimed: i32,
    },
    Done(Verdict),
}

#[derive(Clone)]
pub struct Referee {
    st: Statement,
    depth: usize,
    phase: Phase,
    deadline: u64,
    timeout: u64,
}

impl Referee {
    /// Starts a game at time `now`; each move must come within `timeout` of the last. The
    /// statement was checked when it was built.
    pub fn new(st: Statement, now: u64, timeout: u64) -> Referee {
        let depth = depth_for(st.head.values.len());
        Referee { st, depth, phase: Phase::Outputs, deadline: now.saturating_add(timeout), timeout }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    pub fn statement(&self) -> &Statement {
        &self.st
    }

    pub fn verdict(&self) -> Option<&Verdict> {
        match &self.phase {
            Phase::Done(v) => Some(v),
            _ => None,
        }
    }

    /// Whose move it is (None once decided).
    pub fn turn(&self) -> Option<Party> {
        Some(match &self.phase {
            Phase::Done(_) => return None,
            Phase::Bisect { mid: Some(_), .. }
            | Phase::Descend { children: Some(_), .. }
            | Phase::Chunk { values: Some(_), .. } => Party::Challenger,
            _ => Party::Executor,
        })
    }

    /// Decides the game against the party on turn if its deadline has passed.
    pub fn tick(&mut self, now: u64) -> Option<&Verdict> {
        if let Some(p) = self.turn() {
            if now > self.deadline {
                self.finish(p.other(), format!("the {} did not move before its deadline", p.name()));
            }
        }
        self.verdict()
    }

    fn finish(&mut self, winner: Party, reason: String) {
        self.phase = Phase::Done(Verdict { winner, reason });
    }

    fn shape(&self, v: usize) -> (u8, &[usize]) {
        let info = &self.st.head.values[v];
        (info.bits, &info.shape)
    }

    fn numel(&self, v: usize) -> usize {
        self.shape(v).1.iter().product()
    }

    /// Applies `mv` from `party` at time `now`. Invalid moves are rejected and change
    /// nothing; a move after the deadline first decides the game by timeout.
    pub fn apply(&mut self, party: Party, mv: &Move, now: u64) -> Result<(), DisputeError> {
        if self.tick(now).is_some() {
            return Err(DisputeError::Finished);
        }
        let turn = self.turn().ok_or(DisputeError::Finished)?;
        if party != turn {
            return Err(DisputeError::OutOfTurn { expected: turn.name(), got: party.name() });
        }
        let next = self.next_phase(mv)?;
        self.phase = next;
        self.deadline = now.saturating_add(self.timeout);
        Ok(())
    }

    fn wrong(&self, expected: &'static str, mv: &Move) -> DisputeError {
        DisputeError::WrongMove { expected, got: mv.name() }
    }

    fn next_phase(&self, mv: &Move) -> Result<Phase, DisputeError> {
        let bad = |m: &str| Err(DisputeError::InvalidProof(m.to_string()));
        match (&self.phase, mv) {
            (Phase::Outputs, Move::Outputs { roots, paths }) => {
                let outs = &self.st.head.outputs;
                if roots.len() != outs.len() || paths.len() != outs.len() {
                    return bad("one root and one path per model output expected");
                }
                if hash::list(roots) != self.st.output_hash() {
                    return bad("output roots do not match the claimed output hash");
                }
                for ((r, p), &o) in roots.iter().zip(paths).zip(outs) {
                    if p.len() != self.depth || !verify_path(r, o as usize, p, &self.st.trace_root()) {
                        return bad(&format!("output value {o} is not at its leaf of the trace root"));
                    }
                }
                let n_in = self.st.head.inputs.len();
                let lo_root = prefix_tree(&self.st.input_roots, self.depth).root();
                let last = self.st.head.values.len() - 1;
                if last + 1 == n_in {
                    let winner = if lo_root == self.st.trace_root() { Party::Executor } else { Party::Challenger };
                    return Ok(Phase::Done(Verdict { winner, reason: "the model has no nodes; the trace is its inputs".into() }));
                }
                Ok(Self::bisect_or_open(n_in - 1, lo_root, last, self.st.trace_root()))
            }
            (Phase::Outputs, m) => Err(self.wrong("outputs", m)),
            (Phase::Bisect { lo, lo_root, hi, hi_root, mid: None }, Move::Prefix { root }) => {
                Ok(Phase::Bisect { lo: *lo, lo_root: *lo_root, hi: *hi, hi_root: *hi_root, mid: Some(*root) })
            }
            (Phase::Bisect { mid: None, .. }, m) => Err(self.wrong("prefix", m)),
            (Phase::Bisect { lo, lo_root, hi, hi_root, mid: Some(m) }, Move::Respond { agree }) => {
                let mid = (lo + hi) / 2;
                Ok(if *agree {
                    Self::bisect_or_open(mid, *m, *hi, *hi_root)
                } else {
                    Self::bisect_or_open(*lo, *lo_root, mid, *m)
                })
            }
            (Phase::Bisect { .. }, m) => Err(self.wrong("respond", m)),
            (Phase::OpenLeaf { k, lo_root, hi_root }, Move::Leaf { value_root, chunk_root, path }) => {
                let (bits, shape) = self.shape(*k);
                if *value_root != hash::tensor(bits, shape, chunk_root) {
                    return bad("value root does not commit to the chunk root with this value's type");
                }
                if path.len() != self.depth
                    || root_from_path(&EMPTY, *k, path) != *lo_root
                    || root_from_path(value_root, *k, path) != *hi_root
                {
                    return bad("leaf path does not connect the agreed and disputed prefix roots");
                }
                let levels = depth_for(chunk_count(self.numel(*k)));
                Ok(if levels == 0 {
                    Phase::Chunk { k: *k, agreed: *lo_root, index: 0, leaf: *chunk_root, values: None }
                } else {
                    Phase::Descend { k: *k, agreed: *lo_root, level: levels, index: 0, hash: *chunk_root, children: None }
                })
            }
            (Phase::OpenLeaf { .. }, m) => Err(self.wrong("leaf", m)),
            (Phase::Descend { k, agreed, level, index, hash: h, children: None }, Move::Children { left, right }) => {
                if hash::node(left, right) != *h {
                    return bad("children do not hash to the disputed node");
                }
                Ok(Phase::Descend {
                    k: *k,
                    agreed: *agreed,
                    level: *level,
                    index: *index,
                    hash: *h,
                    children: Some((*left, *right)),
                })
            }
            (Phase::Descend { children: None, .. }, m) => Err(self.wrong("children", m)),
            (Phase::Descend { k, agreed, level, index, children: Some((l, r)), .. }, Move::Choose { right }) => {
                let (index, h) = (index * 2 + *right as usize, if *right { *r } else { *l });
                if *level > 1 {
                    return Ok(Phase::Descend { k: *k, agreed: *agreed, level: level - 1, index, hash: h, children: None });
                }
                if index >= chunk_count(self.numel(*k)) {
                    // Padding leaves are EMPTY by definition; no element to argue about.
                    let winner = if h == EMPTY { Party::Executor } else { Party::Challenger };
                    return Ok(Phase::Done(Verdict {
                        winner,
                        reason: format!("padding leaf {index} of value {k} must be empty"),
                    }));
                }
                Ok(Phase::Chunk { k: *k, agreed: *agreed, index, leaf: h, values: None })
            }
            (Phase::Descend { .. }, m) => Err(self.wrong("choose", m)),
            (Phase::Chunk { k, agreed, index, leaf, values: None }, Move::Chunk { values }) => {
                let (bits, _) = self.shape(*k);
                let n = self.numel(*k);
                let want = n.saturating_sub(index * CHUNK).min(CHUNK);
                if values.len() != want || !in_range(bits, values) || hash::chunk(bits, *index, values) != *leaf {
                    return bad("chunk values do not hash to the disputed leaf");
                }
                Ok(Phase::Chunk { k: *k, agreed: *agreed, index: *index, leaf: *leaf, values: Some(values.clone()) })
            }
            (Phase::Chunk { values: None, .. }, m) => Err(self.wrong("chunk", m)),
            (Phase::Chunk { k, agreed, index, values: Some(vals), .. }, Move::Element { offset }) => {
                let o = *offset as usize;
                if o >= vals.len() {
                    return bad("element offset outside the chunk");
                }
                Ok(Phase::Step { k: *k, agreed: *agreed, j: index * CHUNK + o, claimed: vals[o] })
            }
            (Phase::Chunk { .. }, m) => Err(self.wrong("element", m)),
            (Phase::Step { k, agreed, j, claimed }, Move::Step(p)) => {
                let y = self.recompute(*k, agreed, *j, p).map_err(DisputeError::InvalidProof)?;
                let (winner, reason) = if y == *claimed {
                    (Party::Executor, format!("element {j} of value {k} recomputes to the executor's {claimed}"))
                } else {
                    (Party::Challenger, format!("element {j} of value {k} recomputes to {y}, the executor claimed {claimed}"))
                };
                Ok(Phase::Done(Verdict { winner, reason }))
            }
            (Phase::Step { .. }, m) => Err(self.wrong("step", m)),
            (Phase::Done(_), _) => Err(DisputeError::Finished),
        }
    }

    fn bisect_or_open(lo: usize, lo_root: Hash, hi: usize, hi_root: Hash) -> Phase {
        if hi == lo + 1 {
            Phase::OpenLeaf { k: hi, lo_root, hi_root }
        } else {
            Phase::Bisect { lo, lo_root, hi, hi_root, mid: None }
        }
    }

    /// The prefix index the executor must post next (while bisecting).
    pub fn requested_prefix(&self) -> Option<usize> {
        match &self.phase {
            Phase::Bisect { lo, hi, mid: None, .. } => Some((lo + hi) / 2),
            _ => None,
        }
    }

    /// Recomputes element `j` of value `k` from the proof; returns the true value.
    fn recompute(&self, k: usize, agreed: &Hash, j: usize, p: &StepProof) -> Result<i32, String> {
        let n_in = self.st.head.inputs.len();
        let node = Node::decode(&p.node).map_err(|e| format!("node: {e}"))?;
        if !verify_node(&p.node, k - n_in, &p.node_path, &self.st.nodes_root)
            || p.node_path.len() != depth_for(self.st.head.n_nodes)
        {
            return Err(format!("node {} is not in the model commitment", k - n_in));
        }
        if node.output as usize != k || node.inputs.iter().any(|&i| i as usize >= k) {
            return Err("node wiring does not match the disputed value".into());
        }
        // Check the node against its types, exactly as the model validator would, in a
        // one-node model (with an unused first input, so that Const nodes fit too).
        let values = &self.st.head.values;
        let n = node.inputs.len() as u32;
        let mut mini_values = vec![ValueInfo { name: String::new(), shape: vec![1], bits: 8, scale: 1.0 }];
        mini_values.extend(node.inputs.iter().map(|&i| values[i as usize].clone()));
        mini_values.push(values[k].clone());
        let local = Node { name: String::new(), op: node.op.clone(), inputs: (1..=n).collect(), output: n + 1 };
        let mini = Model {
            values: mini_values,
            inputs: (0..=n).collect(),
            input_affine: vec![],
            outputs: vec![n + 1],
            nodes: vec![local],
        };
        mini.validate().map_err(|e| format!("node does not fit its types: {e}"))?;
        let infos: Vec<&ValueInfo> = mini.values[1..=n as usize].iter().collect();
        let cx = OpContext { op: &node.op, inputs: &infos, output: &mini.values[n as usize + 1] };
        if j >= self.numel(k) {
            return Err("element outside the value".into());
        }
        let ops = operands(cx, j);
        // Authenticate each operand value's chunk root against the agreed prefix root.
        let mut roots: BTreeMap<u32, Hash> = BTreeMap::new();
        for t in &p.tensors {
            let v = t.value as usize;
            if v >= k || !node.inputs.contains(&t.value) {
                return Err(format!("value {v} is not an input of the node"));
            }
            let (bits, shape) = self.shape(v);
            let root = hash::tensor(bits, shape, &t.chunk_root);
            if t.path.len() != self.depth || !verify_path(&root, v, &t.path, agreed) {
                return Err(format!("value {v} is not in the agreed prefix"));
            }
            roots.insert(t.value, t.chunk_root);
        }
        let mut chunks: BTreeMap<(u32, u32), &[i32]> = BTreeMap::new();
        for c in &p.chunks {
            let root = roots.get(&c.value).ok_or_else(|| format!("chunk of value {} without its tensor opening", c.value))?;
            let (bits, _) = self.shape(c.value as usize);
            if !verify_chunk(bits, self.numel(c.value as usize), c.index as usize, &c.values, &c.path, root) {
                return Err(format!("chunk {} of value {} does not match its root", c.index, c.value));
            }
            chunks.insert((c.value, c.index), &c.values);
        }
        let vals = ops
            .iter()
            .map(|&(slot, idx)| {
                let v = node.inputs[slot];
                chunks
                    .get(&(v, (idx / CHUNK) as u32))
                    .map(|c| c[idx % CHUNK])
                    .ok_or_else(|| format!("operand {idx} of value {v} not opened"))
            })
            .collect::<Result<Vec<i32>, String>>()?;
        Ok(eval(cx, j, &vals))
    }
}
