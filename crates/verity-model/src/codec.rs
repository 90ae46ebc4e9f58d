//! The versioned, deterministic binary encoding of a canonical model (see
//! docs/semantics.md, "Encoding"). All integers are little-endian; every length is
//! checked against the bytes that remain before anything is allocated.

use crate::error::{ModelError, Result};
use crate::graph::{InputAffine, Model, ModelHead, Node, ValueId, ValueInfo};
use crate::id;
use crate::ops::{CmpMode, Op, Requant, Window};

pub const MAGIC: &[u8; 4] = b"VRTM";
pub const VERSION: u16 = 1;

impl Model {
    /// The canonical bytes: the head ([`Model::head_bytes`]) then every node's encoding.
    /// Equal models give equal bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.head(&self.values, &self.inputs, &self.input_affine, &self.outputs, self.nodes.len());
        for n in &self.nodes {
            w.node(n);
        }
        w.0
    }

    /// The encoding's head: its bytes before the first node (see [`crate::id`]).
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.head(&self.values, &self.inputs, &self.input_affine, &self.outputs, self.nodes.len());
        w.0
    }

    /// Decodes and validates. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let ModelHead { values, inputs, input_affine, outputs, n_nodes } = r.head(true)?;
        let mut nodes = Vec::with_capacity(n_nodes);
        for _ in 0..n_nodes {
            nodes.push(r.node()?);
        }
        r.end()?;
        let model = Model { values, inputs, input_affine, outputs, nodes };
        model.validate()?;
        // Non-canonical encodings of a valid model (e.g. a non-minimal boolean) would
        // give one model two ids; only the canonical one is accepted.
        if model.encode() != bytes {
            return Err(ModelError::Corrupt("non-canonical encoding".into()));
        }
        Ok(model)
    }

    /// The model id as 64 hex digits.
    pub fn id(&self) -> String {
        self.id_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The model id: `H_model(head ‖ nodes_root)` (see [`crate::id`]), which binds every
    /// byte of the encoding and lets any node be opened against it.
    pub fn id_bytes(&self) -> [u8; 32] {
        id::model(&self.head_bytes(), &id::node_tree(self.nodes.iter().map(Node::encode)).root())
    }

    /// The id of a model from its canonical bytes, without decoding them: the layout is
    /// parsed to find the head and the nodes. Equals [`Model::id_bytes`] of the decoded
    /// model. Bytes that are not laid out as a model get a hash in a separate domain, which
    /// is no model's id (so checking stored bytes against an id still fails on garbage).
    pub fn id_of_encoding(bytes: &[u8]) -> [u8; 32] {
        let mut r = Reader { buf: bytes, pos: 0 };
        let layout = (|| -> Result<(usize, Vec<std::ops::Range<usize>>)> {
            let n_nodes = r.head(true)?.n_nodes;
            let head_end = r.pos;
            let mut nodes = Vec::with_capacity(n_nodes);
            for _ in 0..n_nodes {
                let start = r.pos;
                r.node()?;
                nodes.push(start..r.pos);
            }
            r.end()?;
            Ok((head_end, nodes))
        })();
        match layout {
            Ok((head_end, nodes)) => id::model(&bytes[..head_end], &id::node_tree(nodes.into_iter().map(|n| &bytes[n])).root()),
            Err(_) => id::not_a_model(bytes),
        }
    }
}

impl ModelHead {
    /// The head's bytes, exactly as they begin the model's encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.head(&self.values, &self.inputs, &self.input_affine, &self.outputs, self.n_nodes);
        w.0
    }

    /// Decodes a head (as a referee receives it) and checks everything about it that can
    /// be checked without the nodes. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<ModelHead> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let head = r.head(false)?;
        r.end()?;
        head.validate()?;
        if head.encode() != bytes {
            return Err(ModelError::Corrupt("non-canonical head encoding".into()));
        }
        Ok(head)
    }
}

