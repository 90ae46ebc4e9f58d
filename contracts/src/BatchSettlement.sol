// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BatchMerkle} from "./BatchMerkle.sol";
import {Staking} from "./Staking.sol";

/// @title Receipt batches settled on chain
/// @notice A staked executor posts the Merkle root of a receipt batch, one transaction per
/// batch and nothing per receipt. Any receipt of the batch is then provably included, and
/// the batch is final once `challengeWindow` has passed without a challenge.
/// @dev Batches are keyed by (poster, root): the poster is the executor whose stake answers
/// for them, so another account posting the same root first neither steals nor blocks it.
/// The depth is fixed at posting because the tree has no domain separation between leaves
/// and inner nodes: under a depth-2 root, an inner node is a valid depth-1 "leaf".
contract BatchSettlement {
    enum Status {
        Unknown,
        /// Posted, still inside its challenge window.
        Open,
        /// The window closed: its receipts can no longer be challenged.
        Final
    }

    struct Batch {
        uint8 depth;
        uint64 postedAt;
    }

    Staking public immutable staking;
    /// @notice Seconds after posting during which a batch's receipts can be challenged.
    uint64 public immutable challengeWindow;
    uint64 public batchCount;

    mapping(address poster => mapping(bytes32 root => Batch)) private batches;

    event BatchPosted(address indexed poster, bytes32 indexed root, uint8 depth, uint64 postedAt);

    error NotActiveExecutor(address poster);
    error BadDepth(uint8 depth, uint8 maxDepth);
    error ZeroRoot();
    error BatchAlreadyPosted(address poster, bytes32 root);
    /// The stake must outlive the window: otherwise an executor could post, unbond and be
    /// gone before its last batch can be challenged.
    error WindowOutlivesUnbonding(uint64 challengeWindow, uint64 unbondingDelay);
    error ZeroWindow();

    constructor(Staking staking_, uint64 challengeWindow_) {
        if (challengeWindow_ == 0) revert ZeroWindow();
        uint64 delay = staking_.unbondingDelay();
        if (challengeWindow_ > delay) revert WindowOutlivesUnbonding(challengeWindow_, delay);
        staking = staking_;
        challengeWindow = challengeWindow_;
    }

    /// @notice Post the root of a batch of `2^depth` leaves (padded with zero leaves), as
    /// signed by the sender's executor key.
    function postBatch(bytes32 root, uint8 depth) external {
        if (!staking.isActive(msg.sender)) revert NotActiveExecutor(msg.sender);
        if (depth == 0 || depth > BatchMerkle.MAX_DEPTH) revert BadDepth(depth, BatchMerkle.MAX_DEPTH);
        if (root == bytes32(0)) revert ZeroRoot();
        Batch storage b = batches[msg.sender][root];
        if (b.postedAt != 0) revert BatchAlreadyPosted(msg.sender, root);
        uint64 t = uint64(block.timestamp);
        batches[msg.sender][root] = Batch(depth, t);
        batchCount += 1;
        emit BatchPosted(msg.sender, root, depth, t);
    }

    function batch(address poster, bytes32 root) external view returns (Batch memory) {
        return batches[poster][root];
    }

    function status(address poster, bytes32 root) external view returns (Status) {
        Batch storage b = batches[poster][root];
        if (b.postedAt == 0) return Status.Unknown;
        return block.timestamp < uint256(b.postedAt) + challengeWindow ? Status.Open : Status.Final;
    }

    /// @notice Whether `leaf` is leaf number `index` of the batch `root` posted by `poster`.
    /// The zero leaf is padding and never included; the path must be exactly the batch's depth.
    function isIncluded(address poster, bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata path)
        external
        view
        returns (bool)
    {
        uint8 depth = batches[poster][root].depth;
        if (depth == 0 || path.length != depth || index >> depth != 0 || leaf == bytes32(0)) return false;
        return BatchMerkle.root(leaf, index, path) == root;
    }
}
