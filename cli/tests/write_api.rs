//! `hydrant serve`'s local write API end to end: an index created from a JSON config, NDJSON
//! ingested, an Elasticsearch `_bulk` with gzip and per-item errors, the documents searchable
//! at once, then the index deleted; on S3-less local disk, as a new user tries it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

mod common;

use common::listening_port;

/// One request; returns the status and the JSON body.
fn call(port: u16, method: &str, target: &str, body: &[u8], gzip: bool) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let encoding = if gzip {
        "Content-Encoding: gzip\r\n"
    } else {
        ""
    };
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{encoding}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn serve(index_dir: &std::path::Path, extra: &[&str]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .args(["serve", "--index-uri"])
        .arg(index_dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (port, _) = listening_port(&mut child);
    (child, port)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn create_ingest_bulk_search_and_delete() {
    let temp_dir = tempfile::tempdir().unwrap();
    let index_dir = temp_dir.path().join("index");
    let (server, port) = serve(&index_dir, &[]);
    let config = json!({
        "version": "0.7",
        "index_id": "events",
        "doc_mapping": {
            "field_mappings": [
                {"name": "message", "type": "text"},
                {"name": "count", "type": "u64", "fast": true},
            ]
        }
    });
    let (status, created) = call(
        port,
        "POST",
        "/api/v1/indexes/",
        config.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["index_id"], "events");
    let (status, _) = call(
        port,
        "POST",
        "/api/v1/indexes",
        config.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 400, "a second index with the same id");
    let (status, refused) = call(port, "POST", "/api/v1/indexes", b"index_id: [oops", false);
    assert_eq!(status, 400, "{refused}");

    let ndjson = "{\"message\": \"hello world\", \"count\": 1}\n{\"message\": \"bad\", \"count\": \"many\"}\n{\"message\": \"hello again\", \"count\": 2}\n";
    let (status, ingested) = call(
        port,
        "POST",
        "/api/v1/events/ingest?commit=force",
        ndjson.as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{ingested}");
    assert_eq!(ingested["num_ingested_docs"], 2);
    assert_eq!(ingested["num_rejected_docs"], 1);
    assert_eq!(ingested["parse_failures"][0]["line"], 2);

    let bulk = [
        json!({"index": {"_index": "events", "_id": "a"}}),
        json!({"message": "bulk hello", "count": 3}),
        json!({"create": {"_index": "nowhere"}}),
        json!({"message": "lost"}),
        json!({"index": {}}),
        json!({"message": "bad", "count": -1}),
    ]
    .iter()
    .map(|line| line.to_string() + "\n")
    .collect::<String>();
    let (status, answer) = call(
        port,
        "POST",
        "/api/v1/_elastic/events/_bulk?refresh=true",
        &gzip(bulk.as_bytes()),
        true,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["_id"], "a");
    assert_eq!(items[1]["create"]["status"], 404);
    assert_eq!(
        items[1]["create"]["error"]["type"],
        "index_not_found_exception"
    );
    assert_eq!(items[2]["index"]["status"], 400);
    assert_eq!(
        items[2]["index"]["error"]["type"],
        "document_parsing_exception"
    );
    let (status, malformed) = call(
        port,
        "POST",
        "/api/v1/_elastic/_bulk",
        b"{\"delete\": {\"_index\": \"events\"}}\n",
        false,
    );
    assert_eq!(status, 400);
    assert!(
        malformed["error"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Malformed action/metadata line [1]")
    );

    // Searchable as soon as the writes are answered.
    let (status, found) = call(
        port,
        "GET",
        "/api/v1/events/search?query=message:hello",
        b"",
        false,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["num_hits"], 3);

    // The config updated (Quickwit's PUT): a field added and default search fields set; the
    // documents indexed before are still found, the new field only in documents after.
    let mut updated = config.clone();
    updated["doc_mapping"]["field_mappings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "level", "type": "text", "tokenizer": "raw", "fast": true}));
    updated["search_settings"] = json!({"default_search_fields": ["message", "level"]});
    let (status, answer) = call(
        port,
        "PUT",
        "/api/v1/indexes/events",
        updated.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changes"]["added_fields"], json!(["level"]));
    assert_eq!(answer["changes"]["search_settings"], true);
    let (status, _) = call(
        port,
        "POST",
        "/api/v1/events/ingest?commit=force",
        b"{\"message\": \"hello after\", \"count\": 4, \"level\": \"warn\"}\n",
        false,
    );
    assert_eq!(status, 200);
    for (query, expected) in [
        ("hello", 4),
        ("level:warn", 1),
        ("warn", 1),
        ("NOT level:warn", 3),
    ] {
        let (status, found) = call(
            port,
            "GET",
            &format!("/api/v1/events/search?query={}", query.replace(' ', "%20")),
            b"",
            false,
        );
        assert_eq!(
            (status, &found["num_hits"]),
            (200, &json!(expected)),
            "{query}: {found}"
        );
    }
    let mut retyped = updated.clone();
    retyped["doc_mapping"]["field_mappings"][1]["type"] = json!("i64");
    let (status, refused) = call(
        port,
        "PUT",
        "/api/v1/indexes/events",
        retyped.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("field `count` cannot change type"),
        "{refused}"
    );
    let (status, _) = call(
        port,
        "PUT",
        "/api/v1/indexes/other",
        updated.to_string().as_bytes(),
        false,
    );
    assert_eq!(
        status, 400,
        "the path and the config name different indexes"
    );
    let mut fresh = updated.clone();
    fresh["index_id"] = json!("fresh");
    let (status, _) = call(
        port,
        "PUT",
        "/api/v1/indexes/fresh",
        fresh.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 404, "no index to update");
    let (status, created) = call(
        port,
        "PUT",
        "/api/v1/indexes/fresh?create=true",
        fresh.to_string().as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{created}");

    // A template creates the indexes it matches on first sight, from _bulk as from the indexer.
    let template = json!({
        "template_id": "tenant-template",
        "index_id_patterns": ["tenant-*"],
        "doc_mapping": {"mode": "dynamic"},
    })
    .to_string();
    let (status, created) = call(
        port,
        "POST",
        "/api/v1/templates",
        template.as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{created}");
    let (status, listed) = call(port, "GET", "/api/v1/templates", b"", false);
    assert_eq!(
        (status, listed[0]["template_id"].as_str()),
        (200, Some("tenant-template"))
    );
    let bulk = [
        json!({"index": {"_index": "tenant-acme"}}),
        json!({"message": "from acme"}),
        json!({"index": {"_index": "tenant-&1"}}),
        json!({"message": "bad name"}),
        json!({"index": {"_index": "elsewhere"}}),
        json!({"message": "no template"}),
    ]
    .iter()
    .map(|line| line.to_string() + "\n")
    .collect::<String>();
    let (status, answer) = call(
        port,
        "POST",
        "/api/v1/_elastic/_bulk",
        bulk.as_bytes(),
        false,
    );
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<&Value> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["index"]["status"])
        .collect();
    assert_eq!(statuses, [201, 400, 404]);
    let (_, found) = call(
        port,
        "GET",
        "/api/v1/tenant-acme/search?query=*",
        b"",
        false,
    );
    assert_eq!(found["num_hits"], 1);
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/templates/tenant-template",
            b"",
            false
        )
        .0,
        200
    );
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/templates/tenant-template",
            b"",
            false
        )
        .0,
        404
    );

    // Elasticsearch's index deletion, by pattern.
    let other = json!({"index_id": "other", "doc_mapping": {"mode": "dynamic"}}).to_string();
    assert_eq!(
        call(port, "POST", "/api/v1/indexes", other.as_bytes(), false).0,
        200
    );
    let (status, _) = call(port, "DELETE", "/api/v1/_elastic/other,missing", b"", false);
    assert_eq!(status, 404);
    let (status, acknowledged) = call(
        port,
        "DELETE",
        "/api/v1/_elastic/other,missing?ignore_unavailable=true",
        b"",
        false,
    );
    assert_eq!((status, &acknowledged["acknowledged"]), (200, &json!(true)));
    assert_eq!(
        call(port, "DELETE", "/api/v1/_elastic/other", b"", false).0,
        404
    );

    let (status, deleted) = call(port, "DELETE", "/api/v1/indexes/events", b"", false);
    assert_eq!(status, 200, "{deleted}");
    assert!(
        !deleted.as_array().unwrap().is_empty(),
        "the split files are listed"
    );
    let (status, _) = call(port, "GET", "/api/v1/events/search?query=*", b"", false);
    assert_eq!(status, 404);
    let (status, _) = call(port, "DELETE", "/api/v1/indexes/events", b"", false);
    assert_eq!(status, 404);
    // The documents sent are kept as staging objects, as Firehose objects are.
    let staged = std::fs::read_dir(temp_dir.path().join("api-staging/events"))
        .unwrap()
        .count();
    assert_eq!(staged, 3);
    common::stop(server);
}

#[test]
fn read_only_serves_searches_only() {
    let temp_dir = tempfile::tempdir().unwrap();
    let (server, port) = serve(&temp_dir.path().join("index"), &["--read-only"]);
    let (status, refused) = call(
        port,
        "POST",
        "/api/v1/_elastic/_bulk",
        b"{\"index\": {\"_index\": \"x\"}}\n{}\n",
        false,
    );
    assert_eq!(status, 405, "{refused}");
    assert!(
        refused["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("Firehose"),
        "{refused}"
    );
    let (status, _) = call(port, "POST", "/api/v1/indexes", b"index_id: x", false);
    assert_ne!(status, 200);
    common::stop(server);
}
