//! What a user sees when S3 cannot be used: no credentials, or an endpoint that never answers.
//! Each is one message that says so and names the endpoint, within the timeouts, never a hang
//! or an "internal error" dump.

use std::process::{Command, Output};
use std::time::Duration;

/// `hydrant search` on an S3 index with only the environment given (nothing inherited but
/// PATH), so that no credentials leak in from the machine.
fn search(env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant"));
    command
        .args([
            "search",
            "--index-uri",
            "s3://some-bucket",
            "--index",
            "logs",
            "--query",
            "*",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        // No instance metadata service on loopback-only machines: do not wait for one.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HYDRANT_S3_FIRST_BYTE_TIMEOUT", "1s")
        .env("HYDRANT_S3_OPERATION_TIMEOUT", "3s");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// A loopback port that accepts connections and never answers.
fn silent_endpoint() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (endpoint, holder)
}

#[test]
fn missing_credentials_are_reported_as_such() {
    let (endpoint, _holder) = silent_endpoint();
    let output = search(&[("AWS_ENDPOINT_URL", &endpoint)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
}

#[test]
fn a_silent_endpoint_fails_within_the_timeouts_and_is_named() {
    let (endpoint, _holder) = silent_endpoint();
    let output = search(&[
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(
        stderr.contains("no answer") || stderr.contains("did not answer"),
        "{stderr}"
    );
}
