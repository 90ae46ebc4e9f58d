// Runs the Solidity receipt verifier of docs/receipts.md on an EVM against the worked
// examples pinned in crates/verity-receipt/tests/doc_example.rs: each must be accepted with
// its fields, the batched example's digest (salted leaf, path) is recomputed here, and every
// single-bit flip of either encoding must revert.
//
//   npm ci --prefix tools/evm && node tools/evm/check_receipts.mjs
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createEVM } from "@ethereumjs/evm";
import { keccak256 } from "ethereum-cryptography/keccak.js";

const require = createRequire(import.meta.url);
const solc = require("solc");
const root = new URL("../../", import.meta.url);
const doc = readFileSync(new URL("docs/receipts.md", root), "utf8");
const tests = readFileSync(new URL("crates/verity-receipt/tests/doc_example.rs", root), "utf8");

const hex = (b) => Buffer.from(b).toString("hex");
const fromHex = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const fail = (msg) => {
  console.error(`FAILED: ${msg}`);
  process.exit(1);
};

/** The concatenated string literals of `const NAME: &str = concat!(...)` in the test file. */
function rustConst(name) {
  const m = tests.match(new RegExp(`const ${name}: &str = concat!\\(([\\s\\S]*?)\\);`));
  if (!m) fail(`no ${name} in doc_example.rs`);
  return [...m[1].matchAll(/"([0-9a-f]*)"/g)].map((x) => x[1]).join("");
}

const library = [...doc.matchAll(/```solidity\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes("library VerityReceipt"));
if (!library) fail("no VerityReceipt library in docs/receipts.md");
const source = `${library}
contract Check {
    function verify(bytes calldata receipt) external pure returns (VerityReceipt.Receipt memory) {
        return VerityReceipt.verify(receipt);
    }
    function signingHash(VerityReceipt.Receipt memory x) external pure returns (bytes32) {
        return VerityReceipt.signingHash(x);
    }
}
`;
const out = JSON.parse(
  solc.compile(
    JSON.stringify({
      language: "Solidity",
      sources: { "Check.sol": { content: source } },
      settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { "*": { "*": ["evm.bytecode.object"] } } },
    }),
  ),
);
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) fail(errors.map((e) => e.formattedMessage).join("\n"));
const bytecode = out.contracts["Check.sol"].Check.evm.bytecode.object;

const evm = await createEVM();
const deployed = await evm.runCall({ data: fromHex(bytecode), gasLimit: 10_000_000n });
if (deployed.execResult.exceptionError) fail("deployment reverted");
const to = deployed.createdAddress;
const selector = (sig) => keccak256(new TextEncoder().encode(sig)).slice(0, 4);
const word = (n) => fromHex(n.toString(16).padStart(64, "0"));

async function call(data) {
  const r = await evm.runCall({ to, data, gasLimit: 10_000_000n });
  return r.execResult.exceptionError ? null : r.execResult.returnValue;
}

/** `verify(bytes)`: the 7 returned words, or null if it reverted. */
async function verify(receipt) {
  const padded = new Uint8Array(Math.ceil(receipt.length / 32) * 32);
  padded.set(receipt);
  const ret = await call(Buffer.concat([selector("verify(bytes)"), word(32), word(receipt.length), padded]));
  return ret && Array.from({ length: 7 }, (_, i) => ret.slice(32 * i, 32 * i + 32));
}

console.log(`solc ${solc.version()}`);
const examples = [
  ["unbatched", rustConst("ENCODED"), 1816],
  ["batched", rustConst("BATCHED"), 2624],
];
for (const [name, encoded, expectedFlips] of examples) {
  const bytes = fromHex(encoded);
  const fields = await verify(bytes);
  if (!fields) fail(`${name} example rejected`);
  const body = bytes.slice(0, 162);
  const expect = [body.slice(5, 37), body.slice(37, 69), body.slice(69, 101), body.slice(101, 133)];
  expect.forEach((f, i) => hex(fields[i]) === hex(f) || fail(`${name}: field ${i} is ${hex(fields[i])}`));
  if (hex(fields[5]).slice(24) !== hex(body.slice(134, 154))) fail(`${name}: executor ${hex(fields[5])}`);
  const sh = await call(Buffer.concat([selector("signingHash((bytes32,bytes32,bytes32,bytes32,uint8,address,uint64))"), ...fields]));
  if (hex(sh) !== hex(keccak256(body))) fail(`${name}: signingHash ${hex(sh)}`);
  if (name === "batched") {
    // The batch digest recomputed here, independently of both Rust and Solidity.
    const depth = bytes[227];
    const index = Buffer.from(bytes.slice(228, 232)).readUInt32BE(0);
    let node = keccak256(Buffer.concat([Buffer.from("VRTL"), bytes.slice(232, 264), keccak256(body)]));
    for (let k = 0; k < depth; k++) {
      const sibling = bytes.slice(264 + 32 * k, 296 + 32 * k);
      node = keccak256((index >> k) & 1 ? Buffer.concat([sibling, node]) : Buffer.concat([node, sibling]));
    }
    const digest = keccak256(Buffer.concat([Buffer.from("VRTB"), Uint8Array.of(depth), node]));
    const pinned = tests.match(/const BATCH_DIGEST: &str = "([0-9a-f]{64})";/)?.[1];
    if (hex(digest) !== pinned) fail(`batched: digest ${hex(digest)}, pinned ${pinned}`);
  }
  let rejected = 0;
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = bytes.slice();
    flipped[bit >> 3] ^= 1 << (bit & 7);
    if ((await verify(flipped)) === null) rejected++;
  }
  if (rejected !== expectedFlips || bytes.length * 8 !== expectedFlips) {
    fail(`${name}: ${rejected} of ${bytes.length * 8} bit flips rejected`);
  }
  console.log(`${name} (${bytes.length} bytes): accepted, fields and signingHash match, ${rejected}/${expectedFlips} bit flips rejected`);
}
