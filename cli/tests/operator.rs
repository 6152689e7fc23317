//! The operator's commands end to end, as a person runs them: `hydrant index
//! create|update|ingest|list|describe|delete|clear`, `template create|list|delete`, `split
//! list|describe|mark-for-deletion`, `errors list`, `staging enable-eventbridge` and `search` with
//! its parameters, each checked in its `--json` form and its
//! table, on local disk and on S3 (moto).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::aws_env;
use hydrant_datagen::firehose::{Framing, encode_object};
use hydrant_storage::testing::moto_bucket;
use serde_json::{Value, json};

const CONFIG: &str = r#"
index_id: orders
doc_mapping:
  field_mappings:
    - {name: ts, type: datetime, input_formats: [unix_timestamp], fast: true}
    - {name: id, type: u64, fast: true}
    - {name: customer, type: text, tokenizer: raw, fast: true}
  timestamp_field: ts
  tag_fields: [customer]
"#;

/// Runs `hydrant args...` with `env`; returns stdout, failing the test on a non-zero exit.
fn hydrant(env: &[(&'static str, String)], args: &[&str]) -> String {
    let output = hydrant_command(env, args).output().unwrap();
    assert!(
        output.status.success(),
        "hydrant {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn hydrant_command(env: &[(&'static str, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hydrant"));
    command
        .args(args)
        .envs(env.iter().map(|(name, value)| (*name, value)));
    command.env("RUST_LOG", "warn");
    command
}

fn hydrant_json(env: &[(&'static str, String)], args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = hydrant(env, &args);
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{args:?}: {error}: {text}"))
}

/// Two staging files: 3 orders of `alice`, 2 of `bob` and one broken record.
fn staging_files(dir: &Path) -> (PathBuf, PathBuf) {
    let first = dir.join("orders-1.gz");
    let second = dir.join("orders-2.gz");
    let records = |records: &[&str]| {
        let records: Vec<String> = records.iter().map(|record| record.to_string()).collect();
        encode_object(&records, Framing::NewlineDelimited, true)
    };
    std::fs::write(
        &first,
        records(&[
            r#"{"ts": 1764583200, "id": 1, "customer": "alice"}"#,
            r#"{"ts": 1764583201, "id": 2, "customer": "alice"}"#,
            r#"{"ts": 1764583202, "id": 3, "customer": "bob"}"#,
        ]),
    )
    .unwrap();
    std::fs::write(
        &second,
        records(&[
            r#"{"ts": 1764586800, "id": 4, "customer": "alice"}"#,
            r#"{"ts": 1764586801, "id": "five", "customer": "bob"}"#,
            r#"{"ts": 1764586802, "id": 6, "customer": "bob"}"#,
        ]),
    )
    .unwrap();
    (first, second)
}

/// Every command, against the index storage `index_uri`.
fn operate(env: &[(&'static str, String)], index_uri: &str, work: &Path) {
    let config = work.join("orders.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let (first, second) = staging_files(work);
    let storage = ["--index-uri", index_uri];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(storage.iter())
            .map(|arg| arg.to_string())
            .collect()
    };
    let run = |args: &[&str]| {
        hydrant(
            env,
            &with(args).iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let run_json = |args: &[&str]| {
        hydrant_json(
            env,
            &with(args).iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    let created = run(&[
        "index",
        "create",
        "--index-config",
        config.to_str().unwrap(),
    ]);
    assert!(created.contains("Created index `orders`"), "{created}");
    // One split per ingest.
    let ingested = run_json(&[
        "index",
        "ingest",
        "--index",
        "orders",
        first.to_str().unwrap(),
    ]);
    assert_eq!(ingested["num_docs"], 3, "{ingested}");
    let ingested = run(&[
        "index",
        "ingest",
        "--index",
        "orders",
        second.to_str().unwrap(),
    ]);
    assert!(
        ingested.contains("Indexed 2 documents into 1 splits"),
        "{ingested}"
    );
    assert!(ingested.contains("1 records rejected"), "{ingested}");

    let listed = run_json(&["index", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["index_id"], "orders");
    assert_eq!(listed[0]["num_published_docs"], 5);
    assert_eq!(listed[0]["num_published_splits"], 2);
    assert_eq!(listed[0]["min_timestamp"], 1764583200);
    assert_eq!(listed[0]["max_timestamp"], 1764586802);
    let table = run(&["index", "list"]);
    assert!(table.starts_with("INDEX"), "{table}");
    assert!(
        table.contains("orders") && table.contains("1 indexes"),
        "{table}"
    );

    let described = run_json(&["index", "describe", "--index", "orders"]);
    assert_eq!(described["summary"]["num_published_docs"], 5);
    assert_eq!(described["summary"]["num_checkpointed_objects"], 2);
    assert_eq!(described["index_config"]["index_id"], "orders");
    let text = run(&["index", "describe", "--index", "orders"]);
    assert!(
        text.contains("Tag fields") && text.contains("customer"),
        "{text}"
    );

    let splits = run_json(&["split", "list", "--index", "orders"]);
    let splits = splits.as_array().unwrap().clone();
    assert_eq!(splits.len(), 2);
    // Newest first.
    assert_eq!(splits[0]["num_docs"], 2);
    assert_eq!(splits[1]["num_docs"], 3);
    let older = splits[1]["split_id"].as_str().unwrap().to_string();
    assert_eq!(splits[1]["tags"], json!(["customer:alice", "customer:bob"]));
    let in_time = run_json(&[
        "split",
        "list",
        "--index",
        "orders",
        "--start-timestamp",
        "2025-12-01T10:30:00Z",
    ]);
    assert_eq!(in_time.as_array().unwrap().len(), 1, "{in_time}");
    let split = run_json(&["split", "describe", "--index", "orders", "--split", &older]);
    assert_eq!(split["split"]["num_docs"], 3);
    assert!(
        split["file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{older}.split"))
    );
    let text = run(&["split", "describe", "--index", "orders", "--split", &older]);
    assert!(
        text.contains("published") && text.contains("customer:bob"),
        "{text}"
    );

    let errors = run_json(&["errors", "list", "--index", "orders"]);
    assert_eq!(errors["num_errors"], 1, "{errors}");
    let error = &errors["errors"][0];
    assert_eq!(error["kind"], "rejected_record");
    assert_eq!(error["reason"], "invalid_value");
    assert!(error["object"].as_str().unwrap().ends_with("orders-2.gz"));
    assert_eq!(
        error["record"],
        r#"{"ts": 1764586801, "id": "five", "customer": "bob"}"#
    );
    let none = run_json(&["errors", "list", "--object", "orders-1"]);
    assert_eq!(none["num_errors"], 0, "{none}");
    let none = run_json(&["errors", "list", "--since", "2999-01-01"]);
    assert_eq!(none["num_errors"], 0, "{none}");
    let text = run(&["errors", "list"]);
    assert!(
        text.contains("invalid_value") && text.contains("1 errors"),
        "{text}"
    );

    let page = run(&[
        "search",
        "--index",
        "orders",
        "--query",
        "customer:alice",
        "--max-hits",
        "1",
        "--start-offset",
        "1",
        "--sort-by",
        "-ts",
        "--aggs",
        r#"{"ids": {"max": {"field": "id"}}}"#,
        "--stats",
    ]);
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["num_hits"], 3);
    assert_eq!(
        page["hits"],
        json!([{"ts": "2025-12-01T10:00:01Z", "id": 2, "customer": "alice"}])
    );
    assert_eq!(page["aggregations"]["ids"]["value"], 4.0);
    // The tag prunes nothing here (both splits have alice); `bob`'s other split has none.
    assert_eq!(page["stats"]["splits_searched"], 2, "{page}");

    run(&[
        "split",
        "mark-for-deletion",
        "--index",
        "orders",
        "--split",
        &older,
    ]);
    let published = run_json(&[
        "split",
        "list",
        "--index",
        "orders",
        "--states",
        "published",
    ]);
    assert_eq!(published.as_array().unwrap().len(), 1);
    let missing = hydrant_command(
        env,
        &with(&[
            "split",
            "mark-for-deletion",
            "--index",
            "orders",
            "--split",
            "nope",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )
    .output()
    .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no split `nope`"));

    let cleared = run_json(&["index", "clear", "--index", "orders"]);
    assert_eq!(cleared["marked_for_deletion"].as_array().unwrap().len(), 1);
    let summary = run_json(&["index", "describe", "--index", "orders"]);
    assert_eq!(summary["summary"]["num_published_docs"], 0);
    assert_eq!(summary["summary"]["num_checkpointed_objects"], 0);
    // An emptied checkpoint: the same object is indexed again.
    run(&[
        "index",
        "ingest",
        "--index",
        "orders",
        first.to_str().unwrap(),
    ]);
    let listed = run_json(&["index", "list"]);
    assert_eq!(listed[0]["num_published_docs"], 3);

    let maintained = run_json(&["maintenance"]);
    assert_eq!(maintained["orders"]["merges"], 0, "{maintained}");

    let template = work.join("template.yaml");
    std::fs::write(
        &template,
        "template_id: tenants\nindex_id_patterns: [tenant-*]\npriority: 2\n\
         doc_mapping:\n  field_mappings:\n    - {name: id, type: u64}\n",
    )
    .unwrap();
    let refused = hydrant_command(
        env,
        &with(&[
            "index",
            "create",
            "--index-config",
            template.to_str().unwrap(),
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hydrant template create"));
    // The same template as JSON on one line is told apart too.
    let template_json = work.join("template.json");
    std::fs::write(
        &template_json,
        r#"{"template_id": "tenants", "index_id_patterns": ["tenant-*"], "doc_mapping": {}}"#,
    )
    .unwrap();
    let refused = hydrant_command(
        env,
        &with(&[
            "index",
            "create",
            "--index-config",
            template_json.to_str().unwrap(),
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hydrant template create"));
    let created = run(&[
        "template",
        "create",
        "--template-config",
        template.to_str().unwrap(),
    ]);
    assert!(
        created.contains("Created index template `tenants`"),
        "{created}"
    );
    let templates = run_json(&["template", "list"]);
    assert_eq!(templates[0]["template_id"], "tenants");
    assert_eq!(templates[0]["priority"], 2);
    run(&["template", "delete", "--template", "tenants"]);
    assert_eq!(run_json(&["template", "list"]), json!([]));

    let dry_run = run_json(&["index", "delete", "--index", "orders", "--dry-run"]);
    let files: Vec<&str> = dry_run
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["file_name"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"metastore/orders.json"), "{files:?}");
    assert!(
        files.iter().filter(|name| name.ends_with(".split")).count() >= 3,
        "{files:?}"
    );
    assert!(
        files.iter().any(|name| name.contains("/errors/")),
        "{files:?}"
    );
    assert_eq!(run_json(&["index", "list"]).as_array().unwrap().len(), 1);
    let deleted = run(&["index", "delete", "--index", "orders"]);
    assert!(
        deleted.contains(&format!("Deleted index `orders`: {} files", files.len())),
        "{deleted}"
    );
    assert_eq!(run_json(&["index", "list"]), json!([]));
    let again = hydrant_command(
        env,
        &with(&["index", "delete", "--index", "orders"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .output()
    .unwrap();
    assert!(!again.status.success(), "a second delete finds nothing");
}

#[test]
fn operator_commands_on_local_disk() {
    let work = tempfile::tempdir().unwrap();
    let index_dir = work.path().join("index");
    operate(&[], index_dir.to_str().unwrap(), work.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_on_s3() {
    let (_, bucket) = moto_bucket("operator").await;
    let work = tempfile::tempdir().unwrap();
    let index_uri = format!("s3://{bucket}/indexes");
    let env = aws_env();
    tokio::task::spawn_blocking(move || operate(&env, &index_uri, work.path()))
        .await
        .unwrap();
}

#[test]
fn mistyped_storage_uris_are_refused_and_create_nothing() {
    let work = tempfile::tempdir().unwrap();
    for uri in ["s3:/bad", "s3:bad", "s3://Bad_Bucket"] {
        let output = hydrant_command(&[], &["index", "list", "--index-uri", uri])
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{uri} is accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not"), "{uri}: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn toml_configs_are_read_as_quickwit_ships_some() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("orders.toml");
    std::fs::write(
        &config,
        "index_id = \"orders\"\n[doc_mapping]\nfield_mappings = [\n  { name = \"id\", type = \"u64\", fast = true },\n]\n[indexing_settings.resources]\nheap_size = \"1G\"\n",
    )
    .unwrap();
    let index_uri = work.path().join("index");
    let index_uri = index_uri.to_str().unwrap();
    hydrant(
        &[],
        &[
            "index",
            "create",
            "--index-uri",
            index_uri,
            "--index-config",
            config.to_str().unwrap(),
        ],
    );
    let described = hydrant_json(
        &[],
        &[
            "index",
            "describe",
            "--index-uri",
            index_uri,
            "--index",
            "orders",
        ],
    );
    assert_eq!(
        described["index_config"]["indexing_settings"]["resources"]["heap_size"],
        1_000_000_000
    );
    std::fs::write(&config, "index_id = \"orders\n").unwrap();
    let output = hydrant_command(
        &[],
        &[
            "index",
            "create",
            "--index-uri",
            index_uri,
            "--index-config",
            config.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid TOML"));
}

#[test]
fn logs_redirected_from_a_terminal_carry_no_colour_codes() {
    let work = tempfile::tempdir().unwrap();
    let index_uri = work.path().join("index");
    let index_uri = index_uri.to_str().unwrap();
    let config = work.path().join("orders.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_str().unwrap();
    hydrant(
        &[],
        &[
            "index",
            "create",
            "--index-uri",
            index_uri,
            "--index-config",
            config,
        ],
    );
    // The library's per-step lines are at DEBUG since Lambda logs keep one line per
    // invocation at INFO; any of them shows whether colour codes leak.
    let output = hydrant_command(&[], &["maintenance", "--index-uri", index_uri])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("maintenance finished"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_enable_eventbridge_turns_it_on_once() {
    let (s3, bucket) = moto_bucket("staging-eventbridge").await;
    let env = aws_env();
    let (first, second, json) = {
        let bucket = bucket.clone();
        tokio::task::spawn_blocking(move || {
            let args = ["staging", "enable-eventbridge", "--bucket", bucket.as_str()];
            (
                hydrant(&env, &args),
                hydrant(&env, &args),
                hydrant_json(&env, &args),
            )
        })
        .await
        .unwrap()
    };
    assert!(first.contains("turned on"), "{first}");
    assert!(second.contains("already on"), "{second}");
    assert_eq!(json["turned_on"], false);
    assert_eq!(
        json["kept"],
        json!({"topics": 0, "queues": 0, "functions": 0})
    );
    let configuration = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        configuration.event_bridge_configuration().is_some(),
        "{configuration:?}"
    );
}

/// `hydrant index update`: a field added (the summary and `describe` say so), then a type
/// change refused with the field named, exit status non-zero and the config unchanged.
#[test]
fn index_update_from_the_command_line() {
    let work = tempfile::tempdir().unwrap();
    let index_uri = work.path().join("index");
    let index_uri = index_uri.to_str().unwrap();
    let config = work.path().join("orders.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let (first, _) = staging_files(work.path());
    let config_arg = config.to_str().unwrap();
    hydrant(
        &[],
        &[
            "index",
            "create",
            "--index-uri",
            index_uri,
            "--index-config",
            config_arg,
        ],
    );
    hydrant(
        &[],
        &[
            "index",
            "ingest",
            "--index-uri",
            index_uri,
            "--index",
            "orders",
            first.to_str().unwrap(),
        ],
    );

    let updated = work.path().join("orders-v2.yaml");
    std::fs::write(
        &updated,
        CONFIG.replace(
            "  timestamp_field: ts",
            "    - {name: amount, type: u64, fast: true}\n  timestamp_field: ts",
        ),
    )
    .unwrap();
    let update = [
        "index",
        "update",
        "--index-uri",
        index_uri,
        "--index",
        "orders",
        "--index-config",
    ];
    let summary = hydrant(&[], &[&update[..], &[updated.to_str().unwrap()]].concat());
    assert!(summary.contains("Updated index `orders`"), "{summary}");
    assert!(summary.contains("Fields added: amount"), "{summary}");
    let unchanged = hydrant_json(&[], &[&update[..], &[updated.to_str().unwrap()]].concat());
    assert_eq!(unchanged["added_fields"], json!([]), "{unchanged}");
    let described = hydrant(
        &[],
        &[
            "index",
            "describe",
            "--index-uri",
            index_uri,
            "--index",
            "orders",
        ],
    );
    assert!(
        described.contains("(1 earlier, which 1 published splits were built with)"),
        "{described}"
    );

    let retyped = work.path().join("orders-v3.yaml");
    std::fs::write(
        &retyped,
        CONFIG.replace(
            "{name: id, type: u64, fast: true}",
            "{name: id, type: text, tokenizer: raw}",
        ),
    )
    .unwrap();
    let refused = hydrant_command(&[], &[&update[..], &[retyped.to_str().unwrap()]].concat())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("field `id` cannot change type from `u64`"),
        "{stderr}"
    );
    let described = hydrant_json(
        &[],
        &[
            "index",
            "describe",
            "--index-uri",
            index_uri,
            "--index",
            "orders",
        ],
    );
    assert!(
        described.to_string().contains("\"amount\""),
        "the update before stays: {described}"
    );
}
