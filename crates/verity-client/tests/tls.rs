//! `https://` nodes: the client speaks TLS (rustls) to a loopback server with a
//! self-signed certificate, trusts it only when told to, and names a certificate it does
//! not trust as the problem.

use verity_client::{Client, Error};

mod tls_server;

use tls_server::tls_server;

#[test]
fn https_nodes_work_with_their_ca_and_untrusted_certificates_are_named() {
    let (url, pem) = tls_server();
    let trusting = Client::new(&url).with_ca_cert_pem(pem.as_bytes()).unwrap();
    assert_eq!(trusting.health().unwrap()["status"], "ok");

    // The default trusts the Mozilla roots only: a self-signed certificate is refused, as a
    // transport failure (the CLI's exit 3) that says what to do.
    match Client::new(&url).health() {
        Err(Error::Transport(m)) => {
            assert!(m.contains("TLS") && m.contains("certificate") && m.contains("--ca-cert"), "{m}")
        }
        other => panic!("an untrusted certificate was not refused: {other:?}"),
    }
    // Another authority's certificate does not vouch for this server either.
    let (_, other_pem) = tls_server();
    match Client::new(&url).with_ca_cert_pem(other_pem.as_bytes()).unwrap().health() {
        Err(Error::Transport(m)) => assert!(m.contains("certificate"), "{m}"),
        other => panic!("another CA was accepted: {other:?}"),
    }
    // A CA file that is not PEM is an input error, before any connection.
    assert!(matches!(Client::new(&url).with_ca_cert_pem(b"not a certificate"), Err(Error::Local(_))));
}
