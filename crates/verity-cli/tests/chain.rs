//! `verity chain …` and `verity stake` against a real anvil: deploy, register a model, stake,
//! post a batch, status; and the failures a user meets (not staked, unreachable RPC, wrong
//! chain, missing deployment file), each a clear message and exit code 1.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use verity_settlement::anvil::{dev_address, Anvil, DEV_KEYS};
use verity_settlement::Address;

fn verity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(args)
        .env_remove("VERITY_CHAIN_KEY")
        .env_remove("VERITY_RPC")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = verity(args);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], needle: &str) {
    let out = verity(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1..=3)), "verity {args:?} should fail with exit 1, 2 or 3; stderr: {err}");
    assert!(err.contains(needle), "verity {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "verity {args:?} panicked: {err}");
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn addr(v: &Value) -> Address {
    v.as_str().unwrap_or_else(|| panic!("not an address: {v}")).parse().unwrap()
}

#[test]
fn deploy_stake_post_and_status_from_the_command_line() {
    let Some(anvil) = Anvil::for_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.json");
    let (rpc, f) = (anvil.url(), file.to_str().unwrap());

    fails(&["chain", "status", "--rpc", rpc, "--contracts", f], "run `verity chain deploy` first");
    let d = json(&ok(&[
        "chain",
        "deploy",
        "--rpc",
        rpc,
        "--contracts",
        f,
        "--challenge-window",
        "60",
        "--unbonding-delay",
        "120",
        "--json",
    ]));
    assert_eq!(d["deployment"]["chain_id"], 31337);
    assert_eq!(addr(&d["deployment"]["deployer"]), dev_address(0), "anvil's first dev account");
    for name in ["Staking", "BatchSettlement", "ModelRegistry"] {
        assert!(d["gas"][name].as_u64().unwrap() > 100_000, "{name}: {d}");
    }
    let written: Value = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(written, d["deployment"]);

    // A node's executor key file stakes and posts: the receipt key is the staking account.
    let key_file = dir.path().join("executor.key");
    std::fs::write(&key_file, format!("{}\n", DEV_KEYS[1])).unwrap();
    let kf = key_file.to_str().unwrap();
    let root = format!("0x{}", "ab".repeat(32));
    fails(
        &["chain", "post-batch", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--root", &root, "--depth", "4"],
        "is not an active staked executor",
    );
    fails(&["stake", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--amount", "5"], "BelowMinStake");
    let staked =
        json(&ok(&["stake", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--amount", "1000000000000000000", "--json"]));
    assert_eq!(addr(&staked["executor"]), dev_address(1));
    assert_eq!(staked["stake"]["amount"], "1000000000000000000");
    assert_eq!(staked["stake"]["active"], true);
    let posted = json(&ok(&[
        "chain",
        "post-batch",
        "--rpc",
        rpc,
        "--contracts",
        f,
        "--key-file",
        kf,
        "--root",
        &root,
        "--depth",
        "4",
        "--json",
    ]));
    assert_eq!(posted["batch"]["status"], "open");
    assert!(posted["gas_used"].as_u64().unwrap() > 21_000);
    fails(
        &["chain", "post-batch", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--root", &root, "--depth", "4"],
        "BatchAlreadyPosted",
    );
    // A usage error: clap's exit code 2.
    let out =
        verity(&["chain", "post-batch", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--root", &root, "--depth", "21"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("21 is not in 1..=20"));

    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cnn_digits.vrt");
    let reg = json(&ok(&["chain", "register-model", "--rpc", rpc, "--contracts", f, model.to_str().unwrap(), "--json"]));
    let id = reg["model_id"].as_str().unwrap().to_string();
    fails(&["chain", "register-model", "--rpc", rpc, "--contracts", f, model.to_str().unwrap()], "ModelAlreadyRegistered");

    let st = json(&ok(&[
        "chain",
        "status",
        "--rpc",
        rpc,
        "--contracts",
        f,
        "--executor",
        &dev_address(1).to_string(),
        "--root",
        &root,
        "--model-id",
        &id,
        "--json",
    ]));
    assert_eq!(st["batches"], 1);
    assert_eq!(st["stake"]["active"], true);
    assert_eq!(st["batch"]["depth"], 4);
    assert_eq!(st["batch"]["status"], "open");
    assert_eq!(st["model"]["commitment"].as_str().unwrap(), id);
    assert_eq!(addr(&st["model"]["publisher"]), dev_address(0));
    let human = ok(&["chain", "status", "--rpc", rpc, "--contracts", f, "--key-file", kf, "--root", &root]);
    assert!(human.contains("stake 1000000000000000000 wei, active") && human.contains("Open, depth 4"), "{human}");

    // Leaving: unbond, then the delay holds the stake.
    ok(&["chain", "unbond", "--rpc", rpc, "--contracts", f, "--key-file", kf]);
    fails(&["chain", "withdraw", "--rpc", rpc, "--contracts", f, "--key-file", kf], "UnbondingNotOver");
    fails(
        &[
            "chain",
            "post-batch",
            "--rpc",
            rpc,
            "--contracts",
            f,
            "--key-file",
            kf,
            "--root",
            &format!("0x{}", "cd".repeat(32)),
            "--depth",
            "1",
        ],
        "is not an active staked executor",
    );

    // Clear failures.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    fails(
        &["chain", "status", "--rpc", &format!("http://127.0.0.1:{closed}"), "--contracts", f],
        "cannot reach the RPC endpoint",
    );
    fails(&["chain", "deploy", "--rpc", "nonsense", "--contracts", f], "invalid RPC URL");
    fails(&["stake", "--rpc", rpc, "--contracts", f, "--key", "0x12", "--amount", "1"], "64 hex digits");
    let mut other: Value = written.clone();
    other["chain_id"] = 1.into();
    let other_file = dir.path().join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    fails(
        &["chain", "status", "--rpc", rpc, "--contracts", other_file.to_str().unwrap()],
        "wrong chain: the deployment is on chain 1",
    );
    std::fs::write(&other_file, "{}").unwrap();
    fails(&["chain", "status", "--rpc", rpc, "--contracts", other_file.to_str().unwrap()], "is not a deployment file");
}

#[test]
fn a_dispute_on_chain_from_the_command_line() {
    let Some(anvil) = Anvil::for_test() else { return };
    let fx = |n: &str| format!("{}/../../fixtures/{n}", env!("CARGO_MANIFEST_DIR"));
    let (m, i) = (fx("cnn_digits.vrt"), fx("cnn_digits.input.json"));
    let r = json(&ok(&["dispute", &m, "--input", &i, "--cheat", "weight", "--chain", anvil.url(), "--json"]));
    assert_eq!((r["winner"].as_str(), r["slashed"].as_bool()), (Some("challenger"), Some(true)), "{r}");
    assert!(r["rounds"].as_u64().unwrap() >= 5, "{r}");
    let gas = &r["gas"];
    assert!(gas["total"].as_u64().unwrap() < 5_000_000 && gas["max_tx"].as_u64().unwrap() < 1_000_000, "{gas}");
    assert_eq!(gas["per_step"]["step"]["txs"], 1, "{gas}");
    let honest = json(&ok(&["dispute", &m, "--input", &i, "--cheat", "none", "--chain", anvil.url(), "--json"]));
    assert_eq!((honest["winner"].as_str(), honest["slashed"].as_bool()), (Some("executor"), Some(false)), "{honest}");
    // The transformer block (LayerNorm, MatMul, Softmax: every op has its on-chain step).
    let (t, ti) = (fx("transformer_block.vrt"), fx("transformer_block.input.json"));
    let r = json(&ok(&["dispute", &t, "--input", &ti, "--cheat", "weight", "--chain", anvil.url(), "--json"]));
    assert_eq!((r["winner"].as_str(), r["slashed"].as_bool()), (Some("challenger"), Some(true)), "{r}");
    let gas = &r["gas"];
    assert!(gas["total"].as_u64().unwrap() < 5_000_000 && gas["max_tx"].as_u64().unwrap() < 1_000_000, "{gas}");
    assert_eq!(gas["per_step"]["step"]["txs"], 1, "{gas}");
    // A receipt signed alone (not in a posted batch) cannot be challenged.
    let dir = tempfile::tempdir().unwrap();
    let (file, receipt) = (dir.path().join("chain.json"), dir.path().join("receipt.json"));
    let f = file.to_str().unwrap();
    ok(&["chain", "deploy", "--rpc", anvil.url(), "--contracts", f]);
    let key = dir.path().join("executor.key");
    std::fs::write(&key, DEV_KEYS[1]).unwrap();
    ok(&["run", &m, "--input", &i, "--receipt", receipt.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    fails(
        &["challenge", "--rpc", anvil.url(), "--contracts", f, receipt.to_str().unwrap(), "--model", &m, "--input", &i],
        "only a batch-signed receipt",
    );
}
