//! `verity devnet`: a local network of `verity node` processes on loopback for trying the
//! network out (docs/network.md, "Devnet"). Node 0 is the bootstrap peer of the others;
//! the first `--verifiers` nodes are verifiers that re-execute every announced receipt
//! (by default), the last `--cheaters` nodes are executors in the test-only cheating mode,
//! the rest are honest executors. It prints each node's URL once all of them listen, and
//! stops them all on SIGINT or SIGTERM (and, on Linux, they stop if it is killed). With
//! `--chain` they settle on a local anvil (docs/settlement.md, "Nodes on chain").

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct DevnetArgs {
    /// How many node processes to start.
    #[arg(long)]
    pub nodes: usize,
    /// How many of them (the last ones) run in the test-only cheating mode (one weight
    /// of every model changed).
    #[arg(long, default_value_t = 0)]
    pub cheaters: usize,
    /// How many of them (the first ones) are verifiers.
    #[arg(long, default_value_t = 1)]
    pub verifiers: usize,
    /// Fraction (0..=1) of announced receipts the verifiers re-execute.
    #[arg(long, default_value_t = 1.0)]
    pub verify_sample: f64,
    /// Directory for the nodes' data (DIR/node-I) and logs (DIR/node-I/node.log).
    #[arg(long)]
    pub data: PathBuf,
    /// Settle on this anvil chain (JSON-RPC URL, chain id 31337): deploy the contracts to
    /// DIR/chain.json, fund every node from anvil's dev accounts, stake every executor, and
    /// start the nodes with --chain-rpc, so batches are posted, cheats challenged and
    /// cheaters slashed on chain with no human step.
    #[arg(long, value_name = "URL")]
    pub chain: Option<String>,
    /// Print the nodes as one JSON object on one line.
    #[arg(long)]
    pub json: bool,
}

/// What each node is given on `--chain`: ether for gas and bonds, and the executors' stake.
const FUNDS: u128 = 100 * ETH;
const STAKE: u128 = 2 * ETH;
const ETH: u128 = 1_000_000_000_000_000_000;

/// The most nodes a devnet starts (each is a process with its own runtime).
const MAX_NODES: usize = 64;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The children, stopped (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) when dropped, so
/// that no error path leaves a node running.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &self.0 {
            // SAFETY: kill(2) on the pid of a child this process has not reaped yet.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for c in &mut self.0 {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// `n` distinct free loopback ports (all held until chosen, so none repeats).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let held: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<_>>().context("cannot find free ports")?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

fn role_of(i: usize, a: &DevnetArgs) -> (&'static str, bool) {
    if i < a.verifiers {
        ("verifier", false)
    } else {
        ("executor", i >= a.nodes - a.cheaters)
    }
}

fn check(a: &DevnetArgs) -> Result<()> {
    let usage = |m: String| Err(anyhow::anyhow!(m));
    if a.nodes == 0 || a.nodes > MAX_NODES {
        return usage(format!("--nodes must be between 1 and {MAX_NODES}, got {}", a.nodes));
    }
    if a.verifiers + a.cheaters > a.nodes {
        return usage(format!("--verifiers {} and --cheaters {} are more than the {} nodes", a.verifiers, a.cheaters, a.nodes));
    }
    if !(0.0..=1.0).contains(&a.verify_sample) {
        return usage(format!("--verify-sample must be between 0 and 1, got {}", a.verify_sample));
    }
    Ok(())
}

fn node_dir(a: &DevnetArgs, i: usize) -> PathBuf {
    a.data.join(format!("node-{i}"))
}

/// Deploys the contracts (the dispute game included) to DIR/chain.json, and funds every
/// node's executor key (created here, where the node will find it) and stakes the executors'.
fn setup_chain(a: &DevnetArgs, rpc: &str) -> Result<PathBuf> {
    use verity_settlement::{Chain, DeployParams, GameParams, ANVIL_CHAIN_ID};
    verity_settlement::block_on(async {
        let chain = Chain::connect(rpc, None).await?;
        anyhow::ensure!(
            chain.chain_id() == ANVIL_CHAIN_ID,
            "--chain {rpc} is chain {}; devnet funds its nodes from anvil's dev accounts, so it needs anvil (chain id {ANVIL_CHAIN_ID})",
            chain.chain_id()
        );
        let deployed = chain.deploy_with_game(&DeployParams::default(), &GameParams::default()).await?;
        let file = a.data.join("chain.json");
        deployed.deployment.save(&file)?;
        let s = chain.attach(&deployed.deployment).await?;
        for i in 0..a.nodes {
            let dir = node_dir(a, i);
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let (key, _) = verity_receipt::Signer::load_or_create(dir.join("executor.key"))
                .with_context(|| format!("the executor key of node {i}"))?;
            chain.send_value(key.address().into(), FUNDS).await?;
            if role_of(i, a).0 == "executor" {
                s.with_key(&key.secret_hex()).await?.stake(STAKE).await.with_context(|| format!("staking node {i}"))?;
            }
        }
        Ok(file)
    })?
}

