// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title The Merkle tree of a receipt batch, as crates/verity-receipt/src/batch.rs builds it
/// @notice node = keccak256(left ‖ right); bit k of the index says whether the running hash
/// is the right child (1) at height k. The leaf is an input: its formula belongs to the
/// receipt layer and may change without touching this tree.
library BatchMerkle {
    /// @notice The deepest batch the receipt layer signs (2^20 receipts).
    uint8 internal constant MAX_DEPTH = 20;

    /// @notice The root that `path` leads to from `leaf` at `index`.
    function root(bytes32 leaf, uint256 index, bytes32[] calldata path) internal pure returns (bytes32 acc) {
        acc = leaf;
        for (uint256 k = 0; k < path.length; ++k) {
            bytes32 sibling = path[k];
            if ((index >> k) & 1 == 1) {
                acc = _node(sibling, acc);
            } else {
                acc = _node(acc, sibling);
            }
        }
    }

    function _node(bytes32 left, bytes32 right) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            h := keccak256(0x00, 0x40)
        }
    }
}
