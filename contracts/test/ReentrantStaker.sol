// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Staking} from "../src/Staking.sol";

/// @notice Test attacker: a staker whose receive hook calls back into Staking once, during
/// the payout, and records what happened instead of reverting (so the outer payout goes
/// through and the test can see whether the inner one did too).
contract ReentrantStaker {
    Staking public immutable staking;
    /// 1 = re-enter withdraw, 2 = re-enter claim; cleared after one attempt.
    uint8 private mode;
    uint256 public attempts;
    bool public reentrySucceeded;
    bytes public reentryRevert;

    constructor(Staking staking_) {
        staking = staking_;
    }

    function stake() external payable {
        staking.stake{value: msg.value}();
    }

    function requestUnbond() external {
        staking.requestUnbond();
    }

    function withdraw(uint8 reenter) external {
        mode = reenter;
        staking.withdraw();
    }

    function claim(uint8 reenter) external {
        mode = reenter;
        staking.claim();
    }

    receive() external payable {
        uint8 m = mode;
        if (m == 0) return;
        mode = 0;
        attempts += 1;
        bytes4 selector = m == 1 ? Staking.withdraw.selector : Staking.claim.selector;
        (bool ok, bytes memory ret) = address(staking).call(abi.encodeWithSelector(selector));
        reentrySucceeded = ok;
        reentryRevert = ret;
    }
}
