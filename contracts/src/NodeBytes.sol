// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {VerityModel} from "./VerityModel.sol";

/// @title A node encoding opened piece by piece (docs/commitments.md, "Model")
/// @notice A node's leaf commits to its encoding cut into 256-byte pieces, so a step opens
/// only the pieces the referee reads (the wiring, one weight row, one bias) instead of the
/// whole node: a 400×120 Linear is 49 kB of calldata whole. The readers below mirror
/// VerityModel's over calldata bytes; a byte past the encoding reverts `Malformed`, a byte
/// of a piece that was not opened reverts `NodeByteNotOpened` with its offset, which tells a
/// prover which piece to add.
library NodeBytes {
    uint256 internal constant PIECE_LEN = 256;

    struct Piece {
        uint32 index;
        bytes data;
        bytes32[] path;
    }

    /// The encoding's length and, per opened piece in increasing index order,
    /// `index << 128 | calldata offset of its bytes`.
    struct View {
        uint256 len;
        uint256[] pieces;
    }

    error NodeByteNotOpened(uint256 offset);
    error BadPieces(string what);

    function pieceCount(uint256 len) internal pure returns (uint256) {
        return (len + PIECE_LEN - 1) / PIECE_LEN;
    }

    /// Checks the pieces' layout (at least one; indices strictly increasing and inside the
    /// encoding; every piece full but the last) and indexes them. Their hashes are checked
    /// by the caller (DisputeGame) against the node's leaf.
    function open(uint256 len, Piece[] calldata ps) internal pure returns (View memory v) {
        uint256 n = pieceCount(len);
        if (ps.length == 0) revert BadPieces("no piece");
        v.len = len;
        v.pieces = new uint256[](ps.length);
        for (uint256 i = 0; i < ps.length; i++) {
            uint256 idx = ps[i].index;
            if (idx >= n) revert BadPieces("index outside the encoding");
            if (i > 0 && idx <= v.pieces[i - 1] >> 128) revert BadPieces("indices not increasing");
            uint256 want = idx + 1 < n ? PIECE_LEN : len - idx * PIECE_LEN;
            bytes calldata d = ps[i].data;
            if (d.length != want) revert BadPieces("piece length");
            uint256 off;
            assembly ("memory-safe") {
                off := d.offset
            }
            v.pieces[i] = (idx << 128) | off;
        }
    }

    /// The calldata offset of byte `p` (a scan of the opened pieces' words: a step opens a few).
    function ptr(View memory v, uint256 p) internal pure returns (uint256 off) {
        if (p >= v.len) revert VerityModel.Malformed(p);
        uint256[] memory opened = v.pieces;
        bool found;
        assembly ("memory-safe") {
            let k := shr(8, p) // PIECE_LEN = 256
            let q := add(opened, 32)
            for { let end := add(q, shl(5, mload(opened))) } lt(q, end) { q := add(q, 32) } {
                let w := mload(q)
                if eq(shr(128, w), k) {
                    off := add(and(w, 0xffffffffffffffffffffffffffffffff), and(p, 0xff))
                    found := 1
                    break
                }
            }
        }
        if (!found) revert NodeByteNotOpened(p);
    }

    /// `i8At` for a run of reads that mostly stay in one piece (a weight row, a kernel):
    /// `base` is the calldata offset of piece `k`, looked up again only when `p` leaves it.
    /// Start with `k = type(uint256).max`. A byte in piece `k` is inside the encoding only if
    /// the caller checked the run's end against it.
    function i8Run(View memory v, uint256 p, uint256 k, uint256 base)
        internal
        pure
        returns (int256 r, uint256, uint256)
    {
        if (p / PIECE_LEN != k) (k, base) = (p / PIECE_LEN, ptr(v, p) - p % PIECE_LEN);
        assembly ("memory-safe") {
            r := signextend(0, byte(0, calldataload(add(base, mod(p, PIECE_LEN)))))
        }
        return (r, k, base);
    }

    function u8At(View memory v, uint256 p) internal pure returns (uint256 r) {
        uint256 off = ptr(v, p);
        assembly ("memory-safe") {
            r := byte(0, calldataload(off))
        }
    }

    function u32At(View memory v, uint256 p) internal pure returns (uint256 r) {
        if (p + 4 > v.len) revert VerityModel.Malformed(p);
        if (p % PIECE_LEN <= PIECE_LEN - 4) {
            uint256 off = ptr(v, p);
            assembly ("memory-safe") {
                let w := calldataload(off)
                r := or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w))))
            }
        } else {
            for (uint256 i = 0; i < 4; i++) r |= u8At(v, p + i) << (8 * i);
        }
    }

    function i32At(View memory v, uint256 p) internal pure returns (int256) {
        return int256(int32(uint32(u32At(v, p))));
    }

    function i64At(View memory v, uint256 p) internal pure returns (int256) {
        if (p + 8 > v.len) revert VerityModel.Malformed(p);
        uint256 x = u32At(v, p) | (u32At(v, p + 4) << 32);
        return int256(int64(uint64(x)));
    }

    function i8At(View memory v, uint256 p) internal pure returns (int256) {
        return int256(int8(uint8(u8At(v, p))));
    }

    /// Skips a `u32`-counted list of `width`-byte items starting at `p`.
    function skipList(View memory v, uint256 p, uint256 width) internal pure returns (uint256) {
        uint256 end = p + 4 + u32At(v, p) * width;
        if (end > v.len) revert VerityModel.Malformed(p);
        return end;
    }

    function ids(View memory v, uint256 p) internal pure returns (uint32[] memory r, uint256 end) {
        uint256 n = u32At(v, p);
        end = skipList(v, p, 4);
        r = new uint32[](n);
        for (uint256 i = 0; i < n; i++) r[i] = uint32(u32At(v, p + 4 + 4 * i));
    }
}
