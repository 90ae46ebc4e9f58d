//! The README's quickstart, run as written: every line of the `sh` block under "The
//! `verity` command", in one bash with `set -euo pipefail`, in an empty directory that holds
//! only the repository's `fixtures/` (a fresh clone's), with an empty HOME. Two lines are
//! adapted, and the test fails if either is not found as written: the build line (this
//! test's binary is already built; its directory goes first on PATH instead), and the
//! port 8700, replaced by a free one so that the test never meets another server.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const BUILD_LINE: &str = r#"cargo build --release -p verity-cli && export PATH="$PWD/target/release:$PATH""#;

fn quickstart() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = &readme[readme.find("## The `verity` command").expect("the README's command section")..];
    let block = &section[section.find("```sh\n").expect("an sh block") + 6..];
    let block = &block[..block.find("```").expect("the block's end")];
    block.lines().map(str::to_string).collect()
}

#[test]
fn the_readme_quickstart_runs_as_written() {
    let lines = quickstart();
    assert_eq!(lines.first().map(String::as_str), Some(BUILD_LINE), "the README's first line changed; adapt this test");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    assert!(lines.iter().any(|l| l.contains("127.0.0.1:8700")));
    let bin = Path::new(env!("CARGO_BIN_EXE_verity")).parent().unwrap().display().to_string();
    let mut script = String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    script += &format!("export PATH=\"{bin}:$PATH\"\n");
    for l in &lines[1..] {
        script += &l.replace("127.0.0.1:8700", &format!("127.0.0.1:{port}"));
        script += "\n";
    }
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").canonicalize().unwrap();
    std::os::unix::fs::symlink(&fixtures, dir.path().join("fixtures")).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("VERITY_KEY")
        .env_remove("VERITY_API_KEY")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the quickstart failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    for f in ["cnn.vrt", "r.json", "p.vrtz", "cnn.vk", "p2.vrtz", "fetched.vrt", ".verity/executor.key"] {
        assert!(dir.path().join(f).exists(), "the quickstart wrote no {f}");
    }
    // The published id is the locally imported model's id, captured without copy-paste.
    let id = stdout.lines().next().unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "{stdout}");
    assert!(stdout.contains(&format!("\"model_id\":\"{id}\"")), "infer --json names the published model:\n{stdout}");
    assert!(stderr.contains("published on"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("fetched.vrt")).unwrap(), std::fs::read(dir.path().join("cnn.vrt")).unwrap());
}
