//! The proof file: the statement (model id, input, output) and the proof bytes, so that
//! a verifier needs only the file and the model (or its key).
//!
//! `"VRTZ" | version u8 | model id [32] | inputs | outputs | proof`, where a tensor list is
//! `count u32 | per tensor: rank u32, dims u64.., values i32..` and the proof runs to the
//! end of the file. All integers little-endian.

use verity_model::{Tensor, MAX_ELEMENTS};

pub const MAGIC: &[u8; 4] = b"VRTZ";
/// 2: range checks bound the value itself (issue 10). Version 1 proofs came from a
/// protocol whose scaled range checks admitted fractions, so they prove nothing.
pub const VERSION: u8 = 2;
const MAX_TENSORS: usize = 1024;
const MAX_RANK: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofFile {
    pub model_id: [u8; 32],
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub proof: Vec<u8>,
}

fn put_tensors(b: &mut Vec<u8>, ts: &[Tensor]) {
    b.extend((ts.len() as u32).to_le_bytes());
    for t in ts {
        b.extend((t.shape.len() as u32).to_le_bytes());
        t.shape.iter().for_each(|&d| b.extend((d as u64).to_le_bytes()));
        t.data.iter().for_each(|v| b.extend(v.to_le_bytes()));
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end =
            self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| format!("proof file is truncated in {what}"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")) as usize)
    }
    fn tensors(&mut self, what: &str) -> Result<Vec<Tensor>, String> {
        let n = self.u32(what)?;
        if n > MAX_TENSORS {
            return Err(format!("proof file lists {n} {what} tensors"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let rank = self.u32(what)?;
            if rank > MAX_RANK {
                return Err(format!("an {what} tensor has rank {rank}"));
            }
            let mut shape = Vec::with_capacity(rank);
            let mut count: usize = 1;
            for _ in 0..rank {
                let d = u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes"));
                count = count
                    .checked_mul(d as usize)
                    .filter(|&c| d <= MAX_ELEMENTS as u64 && c <= MAX_ELEMENTS)
                    .ok_or_else(|| format!("an {what} tensor is too large"))?;
                shape.push(d as usize);
            }
            let bytes = self.take(count.checked_mul(4).ok_or("tensor too large")?, what)?;
            let data = bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            out.push(Tensor { shape, data });
        }
        Ok(out)
    }
}

impl ProofFile {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.push(VERSION);
        b.extend(self.model_id);
        put_tensors(&mut b, &self.inputs);
        put_tensors(&mut b, &self.outputs);
        b.extend(&self.proof);
        b
    }

    /// Parses a proof file; never panics, names what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<ProofFile, String> {
        let mut c = Cursor { b: bytes, at: 0 };
        if c.take(4, "the header").ok() != Some(MAGIC.as_slice()) {
            return Err("not a Verity proof file (bad magic)".into());
        }
        let v = c.take(1, "the header")?[0];
        if v != VERSION {
            return Err(format!("proof file version {v} is not supported (expected {VERSION})"));
        }
        let model_id = c.take(32, "the model id")?.try_into().expect("32 bytes");
        let inputs = c.tensors("input")?;
        let outputs = c.tensors("output")?;
        Ok(ProofFile { model_id, inputs, outputs, proof: bytes[c.at..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ProofFile {
        ProofFile {
            model_id: [7; 32],
            inputs: vec![Tensor { shape: vec![1, 3], data: vec![-1, 2, 3] }],
            outputs: vec![Tensor { shape: vec![2], data: vec![5, -128] }],
            proof: vec![1, 2, 3, 4],
        }
    }

    #[test]
    fn round_trips_and_names_damage() {
        let f = sample();
        let b = f.encode();
        assert_eq!(ProofFile::decode(&b).unwrap(), f);
        assert!(ProofFile::decode(b"VRTM").unwrap_err().contains("magic"));
        let mut v = b.clone();
        v[4] = 9;
        assert!(ProofFile::decode(&v).unwrap_err().contains("version"));
        // Proofs of the protocol before bounded range checks are refused by version.
        v[4] = 1;
        assert!(ProofFile::decode(&v).unwrap_err().contains("version 1 is not supported"));
        assert!(ProofFile::decode(&b[..40]).unwrap_err().contains("truncated"));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), cut in 0usize..200) {
            let _ = ProofFile::decode(&bytes);
            let good = sample().encode();
            let mut mixed = good[..cut.min(good.len())].to_vec();
            mixed.extend(&bytes);
            let _ = ProofFile::decode(&mixed);
        }
    }
}
