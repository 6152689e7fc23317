//! Records when the searcher was built, for the `build_date` of the Elasticsearch cluster
//! info (clients and Quickwit's scenarios read it). `SOURCE_DATE_EPOCH`, when set, makes the
//! build reproducible.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.parse::<i64>().ok())
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or_else(OffsetDateTime::now_utc);
    // Whole seconds, as Elasticsearch writes its build date.
    let built = built.replace_nanosecond(0).expect("zero is a nanosecond");
    let date = built.format(&Rfc3339).expect("a datetime in range formats");
    println!("cargo:rustc-env=HYDRANT_BUILD_DATE={date}");
}
