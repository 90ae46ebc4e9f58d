//! `--ca-cert` (and `$VERITY_CA_CERT`): the CLI reaches an `https://` node whose
//! self-signed certificate it was told to trust, and refuses it otherwise (exit 3, naming
//! the flag).

use std::process::{Command, Output};

#[path = "../../verity-client/tests/tls_server/mod.rs"]
mod tls_server;

fn peers(url: &str, extra: &[&str], env_ca: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity"));
    cmd.args(["peers", "--node", url, "--json"]).args(extra).env_remove("VERITY_CA_CERT");
    if let Some(p) = env_ca {
        cmd.env("VERITY_CA_CERT", p);
    }
    cmd.output().unwrap()
}

fn fails(out: &Output, code: i32, needle: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["error"].as_str().unwrap().contains(needle), "{v}");
}

#[test]
fn the_ca_cert_flag_and_variable_decide_which_https_nodes_are_trusted() {
    let (url, pem) = tls_server::tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let ca = ca.to_str().unwrap();

    for out in [peers(&url, &["--ca-cert", ca], None), peers(&url, &[], Some(ca))] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], "ok");
    }
    // Untrusted by default, and by another authority: an I/O failure that names the fix.
    fails(&peers(&url, &[], None), 3, "--ca-cert");
    let (_, other) = tls_server::tls_server();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other).unwrap();
    fails(&peers(&url, &["--ca-cert", other_ca.to_str().unwrap()], None), 3, "certificate");
    // A missing file cannot be read (3); a file that is no PEM is bad input (2).
    fails(&peers(&url, &["--ca-cert", "/nonexistent/ca.pem"], None), 3, "cannot read CA certificate");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    fails(&peers(&url, &["--ca-cert", junk.to_str().unwrap()], None), 2, "no certificate");
}
