// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title The commitments of verity-commit v3 (docs/commitments.md), as the EVM computes them
/// @notice Every hash is `keccak256(domain ‖ message)` with a 32-byte ASCII domain; integers
/// inside messages are little-endian, as in the Rust encoding.
library VerityHash {
    bytes32 internal constant NODE = "verity/v3/merkle-node...........";
    bytes32 internal constant CHUNK = "verity/v3/chunk.................";
    bytes32 internal constant TENSOR = "verity/v3/tensor................";
    bytes32 internal constant LIST = "verity/v3/list..................";
    bytes32 internal constant MODEL_NODE = "verity/v3/model-node............";
    bytes32 internal constant NODE_PIECE = "verity/v3/node-piece............";
    bytes32 internal constant MODEL = "verity/v3/model-id..............";
    uint256 internal constant CHUNK_LEN = 256;

    function node(bytes32 l, bytes32 r) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, NODE)
            mstore(add(p, 32), l)
            mstore(add(p, 64), r)
            h := keccak256(p, 96)
        }
    }

    /// A piece of a node encoding (NodeBytes): `keccak256(NODE_PIECE ‖ bytes)`.
    function nodePiece(bytes calldata b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, NODE_PIECE)
            calldatacopy(add(p, 32), b.offset, b.length)
            h := keccak256(p, add(b.length, 32))
        }
    }

    /// A node's leaf in the model's node tree: `keccak256(MODEL_NODE ‖ u32 len ‖ pieces root)`.
    function modelNode(uint256 len, bytes32 piecesRoot) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(MODEL_NODE, le32(len), piecesRoot));
    }

    /// The root reached from `leaf` at `index` with the siblings `path` (leaf first).
    function root(bytes32 leaf, uint256 index, bytes32[] calldata path) internal pure returns (bytes32 h) {
        h = leaf;
        for (uint256 i = 0; i < path.length; i++) {
            h = (index >> i) & 1 == 0 ? node(h, path[i]) : node(path[i], h);
        }
    }

    /// `ceil(log2(n))`, 0 for n <= 1: the depth of a tree over n leaves.
    function depthFor(uint256 n) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < n) d++;
    }

    function chunkCount(uint256 numel) internal pure returns (uint256) {
        return numel == 0 ? 1 : (numel + CHUNK_LEN - 1) / CHUNK_LEN;
    }

    function le32(uint256 x) internal pure returns (bytes4) {
        uint32 v = uint32(x);
        return bytes4((v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24));
    }

    /// A chunk: `bits ‖ u32 index ‖ values packed at their width`. `packed` is exactly that
    /// packing, so every value it holds is in range by construction.
    function chunk(uint8 bits, uint256 index, bytes calldata packed) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(CHUNK, bits, le32(index), packed));
    }

    function tensor(uint8 bits, uint32[] calldata shape, bytes32 chunkRoot) internal pure returns (bytes32) {
        bytes memory m = abi.encodePacked(TENSOR, bits, le32(shape.length));
        for (uint256 i = 0; i < shape.length; i++) m = abi.encodePacked(m, le32(shape[i]));
        return keccak256(abi.encodePacked(m, chunkRoot));
    }

    function list(bytes32[] calldata roots) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(LIST, le32(roots.length), roots));
    }

    /// The root of the tree of the given depth whose first leaves are `leaves` and whose
    /// other leaves are empty (zero): the prefix root the bisection starts from.
    function prefixRoot(bytes32[] calldata leaves, uint256 depth) internal pure returns (bytes32) {
        bytes32[] memory level = new bytes32[](leaves.length == 0 ? 1 : leaves.length);
        for (uint256 i = 0; i < leaves.length; i++) level[i] = leaves[i];
        uint256 n = level.length;
        bytes32 empty; // the root of an all-empty subtree at the current height
        for (uint256 d = 0; d < depth; d++) {
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; i++) {
                bytes32 r = 2 * i + 1 < n ? level[2 * i + 1] : empty;
                level[i] = node(level[2 * i], r);
            }
            n = m;
            empty = node(empty, empty);
        }
        return level[0];
    }
}
