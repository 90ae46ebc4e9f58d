//! The proof as a byte stream. The prover appends messages in protocol order; the
//! verifier reads them back in the same order, with every count and length fixed by the
//! circuit, so decoding needs no lengths of its own, rejects non-canonical field
//! elements, and cannot be steered by the proof into large allocations.

use crate::field::{from_bytes, to_bytes, E, F};
use crate::pcs::{Opening, BLOWUP_BITS, QUERIES};
use crate::sumcheck::SumcheckProof;
use crate::transcript::Transcript;
use p3_field::{PrimeCharacteristicRing, PrimeField64};
use verity_commit::Hash;

#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    /// Field elements, also absorbed into the transcript.
    pub fn ext(&mut self, t: &mut Transcript, label: &[u8], v: &[E]) {
        t.absorb_ext(label, v);
        v.iter().for_each(|e| self.bytes.extend(to_bytes(e)));
    }

    pub fn hash(&mut self, t: &mut Transcript, label: &[u8], h: &Hash) {
        t.absorb(label, h);
        self.bytes.extend(h);
    }

    /// A sumcheck proof (its rounds were absorbed while proving).
    pub fn sumcheck(&mut self, p: &SumcheckProof) {
        p.rounds.iter().flatten().for_each(|e| self.bytes.extend(to_bytes(e)));
    }

    /// A commitment opening (absorbed while opening).
    pub fn opening(&mut self, o: &Opening) {
        o.u.iter().chain(&o.v).for_each(|e| self.bytes.extend(to_bytes(e)));
        for (q, col, path) in &o.columns {
            self.bytes.extend(q.to_le_bytes());
            col.iter().for_each(|f| self.bytes.extend(f.as_canonical_u64().to_le_bytes()));
            path.iter().for_each(|h| self.bytes.extend(h));
        }
    }
}

pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

pub type Result<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("proof is truncated (while reading {what} at byte {})", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn one_ext(&mut self, what: &str) -> Result<E> {
        let b = self.take(16, what)?;
        from_bytes(b.try_into().expect("16 bytes")).ok_or_else(|| format!("non-canonical field element in {what}"))
    }

    pub fn ext(&mut self, t: &mut Transcript, label: &[u8], n: usize) -> Result<Vec<E>> {
        let v = (0..n).map(|_| self.one_ext(std::str::from_utf8(label).unwrap_or("proof"))).collect::<Result<Vec<E>>>()?;
        t.absorb_ext(label, &v);
        Ok(v)
    }

    pub fn hash(&mut self, t: &mut Transcript, label: &[u8]) -> Result<Hash> {
        let h: Hash = self.take(32, "a commitment root")?.try_into().expect("32 bytes");
        t.absorb(label, &h);
        Ok(h)
    }

    pub fn sumcheck(&mut self, rounds: usize, degree: usize) -> Result<SumcheckProof> {
        let rounds = (0..rounds)
            .map(|_| (0..=degree).map(|_| self.one_ext("a sumcheck round")).collect::<Result<Vec<E>>>())
            .collect::<Result<Vec<_>>>()?;
        Ok(SumcheckProof { rounds })
    }

    /// An opening of a table with `2^row_vars` rows and `2^col_vars` columns (the opened
    /// column indices are checked against the transcript's queries by `pcs::verify`).
    pub fn opening(&mut self, row_vars: usize, col_vars: usize) -> Result<Opening> {
        let (rows, cols) = (1usize << row_vars, 1usize << col_vars);
        let u = (0..cols).map(|_| self.one_ext("an opening")).collect::<Result<Vec<E>>>()?;
        let v = (0..cols).map(|_| self.one_ext("an opening")).collect::<Result<Vec<E>>>()?;
        let depth = col_vars + BLOWUP_BITS;
        let mut columns = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let q = u32::from_le_bytes(self.take(4, "an opened column index")?.try_into().expect("4 bytes"));
            let col = (0..rows)
                .map(|_| {
                    let x = u64::from_le_bytes(self.take(8, "an opened column")?.try_into().expect("8 bytes"));
                    (x < F::ORDER_U64)
                        .then(|| F::from_u64(x))
                        .ok_or_else(|| "non-canonical field element in an opened column".to_string())
                })
                .collect::<Result<Vec<F>>>()?;
            let path = (0..depth)
                .map(|_| Ok(self.take(32, "a Merkle path")?.try_into().expect("32 bytes")))
                .collect::<Result<Vec<Hash>>>()?;
            columns.push((q, col, path));
        }
        Ok(Opening { u, v, columns })
    }

    pub fn finish(&self) -> Result<()> {
        if self.at != self.bytes.len() {
            return Err(format!("proof has {} trailing bytes", self.bytes.len() - self.at));
        }
        Ok(())
    }
}
