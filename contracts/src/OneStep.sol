// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {NodeBytes} from "./NodeBytes.sol";
import {VerityModel} from "./VerityModel.sol";

/// @title The one-step referee: one output element of one node, recomputed on chain
/// @notice The same definition as `verity_model::element::{operands, eval}` (the function the
/// reference interpreter and the Rust referee use), op by op, over operands that the caller
/// has already authenticated (chunks opened against the agreed prefix root). Ops not listed
/// in `covered` revert with `UncoveredOp`; docs/settlement.md lists them.
library OneStep {
    using NodeBytes for NodeBytes.View;

    struct ChunkOpening {
        uint32 value;
        uint32 index;
        /// The chunk's values packed at their width (i8 or i16 little-endian), as hashed.
        bytes packed;
        bytes32[] path;
    }

    /// The node being checked, with the types the head gives its inputs and output, and the
    /// opened operand chunks (see `open`).
    struct Ctx {
        uint32[] inputs;
        uint256 output;
        uint256 tag;
        uint256 pos; // where the op's parameters start in the encoding
        uint32[] x; // shape of input 0
        uint32[] out;
        uint256 bits; // output bit width
        uint256[] ops; // the opened chunks, one word each (see `open`)
    }

    error UncoveredOp(uint256 tag);
    error OperandNotOpened(uint256 value, uint256 index);
    error BadNode(string what);

    /// Whether the one-step check of op `tag` (the encoding's op byte) is implemented: every
    /// canonical op, Const 0 to Arg 23.
    function covered(uint256 tag) internal pure returns (bool) {
        return tag <= 23;
    }

    /// Decodes the node's wiring (name, inputs, output, op byte).
    function context(VerityModel.Summary calldata s, NodeBytes.View memory node) internal pure returns (Ctx memory c) {
        uint256 p = node.skipList(0, 1);
        (c.inputs, p) = NodeBytes.ids(node, p);
        c.output = node.u32At(p);
        c.tag = node.u8At(p + 4);
        c.pos = p + 5;
        if (c.output >= s.bits.length) revert BadNode("output");
        for (uint256 i = 0; i < c.inputs.length; i++) if (c.inputs[i] >= c.output) revert BadNode("inputs");
        if (c.inputs.length > 0) c.x = s.shapes[c.inputs[0]];
        c.out = s.shapes[c.output];
        c.bits = s.bits[c.output];
    }

    /// One word per opened chunk: `value << 128 | index << 96 | wide << 80 | count << 64 |
    /// calldata offset of the packed values`. An operand is then found by a scan of memory
    /// words rather than of ABI-encoded calldata structs (the Linear and MatMul rows read
    /// hundreds of operands). Chunks of values the head does not have can match no input and
    /// are left out.
    function open(VerityModel.Summary calldata s, ChunkOpening[] calldata cs) internal pure returns (uint256[] memory ops) {
        ops = new uint256[](cs.length);
        uint256 n;
        for (uint256 i = 0; i < cs.length; i++) {
            uint256 v = cs[i].value;
            if (v >= s.bits.length) continue;
            bytes calldata p = cs[i].packed;
            uint256 wide = s.bits[v] > 8 ? 1 : 0;
            uint256 count = p.length >> wide;
            if (count > 256) count = 256;
            uint256 ptr;
            assembly ("memory-safe") {
                ptr := p.offset
            }
            ops[n++] = (v << 128) | (uint256(cs[i].index) << 96) | (wide << 80) | (count << 64) | ptr;
        }
        assembly ("memory-safe") {
            mstore(ops, n)
        }
    }

    function eval(NodeBytes.View memory node, Ctx memory c, uint256 j, VerityModel.Summary calldata s) internal pure returns (int256) {
        uint256 t = c.tag;
        if (t == 0) return node.i32At(c.pos + 4 + 4 * j); // Const
        if (t == 1) return linear(node, c, j);
        if (t == 2) return conv(node, c, j);
        if (t == 3) return matmul(s, node, c, j);
        if (t == 4 || t == 5 || t == 6) return binary(s, node, c, j);
        if (t == 7) return requant(get(c, 0, j), node.i32At(c.pos), node.u8At(c.pos + 4), c.bits);
        if (t == 8) {
            int256 v = get(c, 0, j);
            int256 lo = node.i32At(c.pos);
            int256 hi = node.i32At(c.pos + 4);
            return v < lo ? lo : (v > hi ? hi : v); // Rust's clamp (lo <= hi by validation)
        }
        if (t == 9) {
            int256 v = get(c, 0, j);
            int256 qmin = -int256(1 << (s.bits[c.inputs[0]] - 1));
            return node.i32At(c.pos + 4 + 4 * uint256(v - qmin));
        }
        if (t == 10) return prelu(node, c, j);
        if (t == 11 || t == 12) return pool(node, c, j);
        if (t == 13) return reduce(node, c, j);
        if (t == 14) return softmax(node, c, j);
        if (t == 15) return layerNorm(node, c, j);
        if (t == 16) return get(c, 0, j); // Reshape
        if (t == 17) return transpose(node, c, j);
        if (t == 18) return concat(s, node, c, j);
        if (t == 19) return slice(node, c, j);
        if (t == 20) return gather(node, c, j);
        if (t == 21) return compare(s, node, c, j);
        if (t == 22) return select(s, c, j);
        if (t == 23) return arg(node, c, j);
        revert UncoveredOp(t);
    }

    // ---- arithmetic of verity_model::arith ----

    function clampBits(int256 v, uint256 bits) internal pure returns (int256) {
        int256 half = int256(1 << (bits - 1));
        return v < -half ? -half : (v > half - 1 ? half - 1 : v);
    }

    function rshiftRound(int256 v, uint256 sh) internal pure returns (int256) {
        return sh == 0 ? v : (v + int256(1 << (sh - 1))) >> sh; // arithmetic shift: floor
    }

    function requant(int256 acc, int256 mult, uint256 sh, uint256 bits) internal pure returns (int256) {
        return clampBits(rshiftRound(acc * mult, sh), bits);
    }

    /// round(n / d) for d > 0, ties up: floor((2n + d) / 2d).
    function divRound(int256 n, int256 d) internal pure returns (int256) {
        int256 a = 2 * n + d;
        int256 b = 2 * d;
        int256 q = a / b;
        if (a % b != 0 && a < 0) q -= 1;
        return q;
    }

    /// floor(sqrt(v)): Newton's iteration from the over-estimate 2^ceil(bitlen(v) / 2), as
    /// `arith::isqrt` (the result is unique, so only its exactness matters).
    function isqrt(uint256 v) internal pure returns (uint256 x) {
        if (v < 2) return v;
        uint256 len;
        for (uint256 t = v; t != 0; t >>= 1) len++;
        x = 1 << ((len + 1) / 2);
        while (true) {
            uint256 y = (x + v / x) / 2;
            if (y >= x) return x;
            x = y;
        }
    }

    // ---- operands ----

    /// Element `idx` (row-major) of input `slot` of the node, from the opened chunks.
    function get(Ctx memory c, uint256 slot, uint256 idx) internal pure returns (int256 r) {
        uint256 v = c.inputs[slot];
        uint256 key = (v << 32) | (idx >> 8);
        uint256 off = idx & 255;
        uint256[] memory ops = c.ops;
        for (uint256 i = 0; i < ops.length; i++) {
            uint256 e = ops[i];
            if (e >> 96 != key) continue;
            if (off >= (e >> 64) & 0xffff) break;
            uint256 ptr = e & 0xffffffffffffffff;
            if ((e >> 80) & 1 == 0) {
                assembly ("memory-safe") {
                    r := signextend(0, byte(0, calldataload(add(ptr, off))))
                }
            } else {
                assembly ("memory-safe") {
                    let w := calldataload(add(ptr, mul(off, 2)))
                    r := signextend(1, or(byte(0, w), shl(8, byte(1, w))))
                }
            }
            return r;
        }
        revert OperandNotOpened(v, idx);
    }

    function unravel(uint256 j, uint32[] memory shape) internal pure returns (uint256[] memory o) {
        o = new uint256[](shape.length);
        for (uint256 d = shape.length; d > 0; d--) {
            o[d - 1] = j % shape[d - 1];
            j /= shape[d - 1];
        }
    }

    function strides(uint32[] memory shape) internal pure returns (uint256[] memory st) {
        st = new uint256[](shape.length);
        uint256 acc = 1;
        for (uint256 d = shape.length; d > 0; d--) {
            st[d - 1] = acc;
            acc *= shape[d - 1];
        }
    }

    /// Row-major flat index of multi-index `o` in `shape`.
    function flat(uint256[] memory o, uint32[] memory shape) internal pure returns (uint256 idx) {
        for (uint256 d = 0; d < shape.length; d++) idx = idx * shape[d] + o[d];
    }

    /// The (multiplier, shift) of channel `ch` of a Requant at `p`: `i32s mult, bytes shift`.
    function rqAt(NodeBytes.View memory node, uint256 p, uint256 ch) internal pure returns (int256 m, uint256 sh) {
        uint256 n = node.u32At(p);
        uint256 shAt = node.skipList(p, 4);
        uint256 i = n == 1 ? 0 : ch;
        m = node.i32At(p + 4 + 4 * i);
        sh = node.u8At(shAt + 4 + i);
    }

    // ---- ops ----

    function linear(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 w = c.pos; // weight bytes
        uint256 b = node.skipList(w, 1); // bias i32s
        uint256 rq = node.skipList(b, 4);
        uint256 n = node.u32At(b);
        uint256 k = c.x[c.x.length - 1];
        uint256 ch = j % n;
        int256 acc = node.i32At(b + 4 + 4 * ch);
        uint256 row = w + 4 + ch * k;
        if (row + k > b) revert VerityModel.Malformed(row);
        uint256 xRow = (j / n) * k;
        // The row is contiguous: one piece lookup per piece it crosses.
        (uint256 src, uint256 left) = (0, 0);
        for (uint256 t = 0; t < k; t++) {
            if (left == 0) (src, left) = (node.ptr(row + t), NodeBytes.PIECE_LEN - (row + t) % NodeBytes.PIECE_LEN);
            int256 wt;
            assembly ("memory-safe") {
                wt := signextend(0, byte(0, calldataload(src)))
            }
            acc += get(c, 0, xRow + t) * wt;
            unchecked {
                (src, left) = (src + 1, left - 1);
            }
        }
        (int256 m, uint256 sh) = rqAt(node, rq, ch);
        return requant(acc, m, sh, c.bits);
    }

    struct Win {
        uint256 kh;
        uint256 kw;
        uint256 sy;
        uint256 sx;
        uint256 pt;
        uint256 pl;
        uint256 dy;
        uint256 dx;
    }

    function window(NodeBytes.View memory node, uint256 p) private pure returns (Win memory w) {
        w.kh = node.u32At(p);
        w.kw = node.u32At(p + 4);
        w.sy = node.u32At(p + 8);
        w.sx = node.u32At(p + 12);
        w.pt = node.u32At(p + 16);
        w.pl = node.u32At(p + 20);
        // p + 24, p + 28: bottom and right pads (only the output shape depends on them)
        w.dy = node.u32At(p + 32);
        w.dx = node.u32At(p + 36);
    }

    /// Input row and column of tap (ky, kx) for output (oy, ox), or ok = false in the padding.
    function tap(Win memory w, uint256 h, uint256 wd, uint256 oy, uint256 ox, uint256 ky, uint256 kx)
        private
        pure
        returns (bool ok, uint256 y, uint256 x)
    {
        uint256 yy = oy * w.sy + ky * w.dy;
        uint256 xx = ox * w.sx + kx * w.dx;
        if (yy < w.pt || xx < w.pl) return (false, 0, 0);
        y = yy - w.pt;
        x = xx - w.pl;
        ok = y < h && x < wd;
    }

    function conv(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256 acc) {
        uint256 wAt = c.pos;
        uint256 bAt = node.skipList(wAt, 1);
        uint256 winAt = node.skipList(bAt, 4);
        Win memory w = window(node, winAt);
        uint256 groups = node.u32At(winAt + 40);
        uint256 rq = winAt + 44;
        uint256[] memory o = unravel(j, c.out);
        uint256 oc = o[1];
        uint256 cig = c.x[1] / groups;
        uint256 g = oc / (node.u32At(bAt) / groups);
        acc = node.i32At(bAt + 4 + 4 * oc);
        // This output channel's kernel: `cig × kh × kw` weight bytes in loop order.
        uint256 kernel = wAt + 4 + oc * cig * w.kh * w.kw;
        if (kernel + cig * w.kh * w.kw > bAt) revert VerityModel.Malformed(kernel);
        (uint256 h, uint256 wd) = (c.x[2], c.x[3]);
        (uint256 piece, uint256 base) = (type(uint256).max, 0);
        for (uint256 ic = 0; ic < cig; ic++) {
            uint256 plane = (o[0] * c.x[1] + g * cig + ic) * h;
            for (uint256 ky = 0; ky < w.kh; ky++) {
                for (uint256 kx = 0; kx < w.kw; kx++) {
                    (bool ok, uint256 y, uint256 x) = tap(w, h, wd, o[2], o[3], ky, kx);
                    if (!ok) continue;
                    int256 wt;
                    (wt, piece, base) = node.i8Run(kernel + (ic * w.kh + ky) * w.kw + kx, piece, base);
                    acc += get(c, 0, (plane + y) * wd + x) * wt;
                }
            }
        }
        (int256 m, uint256 sh) = rqAt(node, rq, oc);
        return requant(acc, m, sh, c.bits);
    }

    /// Flat index into `shape` (broadcast against `out`) of output multi-index `o`.
    function broadcastIndex(uint256[] memory o, uint32[] memory shape, uint32[] memory out) private pure returns (uint256 idx) {
        uint256[] memory st = strides(shape);
        uint256 off = out.length - shape.length;
        for (uint256 i = off; i < out.length; i++) {
            if (shape[i - off] != 1) idx += o[i] * st[i - off];
        }
    }

    /// The flat index of the first element of the `[m, k]` matrix of a MatMul operand of
    /// `shape` that output multi-index `o` (of rank `r`) reads, in units of matrices: the
    /// batch dims of `shape` broadcast against the output's.
    function batchIndex(uint256[] memory o, uint32[] memory shape, uint256 r) private pure returns (uint256 idx) {
        uint256 nb = shape.length - 2;
        uint256 off = r - 2 - nb;
        uint256 st = 1;
        for (uint256 d = nb; d > 0; d--) {
            uint256 dim = shape[d - 1];
            if (dim != 1) idx += o[off + d - 1] * st;
            st *= dim;
        }
    }

    function matmul(VerityModel.Summary calldata s, NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint32[] memory b = s.shapes[c.inputs[1]];
        uint256 r = c.out.length;
        uint256 k = c.x[c.x.length - 1];
        uint256 n = b[b.length - 1];
        uint256[] memory o = unravel(j, c.out);
        uint256 aAt = batchIndex(o, c.x, r) * c.x[c.x.length - 2] * k + o[r - 2] * k;
        uint256 bAt = batchIndex(o, b, r) * k * n + o[r - 1];
        int256 acc;
        for (uint256 t = 0; t < k; t++) acc += get(c, 0, aAt + t) * get(c, 1, bAt + t * n);
        (int256 m, uint256 sh) = rqAt(node, c.pos, 0);
        return requant(acc, m, sh, c.bits);
    }

    /// Add 4, Mul 5 and Div 6: two broadcast operands.
    function binary(VerityModel.Summary calldata s, NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256[] memory o = unravel(j, c.out);
        int256 a = get(c, 0, broadcastIndex(o, c.x, c.out));
        int256 b = get(c, 1, broadcastIndex(o, s.shapes[c.inputs[1]], c.out));
        if (c.tag == 4) {
            return clampBits(rshiftRound(a * node.i32At(c.pos) + b * node.i32At(c.pos + 4), node.u8At(c.pos + 8)), c.bits);
        }
        int256 mult = node.i32At(c.pos);
        uint256 sh = node.u8At(c.pos + 4);
        if (c.tag == 5) return clampBits(rshiftRound(a * b * mult, sh), c.bits);
        if (b == 0) {
            // a / 0: the saturated value of the quotient's sign, 0 for 0 / 0.
            int256 sign = (a > 0 ? int256(1) : (a < 0 ? -1 : int256(0))) * (mult > 0 ? int256(1) : (mult < 0 ? -1 : int256(0)));
            int256 half = int256(1 << (c.bits - 1));
            return sign > 0 ? half - 1 : (sign < 0 ? -half : int256(0));
        }
        return clampBits(divRound(b > 0 ? a * mult : -(a * mult), (b > 0 ? b : -b) << sh), c.bits);
    }

    function prelu(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        int256 v = get(c, 0, j);
        uint256 negAt = c.pos + 4;
        uint256 nNeg = node.u32At(negAt);
        uint256 sh = node.u8At(node.skipList(negAt, 4));
        uint256 ch = nNeg == 1 ? 0 : unravel(j, c.out)[1];
        int256 m = v >= 0 ? node.i32At(c.pos) : node.i32At(negAt + 4 + 4 * ch);
        return requant(v, m, sh, c.bits);
    }

    function pool(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        Win memory w = window(node, c.pos);
        uint256[] memory o = unravel(j, c.out);
        int256 best = type(int256).min;
        int256 sum;
        uint256 taps;
        for (uint256 ky = 0; ky < w.kh; ky++) {
            for (uint256 kx = 0; kx < w.kw; kx++) {
                (bool ok, uint256 y, uint256 x) = tap(w, c.x[2], c.x[3], o[2], o[3], ky, kx);
                if (!ok) continue;
                int256 v = get(c, 0, ((o[0] * c.x[1] + o[1]) * c.x[2] + y) * c.x[3] + x);
                if (v > best) best = v;
                sum += v;
                taps++;
            }
        }
        if (c.tag == 11) return best;
        uint256 p = c.pos + 40;
        uint256 count = node.u8At(p) != 0 ? w.kh * w.kw : taps;
        int256 mult = node.i32At(p + 1);
        uint256 sh = node.u8At(p + 5);
        return clampBits(divRound(sum * mult, int256(count << sh)), c.bits);
    }

    /// Sum (or mean) over `axes`: `axes, keep_dims, mean, mult, shift`.
    function reduce(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        (uint32[] memory axes, uint256 p) = NodeBytes.ids(node, c.pos);
        bool mean = node.u8At(p + 1) != 0;
        int256 mult = node.i32At(p + 2);
        uint256 sh = node.u8At(p + 6);
        // `j` indexes the keep-dims shape too (dropping size-1 axes keeps row-major order).
        uint32[] memory kept = new uint32[](c.x.length);
        for (uint256 d = 0; d < kept.length; d++) kept[d] = c.x[d];
        uint256 count = 1;
        for (uint256 i = 0; i < axes.length; i++) {
            count *= c.x[axes[i]];
            kept[axes[i]] = 1;
        }
        uint256[] memory xs = strides(c.x);
        uint256 base = 0;
        {
            uint256[] memory pos = unravel(j, kept);
            for (uint256 d = 0; d < pos.length; d++) base += pos[d] * xs[d];
        }
        int256 sum;
        for (uint256 r = 0; r < count; r++) {
            uint256 idx = base;
            uint256 rr = r;
            for (uint256 i = axes.length; i > 0; i--) {
                uint256 a = axes[i - 1];
                idx += (rr % c.x[a]) * xs[a];
                rr /= c.x[a];
            }
            sum += get(c, 0, idx);
        }
        return clampBits(divRound(sum * mult, int256((mean ? count : 1) << sh)), c.bits);
    }

    /// Exact integer softmax along `axis` (`axis, exp_table`), over the whole lane of `j`.
    function softmax(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 axis = node.u32At(c.pos);
        uint256 table = c.pos + 4;
        uint256 st = strides(c.x)[axis];
        uint256 len = c.x[axis];
        uint256 pos = (j / st) % len;
        uint256 base = j - pos * st;
        int256[] memory v = new int256[](len);
        int256 max = type(int256).min;
        for (uint256 i = 0; i < len; i++) {
            v[i] = get(c, 0, base + i * st);
            if (v[i] > max) max = v[i];
        }
        int256 sum;
        for (uint256 i = 0; i < len; i++) sum += node.i32At(table + 4 + 4 * uint256(max - v[i]));
        int256 e = node.i32At(table + 4 + 4 * uint256(max - v[pos]));
        return clampBits(divRound(e * int256((1 << (c.bits - 1)) - 1), sum), c.bits);
    }

    /// Normalization over the axes `axis..` (`axis, eps, frac_bits, gamma, beta, shift`),
    /// from the whole row of `j`.
    function layerNorm(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 axis = node.u32At(c.pos);
        int256 eps = node.i64At(c.pos + 4);
        uint256 fb = node.u8At(c.pos + 12);
        uint256 gAt = c.pos + 13;
        uint256 bAt = node.skipList(gAt, 8);
        uint256 sh = node.u8At(node.skipList(bAt, 8));
        uint256 n = 1;
        for (uint256 d = axis; d < c.x.length; d++) n *= c.x[d];
        uint256 i = j % n;
        uint256 base = j - i;
        int256[] memory v = new int256[](n);
        int256 sum;
        for (uint256 t = 0; t < n; t++) {
            v[t] = get(c, 0, base + t);
            sum += v[t];
        }
        int256 ss;
        for (uint256 t = 0; t < n; t++) {
            int256 d = int256(n) * v[t] - sum;
            ss += d * d;
        }
        uint256 den = isqrt(uint256(ss + eps) / n);
        int256 z = den == 0 ? int256(0) : divRound((int256(n) * v[i] - sum) * int256(1 << fb), int256(den));
        int256 y = z * node.i64At(gAt + 4 + 8 * i) + node.i64At(bAt + 4 + 8 * i);
        return clampBits(rshiftRound(y, sh), c.bits);
    }

    function transpose(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        (uint32[] memory perm,) = NodeBytes.ids(node, c.pos);
        uint256[] memory o = unravel(j, c.out);
        uint256[] memory xs = strides(c.x);
        uint256 src;
        for (uint256 d = 0; d < perm.length; d++) src += o[d] * xs[perm[d]];
        return get(c, 0, src);
    }

    /// The input along `axis` whose range holds the output position, at the offset inside it.
    function concat(VerityModel.Summary calldata s, NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 axis = node.u32At(c.pos);
        uint256[] memory o = unravel(j, c.out);
        uint256 rest = o[axis];
        for (uint256 slot = 0; slot < c.inputs.length; slot++) {
            uint32[] memory vs = s.shapes[c.inputs[slot]];
            if (rest < vs[axis]) {
                o[axis] = rest;
                return get(c, slot, flat(o, vs));
            }
            rest -= vs[axis];
        }
        revert BadNode("concat axis");
    }

    /// `axes, starts, ends, steps`: input position `start + i * step` on each listed axis.
    function slice(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        (uint32[] memory axes, uint256 startsAt) = NodeBytes.ids(node, c.pos);
        uint256 stepsAt = node.skipList(node.skipList(startsAt, 8), 8);
        uint256[] memory o = unravel(j, c.out);
        uint256[] memory xs = strides(c.x);
        int256 src;
        for (uint256 d = 0; d < o.length; d++) {
            int256 p = int256(o[d]);
            for (uint256 k = 0; k < axes.length; k++) {
                if (axes[k] == d) {
                    p = node.i64At(startsAt + 4 + 8 * k) + int256(o[d]) * node.i64At(stepsAt + 4 + 8 * k);
                    break;
                }
            }
            src += p * int256(xs[d]);
        }
        if (src < 0) revert BadNode("slice");
        return get(c, 0, uint256(src));
    }

    /// `axis, indices, indices_shape`: the output's dims `axis .. axis + rank(indices)` pick
    /// an index, which replaces dim `axis` of the input.
    function gather(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 axis = node.u32At(c.pos);
        uint256 idxAt = c.pos + 4;
        (uint32[] memory ishape,) = NodeBytes.ids(node, node.skipList(idxAt, 4));
        uint256 q = ishape.length;
        uint256[] memory o = unravel(j, c.out);
        uint256 pick;
        uint256 st = 1;
        for (uint256 d = q; d > 0; d--) {
            pick += o[axis + d - 1] * st;
            st *= ishape[d - 1];
        }
        uint256[] memory xs = strides(c.x);
        uint256 src = node.u32At(idxAt + 4 + 4 * pick) * xs[axis];
        for (uint256 d = 0; d < axis; d++) src += o[d] * xs[d];
        for (uint256 d = axis + 1; d < xs.length; d++) src += o[d + q - 1] * xs[d];
        return get(c, 0, src);
    }

    /// `mode(a·mult_a − b·mult_b)` as 0 or 1 (`mode, mult_a, mult_b`; modes as `CmpMode`).
    function compare(VerityModel.Summary calldata s, NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256[] memory o = unravel(j, c.out);
        int256 a = get(c, 0, broadcastIndex(o, c.x, c.out));
        int256 b = get(c, 1, broadcastIndex(o, s.shapes[c.inputs[1]], c.out));
        uint256 mode = node.u8At(c.pos);
        int256 d = a * node.i32At(c.pos + 1) - b * node.i32At(c.pos + 5);
        bool r;
        if (mode == 0) r = d < 0;
        else if (mode == 1) r = d <= 0;
        else if (mode == 2) r = d > 0;
        else if (mode == 3) r = d >= 0;
        else if (mode == 4) r = d == 0;
        else revert BadNode("comparison mode");
        return r ? int256(1) : int256(0);
    }

    /// Where: `cond != 0 ? a : b`, the three inputs broadcast. Both branches are read, so
    /// that a step must open every operand `operands` lists, as for every other op.
    function select(VerityModel.Summary calldata s, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256[] memory o = unravel(j, c.out);
        bool pick = get(c, 0, broadcastIndex(o, c.x, c.out)) != 0;
        int256 a = get(c, 1, broadcastIndex(o, s.shapes[c.inputs[1]], c.out));
        int256 b = get(c, 2, broadcastIndex(o, s.shapes[c.inputs[2]], c.out));
        return pick ? a : b;
    }

    function flag(NodeBytes.View memory node, uint256 p) private pure returns (bool) {
        uint256 v = node.u8At(p);
        if (v > 1) revert BadNode("flag");
        return v == 1;
    }

    /// ArgMax/ArgMin (`axis, keep_dims, min, last`): the lane's extreme index, ties to the
    /// first (`last`: the last). `j` indexes the output with the axis dropped (or kept at 1).
    function arg(NodeBytes.View memory node, Ctx memory c, uint256 j) private pure returns (int256) {
        uint256 axis = node.u32At(c.pos);
        flag(node, c.pos + 4);
        bool min = flag(node, c.pos + 5);
        bool last = flag(node, c.pos + 6);
        if (axis >= c.x.length) revert BadNode("axis");
        uint256 len = c.x[axis];
        uint256 inner = 1;
        for (uint256 d = axis + 1; d < c.x.length; d++) inner *= c.x[d];
        uint256 base = (j / inner) * len * inner + j % inner;
        uint256 best;
        int256 top;
        for (uint256 t = 0; t < len; t++) {
            int256 v = get(c, 0, base + t * inner);
            if (min) v = -v;
            if (t == 0 || v > top || (last && v == top)) (best, top) = (t, v);
        }
        return int256(best);
    }
}

/// @title The one-step referee as a contract of its own (DisputeGame calls it; the
/// differential test calls it directly)
contract OneStepReferee {
    /// @notice Element `j` of the output of the node whose encoding is `nodeLen` bytes long, of
    /// which `pieces` are opened (already authenticated by the caller), from the already
    /// authenticated operand `chunks`; also returns the node's output value id.
    function evaluate(
        VerityModel.Summary calldata s,
        uint256 nodeLen,
        NodeBytes.Piece[] calldata pieces,
        uint256 j,
        OneStep.ChunkOpening[] calldata chunks
    ) external pure returns (int256 y, uint256 output, uint32[] memory inputs) {
        NodeBytes.View memory node = NodeBytes.open(nodeLen, pieces);
        OneStep.Ctx memory c = OneStep.context(s, node);
        uint256 n = VerityModel.numel(c.out);
        if (j >= n) revert OneStep.BadNode("element outside the value");
        c.ops = OneStep.open(s, chunks);
        return (OneStep.eval(node, c, j, s), c.output, c.inputs);
    }

    function covered(uint256 tag) external pure returns (bool) {
        return OneStep.covered(tag);
    }
}
