// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {VerityModel} from "./VerityModel.sol";

/// @title The one-step referee: one output element of one node, recomputed on chain
/// @notice The same definition as `verity_model::element::{operands, eval}` (the function the
/// reference interpreter and the Rust referee use), op by op, over operands that the caller
/// has already authenticated (chunks opened against the agreed prefix root). Ops not listed
/// in `covered` revert with `UncoveredOp`; docs/settlement.md lists them.
library OneStep {
    using VerityModel for bytes;

    struct ChunkOpening {
        uint32 value;
        uint32 index;
        /// The chunk's values packed at their width (i8 or i16 little-endian), as hashed.
        bytes packed;
        bytes32[] path;
    }

    /// The node being checked, with the types the head gives its inputs and output.
    struct Ctx {
        uint32[] inputs;
        uint256 output;
        uint256 tag;
        uint256 pos; // where the op's parameters start in the encoding
        uint32[] x; // shape of input 0
        uint32[] out;
        uint256 bits; // output bit width
    }

    error UncoveredOp(uint256 tag);
    error OperandNotOpened(uint256 value, uint256 index);
    error BadNode(string what);

    /// Whether the one-step check of op `tag` (the encoding's op byte) is implemented.
    function covered(uint256 tag) internal pure returns (bool) {
        // Const, Linear, Conv, Add, Mul, Rescale, Clamp, Lut, PRelu, MaxPool, AvgPool, Reshape, Transpose
        return tag <= 2 || tag == 4 || tag == 5 || (tag >= 7 && tag <= 12) || tag == 16 || tag == 17;
    }

    /// Decodes the node's wiring (name, inputs, output, op byte).
    function context(VerityModel.Summary calldata s, bytes calldata node) internal pure returns (Ctx memory c) {
        uint256 p = node.skipList(0, 1);
        (c.inputs, p) = VerityModel.ids(node, p);
        c.output = node.u32At(p);
        c.tag = node.u8At(p + 4);
        c.pos = p + 5;
        if (c.output >= s.bits.length) revert BadNode("output");
        for (uint256 i = 0; i < c.inputs.length; i++) if (c.inputs[i] >= c.output) revert BadNode("inputs");
        if (c.inputs.length > 0) c.x = s.shapes[c.inputs[0]];
        c.out = s.shapes[c.output];
        c.bits = s.bits[c.output];
    }

    function eval(
        VerityModel.Summary calldata s,
        bytes calldata node,
        Ctx memory c,
        uint256 j,
        ChunkOpening[] calldata cs
    ) internal pure returns (int256) {
        uint256 t = c.tag;
        if (t == 0) return node.i32At(c.pos + 4 + 4 * j); // Const
        if (t == 1) return linear(s, node, c, j, cs);
        if (t == 2) return conv(s, node, c, j, cs);
        if (t == 4 || t == 5) return addMul(s, node, c, j, cs);
        if (t == 7) return requant(get(s, cs, c.inputs[0], j), node.i32At(c.pos), node.u8At(c.pos + 4), c.bits);
        if (t == 8) {
            int256 v = get(s, cs, c.inputs[0], j);
            int256 lo = node.i32At(c.pos);
            int256 hi = node.i32At(c.pos + 4);
            return v < lo ? lo : (v > hi ? hi : v); // Rust's clamp (lo <= hi by validation)
        }
        if (t == 9) {
            int256 v = get(s, cs, c.inputs[0], j);
            int256 qmin = -int256(1 << (s.bits[c.inputs[0]] - 1));
            return node.i32At(c.pos + 4 + 4 * uint256(v - qmin));
        }
        if (t == 10) return prelu(s, node, c, j, cs);
        if (t == 11 || t == 12) return pool(s, node, c, j, cs);
        if (t == 16) return get(s, cs, c.inputs[0], j);
        if (t == 17) return transpose(s, node, c, j, cs);
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

    // ---- operands ----

    function get(VerityModel.Summary calldata s, ChunkOpening[] calldata cs, uint256 v, uint256 idx)
        internal
        pure
        returns (int256)
    {
        uint256 ci = idx / 256;
        uint256 off = idx % 256;
        for (uint256 i = 0; i < cs.length; i++) {
            if (cs[i].value == v && cs[i].index == ci) {
                bytes calldata p = cs[i].packed;
                if (s.bits[v] <= 8) return int256(int8(uint8(p[off])));
                return int256(int16(uint16(uint8(p[2 * off])) | (uint16(uint8(p[2 * off + 1])) << 8)));
            }
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

    /// The (multiplier, shift) of channel `ch` of a Requant at `p`: `i32s mult, bytes shift`.
    function rqAt(bytes calldata node, uint256 p, uint256 ch) internal pure returns (int256 m, uint256 sh) {
        uint256 n = node.u32At(p);
        uint256 shAt = node.skipList(p, 4);
        uint256 i = n == 1 ? 0 : ch;
        m = node.i32At(p + 4 + 4 * i);
        sh = node.u8At(shAt + 4 + i);
    }

    // ---- ops ----

    function linear(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256)
    {
        uint256 w = c.pos; // weight bytes
        uint256 b = node.skipList(w, 1); // bias i32s
        uint256 rq = node.skipList(b, 4);
        uint256 n = node.u32At(b);
        uint256 k = c.x[c.x.length - 1];
        uint256 ch = j % n;
        int256 acc = node.i32At(b + 4 + 4 * ch);
        for (uint256 t = 0; t < k; t++) {
            acc += get(s, cs, c.inputs[0], (j / n) * k + t) * node.i8At(w + 4 + ch * k + t);
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

    function window(bytes calldata node, uint256 p) private pure returns (Win memory w) {
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

    function conv(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256 acc)
    {
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
        for (uint256 ic = 0; ic < cig; ic++) {
            for (uint256 ky = 0; ky < w.kh; ky++) {
                for (uint256 kx = 0; kx < w.kw; kx++) {
                    (bool ok, uint256 y, uint256 x) = tap(w, c.x[2], c.x[3], o[2], o[3], ky, kx);
                    if (!ok) continue;
                    uint256 src = ((o[0] * c.x[1] + g * cig + ic) * c.x[2] + y) * c.x[3] + x;
                    acc += get(s, cs, c.inputs[0], src) * node.i8At(wAt + 4 + ((oc * cig + ic) * w.kh + ky) * w.kw + kx);
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

    function addMul(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256)
    {
        uint256[] memory o = unravel(j, c.out);
        int256 a = get(s, cs, c.inputs[0], broadcastIndex(o, c.x, c.out));
        int256 b = get(s, cs, c.inputs[1], broadcastIndex(o, s.shapes[c.inputs[1]], c.out));
        if (c.tag == 4) {
            return clampBits(rshiftRound(a * node.i32At(c.pos) + b * node.i32At(c.pos + 4), node.u8At(c.pos + 8)), c.bits);
        }
        return clampBits(rshiftRound(a * b * node.i32At(c.pos), node.u8At(c.pos + 4)), c.bits);
    }

    function prelu(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256)
    {
        int256 v = get(s, cs, c.inputs[0], j);
        uint256 negAt = c.pos + 4;
        uint256 nNeg = node.u32At(negAt);
        uint256 sh = node.u8At(node.skipList(negAt, 4));
        uint256 ch = nNeg == 1 ? 0 : unravel(j, c.out)[1];
        int256 m = v >= 0 ? node.i32At(c.pos) : node.i32At(negAt + 4 + 4 * ch);
        return requant(v, m, sh, c.bits);
    }

    function pool(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256)
    {
        Win memory w = window(node, c.pos);
        uint256[] memory o = unravel(j, c.out);
        int256 best = type(int256).min;
        int256 sum;
        uint256 taps;
        for (uint256 ky = 0; ky < w.kh; ky++) {
            for (uint256 kx = 0; kx < w.kw; kx++) {
                (bool ok, uint256 y, uint256 x) = tap(w, c.x[2], c.x[3], o[2], o[3], ky, kx);
                if (!ok) continue;
                int256 v = get(s, cs, c.inputs[0], ((o[0] * c.x[1] + o[1]) * c.x[2] + y) * c.x[3] + x);
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

    function transpose(VerityModel.Summary calldata s, bytes calldata node, Ctx memory c, uint256 j, ChunkOpening[] calldata cs)
        private
        pure
        returns (int256)
    {
        (uint32[] memory perm,) = VerityModel.ids(node, c.pos);
        uint256[] memory o = unravel(j, c.out);
        uint256[] memory xs = strides(c.x);
        uint256 src;
        for (uint256 d = 0; d < perm.length; d++) src += o[d] * xs[perm[d]];
        return get(s, cs, c.inputs[0], src);
    }
}

/// @title The one-step referee as a contract of its own (DisputeGame calls it; the
/// differential test calls it directly)
contract OneStepReferee {
    /// @notice Element `j` of the output of `node` (a node encoding), from the already
    /// authenticated operand `chunks`; also returns the node's output value id.
    function evaluate(VerityModel.Summary calldata s, bytes calldata node, uint256 j, OneStep.ChunkOpening[] calldata chunks)
        external
        pure
        returns (int256 y, uint256 output, uint32[] memory inputs)
    {
        OneStep.Ctx memory c = OneStep.context(s, node);
        uint256 n = VerityModel.numel(c.out);
        if (j >= n) revert OneStep.BadNode("element outside the value");
        return (OneStep.eval(s, node, c, j, chunks), c.output, c.inputs);
    }

    function covered(uint256 tag) external pure returns (bool) {
        return OneStep.covered(tag);
    }
}
