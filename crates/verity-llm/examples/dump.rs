//! Quick look at a GGUF and a greedy completion: `cargo run --release -p verity-llm --example dump -- MODEL.gguf "prompt"`.
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let t = Instant::now();
    let m = verity_llm::Model::load(std::path::Path::new(&a[1])).unwrap();
    println!("loaded in {:?}, id {}", t.elapsed(), m.id_hex());
    let prompt = m.tokenizer.encode(&verity_llm::model::render_chat(None, &a[2])).unwrap();
    let t = Instant::now();
    let c = verity_llm::complete(
        &m,
        &prompt,
        &verity_llm::Params { max_tokens: 24, ..Default::default() },
        verity_llm::Kernel::Fast,
        2,
    )
    .unwrap();
    println!("prompt {:?}", prompt);
    println!("{:?} in {:?}: {:?}", c.tokens, t.elapsed(), c.text);
}
