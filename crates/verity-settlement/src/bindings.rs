//! Contract bindings generated from the committed artifacts in `contracts/out/` (ABI and
//! bytecode; `node contracts/build.mjs` regenerates them, `--check` guards against drift).

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ModelRegistry,
    "../../contracts/out/ModelRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Staking,
    "../../contracts/out/Staking.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    BatchSettlement,
    "../../contracts/out/BatchSettlement.json"
);
