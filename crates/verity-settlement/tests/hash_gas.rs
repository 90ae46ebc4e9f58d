//! What a Merkle opening costs the EVM with a BLAKE3 inner node (Verity's commitments up to
//! v2) and with a Keccak-256 one (v3): the measurement behind the switch of the dispute
//! commitments to Keccak. Prints the table of docs/settlement.md:
//! `cargo test -p verity-settlement --test hash_gas -- --nocapture`.

use verity_settlement::alloy::primitives::B256;
use verity_settlement::alloy::providers::Provider;
use verity_settlement::anvil::Anvil;
use verity_settlement::Chain;

verity_settlement::alloy::sol!(
    #[sol(rpc)]
    HashBench,
    "../../contracts/out/HashBench.json"
);

fn blake3_node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(l);
    buf[32..].copy_from_slice(r);
    *blake3::keyed_hash(b"verity/v1/merkle-node...........", &buf).as_bytes()
}

#[tokio::test]
async fn blake3_against_keccak_openings() {
    let Some(anvil) = Anvil::for_test() else { return };
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    let bench = HashBench::deploy(chain.provider().clone()).await.unwrap();

    // The Solidity BLAKE3 is the Rust one (so the gas below is the gas of the real hash).
    for seed in 0u8..4 {
        let (l, r) = ([seed; 32], [seed.wrapping_mul(7).wrapping_add(1); 32]);
        let sol = bench.blake3Node(B256::from(l), B256::from(r)).call().await.unwrap();
        assert_eq!(sol.0, blake3_node(&l, &r), "seed {seed}");
        let k = bench.keccakNode(B256::from(l), B256::from(r)).call().await.unwrap();
        assert_eq!(k.0, verity_commit::hash::node(&l, &r), "keccak node, seed {seed}");
    }

    println!("| path depth | BLAKE3 opening (gas) | Keccak-256 opening (gas) | ratio |\n| ---: | ---: | ---: | ---: |");
    for depth in [1usize, 4, 10, 20] {
        let path: Vec<B256> = (0..depth).map(|i| B256::from([i as u8 + 3; 32])).collect();
        let leaf = B256::from([0xab; 32]);
        let index = (1u64 << depth) - 2;
        let want = path.iter().enumerate().fold(leaf.0, |acc, (i, s)| {
            if (index >> i) & 1 == 0 {
                blake3_node(&acc, &s.0)
            } else {
                blake3_node(&s.0, &acc)
            }
        });
        let call = bench.blake3Root(leaf, alloy_u256(index), path.clone());
        assert_eq!(call.call().await.unwrap().0, want);
        let b = chain.provider().estimate_gas(call.into_transaction_request()).await.unwrap();
        let kcall = bench.keccakRoot(leaf, alloy_u256(index), path.clone());
        let k = chain.provider().estimate_gas(kcall.into_transaction_request()).await.unwrap();
        println!("| {depth} | {b} | {k} | {:.0} |", (b - 21_000) as f64 / (k - 21_000) as f64);
        assert!(b > k);
    }
}

fn alloy_u256(x: u64) -> verity_settlement::U256 {
    verity_settlement::U256::from(x)
}
