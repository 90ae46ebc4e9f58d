// Compiles contracts/src/*.sol and contracts/test/*.sol with the pinned solc (package.json)
// and writes one artifact per contract to contracts/out/NAME.json: ABI, creation and
// runtime bytecode. The artifacts are committed, so a Rust build needs no Node.
//
//   npm ci --prefix contracts && node contracts/build.mjs           # write out/
//   node contracts/build.mjs --check                                 # fail if out/ is stale
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");

// Pinned rather than solc's default, so that a compiler bump cannot silently change the
// target: cancun has transient storage (the re-entrancy guard) and is live on mainnet.
// viaIR: the one-step referee's ops need more locals than the legacy pipeline's stack allows.
const settings = {
  optimizer: { enabled: true, runs: 200 },
  viaIR: true,
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const sources = {};
for (const dir of ["src", "test"]) {
  for (const f of readdirSync(join(here, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    sources[`${dir}/${f}`] = { content: readFileSync(join(here, dir, f), "utf8") };
  }
}

const out = JSON.parse(
  solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), {
    import: (path) => (sources[path] ? { contents: sources[path].content } : { error: `not found: ${path}` }),
  }),
);
const problems = out.errors || [];
for (const e of problems) console.error(e.formattedMessage);
if (problems.some((e) => e.severity === "error")) process.exit(1);
if (problems.length) {
  console.error("warnings are errors here");
  process.exit(1);
}

// A library of internal functions only (BatchMerkle, VerityHash, OneStep) is inlined into its
// users: no functions in its ABI, no artifact.
const deployable = (c) => c.evm.bytecode.object && c.abi.some((e) => e.type === "function");

const outDir = join(here, "out");
mkdirSync(outDir, { recursive: true });
let stale = [];
for (const [source, contracts] of Object.entries(out.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!deployable(c)) continue;
    const artifact = {
      contractName: name,
      sourceName: source,
      compiler: { solc: solc.version(), settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion, viaIR: settings.viaIR } },
      abi: c.abi,
      bytecode: { object: `0x${c.evm.bytecode.object}` },
      deployedBytecode: { object: `0x${c.evm.deployedBytecode.object}` },
    };
    const text = `${JSON.stringify(artifact, null, 2)}\n`;
    const file = join(outDir, `${name}.json`);
    if (check) {
      if (!existsSync(file) || readFileSync(file, "utf8") !== text) stale.push(`out/${name}.json`);
    } else {
      writeFileSync(file, text);
      console.log(`out/${name}.json  ${c.evm.bytecode.object.length / 2} bytes`);
    }
  }
}
if (check) {
  const expected = new Set(
    Object.values(out.contracts).flatMap((cs) => Object.entries(cs).filter(([, c]) => deployable(c)).map(([n]) => `${n}.json`)),
  );
  for (const f of readdirSync(outDir)) if (!expected.has(f)) stale.push(`out/${f} (no such contract)`);
  if (stale.length) {
    console.error(`contract artifacts differ from a fresh compile: ${stale.join(", ")}\nrun: node contracts/build.mjs`);
    process.exit(1);
  }
  console.log("contract artifacts match a fresh compile");
}
