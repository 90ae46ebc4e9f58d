use verity_llm::gguf::parse;
use verity_llm::receipt::{sign, verify, ReceiptFile};
use verity_llm::testutil::tiny_gguf;
use verity_llm::{complete, Kernel, Model, Params};
use verity_receipt::Signer;

type Tamper = Box<dyn Fn(&mut ReceiptFile)>;

fn setup() -> (Model, ReceiptFile) {
    let m = Model::from_gguf(&parse(&tiny_gguf(11, "llama")).unwrap()).unwrap();
    let p = Params { max_tokens: 6, temperature_milli: 800, seed: 42, ..Default::default() };
    let c = complete(&m, &[10, 20, 30], &p, Kernel::Fast, 2).unwrap();
    let s = Signer::from_secret_bytes(&[7; 32]).unwrap();
    let f = sign(&s, &c, 1_700_000_000).unwrap();
    (m, f)
}

#[test]
fn honest_receipt_verifies() {
    let (m, f) = setup();
    let text = serde_json::to_string(&f).unwrap();
    let back: ReceiptFile = serde_json::from_str(&text).unwrap();
    assert_eq!(verify(&m, &back, 1).unwrap(), f.completion);
}

#[test]
fn tampered_receipts_are_rejected() {
    let (m, f) = setup();
    let cases: Vec<(&str, Tamper)> = vec![
        ("swapped token", Box::new(|f| f.completion.tokens[0] ^= 1)),
        ("changed seed", Box::new(|f| f.completion.params.seed += 1)),
        (
            "truncated context",
            Box::new(|f| {
                f.completion.prompt_tokens.remove(0);
            }),
        ),
        ("changed text", Box::new(|f| f.completion.text.push('x'))),
        ("changed trace root", Box::new(|f| f.completion.trace_root = "00".repeat(32))),
        ("changed temperature", Box::new(|f| f.completion.params.temperature_milli = 900)),
        (
            "forged signature",
            Box::new(|f| {
                let mut r = f.receipt.clone().into_bytes();
                let i = r.len() - 10;
                r[i] = if r[i] == b'1' { b'2' } else { b'1' };
                f.receipt = String::from_utf8(r).unwrap();
            }),
        ),
    ];
    for (name, tamper) in cases {
        let mut bad = f.clone();
        tamper(&mut bad);
        assert!(verify(&m, &bad, 1).is_err(), "{name} was accepted");
    }
    // A consistent re-signed claim for another model is rejected too.
    let other = Model::from_gguf(&parse(&tiny_gguf(12, "llama")).unwrap()).unwrap();
    assert!(verify(&other, &f, 1).is_err());
}
