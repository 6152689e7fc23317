//! README command one, end to end: `hydrant local` generates, indexes and serves; a stop and
//! a restart lose nothing and index nothing twice.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{listening_port, stop};

/// GET over a raw socket, exactly as curl sends it (no percent-encoding of `>`).
fn get(port: u16, target: &str) -> Option<serde_json::Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| serde_json::from_str(body).ok())?
}

fn num_hits(port: u16, query: &str) -> Option<u64> {
    get(
        port,
        &format!("/api/v1/mock-sales/search?query={query}&max_hits=0"),
    )?["num_hits"]
        .as_u64()
}

/// Starts local mode on a port it picks; returns the child, the port and the banner it printed.
fn start(data_dir: &Path, max_objects: u32) -> (Child, u16, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args(["local", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--records-per-object",
            "50",
            "--object-interval-secs",
            "0.2",
        ])
        .args(["--max-objects", &max_objects.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hydrant binary starts");
    let (port, banner) = listening_port(&mut child);
    (child, port, banner)
}

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn staged_objects(data_dir: &Path) -> usize {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .map(|path| if path.is_dir() { count(&path) } else { 1 })
            .sum()
    }
    let staging = data_dir.join("staging");
    std::fs::read_dir(&staging)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".hydrant-")
        })
        .map(|path| if path.is_dir() { count(&path) } else { 1 })
        .sum()
}

#[test]
fn local_mode_generates_indexes_serves_and_resumes() {
    let temp_dir = tempfile::tempdir().unwrap();
    let data_dir = temp_dir.path().join("data");
    let (child, port, banner) = start(&data_dir, 5);
    wait_for(
        "the first run's 250 records",
        Duration::from_secs(90),
        || num_hits(port, "*") == Some(250),
    );
    assert!(num_hits(port, "quantity:>5").unwrap() > 0);
    let hits = get(
        port,
        "/api/v1/mock-sales/search?query=quantity:>5&max_hits=3",
    )
    .unwrap();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 3);
    assert!(hits["hits"][0]["quantity"].as_u64().unwrap() > 5);
    // The search page's URL comes first, then the API's.
    assert!(
        banner.starts_with(&format!("Search page: http://127.0.0.1:{port}/ui\n")),
        "{banner}"
    );
    let output = stop(child);
    assert!(output.contains("curl 'http://127.0.0.1:"), "{output}");
    assert!(output.contains("The index holds 250 documents"), "{output}");

    let (child, port, _) = start(&data_dir, 2);
    wait_for("the second run's records", Duration::from_secs(90), || {
        num_hits(port, "*") == Some(350)
    });
    let output = stop(child);
    assert!(output.contains("The index holds 350 documents"), "{output}");
    // Exactly the generated records: 7 objects of 50, each indexed once.
    assert_eq!(staged_objects(&data_dir), 7);
}
