//! The benchmark's query mix over web logs, each query with the same question asked of raw
//! JSON records: the predicate a scan of the gzip objects evaluates (what a user without an
//! index does with Athena or DuckDB). The two must agree on every count, which the benchmark
//! checks, so the baseline answers the same questions and not easier ones.

use serde_json::Value;

/// One query of the mix.
#[derive(Clone, Copy, Debug)]
pub struct MixQuery {
    /// A short name for tables.
    pub name: &'static str,
    /// The Quickwit query string.
    pub query: &'static str,
    /// Restrict to the newest part of the data: the last `recent_share` of the time span.
    pub recent_share: Option<f64>,
    /// The same question over a raw record.
    pub matches: fn(&Value) -> bool,
}

impl MixQuery {
    /// The start of the query's time window, in seconds, over records spanning
    /// `(first_millis, last_millis)`: `None` for the whole span.
    pub fn start_seconds(&self, (first_millis, last_millis): (i64, i64)) -> Option<i64> {
        self.recent_share.map(|share| {
            (last_millis - ((last_millis - first_millis) as f64 * share) as i64) / 1000
        })
    }
}

/// The search API's JSON body for `query`: ten hits, from `start_seconds` on when given, with
/// the request's storage statistics when `stats`.
pub fn request_body(query: &str, start_seconds: Option<i64>, stats: bool) -> Value {
    let mut body = serde_json::json!({"query": query, "max_hits": 10, "stats": stats});
    if let Some(start) = start_seconds {
        body["start_timestamp"] = start.into();
    }
    body
}

/// The mix: a term on a fast field, full text, a boolean with a range, a phrase, a nested
/// field with text, and a recent-only query that time pruning should make cheap.
pub const QUERY_MIX: [MixQuery; 6] = [
    MixQuery {
        name: "term",
        query: "status:503",
        recent_share: None,
        matches: |record| record["status"] == 503,
    },
    MixQuery {
        name: "full text",
        query: "deadlock",
        recent_share: None,
        matches: |record| text_has_token(&record["message"], "deadlock"),
    },
    MixQuery {
        name: "bool+range",
        query: "method:POST AND status:[500 TO 599]",
        recent_share: None,
        matches: |record| {
            record["method"] == "POST"
                && record["status"]
                    .as_u64()
                    .is_some_and(|status| (500..=599).contains(&status))
        },
    },
    MixQuery {
        name: "phrase",
        query: "message:\"connection reset\"",
        recent_share: None,
        matches: |record| text_has_phrase(&record["message"], &["connection", "reset"]),
    },
    MixQuery {
        name: "nested+text",
        query: "geo.country:JP AND path:checkout",
        recent_share: None,
        matches: |record| {
            record["geo"]["country"] == "JP" && text_has_token(&record["path"], "checkout")
        },
    },
    MixQuery {
        name: "recent 10%",
        query: "status:404",
        recent_share: Some(0.1),
        matches: |record| record["status"] == 404,
    },
];

/// The tokens tantivy's default tokenizer makes of `text`: alphanumeric runs, lowercased,
/// those over 40 bytes dropped.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty() && token.len() <= 40)
        .map(str::to_lowercase)
}

fn text_has_token(value: &Value, token: &str) -> bool {
    value
        .as_str()
        .is_some_and(|text| tokens(text).any(|candidate| candidate == token))
}

fn text_has_phrase(value: &Value, phrase: &[&str]) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let tokens: Vec<String> = tokens(text).collect();
    tokens
        .windows(phrase.len())
        .any(|window| window.iter().zip(phrase).all(|(token, word)| token == word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_answer_like_the_query_language() {
        let record: Value = serde_json::from_str(
            r#"{"status":503,"method":"POST","message":"Connection reset by peer","path":"/api/v1/checkout/7","geo":{"country":"JP"}}"#,
        )
        .unwrap();
        let matched: Vec<&str> = QUERY_MIX
            .iter()
            .filter(|query| (query.matches)(&record))
            .map(|query| query.name)
            .collect();
        assert_eq!(matched, ["term", "bool+range", "phrase", "nested+text"]);
        assert!(!text_has_phrase(
            &Value::from("reset connection"),
            &["connection", "reset"]
        ));
    }
}
