//! Web/HTTP access logs: timestamp, client ip, method, path, status, bytes, latency, user
//! agent, a free-text message whose words follow a Zipf distribution, and an optional nested
//! `geo` object. The loadtest's main dataset: it looks like what Firehose carries most.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::rng::Rng;

/// The index config the dataset is indexed with.
pub const WEB_LOGS_CONFIG: &str = include_str!("../configs/web-logs.yaml");

/// Status codes and their weights (per 1000 requests).
const STATUSES: [(u64, u64); 12] = [
    (200, 820),
    (201, 40),
    (204, 20),
    (301, 10),
    (304, 30),
    (400, 15),
    (401, 10),
    (403, 5),
    (404, 35),
    (500, 8),
    (502, 4),
    (503, 3),
];

const METHODS: [(&str, u64); 5] = [
    ("GET", 700),
    ("POST", 200),
    ("PUT", 50),
    ("DELETE", 30),
    ("PATCH", 20),
];

const RESOURCES: [&str; 10] = [
    "orders",
    "users",
    "products",
    "cart",
    "checkout",
    "search",
    "sessions",
    "invoices",
    "reviews",
    "inventory",
];

const USER_AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.10.1",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
];

const COUNTRIES: [(&str, &[&str]); 6] = [
    ("US", &["Seattle", "Austin", "New York"]),
    ("DE", &["Berlin", "Munich"]),
    ("FR", &["Paris", "Lyon"]),
    ("JP", &["Tokyo", "Osaka"]),
    ("BR", &["Sao Paulo"]),
    ("IN", &["Bengaluru", "Mumbai"]),
];

/// Words of ordinary messages, most frequent first: Zipf-picked, so a few are everywhere and
/// most are rare, as in real logs.
const WORDS: [&str; 64] = [
    "request",
    "completed",
    "user",
    "session",
    "cache",
    "hit",
    "served",
    "from",
    "backend",
    "ok",
    "token",
    "refreshed",
    "query",
    "returned",
    "rows",
    "item",
    "added",
    "to",
    "cart",
    "payment",
    "authorized",
    "order",
    "created",
    "shipment",
    "scheduled",
    "profile",
    "updated",
    "page",
    "rendered",
    "template",
    "compiled",
    "image",
    "resized",
    "thumbnail",
    "generated",
    "feature",
    "flag",
    "evaluated",
    "experiment",
    "variant",
    "assigned",
    "coupon",
    "applied",
    "inventory",
    "reserved",
    "email",
    "queued",
    "webhook",
    "delivered",
    "retry",
    "scheduled",
    "index",
    "refreshed",
    "replica",
    "lag",
    "measured",
    "pool",
    "connection",
    "acquired",
    "released",
    "slow",
    "path",
    "warmed",
    "stale",
];

/// What error responses say.
const ERROR_MESSAGES: [&str; 6] = [
    "upstream timeout after 3000 ms",
    "connection reset by peer",
    "database deadlock detected, transaction rolled back",
    "circuit breaker open for payments service",
    "out of memory while rendering report",
    "invalid token signature",
];

/// Generates web-log records, deterministically from a seed.
#[derive(Clone, Debug)]
pub struct WebLogs {
    rng: Rng,
}

impl WebLogs {
    pub fn new(seed: u64) -> Self {
        WebLogs {
            rng: Rng::new(seed),
        }
    }

    /// One record as a JSON line (no newline), stamped `ts_millis`.
    pub fn record(&mut self, ts_millis: i64) -> String {
        let timestamp = rfc3339_millis(ts_millis);
        let status = self.weighted(&STATUSES);
        let method = self.weighted(&METHODS);
        let resource = self.rng.pick(&RESOURCES);
        let path = match self.rng.below(10) {
            0 => format!("/static/{resource}/app.{}.js", self.rng.below(50)),
            1 => "/health".to_string(),
            _ => format!("/api/v1/{resource}/{}", self.rng.below(100_000)),
        };
        let client_ip = if self.rng.below(50) == 0 {
            format!("2001:db8::{:x}", self.rng.below(0xffff))
        } else {
            format!(
                "10.{}.{}.{}",
                self.rng.below(8),
                self.rng.below(256),
                1 + self.rng.below(254)
            )
        };
        let bytes = if status == 204 || status == 304 {
            0
        } else {
            200 + self.rng.below(20_000)
        };
        let latency_ms = if status >= 500 {
            1000.0 + self.rng.below(200_000) as f64 / 100.0
        } else {
            0.5 + self.rng.below(25_000) as f64 / 100.0
        };
        let user_agent = self.rng.pick(&USER_AGENTS);
        let message = if status >= 500 {
            self.rng.pick(&ERROR_MESSAGES).to_string()
        } else {
            let num_words = 4 + self.rng.below(10) as usize;
            let words: Vec<&str> = (0..num_words)
                .map(|_| WORDS[self.rng.zipf(WORDS.len())])
                .collect();
            words.join(" ")
        };
        // Two records in three carry the nested object: optional fields are the rule.
        let geo = if self.rng.below(3) == 0 {
            String::new()
        } else {
            let (country, cities) = self.rng.pick(&COUNTRIES);
            let city = self.rng.pick(cities);
            format!(r#","geo":{{"country":"{country}","city":"{city}"}}"#)
        };
        format!(
            r#"{{"timestamp":"{timestamp}","client_ip":"{client_ip}","method":"{method}","path":"{path}","status":{status},"bytes":{bytes},"latency_ms":{latency_ms},"user_agent":"{user_agent}","message":"{message}"{geo}}}"#
        )
    }

    fn weighted<T: Copy>(&mut self, choices: &[(T, u64)]) -> T {
        let total: u64 = choices.iter().map(|(_, weight)| weight).sum();
        let mut target = self.rng.below(total);
        for (choice, weight) in choices {
            if target < *weight {
                return *choice;
            }
            target -= weight;
        }
        choices[choices.len() - 1].0
    }
}

/// `ts_millis` as RFC 3339 with milliseconds, in UTC.
pub fn rfc3339_millis(ts_millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ts_millis as i128 * 1_000_000)
        .ok()
        .and_then(|datetime| datetime.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use hydrant_index::config::IndexConfig;
    use hydrant_index::doc_mapper::DocMapper;

    use super::*;

    #[test]
    fn records_fit_the_mapping() {
        let config = IndexConfig::from_yaml(WEB_LOGS_CONFIG).unwrap();
        let doc_mapper = DocMapper::new(&config).unwrap();
        let mut generator = WebLogs::new(42);
        let mut with_geo = 0;
        for i in 0..500 {
            let line = generator.record(1_700_000_000_000 + i);
            let record: serde_json::Value = serde_json::from_str(&line).unwrap();
            with_geo += record.get("geo").is_some() as usize;
            let parsed = doc_mapper
                .doc_from_json(record.as_object().unwrap().clone())
                .unwrap();
            assert_eq!(
                parsed.timestamp_nanos,
                Some((1_700_000_000_000 + i) * 1_000_000)
            );
        }
        assert!((250..420).contains(&with_geo), "{with_geo}");
        assert_eq!(WebLogs::new(1).record(5), WebLogs::new(1).record(5));
    }
}
