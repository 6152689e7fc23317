//! A Firehose stream partitioned by tenant (dynamic partitioning writes `tenant=acme/` into
//! the object keys) fans out into one index per tenant: a prefix rule with a `*` routes each
//! object by its partition, and an index template creates each tenant's index on first sight,
//! in the same serialized batches; each index holds exactly its tenant's records.

use hydrant_ingest::ObjectRef;
use hydrant_ingest::batch::QueueMessage;
use hydrant_ingest::testing::{LocalIndex, STAGING_BUCKET};
use hydrant_metastore::index_template::IndexTemplate;

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const OBJECTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_objects_fan_out_into_one_index_per_tenant() {
    let local = LocalIndex::new().await;
    let template = IndexTemplate::from_yaml(
        r#"
template_id: tenant-logs
index_id_patterns: [logs-*]
doc_mapping:
  mode: dynamic
  field_mappings:
    - {name: tenant, type: text, tokenizer: raw, fast: true}
    - {name: n, type: u64, fast: true}
"#,
    )
    .unwrap();
    local.metastore.create_template(template).await.unwrap();
    let runtime = local
        .runtime(vec![(
            format!("{STAGING_BUCKET}/firehose/tenant=*/"),
            "logs-*".to_string(),
        )])
        .await;

    let mut expected = std::collections::BTreeMap::<&str, u64>::new();
    let mut messages = Vec::new();
    for number in 0..OBJECTS {
        let tenant = TENANTS[number % TENANTS.len()];
        let records = 10 + number as u64;
        let body: String = (0..records)
            .map(|n| format!("{{\"tenant\": \"{tenant}\", \"n\": {n}}}\n"))
            .collect();
        let key = format!("firehose/tenant={tenant}/2026/12/02/03/stream-1-{number:03}.json");
        local.put_object(&key, body.into_bytes()).await;
        *expected.entry(tenant).or_default() += records;
        messages.push(QueueMessage::backfill(
            &ObjectRef::new(STAGING_BUCKET, key),
            None,
        ));
    }
    // FIFO batches of ten, as the queue delivers them.
    for batch in messages.chunks(10) {
        let outcome = runtime.run_batch(batch, None).await;
        assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
        assert!(outcome.set_aside.is_empty(), "{:?}", outcome.set_aside);
    }

    let index_ids = local.metastore.list_index_ids().await.unwrap();
    let expected_ids: Vec<String> = TENANTS.iter().map(|t| format!("logs-{t}")).collect();
    assert_eq!(index_ids, expected_ids);
    for (tenant, records) in expected {
        let index_id = format!("logs-{tenant}");
        assert_eq!(local.published_docs(&index_id).await, records, "{index_id}");
    }
    // Redelivered, nothing is indexed twice.
    let outcome = runtime.run_batch(&messages[..10], None).await;
    assert_eq!(outcome.num_docs, 0);
    assert_eq!(outcome.num_objects_already_indexed, 10);
}
