// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Verity executor stakes (native ETH)
/// @notice An executor's stake is what a lost dispute costs it. The staking account is the
/// executor key itself (the secp256k1 key that signs receipts), so nobody can put someone
/// else's receipts behind their stake, or squat on another node's key.
/// @dev Leaving takes two steps, `requestUnbond` then `withdraw` after `unbondingDelay`, and
/// `withdraw` also waits for every pending challenge (`locks`) to be resolved: a stake cannot
/// leave while it may still have to pay. Payouts follow checks-effects-interactions and share
/// one re-entrancy guard.
contract Staking {
    /// @notice Share of a slashed amount that is burned (kept in this contract forever), in
    /// basis points. The rest goes to the winner. Burning half means a cheater colluding with
    /// its own challenger still loses at least half its stake.
    uint16 public constant BURN_BPS = 5000;

    struct Stake {
        uint128 amount;
        /// When `withdraw` becomes possible; zero while the executor is active.
        uint64 unbondAt;
        /// Pending challenges against this stake.
        uint32 locks;
    }

    uint256 public immutable minStake;
    uint64 public immutable unbondingDelay;
    /// @notice The only account that may lock, unlock and slash: the dispute contract.
    address public immutable challengerManager;

    mapping(address executor => Stake) private stakes;
    /// @notice Slashing rewards waiting to be claimed (pull, so a reverting winner cannot
    /// block a dispute's resolution).
    mapping(address => uint256) public credit;
    uint256 public totalBurned;

    bool private transient entered;

    event Staked(address indexed executor, uint256 amount, uint256 total);
    event UnbondRequested(address indexed executor, uint64 unbondAt);
    event Withdrawn(address indexed executor, uint256 amount);
    event Locked(address indexed executor, uint32 locks);
    event Unlocked(address indexed executor, uint32 locks);
    event Slashed(address indexed executor, uint256 amount, address indexed to, uint256 reward, uint256 burned);
    event Claimed(address indexed to, uint256 amount);

    error BelowMinStake(uint256 total, uint256 minStake);
    error NotStaked(address executor);
    error AlreadyUnbonding(address executor, uint64 unbondAt);
    error NotUnbonding(address executor);
    error UnbondingNotOver(uint64 unbondAt, uint64 nowTime);
    error StakeLocked(address executor, uint32 locks);
    error NotLocked(address executor);
    error NotChallengerManager(address caller);
    error SlashExceedsStake(uint256 amount, uint256 stake);
    error NothingToClaim(address to);
    error TransferFailed(address to, uint256 amount);
    error Reentrancy();
    error ZeroDelay();

    modifier onlyManager() {
        if (msg.sender != challengerManager) revert NotChallengerManager(msg.sender);
        _;
    }

    modifier nonReentrant() {
        if (entered) revert Reentrancy();
        entered = true;
        _;
        entered = false;
    }

    constructor(uint256 minStake_, uint64 unbondingDelay_, address challengerManager_) {
        // A zero delay would let a stake leave in the block a cheat is discovered.
        if (unbondingDelay_ == 0) revert ZeroDelay();
        minStake = minStake_;
        unbondingDelay = unbondingDelay_;
        challengerManager = challengerManager_;
    }

    /// @notice Stake `msg.value` for the sender, or top an active stake up.
    function stake() external payable {
        Stake storage s = stakes[msg.sender];
        // Topping up a leaving stake would reset nothing and only confuse the delay.
        if (s.unbondAt != 0) revert AlreadyUnbonding(msg.sender, s.unbondAt);
        uint256 total = s.amount + msg.value;
        if (total < minStake || total == 0) revert BelowMinStake(total, minStake);
        s.amount = uint128(total);
        emit Staked(msg.sender, msg.value, total);
    }

    /// @notice Stop being an active executor; the stake can be withdrawn `unbondingDelay`
    /// seconds from now, if no challenge holds it.
    function requestUnbond() external {
        Stake storage s = stakes[msg.sender];
        if (s.amount == 0) revert NotStaked(msg.sender);
        if (s.unbondAt != 0) revert AlreadyUnbonding(msg.sender, s.unbondAt);
        uint64 when = uint64(block.timestamp) + unbondingDelay;
        s.unbondAt = when;
        emit UnbondRequested(msg.sender, when);
    }

    function withdraw() external nonReentrant {
        Stake storage s = stakes[msg.sender];
        if (s.unbondAt == 0) revert NotUnbonding(msg.sender);
        if (block.timestamp < s.unbondAt) revert UnbondingNotOver(s.unbondAt, uint64(block.timestamp));
        if (s.locks != 0) revert StakeLocked(msg.sender, s.locks);
        uint256 amount = s.amount;
        delete stakes[msg.sender];
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Hold `executor`'s stake for a challenge that was just opened against it.
    function lock(address executor) external onlyManager {
        Stake storage s = stakes[executor];
        if (s.amount == 0) revert NotStaked(executor);
        s.locks += 1;
        emit Locked(executor, s.locks);
    }

    function unlock(address executor) external onlyManager {
        Stake storage s = stakes[executor];
        if (s.locks == 0) revert NotLocked(executor);
        s.locks -= 1;
        emit Unlocked(executor, s.locks);
    }

    /// @notice Cut `amount` from `executor`'s stake: `BURN_BPS` of it is burned, the rest is
    /// credited to `to`, who claims it with `claim`.
    function slash(address executor, uint256 amount, address to) external onlyManager {
        Stake storage s = stakes[executor];
        if (amount > s.amount) revert SlashExceedsStake(amount, s.amount);
        s.amount -= uint128(amount);
        uint256 burned = (amount * BURN_BPS) / 10_000;
        uint256 reward = amount - burned;
        totalBurned += burned;
        credit[to] += reward;
        emit Slashed(executor, amount, to, reward, burned);
    }

    function claim() external nonReentrant {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        credit[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        _send(msg.sender, amount);
    }

    function stakeOf(address executor) external view returns (Stake memory) {
        return stakes[executor];
    }

    /// @notice Staked at least `minStake` and not leaving: may post batches.
    function isActive(address executor) public view returns (bool) {
        Stake storage s = stakes[executor];
        return s.amount >= minStake && s.amount != 0 && s.unbondAt == 0;
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
