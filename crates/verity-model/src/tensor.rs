/// An integer tensor in row-major order. Values of a `bits`-bit value lie in its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<i32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<i32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }
}

/// BLAKE3 over `count, (rank, dims..., values...)*` as little-endian u32/i32 words: the
/// `output_hash` of a run and the `input_hash` of a receipt.
pub fn hash_tensors<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> String {
    let tensors: Vec<&Tensor> = tensors.into_iter().collect();
    let mut h = blake3::Hasher::new();
    h.update(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        h.update(&(t.shape.len() as u32).to_le_bytes());
        for &d in &t.shape {
            h.update(&(d as u32).to_le_bytes());
        }
        for &v in &t.data {
            h.update(&v.to_le_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}
