//! `GET /api/v1/{index}/search/stream`: a fast field's values for every match, as CSV or
//! ClickHouse RowBinary, partitioned or not, across splits, and refused past its bound.

mod common;

use common::request;
use hydrant_ingest::testing::LocalIndex;
use hydrant_search::{SearchService, SearcherConfig};

const CONFIG: &str = r#"
index_id: events
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: delta, type: i64, fast: true}
    - {name: group, type: u64, fast: true}
    - {name: price, type: f64, fast: true}
    - {name: kind, type: text, tokenizer: raw}
  timestamp_field: ts
"#;

/// 300 events in 3 splits: `id` i, `delta` i - 150, `group` i % 3, `kind` even or odd.
async fn events(config: SearcherConfig) -> (LocalIndex, SearchService) {
    let local = LocalIndex::with_index(CONFIG).await;
    for split in 0..3u64 {
        let body: String = (split * 100..(split + 1) * 100)
            .map(|i| {
                let kind = if i % 2 == 0 { "even" } else { "odd" };
                format!(
                    "{{\"ts\": {}, \"id\": {i}, \"delta\": {}, \"group\": {}, \"price\": 1.5, \"kind\": \"{kind}\"}}\n",
                    1_700_000_000 + i,
                    i as i64 - 150,
                    i % 3
                )
            })
            .collect();
        let key = format!("events-{split}");
        local.put_object(&key, body.into_bytes()).await;
        local.index("events", &[&key]).await;
    }
    let service = SearchService::new(local.metastore.clone(), config);
    (local, service)
}

async fn stream(service: &SearchService, query_string: &str) -> (u16, Vec<u8>, &'static str) {
    let response = request(
        service,
        "GET",
        "/api/v1/events/search/stream",
        Some(query_string),
        b"",
    )
    .await;
    let content_type = response.content_type();
    (response.status, response.body_bytes(), content_type)
}

fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
        .collect()
}

#[tokio::test]
async fn exports_every_match_in_both_formats() {
    let (_local, service) = events(SearcherConfig::default()).await;
    let (status, body, content_type) = stream(&service, "query=kind:even&fast_field=id").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(content_type.starts_with("text/csv"));
    let mut ids: Vec<u64> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (0..300).step_by(2).collect::<Vec<u64>>());

    let (status, body, content_type) = stream(
        &service,
        "query=*&fast_field=delta&output_format=clickHouseRowBinary&start_timestamp=1700000100",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/octet-stream");
    let mut deltas: Vec<i64> = words(&body).into_iter().map(|word| word as i64).collect();
    deltas.sort();
    assert_eq!(deltas, (-50..150).collect::<Vec<i64>>());
}

#[tokio::test]
async fn partitions_come_in_chunks() {
    let (_local, service) = events(SearcherConfig::default()).await;
    let (status, body, _) = stream(
        &service,
        "query=*&fast_field=id&partition_by_field=group&output_format=clickHouseRowBinary",
    )
    .await;
    assert_eq!(status, 200);
    let mut rest = words(&body);
    let mut chunks = Vec::new();
    while !rest.is_empty() {
        let (partition, length) = (rest[0], rest[1] as usize / 8);
        let mut ids = rest[2..2 + length].to_vec();
        ids.sort();
        chunks.push((partition, ids));
        rest = rest[2 + length..].to_vec();
    }
    let expected: Vec<(u64, Vec<u64>)> = (0..3)
        .map(|group| (group, (group..300).step_by(3).collect()))
        .collect();
    assert_eq!(chunks, expected);

    let (status, body, _) = stream(
        &service,
        "query=id:[0 TO 5]&fast_field=id&partition_by_field=group",
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(lines, ["0,0", "0,3", "1,1", "1,4", "2,2", "2,5"]);
}

#[tokio::test]
async fn mistakes_and_oversized_exports_are_refused() {
    let (_local, service) = events(SearcherConfig {
        max_stream_bytes: 8 * 100,
        ..SearcherConfig::default()
    })
    .await;
    for (query_string, status, needle) in [
        ("fast_field=id", 400, "needs `query`"),
        ("query=*", 400, "needs `fast_field`"),
        ("query=*&fast_field=price", 400, "fast u64 or i64"),
        ("query=*&fast_field=kind", 400, "fast u64 or i64"),
        ("query=*&fast_field=nope", 400, "unknown field"),
        (
            "query=*&fast_field=id&output_format=xml",
            400,
            "output_format",
        ),
        ("query=*&fast_field=id&max_hits=3", 400, "unknown parameter"),
        (
            "query=*&fast_field=id&partition_by_field=kind",
            400,
            "partition_by_field",
        ),
        // 300 matches do not fit in 800 bytes; 100 would.
        ("query=*&fast_field=id", 413, "300 values"),
    ] {
        let (got, body, _) = stream(&service, query_string).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{query_string}: {body}");
        assert!(body.contains(needle), "{query_string}: {body}");
    }
    let (status, body, _) = stream(&service, "query=id:<100&fast_field=id").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let post = request(&service, "POST", "/api/v1/events/search/stream", None, b"").await;
    assert_eq!(post.status, 405);
}
