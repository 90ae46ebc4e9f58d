// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {DisputeGame} from "../src/DisputeGame.sol";

/// A test attacker: a challenger contract whose receive hook re-enters `DisputeGame.claim`.
contract ReentrantChallenger {
    DisputeGame public immutable game;
    uint256 public reentered;
    uint256 public refused;
    bool private attacking;

    constructor(DisputeGame game_) {
        game = game_;
    }

    /// Calls the game with `data` (e.g. `challenge`), forwarding the value.
    function forward(bytes calldata data) external payable {
        (bool ok, bytes memory ret) = address(game).call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function claim() external {
        attacking = true;
        game.claim();
        attacking = false;
    }

    receive() external payable {
        if (!attacking) return;
        attacking = false;
        try game.claim() {
            reentered += 1;
        } catch {
            refused += 1;
        }
    }
}
