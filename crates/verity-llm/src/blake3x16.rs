//! Keyed BLAKE3 of many equal-length inputs at once: sixteen per AVX-512 pass, one input per
//! lane, the same bytes out as `blake3::keyed_hash` of each (tested against it below). The
//! trace hashes thousands of 256-byte chunks and 64-byte node pairs per token, each a
//! single BLAKE3 chunk, whose compressions the crate can only run one after another.
//!
//! Only inputs of whole 64-byte blocks, at most one BLAKE3 chunk (1024 bytes), take the
//! vector path; everything else, and CPUs without AVX-512, use the crate.

use crate::trace::Hash;

/// `out[i] = blake3::keyed_hash(key, &data[starts[i]..starts[i] + len])` for every `i`.
pub fn keyed_hash_at(key: &Hash, data: &[u8], starts: &[usize], len: usize, out: &mut [Hash]) {
    assert!(starts.len() == out.len() && starts.iter().all(|s| s + len <= data.len()), "inputs past the data");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::packed::supported() && len > 0 && len.is_multiple_of(64) && len <= 1024 && data.len() <= i32::MAX as usize {
        while starts.len() - done >= 16 {
            let lanes: [i32; 16] = std::array::from_fn(|i| starts[done + i] as i32);
            // SAFETY: AVX-512F is present (`supported`); every lane's `len` bytes lie inside
            // `data` (asserted above), its offset fits i32, and the sixteen outputs are
            // inside `out`.
            unsafe { avx512::hash16(key, data.as_ptr(), &lanes, len / 64, out[done..].as_mut_ptr()) };
            done += 16;
        }
    }
    for (s, o) in starts.iter().zip(out.iter_mut()).skip(done) {
        *o = *blake3::keyed_hash(key, &data[*s..*s + len]).as_bytes();
    }
}

/// [`keyed_hash_at`] of the inputs that start every `stride` bytes.
pub fn keyed_hash_many(key: &Hash, data: &[u8], stride: usize, len: usize, out: &mut [Hash]) {
    let starts: Vec<usize> = (0..out.len()).map(|i| i * stride).collect();
    keyed_hash_at(key, data, &starts, len, out);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use crate::trace::Hash;

    const IV: [u32; 8] = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19];
    const PERMUTE: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    const CHUNK_START: u32 = 1;
    const CHUNK_END: u32 = 2;
    const ROOT: u32 = 8;
    const KEYED_HASH: u32 = 16;

    #[inline(always)]
    unsafe fn g(v: &mut [__m512i; 16], a: usize, b: usize, c: usize, d: usize, x: __m512i, y: __m512i) {
        v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), x);
        v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 16);
        v[c] = _mm512_add_epi32(v[c], v[d]);
        v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 12);
        v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), y);
        v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 8);
        v[c] = _mm512_add_epi32(v[c], v[d]);
        v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 7);
    }

    /// The BLAKE3 compression function on sixteen lanes: the new chaining value.
    #[inline(always)]
    unsafe fn compress(cv: &[__m512i; 8], mut m: [__m512i; 16], flags: u32) -> [__m512i; 8] {
        let iv = |i: usize| _mm512_set1_epi32(IV[i] as i32);
        let mut v = [
            cv[0],
            cv[1],
            cv[2],
            cv[3],
            cv[4],
            cv[5],
            cv[6],
            cv[7],
            iv(0),
            iv(1),
            iv(2),
            iv(3),
            _mm512_setzero_si512(), // counter, low word: chunk 0
            _mm512_setzero_si512(), // counter, high word
            _mm512_set1_epi32(64),  // block length: whole blocks only
            _mm512_set1_epi32(flags as i32),
        ];
        for round in 0..7 {
            g(&mut v, 0, 4, 8, 12, m[0], m[1]);
            g(&mut v, 1, 5, 9, 13, m[2], m[3]);
            g(&mut v, 2, 6, 10, 14, m[4], m[5]);
            g(&mut v, 3, 7, 11, 15, m[6], m[7]);
            g(&mut v, 0, 5, 10, 15, m[8], m[9]);
            g(&mut v, 1, 6, 11, 12, m[10], m[11]);
            g(&mut v, 2, 7, 8, 13, m[12], m[13]);
            g(&mut v, 3, 4, 9, 14, m[14], m[15]);
            if round < 6 {
                m = PERMUTE.map(|i| m[i]);
            }
        }
        std::array::from_fn(|i| _mm512_xor_si512(v[i], v[i + 8]))
    }

    /// Sixteen keyed hashes of `blocks` 64-byte blocks each, input `i` at `data + lanes[i]`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn hash16(key: &Hash, data: *const u8, lanes: &[i32; 16], blocks: usize, out: *mut Hash) {
        let lanes = _mm512_loadu_si512(lanes.as_ptr() as *const _);
        let mut cv: [__m512i; 8] = std::array::from_fn(|i| {
            _mm512_set1_epi32(u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 bytes")) as i32)
        });
        for b in 0..blocks {
            let block = data.add(64 * b);
            // Word w of every lane's block: a gather of the little-endian u32 at byte offsets.
            let m: [__m512i; 16] = std::array::from_fn(|w| _mm512_i32gather_epi32::<1>(lanes, block.add(4 * w) as *const i32));
            let mut flags = KEYED_HASH;
            if b == 0 {
                flags |= CHUNK_START;
            }
            if b + 1 == blocks {
                flags |= CHUNK_END | ROOT;
            }
            cv = compress(&cv, m, flags);
        }
        // The root output's first 32 bytes are the last chaining value; lane i to out[i].
        let outs =
            _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(32));
        for (w, v) in cv.iter().enumerate() {
            _mm512_i32scatter_epi32::<1>((out as *mut u8).add(4 * w) as *mut i32, outs, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        // Every whole-block length up to a chunk and past it, strides that overlap, touch
        // and leave gaps, counts around multiples of sixteen; and the same inputs in a
        // shuffled order through `keyed_hash_at`.
        #[test]
        fn equals_the_blake3_crate(blocks in 0usize..18, gap in 0usize..3, n in 0usize..40, seed in any::<u64>()) {
            let len = 64 * blocks;
            let stride = if gap == 0 { 64 } else { len + 32 * (gap - 1) };
            let mut s = seed | 1;
            let data: Vec<u8> = (0..n * stride.max(len) + len).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s as u8 }).collect();
            let key: Hash = std::array::from_fn(|i| data.get(i).copied().unwrap_or(i as u8) ^ 0x5a);
            let mut out = vec![[0u8; 32]; n];
            keyed_hash_many(&key, &data, stride, len, &mut out);
            for (i, h) in out.iter().enumerate() {
                let want = *blake3::keyed_hash(&key, &data[i * stride..i * stride + len]).as_bytes();
                prop_assert_eq!(h, &want, "input {}", i);
            }
            let starts: Vec<usize> = (0..n).map(|i| ((i * 7 + 3) % n.max(1)) * stride).collect();
            let mut at = vec![[0u8; 32]; n];
            keyed_hash_at(&key, &data, &starts, len, &mut at);
            for (s, h) in starts.iter().zip(&at) {
                let want = *blake3::keyed_hash(&key, &data[*s..*s + len]).as_bytes();
                prop_assert_eq!(h, &want);
            }
        }
    }
}
