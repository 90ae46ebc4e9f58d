// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Verity model registry
/// @notice Binds a model id to its publisher and to the commitment that disputes and proofs
/// are checked against, so a referee needs nothing but what the registry and the receipt fix.
/// @dev Entries are write-once: a commitment that could be replaced would let a publisher
/// move the ground under a dispute already under way.
contract ModelRegistry {
    /// @notice verity-commit v2 (BLAKE3), which an EVM referee cannot open at a sane gas
    /// cost; no longer accepted.
    uint8 public constant KIND_BLAKE3 = 1;
    /// @notice verity-commit v3 (Keccak-256), what disputes use: the model id is the model
    /// commitment itself, so `commitment` must equal the id.
    uint8 public constant KIND_KECCAK = 2;

    struct Model {
        address publisher;
        /// Which commitment scheme `commitment` is in (`KIND_KECCAK`).
        uint8 kind;
        uint64 registeredAt;
        bytes32 commitment;
    }

    mapping(bytes32 id => Model) private models;

    event ModelRegistered(bytes32 indexed id, address indexed publisher, uint8 kind, bytes32 commitment);

    error ZeroModelId();
    error ModelAlreadyRegistered(bytes32 id, address publisher);
    error UnknownCommitmentKind(uint8 kind);
    /// A model id is its own commitment; anything else would let two ids share one model.
    error CommitmentNotModelId(bytes32 id, bytes32 commitment);

    function register(bytes32 id, uint8 kind, bytes32 commitment) external {
        if (id == bytes32(0)) revert ZeroModelId();
        if (kind != KIND_KECCAK) revert UnknownCommitmentKind(kind);
        if (commitment != id) revert CommitmentNotModelId(id, commitment);
        Model storage m = models[id];
        if (m.publisher != address(0)) revert ModelAlreadyRegistered(id, m.publisher);
        models[id] = Model(msg.sender, kind, uint64(block.timestamp), commitment);
        emit ModelRegistered(id, msg.sender, kind, commitment);
    }

    /// @notice The entry of `id`; an unregistered id has the zero publisher.
    function model(bytes32 id) external view returns (Model memory) {
        return models[id];
    }

    function isRegistered(bytes32 id) external view returns (bool) {
        return models[id].publisher != address(0);
    }
}