impl Node {
    /// The node's canonical bytes, exactly as they appear inside the model encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.node(self);
        w.0
    }

    /// Decodes one node (not validated: only a model gives it meaning).
    pub fn decode(bytes: &[u8]) -> Result<Node> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let node = r.node()?;
        if r.pos != bytes.len() {
            return Err(ModelError::Corrupt(format!("{} trailing bytes after the node", bytes.len() - r.pos)));
        }
        if node.encode() != bytes {
            return Err(ModelError::Corrupt("non-canonical node encoding".into()));
        }
        Ok(node)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn ids(&mut self, v: &[u32]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.u32(x));
    }
    fn usizes(&mut self, v: &[usize]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.u32(x as u32));
    }
    fn i32s(&mut self, v: &[i32]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.i32(x));
    }
    fn i64s(&mut self, v: &[i64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.i64(x));
    }
    fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.0.extend_from_slice(&x.to_bits().to_le_bytes()));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.0.extend_from_slice(v);
    }
    fn rq(&mut self, rq: &Requant) {
        self.i32s(&rq.mult);
        self.bytes(&rq.shift);
    }
    fn window(&mut self, w: &Window) {
        w.kernel.iter().chain(&w.stride).chain(&w.pads).chain(&w.dilation).for_each(|&x| self.u32(x as u32));
    }
    fn head(&mut self, values: &[ValueInfo], inputs: &[ValueId], affine: &[InputAffine], outputs: &[ValueId], n_nodes: usize) {
        self.0.extend_from_slice(MAGIC);
        self.u16(VERSION);
        self.len(values.len());
        for v in values {
            self.str(&v.name);
            self.u8(v.bits);
            self.u32(v.scale.to_bits());
            self.usizes(&v.shape);
        }
        self.ids(inputs);
        self.len(affine.len());
        for a in affine {
            self.f64s(&a.mul);
            self.f64s(&a.add);
        }
        self.ids(outputs);
        self.len(n_nodes);
    }
    fn node(&mut self, n: &Node) {
        self.str(&n.name);
        self.ids(&n.inputs);
        self.u32(n.output);
        self.op(&n.op);
    }
    fn op(&mut self, op: &Op) {
        match op {
            Op::Const { data } => {
                self.u8(0);
                self.i32s(data);
            }
            Op::Linear { weight, bias, rq } => {
                self.u8(1);
                self.bytes(bytemuck_i8(weight));
                self.i32s(bias);
                self.rq(rq);
            }
            Op::Conv { weight, bias, window, groups, rq } => {
                self.u8(2);
                self.bytes(bytemuck_i8(weight));
                self.i32s(bias);
                self.window(window);
                self.u32(*groups as u32);
                self.rq(rq);
            }
            Op::MatMul { rq } => {
                self.u8(3);
                self.rq(rq);
            }
            Op::Add { mult_a, mult_b, shift } => {
                self.u8(4);
                self.i32(*mult_a);
                self.i32(*mult_b);
                self.u8(*shift);
            }
            Op::Mul { mult, shift } | Op::Div { mult, shift } | Op::Rescale { mult, shift } => {
                self.u8(match op {
                    Op::Mul { .. } => 5,
                    Op::Div { .. } => 6,
                    _ => 7,
                });
                self.i32(*mult);
                self.u8(*shift);
            }
            Op::Clamp { lo, hi } => {
                self.u8(8);
                self.i32(*lo);
                self.i32(*hi);
            }
            Op::Lut { table } => {
                self.u8(9);
                self.i32s(table);
            }
            Op::PRelu { pos_mult, neg_mult, shift } => {
                self.u8(10);
                self.i32(*pos_mult);
                self.i32s(neg_mult);
                self.u8(*shift);
            }
            Op::MaxPool { window } => {
                self.u8(11);
                self.window(window);
            }
            Op::AvgPool { window, count_include_pad, mult, shift } => {
                self.u8(12);
                self.window(window);
                self.u8(*count_include_pad as u8);
                self.i32(*mult);
                self.u8(*shift);
            }
            Op::Reduce { axes, keep_dims, mean, mult, shift } => {
                self.u8(13);
                self.usizes(axes);
                self.u8(*keep_dims as u8);
                self.u8(*mean as u8);
                self.i32(*mult);
                self.u8(*shift);
            }
            Op::Softmax { axis, exp_table } => {
                self.u8(14);
                self.u32(*axis as u32);
                self.i32s(exp_table);
            }
            Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift } => {
                self.u8(15);
                self.u32(*axis as u32);
                self.i64(*eps);
                self.u8(*frac_bits);
                self.i64s(gamma);
                self.i64s(beta);
                self.u8(*shift);
            }
            Op::Reshape => self.u8(16),
            Op::Transpose { perm } => {
                self.u8(17);
                self.usizes(perm);
            }
            Op::Concat { axis } => {
                self.u8(18);
                self.u32(*axis as u32);
            }
            Op::Slice { axes, starts, ends, steps } => {
                self.u8(19);
                self.usizes(axes);
                self.i64s(starts);
                self.i64s(ends);
                self.i64s(steps);
            }
            Op::Gather { axis, indices, indices_shape } => {
                self.u8(20);
                self.u32(*axis as u32);
                self.usizes(indices);
                self.usizes(indices_shape);
            }
            Op::Compare { mode, mult_a, mult_b } => {
                self.u8(21);
                self.u8(mode.code());
                self.i32(*mult_a);
                self.i32(*mult_b);
            }
            Op::Where => self.u8(22),
            Op::Arg { axis, keep_dims, min, last } => {
                self.u8(23);
                self.u32(*axis as u32);
                self.u8(*keep_dims as u8);
                self.u8(*min as u8);
                self.u8(*last as u8);
            }
        }
    }
}

