//! The client honours `Retry-After` on 503: against a loopback server that is busy for
//! the first requests, it sends again (a bounded number of times) instead of failing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use verity_client::{Client, Error};

/// Serves `busy` answers 503 (Retry-After: 0), then 200 `{"status":"ok"}`; counts requests.
fn server(busy: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let n = count.fetch_add(1, Ordering::SeqCst);
            let (status, extra, body) = if n < busy {
                ("503 Service Unavailable", "Retry-After: 0\r\n", r#"{"error":"busy"}"#)
            } else {
                ("200 OK", "", r#"{"status":"ok"}"#)
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn a_busy_node_is_asked_again_after_retry_after() {
    let (url, seen) = server(2);
    let v = Client::new(&url).health().unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[test]
fn retries_are_bounded() {
    let (url, seen) = server(10);
    match Client::new(&url).with_busy_retries(1).health() {
        Err(Error::Node { status: 503, message }) => assert_eq!(message, "busy"),
        other => panic!("expected a 503, got {other:?}"),
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
