//! Helpers shared by the CLI tests: the `verity` binary as a process, a node on loopback, fixtures.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use verity_client::Client;

pub const KEY: &str = "node-test-key";

pub fn fx(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name).display().to_string()
}

pub fn pinned_id(name: &str) -> String {
    let ids: Value = serde_json::from_str(&std::fs::read_to_string(fx("model_ids.json")).unwrap()).unwrap();
    ids[name].as_str().unwrap().to_string()
}

/// A `verity node` child process and the lines it prints after the listening line.
pub struct NodeProc {
    pub child: Child,
    pub url: String,
    lines: mpsc::Receiver<String>,
}

impl NodeProc {
    pub fn start(data: &Path, pause_at: Option<&str>) -> NodeProc {
        Self::start_with(data, pause_at, &[])
    }

    /// [`NodeProc::start`] with more `verity node` flags.
    pub fn start_with(data: &Path, pause_at: Option<&str>, flags: &[&str]) -> NodeProc {
        Self::start_env(data, pause_at, flags, &[])
    }

    /// [`NodeProc::start_with`] with more environment variables.
    pub fn start_env(data: &Path, pause_at: Option<&str>, flags: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity"));
        cmd.args(["node", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(flags)
            .envs(env.iter().copied())
            .env("VERITY_API_KEY", KEY)
            .env_remove("VERITY_NODE_TEST_PAUSE_AT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(p) = pause_at {
            cmd.env("VERITY_NODE_TEST_PAUSE_AT", p);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(60)).expect("the node did not start");
        let url = first.split_whitespace().find(|w| w.starts_with("http://")).expect(&first).to_string();
        NodeProc { child, url, lines }
    }

    /// Blocks until the node prints that it reached its pause point.
    pub fn wait_paused(&self) {
        let line = self.lines.recv_timeout(Duration::from_secs(60)).expect("the node never reached its pause point");
        assert!(line.starts_with("verity node: paused at"), "{line}");
    }

    /// Whether the node prints that it reached its pause point within `secs` seconds.
    pub fn paused_within(&self, secs: u64) -> bool {
        self.lines.recv_timeout(Duration::from_secs(secs)).is_ok_and(|l| l.starts_with("verity node: paused at"))
    }

    /// SIGKILL: no destructor, no flush, no graceful anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn client(&self, cache: &Path) -> Client {
        Client::new(&self.url).with_api_key(Some(KEY.into())).with_cache_dir(Some(cache.to_path_buf()))
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn verity(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(args)
        .env("HOME", home)
        .env("VERITY_CACHE", home.join("cache"))
        .env("VERITY_KEY", home.join("key"))
        .env("VERITY_API_KEY", KEY)
        .output()
        .unwrap()
}

pub fn ok(args: &[&str], home: &Path) -> String {
    let out = verity(args, home);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn fails(args: &[&str], home: &Path, needle: &str) {
    let out = verity(args, home);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1..=3)), "verity {args:?} should fail with exit 1, 2 or 3; stderr: {err}");
    assert!(err.contains(needle), "verity {args:?}: stderr {err:?} lacks {needle:?}");
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// Ids of the blob files, and whether `blobs/tmp` holds anything.
pub fn blob_files(data: &Path) -> (Vec<String>, usize) {
    let mut ids: Vec<String> = std::fs::read_dir(data.join("blobs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    ids.sort();
    (ids, std::fs::read_dir(data.join("blobs/tmp")).unwrap().count())
}

/// `verity ARGS --help`.
pub fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_verity")).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "verity {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Command names listed under `Commands:` in a clap help text.
pub fn commands_of(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `secs` seconds.
pub fn poll<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
