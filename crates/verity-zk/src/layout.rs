//! Where values live in the proof's multilinear tables.
//!
//! A tensor of shape `[d0, d1, ..]` is laid out with every dimension padded to a power of
//! two, row-major, zeros in the padding; so a dimension is a contiguous group of
//! variables and a matrix product over one dimension is a sumcheck over those variables.
//!
//! Several columns share one committed polynomial as aligned segments (largest first), so
//! that a column's value at a point is the polynomial's value at the segment's offset bits
//! followed by that point.

use crate::field::E;
use p3_field::PrimeCharacteristicRing;

pub fn log2(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

/// The padded shape.
pub fn padded(shape: &[usize]) -> Vec<usize> {
    shape.iter().map(|d| d.next_power_of_two()).collect()
}

/// Number of variables of a tensor's table.
pub fn vars(shape: &[usize]) -> usize {
    shape.iter().map(|&d| log2(d)).sum()
}

/// Padded index of multi-index `idx` in a tensor of `shape`.
pub fn index(shape: &[usize], idx: &[usize]) -> usize {
    shape.iter().zip(idx).fold(0, |acc, (d, i)| acc * d.next_power_of_two() + i)
}

/// Multi-index of row-major flat index `j`.
pub fn unravel(mut j: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = j % shape[d];
        j /= shape[d];
    }
    idx
}

/// Padded index of row-major flat index `j`.
pub fn flat_to_padded(shape: &[usize], mut j: usize) -> usize {
    let (mut out, mut stride) = (0, 1);
    for &d in shape.iter().rev() {
        out += (j % d) * stride;
        j /= d;
        stride *= d.next_power_of_two();
    }
    out
}

/// A row-major tensor's values in the padded layout.
pub fn pad_values(shape: &[usize], data: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut out = vec![0; 1 << vars(shape)];
    for (j, v) in data.into_iter().enumerate() {
        out[flat_to_padded(shape, j)] = v;
    }
    out
}

/// Offsets of columns with `2^vars[i]` entries packed into one table of `2^total` entries.
pub struct Segments {
    pub total: usize,
    pub offsets: Vec<usize>,
    pub vars: Vec<usize>,
}

impl Segments {
    pub fn new(vars: &[usize]) -> Self {
        let mut order: Vec<usize> = (0..vars.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(vars[i]));
        let mut offsets = vec![0; vars.len()];
        let mut at = 0usize;
        for i in order {
            // Descending sizes keep every offset aligned to its segment's size.
            offsets[i] = at;
            at += 1 << vars[i];
        }
        Segments { total: log2(at.max(1)), offsets, vars: vars.to_vec() }
    }

    /// The polynomial's point for segment `i` evaluated at `local`.
    pub fn point(&self, i: usize, local: &[E]) -> Vec<E> {
        let high = self.total - self.vars[i];
        let off = self.offsets[i] >> self.vars[i];
        let mut p: Vec<E> = (0..high).map(|k| if off >> (high - 1 - k) & 1 == 1 { E::ONE } else { E::ZERO }).collect();
        p.extend_from_slice(local);
        p
    }

    /// Packs the columns' values into one table.
    pub fn pack<T: Copy + Default>(&self, columns: &[&[T]]) -> Vec<T> {
        let mut out = vec![T::default(); 1 << self.total];
        for (i, c) in columns.iter().enumerate() {
            out[self.offsets[i]..self.offsets[i] + c.len()].copy_from_slice(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::ext;
    use crate::mle::evaluate;

    #[test]
    fn padded_layout_and_segments_agree_with_evaluation() {
        assert_eq!(padded(&[1, 6, 5]), vec![1, 8, 8]);
        assert_eq!(vars(&[1, 6, 5]), 6);
        assert_eq!(flat_to_padded(&[2, 3], 4), 5);
        let cols: Vec<Vec<E>> =
            [3usize, 1, 2, 0].iter().map(|&v| (0..1 << v).map(|i| ext(i as i64 * 3 + v as i64)).collect()).collect();
        let seg = Segments::new(&[3, 1, 2, 0]);
        assert_eq!(seg.total, 4);
        let refs: Vec<&[E]> = cols.iter().map(|c| c.as_slice()).collect();
        let table = seg.pack(&refs);
        for (i, c) in cols.iter().enumerate() {
            let local: Vec<E> = (0..seg.vars[i]).map(|k| ext(5 + k as i64)).collect();
            assert_eq!(evaluate(&table, &seg.point(i, &local)), evaluate(c, &local));
        }
    }
}
