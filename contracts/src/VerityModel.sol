// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Reading verity-model's canonical encoding (docs/semantics.md, "Encoding") on chain
/// @notice Little-endian integers, `u32`-length-prefixed lists. Every read is bounds-checked
/// (a short or malformed encoding reverts with `Malformed`), never out of range.
library VerityModel {
    /// What the game needs from a model head: each value's bit width and shape, the inputs,
    /// the outputs and the node count. Names, scales and input maps are skipped (they are
    /// still bound: the whole head hashes into the model id).
    struct Summary {
        uint8[] bits;
        uint32[][] shapes;
        uint32[] inputs;
        uint32[] outputs;
        uint32 nNodes;
    }

    error Malformed(uint256 offset);

    function u8At(bytes calldata b, uint256 p) internal pure returns (uint256) {
        if (p >= b.length) revert Malformed(p);
        return uint8(b[p]);
    }

    function u32At(bytes calldata b, uint256 p) internal pure returns (uint256 v) {
        if (p + 4 > b.length) revert Malformed(p);
        v = uint8(b[p]) | (uint256(uint8(b[p + 1])) << 8) | (uint256(uint8(b[p + 2])) << 16) | (uint256(uint8(b[p + 3])) << 24);
    }

    function i32At(bytes calldata b, uint256 p) internal pure returns (int256) {
        return int256(int32(uint32(u32At(b, p))));
    }

    function i64At(bytes calldata b, uint256 p) internal pure returns (int256) {
        if (p + 8 > b.length) revert Malformed(p);
        uint256 v;
        for (uint256 i = 0; i < 8; i++) v |= uint256(uint8(b[p + i])) << (8 * i);
        return int256(int64(uint64(v)));
    }

    function i8At(bytes calldata b, uint256 p) internal pure returns (int256) {
        return int256(int8(uint8(u8At(b, p))));
    }

    /// Skips a `u32`-counted list of `width`-byte items starting at `p`.
    function skipList(bytes calldata b, uint256 p, uint256 width) internal pure returns (uint256) {
        uint256 n = u32At(b, p);
        uint256 end = p + 4 + n * width;
        if (end > b.length) revert Malformed(p);
        return end;
    }

    function ids(bytes calldata b, uint256 p) internal pure returns (uint32[] memory v, uint256 end) {
        uint256 n = u32At(b, p);
        end = skipList(b, p, 4);
        v = new uint32[](n);
        for (uint256 i = 0; i < n; i++) v[i] = uint32(u32At(b, p + 4 + 4 * i));
    }

    function parseHead(bytes calldata h) internal pure returns (Summary memory s) {
        if (h.length < 6 || bytes4(h[0:4]) != bytes4("VRTM") || u8At(h, 4) != 1 || u8At(h, 5) != 0) revert Malformed(0);
        uint256 p = 6;
        uint256 nv = u32At(h, p);
        p += 4;
        if (nv == 0 || nv > h.length) revert Malformed(p);
        s.bits = new uint8[](nv);
        s.shapes = new uint32[][](nv);
        for (uint256 i = 0; i < nv; i++) {
            p = skipList(h, p, 1); // name
            s.bits[i] = uint8(u8At(h, p));
            p += 5; // bits, f32 scale
            (s.shapes[i], p) = ids(h, p);
        }
        (s.inputs, p) = ids(h, p);
        uint256 na = u32At(h, p);
        p += 4;
        for (uint256 i = 0; i < na; i++) {
            p = skipList(h, p, 8);
            p = skipList(h, p, 8);
        }
        (s.outputs, p) = ids(h, p);
        s.nNodes = uint32(u32At(h, p));
        if (p + 4 != h.length) revert Malformed(p);
        for (uint256 i = 0; i < s.inputs.length; i++) if (s.inputs[i] != i) revert Malformed(p);
        for (uint256 i = 0; i < s.outputs.length; i++) if (s.outputs[i] >= nv) revert Malformed(p);
        if (s.inputs.length == 0 || s.inputs.length + s.nNodes != nv) revert Malformed(p);
    }

    function numel(uint32[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; i++) n *= shape[i];
    }
}
