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

/// The dispute game and the one-step referee. Each in a module of its own: both ABIs name the
/// library structs `VerityModel.Summary` and `OneStep.ChunkOpening`, which `sol!` turns into
/// items of the same names.
pub mod game {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        DisputeGame,
        "../../contracts/out/DisputeGame.json"
    );
}

pub mod referee {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        OneStepReferee,
        "../../contracts/out/OneStepReferee.json"
    );
}