fn bytemuck_i8(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size, alignment and no invalid bit patterns.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(ModelError::Corrupt(format!("needs {n} more bytes at offset {}, file ends", self.pos)));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn usize(&mut self) -> Result<usize> {
        Ok(self.u32()? as usize)
    }
    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(ModelError::Corrupt(format!("byte {b} at offset {} is not a boolean", self.pos - 1))),
        }
    }
    /// A length prefix for items of at least `item` bytes each, bounded by what remains.
    fn len(&mut self, item: usize) -> Result<usize> {
        let n = self.usize()?;
        if n.saturating_mul(item) > self.buf.len() - self.pos {
            return Err(ModelError::Corrupt(format!("length {n} at offset {} exceeds the file", self.pos - 4)));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| ModelError::Corrupt("name is not UTF-8".into()))
    }
    fn vec<T>(&mut self, item: usize, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let n = self.len(item)?;
        (0..n).map(|_| f(self)).collect()
    }
    fn ids(&mut self) -> Result<Vec<u32>> {
        self.vec(4, Self::u32)
    }
    fn usizes(&mut self) -> Result<Vec<usize>> {
        self.vec(4, Self::usize)
    }
    fn i32s(&mut self) -> Result<Vec<i32>> {
        self.vec(4, Self::i32)
    }
    fn i64s(&mut self) -> Result<Vec<i64>> {
        self.vec(8, Self::i64)
    }
    fn f64s(&mut self) -> Result<Vec<f64>> {
        self.vec(8, |r| Ok(f64::from_bits(u64::from_le_bytes(r.arr()?))))
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len(1)?;
        Ok(self.take(n)?.to_vec())
    }
    fn i8s(&mut self) -> Result<Vec<i8>> {
        Ok(self.bytes()?.into_iter().map(|b| b as i8).collect())
    }
    fn rq(&mut self) -> Result<Requant> {
        Ok(Requant { mult: self.i32s()?, shift: self.bytes()? })
    }
    fn window(&mut self) -> Result<Window> {
        let mut v = [0usize; 10];
        for x in &mut v {
            *x = self.usize()?;
        }
        Ok(Window { kernel: [v[0], v[1]], stride: [v[2], v[3]], pads: [v[4], v[5], v[6], v[7]], dilation: [v[8], v[9]] })
    }
    fn end(&self) -> Result<()> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(ModelError::Corrupt(format!("{n} trailing bytes"))),
        }
    }
    fn head(&mut self, nodes_follow: bool) -> Result<ModelHead> {
        if self.take(4).ok() != Some(MAGIC.as_slice()) {
            return Err(ModelError::BadMagic);
        }
        let version = self.u16()?;
        if version != VERSION {
            return Err(ModelError::BadVersion { found: version, supported: VERSION });
        }
        let n = self.len(1)?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(ValueInfo {
                name: self.str()?,
                bits: self.u8()?,
                scale: f32::from_bits(self.u32()?),
                shape: self.usizes()?,
            });
        }
        let inputs = self.ids()?;
        let n = self.len(8)?;
        let mut input_affine = Vec::with_capacity(n);
        for _ in 0..n {
            input_affine.push(InputAffine { mul: self.f64s()?, add: self.f64s()? });
        }
        let outputs = self.ids()?;
        // Inside a model file the nodes follow, and bound their count; a head on its own
        // is bounded by its values instead (`ModelHead::validate`).
        let n_nodes = if nodes_follow { self.len(1)? } else { self.usize()? };
        Ok(ModelHead { values, inputs, input_affine, outputs, n_nodes })
    }
    fn node(&mut self) -> Result<Node> {
        Ok(Node { name: self.str()?, inputs: self.ids()?, output: self.u32()?, op: self.op()? })
    }
    fn op(&mut self) -> Result<Op> {
        let tag = self.u8()?;
        Ok(match tag {
            0 => Op::Const { data: self.i32s()? },
            1 => Op::Linear { weight: self.i8s()?, bias: self.i32s()?, rq: self.rq()? },
            2 => Op::Conv {
                weight: self.i8s()?,
                bias: self.i32s()?,
                window: self.window()?,
                groups: self.usize()?,
                rq: self.rq()?,
            },
            3 => Op::MatMul { rq: self.rq()? },
            4 => Op::Add { mult_a: self.i32()?, mult_b: self.i32()?, shift: self.u8()? },
            5 => Op::Mul { mult: self.i32()?, shift: self.u8()? },
            6 => Op::Div { mult: self.i32()?, shift: self.u8()? },
            7 => Op::Rescale { mult: self.i32()?, shift: self.u8()? },
            8 => Op::Clamp { lo: self.i32()?, hi: self.i32()? },
            9 => Op::Lut { table: self.i32s()? },
            10 => Op::PRelu { pos_mult: self.i32()?, neg_mult: self.i32s()?, shift: self.u8()? },
            11 => Op::MaxPool { window: self.window()? },
            12 => Op::AvgPool { window: self.window()?, count_include_pad: self.bool()?, mult: self.i32()?, shift: self.u8()? },
            13 => Op::Reduce {
                axes: self.usizes()?,
                keep_dims: self.bool()?,
                mean: self.bool()?,
                mult: self.i32()?,
                shift: self.u8()?,
            },
            14 => Op::Softmax { axis: self.usize()?, exp_table: self.i32s()? },
            15 => Op::LayerNorm {
                axis: self.usize()?,
                eps: self.i64()?,
                frac_bits: self.u8()?,
                gamma: self.i64s()?,
                beta: self.i64s()?,
                shift: self.u8()?,
            },
            16 => Op::Reshape,
            17 => Op::Transpose { perm: self.usizes()? },
            18 => Op::Concat { axis: self.usize()? },
            19 => Op::Slice { axes: self.usizes()?, starts: self.i64s()?, ends: self.i64s()?, steps: self.i64s()? },
            20 => Op::Gather { axis: self.usize()?, indices: self.usizes()?, indices_shape: self.usizes()? },
            21 => {
                let at = self.pos;
                let code = self.u8()?;
                let mode = CmpMode::from_code(code)
                    .ok_or_else(|| ModelError::Corrupt(format!("unknown comparison mode {code} at offset {at}")))?;
                Op::Compare { mode, mult_a: self.i32()?, mult_b: self.i32()? }
            }
            22 => Op::Where,
            23 => Op::Arg { axis: self.usize()?, keep_dims: self.bool()?, min: self.bool()?, last: self.bool()? },
            t => return Err(ModelError::Corrupt(format!("unknown op tag {t} at offset {}", self.pos - 1))),
        })
    }
}
