// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BatchSettlement} from "./BatchSettlement.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {NodeBytes} from "./NodeBytes.sol";
import {OneStep, OneStepReferee} from "./OneStep.sol";
import {Staking} from "./Staking.sol";
import {VerityHash as H} from "./VerityHash.sol";
import {VerityModel} from "./VerityModel.sol";

/// @title The bisection dispute of verity-dispute, played on chain
/// @notice Anyone with a bond challenges a receipt that its executor posted in a batch, while
/// the batch is open. The executor and the challenger then move in turn, each before a
/// deadline, exactly as `verity_dispute::Referee` prescribes: outputs, bisection over the
/// trace's prefix roots, the leaf, bisection down the chunk tree, the chunk, the element, and
/// the one-step check of `OneStep`. Silence past a deadline loses (`timeout`). The loser pays:
/// a losing executor is slashed `min(minStake, stake)` (half burned by Staking, half to the
/// challenger) and the challenger's bond comes back; a losing challenger's bond is split,
/// half burned, half to the executor. Payouts are credits taken with `claim`.
/// @dev This contract is Staking's challenger manager: it locks the stake for the length of
/// the game, so a challenged executor cannot withdraw until the game is decided.
contract DisputeGame {
    enum Phase {
        None,
        Outputs,
        Bisect, // executor posts the prefix root at mid
        Respond, // challenger agrees or not with it
        Leaf,
        Children, // executor reveals the disputed node's children
        Choose, // challenger picks one
        Chunk, // executor reveals the chunk
        Element, // challenger names an element of it
        Step,
        Done
    }

    enum Party {
        None,
        Executor,
        Challenger
    }

    struct Receipt {
        bytes32 modelId;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 traceRoot;
        uint8 evidence;
        address executor;
        uint64 timestamp;
    }

    struct Inclusion {
        bytes32 salt;
        bytes32 root;
        uint256 index;
        bytes32[] path;
    }

    struct TensorOpening {
        uint32 value;
        bytes32 chunkRoot;
        bytes32[] path;
    }

    /// What the last move opens: the pieces of the node encoding that the referee reads, the
    /// node, and the operand chunks of the disputed element.
    struct StepProof {
        uint32 nodeLen;
        NodeBytes.Piece[] pieces;
        bytes32[] nodePath;
        TensorOpening[] tensors;
        OneStep.ChunkOpening[] chunks;
    }

    struct Game {
        address executor;
        uint64 deadline;
        Phase phase;
        Party winner;
        uint16 moves;
        address challenger;
        uint96 bond;
        bytes32 receipt; // signing hash
        bytes32 summary; // keccak256(abi.encode(VerityModel.Summary))
        bytes32 nodesRoot;
        bytes32 traceRoot;
        bytes32 outputHash;
        bytes32 loRoot; // agreed prefix; after the leaf, P_{k-1}
        bytes32 hiRoot; // disputed prefix; then the disputed chunk-tree node
        bytes32 aux1; // posted mid prefix, or left child
        bytes32 aux2; // right child
        uint32 lo;
        uint32 hi;
        uint32 level;
        uint32 index;
        uint32 j;
        uint32 numel;
        int32 claimed;
        uint8 depth;
        uint8 bits;
    }

    uint8 public constant KIND_KECCAK = 2;

    Staking public immutable staking;
    BatchSettlement public immutable settlement;
    ModelRegistry public immutable registry;
    OneStepReferee public immutable referee;
    uint96 public immutable bond;
    uint64 public immutable moveTimeout;

    uint256 public gameCount;
    uint256 public totalBurned;
    mapping(uint256 id => Game) private games;
    mapping(bytes32 receipt => uint256 id) public gameOf;
    mapping(address => uint256) public credit;
    bool private transient entered;

    event Challenged(uint256 indexed id, bytes32 indexed receipt, address indexed executor, address challenger, VerityModel.Summary summary);
    event Moved(uint256 indexed id, Party party, Phase phase, uint16 moves);
    event ChunkShown(uint256 indexed id, bytes packed);
    event Resolved(uint256 indexed id, Party winner, uint256 slashed, string reason);
    event Claimed(address indexed to, uint256 amount);

    error WrongBond(uint256 sent, uint256 bond);
    error NotIncluded();
    error WindowClosed();
    error AlreadyChallenged(bytes32 receipt, uint256 id);
    error ModelNotRegistered(bytes32 id);
    error HeadNotModel();
    error BadInputs();
    error NoGame(uint256 id);
    error GameOver(uint256 id);
    error WrongPhase(Phase phase);
    error NotYourTurn(address sender, Party turn);
    error Late(uint64 deadline, uint64 nowTime);
    error StaleMove(uint16 expected, uint16 got);
    error NotLate(uint64 deadline);
    error BadSummary();
    error BadProof(string what);
    error NothingToClaim(address to);
    error TransferFailed(address to, uint256 amount);
    error Reentrancy();
    error NotDirect(address sender);

    constructor(
        Staking staking_,
        BatchSettlement settlement_,
        ModelRegistry registry_,
        OneStepReferee referee_,
        uint96 bond_,
        uint64 moveTimeout_
    ) {
        referee = referee_;
        staking = staking_;
        settlement = settlement_;
        registry = registry_;
        bond = bond_;
        moveTimeout = moveTimeout_;
    }

    // ------------------------------------------------------------------ challenge

    /// @notice Challenge `r`, posted by its executor in the open batch `inc.root`. `head` and
    /// `nodesRoot` open the model id; `inputRoots` open the input hash.
    function challenge(
        Receipt calldata r,
        Inclusion calldata inc,
        bytes calldata head,
        bytes32 nodesRoot,
        bytes32[] calldata inputRoots
    ) external payable returns (uint256 id) {
        if (msg.value != bond) revert WrongBond(msg.value, bond);
        bytes32 signing = checkReceipt(r, inc);
        VerityModel.Summary memory s = openModel(r, head, nodesRoot);
        if (inputRoots.length != s.inputs.length || H.list(inputRoots) != r.inputHash) revert BadInputs();

        id = ++gameCount;
        gameOf[signing] = id;
        Game storage g = games[id];
        g.executor = r.executor;
        g.challenger = msg.sender;
        g.bond = uint96(msg.value);
        g.receipt = signing;
        g.summary = keccak256(abi.encode(s));
        g.nodesRoot = nodesRoot;
        g.traceRoot = r.traceRoot;
        g.outputHash = r.outputHash;
        g.depth = uint8(H.depthFor(s.bits.length));
        g.loRoot = H.prefixRoot(inputRoots, g.depth);
        g.lo = uint32(inputRoots.length - 1);
        g.hi = uint32(s.bits.length - 1);
        g.hiRoot = r.traceRoot;
        g.phase = Phase.Outputs;
        g.deadline = uint64(block.timestamp) + moveTimeout;
        staking.lock(r.executor);
        emit Challenged(id, signing, r.executor, msg.sender, s);
    }

    /// The receipt's signing hash (`verity-receipt`'s body encoding), after checking that its
    /// executor posted it in a batch that is still open and that it was not challenged yet.
    function checkReceipt(Receipt calldata r, Inclusion calldata inc) private view returns (bytes32 signing) {
        signing = keccak256(
            abi.encodePacked(
                bytes4("VRTR"), uint8(2), r.modelId, r.inputHash, r.outputHash, r.traceRoot, r.evidence, r.executor, r.timestamp
            )
        );
        bytes32 leaf = keccak256(abi.encodePacked(bytes4("VRTL"), inc.salt, signing));
        if (!settlement.isIncluded(r.executor, inc.root, leaf, inc.index, inc.path)) revert NotIncluded();
        if (settlement.status(r.executor, inc.root) != BatchSettlement.Status.Open) revert WindowClosed();
        if (gameOf[signing] != 0) revert AlreadyChallenged(signing, gameOf[signing]);
    }

    /// The head's summary, after checking that the model is registered with a Keccak
    /// commitment and that the head and nodes root hash to its id.
    function openModel(Receipt calldata r, bytes calldata head, bytes32 nodesRoot)
        private
        view
        returns (VerityModel.Summary memory)
    {
        ModelRegistry.Model memory m = registry.model(r.modelId);
        if (m.publisher == address(0) || m.kind != KIND_KECCAK) revert ModelNotRegistered(r.modelId);
        if (keccak256(abi.encodePacked(H.MODEL, head, nodesRoot)) != r.modelId) revert HeadNotModel();
        return VerityModel.parseHead(head);
    }

    // ------------------------------------------------------------------ moves

    /// Checks that `id` is live, in `phase`, that the sender is on turn, in time, and that
    /// `seq` is the number of moves made so far (so a replayed or stale move is refused).
    /// A move is the transaction's own call, never one made by a contract: the other party
    /// reads the move from the transaction's input, so a move relayed through a contract
    /// could not be followed and would make its opponent lose by silence. An account with
    /// code (an EIP-7702 delegation) is refused too: its transaction's input is its own call,
    /// from which its code could make moves that input does not show.
    function begin(uint256 id, uint16 seq, Phase phase) private view returns (Game storage g) {
        if (msg.sender != tx.origin || msg.sender.code.length != 0) revert NotDirect(msg.sender);
        g = games[id];
        if (g.phase == Phase.None) revert NoGame(id);
        if (g.phase == Phase.Done) revert GameOver(id);
        address mover = onTurn(g) == Party.Executor ? g.executor : g.challenger;
        if (msg.sender != mover) revert NotYourTurn(msg.sender, onTurn(g));
        if (block.timestamp > g.deadline) revert Late(g.deadline, uint64(block.timestamp));
        if (seq != g.moves) revert StaleMove(g.moves, seq);
        if (g.phase != phase) revert WrongPhase(g.phase);
    }

    function advance(uint256 id, Game storage g, Phase next) private {
        Party p = onTurn(g);
        g.phase = next;
        g.moves += 1;
        g.deadline = uint64(block.timestamp) + moveTimeout;
        emit Moved(id, p, next, g.moves);
    }

    function checkSummary(Game storage g, VerityModel.Summary calldata s) private view {
        if (keccak256(abi.encode(s)) != g.summary) revert BadSummary();
    }

    function bisectOrOpen(Game storage g) private view returns (Phase) {
        return g.hi == g.lo + 1 ? Phase.Leaf : Phase.Bisect;
    }

    /// Executor: its output roots, each at its leaf of the trace root.
    function postOutputs(
        uint256 id,
        uint16 seq,
        VerityModel.Summary calldata s,
        bytes32[] calldata roots,
        bytes32[][] calldata paths
    ) external {
        Game storage g = begin(id, seq, Phase.Outputs);
        checkSummary(g, s);
        if (roots.length != s.outputs.length || paths.length != roots.length) revert BadProof("one root and path per output");
        if (H.list(roots) != g.outputHash) revert BadProof("output roots do not match the output hash");
        for (uint256 i = 0; i < roots.length; i++) {
            if (paths[i].length != g.depth || H.root(roots[i], s.outputs[i], paths[i]) != g.traceRoot) {
                revert BadProof("output not at its leaf of the trace root");
            }
        }
        if (g.hi == g.lo) {
            // No nodes: the trace is the inputs, whose prefix the contract computed itself.
            advance(id, g, Phase.Done);
            finish(id, g, g.loRoot == g.traceRoot ? Party.Executor : Party.Challenger, "the model has no nodes");
            return;
        }
        advance(id, g, bisectOrOpen(g));
    }

    /// Executor: its prefix root at `(lo + hi) / 2`.
    function postPrefix(uint256 id, uint16 seq, bytes32 root) external {
        Game storage g = begin(id, seq, Phase.Bisect);
        g.aux1 = root;
        advance(id, g, Phase.Respond);
    }

    /// Challenger: agree (the dispute is above mid) or not (at or below it).
    function respond(uint256 id, uint16 seq, bool agree) external {
        Game storage g = begin(id, seq, Phase.Respond);
        uint32 mid = (g.lo + g.hi) / 2;
        if (agree) {
            g.lo = mid;
            g.loRoot = g.aux1;
        } else {
            g.hi = mid;
            g.hiRoot = g.aux1;
        }
        advance(id, g, bisectOrOpen(g));
    }

    /// Executor: value `hi`'s chunk root, with the one path that gives the agreed prefix from
    /// an empty leaf and the disputed prefix from the value's root.
    function openLeaf(uint256 id, uint16 seq, VerityModel.Summary calldata s, bytes32 chunkRoot, bytes32[] calldata path)
        external
    {
        Game storage g = begin(id, seq, Phase.Leaf);
        checkSummary(g, s);
        uint256 k = g.hi;
        bytes32 valueRoot = H.tensor(s.bits[k], s.shapes[k], chunkRoot);
        if (path.length != g.depth || H.root(bytes32(0), k, path) != g.loRoot || H.root(valueRoot, k, path) != g.hiRoot) {
            revert BadProof("leaf path does not connect the agreed and disputed prefix roots");
        }
        uint256 n = 1;
        for (uint256 i = 0; i < s.shapes[k].length; i++) n *= s.shapes[k][i];
        g.numel = uint32(n);
        g.bits = s.bits[k];
        uint256 levels = H.depthFor(H.chunkCount(n));
        g.level = uint32(levels);
        g.index = 0;
        g.hiRoot = chunkRoot;
        advance(id, g, levels == 0 ? Phase.Chunk : Phase.Children);
    }

    /// Executor: the two children of the disputed chunk-tree node.
    function postChildren(uint256 id, uint16 seq, bytes32 left, bytes32 right) external {
        Game storage g = begin(id, seq, Phase.Children);
        if (H.node(left, right) != g.hiRoot) revert BadProof("children do not hash to the disputed node");
        g.aux1 = left;
        g.aux2 = right;
        advance(id, g, Phase.Choose);
    }

    /// Challenger: the child it disputes.
    function choose(uint256 id, uint16 seq, bool right) external {
        Game storage g = begin(id, seq, Phase.Choose);
        uint32 index = g.index * 2 + (right ? 1 : 0);
        bytes32 h = right ? g.aux2 : g.aux1;
        g.index = index;
        g.hiRoot = h;
        if (g.level > 1) {
            g.level -= 1;
            advance(id, g, Phase.Children);
            return;
        }
        if (index >= H.chunkCount(g.numel)) {
            // A padding leaf is empty by definition: nothing to argue about.
            advance(id, g, Phase.Done);
            finish(id, g, h == bytes32(0) ? Party.Executor : Party.Challenger, "padding leaf must be empty");
            return;
        }
        advance(id, g, Phase.Chunk);
    }

    function checkChunk(Game storage g, bytes calldata packed) private view {
        uint256 want = g.numel - g.index * 256;
        if (want > 256) want = 256;
        if (packed.length != want * (g.bits <= 8 ? 1 : 2)) revert BadProof("chunk length");
        if (H.chunk(g.bits, g.index, packed) != g.hiRoot) revert BadProof("chunk values do not hash to the disputed leaf");
    }

    /// Executor: the disputed chunk's values, packed as they are hashed.
    function postChunk(uint256 id, uint16 seq, bytes calldata packed) external {
        Game storage g = begin(id, seq, Phase.Chunk);
        checkChunk(g, packed);
        emit ChunkShown(id, packed);
        advance(id, g, Phase.Element);
    }

    /// Challenger: the element of the chunk it disputes (with the chunk again, which fixes the
    /// executor's claim about it without storing 256 values).
    function pickElement(uint256 id, uint16 seq, uint32 offset, bytes calldata packed) external {
        Game storage g = begin(id, seq, Phase.Element);
        checkChunk(g, packed);
        uint256 width = g.bits <= 8 ? 1 : 2;
        if (uint256(offset) * width >= packed.length) revert BadProof("element offset outside the chunk");
        int256 v = width == 1
            ? int256(int8(uint8(packed[offset])))
            : int256(int16(uint16(uint8(packed[2 * offset])) | (uint16(uint8(packed[2 * offset + 1])) << 8)));
        g.claimed = int32(v);
        g.j = g.index * 256 + offset;
        advance(id, g, Phase.Step);
    }

    /// Executor: the node pieces the referee reads (against the nodes root) and the operand
    /// chunks (against the agreed prefix); the element is recomputed and compared with the claim.
    function step(uint256 id, uint16 seq, VerityModel.Summary calldata s, StepProof calldata p) external {
        Game storage g = begin(id, seq, Phase.Step);
        checkSummary(g, s);
        if (p.nodePath.length != H.depthFor(s.nNodes)) revert BadProof("node path length");
        if (H.root(H.modelNode(p.nodeLen, piecesRoot(p)), g.hi - s.inputs.length, p.nodePath) != g.nodesRoot) {
            revert BadProof("node is not in the model commitment");
        }
        (int256 y, uint256 output, uint32[] memory inputs) = referee.evaluate(s, p.nodeLen, p.pieces, g.j, p.chunks);
        if (output != g.hi) revert BadProof("node wiring does not match the disputed value");
        checkOperands(g, s, inputs, p.tensors, p.chunks);
        advance(id, g, Phase.Done);
        if (y == int256(g.claimed)) finish(id, g, Party.Executor, "the element recomputes to the executor's claim");
        else finish(id, g, Party.Challenger, "the element recomputes to another value than the executor's claim");
    }

    /// The root of the node's piece tree that every opened piece leads to (their layout is
    /// checked by the referee's `NodeBytes.open`; an empty list reverts there too).
    function piecesRoot(StepProof calldata p) private pure returns (bytes32 root) {
        uint256 depth = H.depthFor(NodeBytes.pieceCount(p.nodeLen));
        for (uint256 i = 0; i < p.pieces.length; i++) {
            NodeBytes.Piece calldata x = p.pieces[i];
            if (x.path.length != depth) revert BadProof("node piece path length");
            bytes32 r = H.root(H.nodePiece(x.data), x.index, x.path);
            if (i == 0) root = r;
            else if (r != root) revert BadProof("node pieces lead to different roots");
        }
    }

    /// Each opened value is an input of the node and in the agreed prefix; each chunk is in
    /// its value's opened chunk tree (so every operand the referee reads is authenticated).
    function checkOperands(
        Game storage g,
        VerityModel.Summary calldata s,
        uint32[] memory inputs,
        TensorOpening[] calldata tensors,
        OneStep.ChunkOpening[] calldata chunks
    ) private view {
        bytes32 agreed = g.loRoot;
        uint256 depth = g.depth;
        for (uint256 i = 0; i < tensors.length; i++) {
            uint256 v = tensors[i].value;
            if (!isInput(inputs, v)) revert BadProof("opened value is not an input of the node");
            bytes32 root = H.tensor(s.bits[v], s.shapes[v], tensors[i].chunkRoot);
            if (tensors[i].path.length != depth || H.root(root, v, tensors[i].path) != agreed) {
                revert BadProof("value is not in the agreed prefix");
            }
        }
        for (uint256 i = 0; i < chunks.length; i++) checkChunkOpening(s, tensors, chunks[i]);
    }

    function checkChunkOpening(
        VerityModel.Summary calldata s,
        TensorOpening[] calldata tensors,
        OneStep.ChunkOpening calldata ch
    ) private pure {
        bytes32 root;
        for (uint256 t = 0; t < tensors.length; t++) if (tensors[t].value == ch.value) root = tensors[t].chunkRoot;
        if (root == bytes32(0)) revert BadProof("chunk without its tensor opening");
        uint256 n = VerityModel.numel(s.shapes[ch.value]);
        uint256 start = uint256(ch.index) * 256;
        uint256 want = n > start ? n - start : 0;
        if (want > 256) want = 256;
        uint256 count = H.chunkCount(n);
        if (ch.index >= count || ch.packed.length != want * (s.bits[ch.value] <= 8 ? 1 : 2)) {
            revert BadProof("chunk length");
        }
        if (ch.path.length != H.depthFor(count) || H.root(H.chunk(s.bits[ch.value], ch.index, ch.packed), ch.index, ch.path) != root) {
            revert BadProof("chunk does not match its root");
        }
    }

    function isInput(uint32[] memory inputs, uint256 v) private pure returns (bool) {
        for (uint256 i = 0; i < inputs.length; i++) if (inputs[i] == v) return true;
        return false;
    }

    /// @notice Anyone: decide a game whose party on turn let its deadline pass.
    function timeout(uint256 id) external {
        Game storage g = games[id];
        if (g.phase == Phase.None) revert NoGame(id);
        if (g.phase == Phase.Done) revert GameOver(id);
        if (block.timestamp <= g.deadline) revert NotLate(g.deadline);
        Party late = onTurn(g);
        g.phase = Phase.Done;
        finish(id, g, late == Party.Executor ? Party.Challenger : Party.Executor, "deadline missed");
    }

    // ------------------------------------------------------------------ payout

    function finish(uint256 id, Game storage g, Party winner, string memory reason) private {
        g.winner = winner;
        staking.unlock(g.executor);
        uint256 slashed;
        uint256 b = g.bond;
        if (winner == Party.Challenger) {
            uint256 st = staking.stakeOf(g.executor).amount;
            uint256 min = staking.minStake();
            slashed = st < min ? st : min;
            if (slashed > 0) staking.slash(g.executor, slashed, g.challenger);
            credit[g.challenger] += b;
        } else {
            uint256 burned = b / 2;
            totalBurned += burned;
            credit[g.executor] += b - burned;
        }
        emit Resolved(id, winner, slashed, reason);
    }

    /// @notice Pays out the sender's credit (returned bonds, bond shares).
    function claim() external {
        if (entered) revert Reentrancy();
        entered = true;
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        credit[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
        entered = false;
    }

    // ------------------------------------------------------------------ views

    function onTurn(Game storage g) private view returns (Party) {
        Phase p = g.phase;
        if (p == Phase.Respond || p == Phase.Choose || p == Phase.Element) return Party.Challenger;
        if (p == Phase.None || p == Phase.Done) return Party.None;
        return Party.Executor;
    }

    /// @notice Where game `id` stands (a view for the players and `verity chain status`).
    function state(uint256 id)
        external
        view
        returns (Phase phase, Party winner, uint16 moves, uint64 deadline, address executor, address challenger, uint32 lo, uint32 hi)
    {
        Game storage g = games[id];
        return (g.phase, g.winner, g.moves, g.deadline, g.executor, g.challenger, g.lo, g.hi);
    }

    function turn(uint256 id) external view returns (Party) {
        return onTurn(games[id]);
    }
}
