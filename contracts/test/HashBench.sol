// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// Measures what a Merkle opening costs the EVM with Verity's BLAKE3 inner node (keyed BLAKE3
/// of 64 bytes: one compression, written out in Solidity since the EVM has no BLAKE3
/// precompile) against a Keccak-256 inner node (`keccak256(domain ‖ left ‖ right)`). Not
/// deployed by anything: `tests/hash_gas.rs` checks it against the Rust hashes and prints the gas.
contract HashBench {
    // "verity/v1/merkle-node..........." as eight little-endian words (the BLAKE3 key).
    bytes32 internal constant NODE_KEY = "verity/v1/merkle-node...........";
    bytes32 internal constant KECCAK_NODE_DOMAIN = "verity/v3/merkle-node...........";

    function blake3Node(bytes32 l, bytes32 r) public pure returns (bytes32) {
        uint32[16] memory m;
        for (uint256 i = 0; i < 8; i++) {
            m[i] = le32(l, i);
            m[i + 8] = le32(r, i);
        }
        uint32[16] memory s;
        for (uint256 i = 0; i < 8; i++) s[i] = le32(NODE_KEY, i);
        s[8] = 0x6A09E667;
        s[9] = 0xBB67AE85;
        s[10] = 0x3C6EF372;
        s[11] = 0xA54FF53A;
        s[12] = 0; // counter low
        s[13] = 0; // counter high
        s[14] = 64; // block length
        s[15] = 27; // CHUNK_START | CHUNK_END | ROOT | KEYED_HASH
        for (uint256 round = 0; round < 7; round++) {
            g(s, 0, 4, 8, 12, m[0], m[1]);
            g(s, 1, 5, 9, 13, m[2], m[3]);
            g(s, 2, 6, 10, 14, m[4], m[5]);
            g(s, 3, 7, 11, 15, m[6], m[7]);
            g(s, 0, 5, 10, 15, m[8], m[9]);
            g(s, 1, 6, 11, 12, m[10], m[11]);
            g(s, 2, 7, 8, 13, m[12], m[13]);
            g(s, 3, 4, 9, 14, m[14], m[15]);
            if (round < 6) m = permute(m);
        }
        uint256 out;
        for (uint256 i = 0; i < 8; i++) {
            uint32 w = s[i] ^ s[i + 8];
            // little-endian bytes of word i at byte offset 4i
            uint256 be = (uint256(w & 0xff) << 24) | (uint256((w >> 8) & 0xff) << 16) | (uint256((w >> 16) & 0xff) << 8)
                | uint256(w >> 24);
            out |= be << (224 - 32 * i);
        }
        return bytes32(out);
    }

    function keccakNode(bytes32 l, bytes32 r) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(KECCAK_NODE_DOMAIN, l, r));
    }

    function blake3Root(bytes32 leaf, uint256 index, bytes32[] calldata path) external pure returns (bytes32 h) {
        h = leaf;
        for (uint256 i = 0; i < path.length; i++) {
            h = (index >> i) & 1 == 0 ? blake3Node(h, path[i]) : blake3Node(path[i], h);
        }
    }

    function keccakRoot(bytes32 leaf, uint256 index, bytes32[] calldata path) external pure returns (bytes32 h) {
        h = leaf;
        for (uint256 i = 0; i < path.length; i++) {
            h = (index >> i) & 1 == 0 ? keccakNode(h, path[i]) : keccakNode(path[i], h);
        }
    }

    function le32(bytes32 b, uint256 i) private pure returns (uint32) {
        uint256 x = uint256(b) >> (224 - 32 * i);
        return uint32((x >> 24) & 0xff) | (uint32((x >> 16) & 0xff) << 8) | (uint32((x >> 8) & 0xff) << 16)
            | (uint32(x & 0xff) << 24);
    }

    function permute(uint32[16] memory m) private pure returns (uint32[16] memory p) {
        uint8[16] memory perm = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
        for (uint256 i = 0; i < 16; i++) p[i] = m[perm[i]];
    }

    function g(uint32[16] memory s, uint256 a, uint256 b, uint256 c, uint256 d, uint32 x, uint32 y) private pure {
        unchecked {
            s[a] = s[a] + s[b] + x;
            s[d] = rotr(s[d] ^ s[a], 16);
            s[c] = s[c] + s[d];
            s[b] = rotr(s[b] ^ s[c], 12);
            s[a] = s[a] + s[b] + y;
            s[d] = rotr(s[d] ^ s[a], 8);
            s[c] = s[c] + s[d];
            s[b] = rotr(s[b] ^ s[c], 7);
        }
    }

    function rotr(uint32 x, uint32 n) private pure returns (uint32) {
        return (x >> n) | (x << (32 - n));
    }
}
