//! How an op's output is tiled and split across threads. Every output element is an
//! independent integer computation, so any tiling or split gives the same bits.

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::kernels::simd::Isa;

#[derive(Clone, Copy)]
pub struct Par<'a> {
    /// Dedicated pool, or `None` for rayon's global pool.
    pub pool: Option<&'a ThreadPool>,
    pub threads: usize,
    /// Smallest op (in multiply-adds) worth splitting.
    pub min_work: usize,
    /// Instruction set for the kernels that have several.
    pub isa: Isa,
}

/// One task: the column range `[c0, c0 + len)` of consecutive rows from `r0`.
struct Tile<'o> {
    r0: usize,
    c0: usize,
    rows: Vec<&'o mut [i32]>,
}

impl Par<'_> {
    /// Calls `f(row, first_column, chunk)` for chunks that tile `out` (rows of
    /// `row_len`). Columns are visited in tiles of `col_tile`, each across all rows
    /// before the next: a dot-product kernel then reuses one tile of packed operand
    /// rows from cache for every output row. Tiles (and row blocks) go to the pool when
    /// `work` is large enough.
    pub fn for_rows<F>(&self, out: &mut [i32], row_len: usize, col_tile: usize, work: usize, f: F)
    where
        F: Fn(usize, usize, &mut [i32]) + Sync,
    {
        let rows = out.len() / row_len.max(1);
        let tile = col_tile.clamp(1, row_len.max(1));
        if self.threads <= 1 || work < self.min_work || rows == 0 {
            for c0 in (0..row_len).step_by(tile) {
                let len = tile.min(row_len - c0);
                for (r, row) in out.chunks_exact_mut(row_len).enumerate() {
                    f(r, c0, &mut row[c0..c0 + len]);
                }
            }
            return;
        }
        // Enough tasks to balance (about four per thread), splitting rows into blocks
        // only when there are too few column tiles.
        let col_tiles = row_len.div_ceil(tile);
        let row_blocks = (self.threads * 4).div_ceil(col_tiles).clamp(1, rows);
        let block = rows.div_ceil(row_blocks);
        let mut tiles: Vec<Tile> = Vec::with_capacity(col_tiles * row_blocks);
        for (b, rows_chunk) in out.chunks_mut(block * row_len).enumerate() {
            let first = tiles.len();
            for c in 0..col_tiles {
                tiles.push(Tile { r0: b * block, c0: c * tile, rows: Vec::new() });
            }
            for row in rows_chunk.chunks_exact_mut(row_len) {
                for (t, chunk) in row.chunks_mut(tile).enumerate() {
                    tiles[first + t].rows.push(chunk);
                }
            }
        }
        let job = || {
            tiles.into_par_iter().for_each(|t| {
                for (i, chunk) in t.rows.into_iter().enumerate() {
                    f(t.r0 + i, t.c0, chunk);
                }
            })
        };
        match self.pool {
            Some(pool) => pool.install(job),
            None => job(),
        }
    }
}

impl Par<'_> {
    /// Whether an op of `work` multiply-adds runs inline on the calling thread.
    pub fn inline(&self, work: usize) -> bool {
        self.threads <= 1 || work < self.min_work
    }

    /// Calls `f` on every item, on the pool (callers check [`inline`](Self::inline)
    /// first and loop themselves, which saves collecting the items).
    pub fn for_each<T: Send, F>(&self, items: Vec<T>, f: F)
    where
        F: Fn(T) + Sync,
    {
        let job = || items.into_par_iter().for_each(&f);
        match self.pool {
            Some(pool) => pool.install(job),
            None => job(),
        }
    }

    /// Calls `f(index, chunk)` for the `chunk`-sized pieces of `buf`, on the pool when
    /// `work` is large enough.
    pub fn for_chunks<T: Send, F>(&self, buf: &mut [T], chunk: usize, work: usize, f: F)
    where
        F: Fn(usize, &mut [T]) + Sync,
    {
        if self.threads <= 1 || work < self.min_work {
            buf.chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
            return;
        }
        let mut job = || buf.par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
        match self.pool {
            Some(pool) => pool.install(job),
            None => job(),
        }
    }
}

/// Columns per tile so that a tile of packed rows of `kp` i16 stays in L1 (16 KiB),
/// a multiple of 4 (the dot kernel's row group).
pub fn col_tile(kp: usize) -> usize {
    ((16 * 1024) / (2 * kp.max(1))).max(4) / 4 * 4
}