fn spawn_node(exe: &Path, a: &DevnetArgs, i: usize, http: u16, p2p: &[u16], chain: Option<&Path>) -> Result<Child> {
    let dir = node_dir(a, i);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("node.log")).with_context(|| format!("cannot create {}/node.log", dir.display()))?;
    let (role, cheater) = role_of(i, a);
    let mut cmd = Command::new(exe);
    cmd.arg("node")
        .arg("--data")
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{http}")])
        .args(["--p2p-listen", &format!("/ip4/127.0.0.1/tcp/{}", p2p[i])])
        .args(["--role", role, "--net-verify-sample", &a.verify_sample.to_string(), "--json"]);
    if i > 0 {
        cmd.args(["--bootstrap", &format!("/ip4/127.0.0.1/tcp/{}", p2p[0])]);
    }
    if let (Some(rpc), Some(file)) = (&a.chain, chain) {
        cmd.args(["--chain-rpc", rpc]).arg("--chain-deployment").arg(file);
    }
    if cheater {
        cmd.arg("--cheat-weight").env(crate::node::ALLOW_CHEAT, "1");
    } else {
        cmd.env_remove(crate::node::ALLOW_CHEAT);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; the child stops when this process dies,
        // even by SIGKILL, so a devnet never leaves orphans behind.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    cmd.spawn().with_context(|| format!("cannot start node {i}"))
}

/// The node's listening line (`verity node --json`), within the start timeout.
fn listening_line(child: &mut Child, i: usize) -> Result<Value> {
    let out = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let _ = tx.send(line);
        // Keep reading, so that the node never writes to a closed pipe.
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    let line = rx.recv_timeout(START_TIMEOUT).map_err(|_| anyhow::anyhow!("node {i} did not start within {START_TIMEOUT:?}"))?;
    serde_json::from_str(&line).map_err(|_| anyhow::anyhow!("node {i} failed to start (see its node.log)"))
}

pub fn run(a: DevnetArgs) -> Result<()> {
    check(&a)?;
    std::fs::create_dir_all(&a.data).with_context(|| format!("cannot create {}", a.data.display()))?;
    let exe = std::env::current_exe().context("cannot find the verity executable")?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let chain = match &a.chain {
        Some(rpc) => Some(setup_chain(&a, rpc).map_err(crate::exit::io)?),
        None => None,
    };
    let ports = free_ports(2 * a.nodes)?;
    let (http, p2p) = ports.split_at(a.nodes);
    let mut children = Children(Vec::new());
    let mut nodes = Vec::new();
    for i in 0..a.nodes {
        children.0.push(spawn_node(&exe, &a, i, http[i], p2p, chain.as_deref()).map_err(crate::exit::io)?);
        let line = listening_line(children.0.last_mut().expect("pushed"), i).map_err(crate::exit::io)?;
        let (role, cheater) = role_of(i, &a);
        nodes.push(json!({
            "index": i,
            "url": line["url"],
            "executor": line["executor"],
            "role": role,
            "cheater": cheater,
            "p2p": format!("/ip4/127.0.0.1/tcp/{}", p2p[i]),
            "pid": children.0[i].id(),
            "data": node_dir(&a, i),
        }));
        if STOP.load(Ordering::SeqCst) {
            bail!("stopped while starting");
        }
    }
    if std::env::var("VERITY_API_KEY").map_or(true, |k| k.is_empty()) {
        eprintln!("warning: VERITY_API_KEY is not set: publishing is disabled on every node");
    }
    if a.json {
        println!(
            "{}",
            json!({ "nodes": nodes, "data": a.data, "chain": chain.as_ref().map(|f| json!({"rpc": a.chain, "deployment": f})) })
        );
    } else {
        for n in &nodes {
            let cheat = if n["cheater"] == true { " (test-only cheater)" } else { "" };
            println!(
                "node {} {}{cheat}: {} executor {} p2p {}",
                n["index"],
                n["role"].as_str().unwrap_or(""),
                n["url"].as_str().unwrap_or(""),
                n["executor"].as_str().unwrap_or(""),
                n["p2p"].as_str().unwrap_or("")
            );
        }
        if let Some(f) = &chain {
            println!("on chain {}: contracts in {}; every executor staked", a.chain.as_deref().unwrap_or(""), f.display());
        }
        println!("logs in {}/node-*/node.log; Ctrl-C stops every node", a.data.display());
    }
    while !STOP.load(Ordering::SeqCst) {
        for (i, c) in children.0.iter_mut().enumerate() {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(crate::exit::io(anyhow::anyhow!(
                    "node {i} exited ({status}); stopping the devnet (see its node.log)"
                )));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(children);
    if !a.json {
        println!("devnet stopped");
    }
    Ok(())
}
