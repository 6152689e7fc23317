//! The AWS clients' TLS, end to end: `hydrant` talks to an S3 API (moto) over HTTPS, with
//! rustls over ring (`hydrant_storage::aws_env::http_client`) checking the server's
//! certificate against the trusted roots (here a test CA, through `SSL_CERT_FILE`, which the
//! system's certificate store honours). Without the CA, the same command fails on the
//! certificate: the chain is verified, not skipped.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hydrant_storage::testing::spawn_moto_server;

/// A CA, and a server certificate for 127.0.0.1 signed by it (`cryptography`, which moto
/// depends on, so it is where `moto_server` is).
const MAKE_CERTIFICATES: &str = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(text):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
def pem(path, data):
    open(f"{out}/{path}", "wb").write(data)

ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("hydrant test CA")).issuer_name(name("hydrant test CA"))
      .public_key(ca_key.public_key()).serial_number(1)
      .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                   key_encipherment=False, data_encipherment=False, key_agreement=False,
                                   encipher_only=False, decipher_only=False), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
server = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
          .public_key(key.public_key()).serial_number(2)
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
          .sign(ca_key, hashes.SHA256()))
pem("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
pem("server.pem", server.public_bytes(serialization.Encoding.PEM))
pem("server.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
"#;

/// Creates a bucket with a plain HTTPS PUT (moto takes it unsigned), trusting the test CA.
const CREATE_BUCKET: &str = r#"
import ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT"), context=context, timeout=30)
"#;

fn python(script: &str, args: &[&str]) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 (scripts/test puts the test venv first on PATH)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `moto_server` over TLS on a free loopback port, stopped when this process ends.
fn tls_moto(dir: &Path) -> u16 {
    let port = spawn_moto_server(&format!(
        "-c {dir}/server.pem -k {dir}/server.key",
        dir = dir.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    // Ready once a request over TLS is answered: the bucket's creation, retried until then.
    let bucket = format!("https://127.0.0.1:{port}/tls-index");
    let ca = format!("{}/ca.pem", dir.display());
    loop {
        let created = Command::new("python3")
            .arg("-c")
            .arg(CREATE_BUCKET)
            .args([&bucket, &ca])
            .output()
            .unwrap();
        if created.status.success() {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "no bucket over TLS: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hydrant(port: u16, ca: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant"));
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", format!("https://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Bounded: a failing handshake must not be retried for long.
        .env("HYDRANT_S3_OPERATION_TIMEOUT", "20s")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    command.output().unwrap()
}

#[test]
fn the_aws_clients_verify_tls_with_ring() {
    let dir = tempfile::tempdir().unwrap();
    python(MAKE_CERTIFICATES, &[dir.path().to_str().unwrap()]);
    let port = tls_moto(dir.path());
    let config = dir.path().join("logs.yaml");
    std::fs::write(
        &config,
        "index_id: logs\ndoc_mapping:\n  field_mappings:\n    - {name: message, type: text}\n",
    )
    .unwrap();
    let ca = dir.path().join("ca.pem");
    let created = hydrant(
        port,
        Some(&ca),
        &[
            "index",
            "create",
            "--index-uri",
            "s3://tls-index",
            "--index-config",
            config.to_str().unwrap(),
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let listed = hydrant(
        port,
        Some(&ca),
        &["index", "list", "--index-uri", "s3://tls-index", "--json"],
    );
    assert!(listed.status.success());
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("\"logs\""), "{listed}");

    // The same without the CA: the server's certificate is not trusted.
    let refused = hydrant(
        port,
        None,
        &["index", "list", "--index-uri", "s3://tls-index", "--json"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        stderr.contains("certificate") || stderr.contains("issuer") || stderr.contains("tls"),
        "{stderr}"
    );
}
