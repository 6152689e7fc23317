//! `hydrant serve` under pressure from outside: an empty API key is refused before anything is
//! served, and running out of file descriptors does not stop the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::listening_port;

fn health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn an_empty_api_key_is_refused() {
    let temp_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args(["serve", "--index-uri"])
        .arg(temp_dir.path())
        .args(["--listen", "127.0.0.1:0", "--api-key", ""])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API key is empty"), "{stderr}");
}

#[test]
fn out_of_file_descriptors_the_server_waits_and_serves_again() {
    let temp_dir = tempfile::tempdir().unwrap();
    // A few dozen descriptors: the runtime, the listener and some connections.
    let mut server = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" serve --index-uri \"$1\" --listen 127.0.0.1:0")
        .arg(env!("CARGO_BIN_EXE_hydrant"))
        .arg(temp_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port, _) = listening_port(&mut server);
    assert!(health(port).is_some(), "the server does not answer");
    // Idle connections until the server can accept no more (the kernel still completes them).
    let idle: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() > 60, "only {} connections", idle.len());
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        server.try_wait().unwrap().is_none(),
        "out of file descriptors, the server exited"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if health(port).is_some_and(|response| response.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never served again");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot accept a connection"), "{stderr}");
}
