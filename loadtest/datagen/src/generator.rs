//! Firehose objects of one dataset's records with a share of bad records of every kind, each
//! bad record returned with the reason the indexer must give for it, so that tests and
//! benchmarks can check that nothing is lost silently; and a share of late records, stamped
//! hours before their neighbours, as delayed producers write them.

use crate::firehose::{Framing, encode_object};
use crate::mock_sales::{MOCK_SALES_CONFIG, MockSales};
use crate::rng::Rng;
use crate::web_logs::{WEB_LOGS_CONFIG, WebLogs, rfc3339_millis};

/// The record schemas the generator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// The sales records of Quickwit's serverless tutorial.
    MockSales,
    /// Web/HTTP access logs.
    WebLogs,
}

impl Dataset {
    /// The index config the dataset is indexed with (YAML).
    pub fn index_config_yaml(self) -> &'static str {
        match self {
            Dataset::MockSales => MOCK_SALES_CONFIG,
            Dataset::WebLogs => WEB_LOGS_CONFIG,
        }
    }

    /// The index id of that config.
    pub fn index_id(self) -> &'static str {
        match self {
            Dataset::MockSales => "mock-sales",
            Dataset::WebLogs => "web-logs",
        }
    }
}

#[derive(Clone, Debug)]
enum Records {
    MockSales(MockSales),
    WebLogs(WebLogs),
}

/// The kinds of bad records a Firehose stream carries, and the indexer's reason for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecordKind {
    MalformedJson,
    NotAnObject,
    MissingTimestamp,
    InvalidTimestamp,
    InvalidValue,
    /// Rejected only in `strict` mode.
    UnmappedField,
}

impl BadRecordKind {
    /// Every kind, in the order they are generated.
    pub const ALL: [BadRecordKind; 6] = [
        BadRecordKind::MalformedJson,
        BadRecordKind::NotAnObject,
        BadRecordKind::MissingTimestamp,
        BadRecordKind::InvalidTimestamp,
        BadRecordKind::InvalidValue,
        BadRecordKind::UnmappedField,
    ];

    /// The reason code the indexer records for this kind.
    pub fn expected_reason(self) -> &'static str {
        match self {
            BadRecordKind::MalformedJson => "malformed_json",
            BadRecordKind::NotAnObject => "not_an_object",
            BadRecordKind::MissingTimestamp => "missing_timestamp",
            BadRecordKind::InvalidTimestamp => "invalid_timestamp",
            BadRecordKind::InvalidValue => "invalid_value",
            BadRecordKind::UnmappedField => "unmapped_field",
        }
    }
}

/// A bad record as written into an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub text: String,
    pub kind: BadRecordKind,
}

/// What one object should look like.
#[derive(Clone, Copy, Debug)]
pub struct ObjectSpec {
    pub num_records: usize,
    /// Share of bad records, 0.0 to 1.0 (they are spread evenly).
    pub bad_share: f64,
    pub framing: Framing,
    pub gzip: bool,
    /// Timestamp of the first record; records are 1 ms apart.
    pub start_millis: i64,
    /// Share of good records stamped one to six hours early (late arrivals), 0.0 to 1.0.
    pub late_share: f64,
    /// Whether unmapped fields are errors (the index is in `strict` mode).
    pub strict: bool,
}

/// A generated object and what the indexer must make of it.
#[derive(Clone, Debug)]
pub struct GeneratedObject {
    pub bytes: Vec<u8>,
    pub num_good: u64,
    pub bad: Vec<BadRecord>,
    pub uncompressed_bytes: u64,
}

/// Generates objects with bad records, deterministically from a seed.
#[derive(Clone, Debug)]
pub struct ObjectGenerator {
    records: Records,
    rng: Rng,
    next_bad: usize,
}

impl ObjectGenerator {
    /// Mock-sales objects whose ids start at `first_id`.
    pub fn new(seed: u64, first_id: u64) -> Self {
        ObjectGenerator {
            records: Records::MockSales(MockSales::new(seed, first_id)),
            rng: Rng::new(seed ^ 0x5bad_5eed),
            next_bad: 0,
        }
    }

    /// Objects of `dataset`.
    pub fn for_dataset(dataset: Dataset, seed: u64) -> Self {
        let records = match dataset {
            Dataset::MockSales => Records::MockSales(MockSales::new(seed, 0)),
            Dataset::WebLogs => Records::WebLogs(WebLogs::new(seed)),
        };
        ObjectGenerator {
            records,
            rng: Rng::new(seed ^ 0x5bad_5eed),
            next_bad: 0,
        }
    }

    pub fn object(&mut self, spec: ObjectSpec) -> GeneratedObject {
        let kinds: Vec<BadRecordKind> = BadRecordKind::ALL
            .iter()
            .copied()
            .filter(|kind| spec.strict || *kind != BadRecordKind::UnmappedField)
            .collect();
        let num_bad = (spec.num_records as f64 * spec.bad_share).round() as usize;
        // Bad records at evenly spaced positions, never last: a broken record is always followed
        // by a good one, as it would be in practice at a 1% error rate.
        let spacing = if num_bad == 0 {
            usize::MAX
        } else {
            spec.num_records / (num_bad + 1)
        };
        let mut texts = Vec::with_capacity(spec.num_records);
        let mut bad = Vec::with_capacity(num_bad);
        for position in 0..spec.num_records {
            let ts = spec.start_millis + position as i64;
            let is_bad =
                spacing != usize::MAX && (position + 1) % spacing == 0 && bad.len() < num_bad;
            if is_bad {
                let kind = kinds[self.next_bad % kinds.len()];
                let text = self.bad_record(kind, ts);
                self.next_bad += 1;
                bad.push(BadRecord {
                    text: text.clone(),
                    kind,
                });
                texts.push(text);
            } else {
                let ts = if spec.late_share > 0.0 && self.rng.unit() < spec.late_share {
                    ts - (1 + self.rng.below(6) as i64) * 3_600_000
                } else {
                    ts
                };
                texts.push(match &mut self.records {
                    Records::MockSales(sales) => sales.record(ts),
                    Records::WebLogs(logs) => logs.record(ts),
                });
            }
        }
        let uncompressed_bytes = texts.iter().map(|text| text.len() as u64 + 1).sum();
        GeneratedObject {
            bytes: encode_object(&texts, spec.framing, spec.gzip),
            num_good: (spec.num_records - bad.len()) as u64,
            bad,
            uncompressed_bytes,
        }
    }

    fn bad_record(&mut self, kind: BadRecordKind, ts: i64) -> String {
        match self.records {
            Records::MockSales(_) => self.bad_sale(kind, ts),
            Records::WebLogs(_) => self.bad_log(kind, ts),
        }
    }

    fn bad_log(&mut self, kind: BadRecordKind, ts: i64) -> String {
        let variant = self.rng.below(4);
        let timestamp = rfc3339_millis(ts);
        match kind {
            BadRecordKind::MalformedJson => match variant {
                0 => format!(r#"{{"timestamp":"{timestamp}","status":200,}}"#),
                1 => format!(r#"{{"timestamp":"{timestamp}","status":ok}}"#),
                2 => format!(r#"{{"timestamp":"{timestamp}","message":"cut short""#),
                _ => format!(r#"{{timestamp:"{timestamp}","status":200}}"#),
            },
            BadRecordKind::NotAnObject => match variant {
                0 => r#"["GET","/health",200]"#.to_string(),
                1 => "404".to_string(),
                2 => r#""GET /health 200""#.to_string(),
                _ => "null".to_string(),
            },
            BadRecordKind::MissingTimestamp => {
                r#"{"method":"GET","path":"/health","status":200,"message":"no time"}"#.to_string()
            }
            BadRecordKind::InvalidTimestamp => match variant {
                0 | 1 => r#"{"timestamp":"yesterday","status":200}"#.to_string(),
                _ => r#"{"timestamp":true,"status":200}"#.to_string(),
            },
            BadRecordKind::InvalidValue => match variant {
                0 => format!(r#"{{"timestamp":"{timestamp}","status":-3}}"#),
                1 => format!(r#"{{"timestamp":"{timestamp}","status":"teapot"}}"#),
                2 => format!(r#"{{"timestamp":"{timestamp}","client_ip":"999.1.1.1"}}"#),
                _ => format!(r#"{{"timestamp":"{timestamp}","latency_ms":"fast"}}"#),
            },
            BadRecordKind::UnmappedField => {
                format!(r#"{{"timestamp":"{timestamp}","status":200,"colour":"red"}}"#)
            }
        }
    }

    fn bad_sale(&mut self, kind: BadRecordKind, ts: i64) -> String {
        let variant = self.rng.below(4);
        match kind {
            BadRecordKind::MalformedJson => match variant {
                0 => format!(r#"{{"ts":{ts},"id":7,"name":"kettle",}}"#),
                1 => format!(r#"{{"ts":{ts},"id":nope}}"#),
                2 => format!(r#"{{"ts":{ts},"id":7,"name":"cut short""#),
                _ => format!(r#"{{ts:{ts},"id":7}}"#),
            },
            BadRecordKind::NotAnObject => match variant {
                0 => "[1,2,3]".to_string(),
                1 => "42".to_string(),
                2 => r#""just some text""#.to_string(),
                _ => "null".to_string(),
            },
            BadRecordKind::MissingTimestamp => {
                r#"{"id":7,"name":"kettle","price":1.5,"quantity":2,"description":"no time"}"#
                    .to_string()
            }
            BadRecordKind::InvalidTimestamp => match variant {
                0 | 1 => r#"{"ts":"yesterday","id":7,"name":"kettle"}"#.to_string(),
                _ => r#"{"ts":true,"id":7,"name":"kettle"}"#.to_string(),
            },
            BadRecordKind::InvalidValue => match variant {
                0 => format!(r#"{{"ts":{ts},"id":7,"quantity":-3}}"#),
                1 => format!(r#"{{"ts":{ts},"id":7,"quantity":"many"}}"#),
                2 => format!(r#"{{"ts":{ts},"id":7,"price":"free"}}"#),
                _ => format!(r#"{{"ts":{ts},"id":1.5}}"#),
            },
            BadRecordKind::UnmappedField => {
                format!(r#"{{"ts":{ts},"id":7,"name":"kettle","colour":"red"}}"#)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_records_are_spread_and_every_kind_appears() {
        let mut generator = ObjectGenerator::new(3, 0);
        let object = generator.object(ObjectSpec {
            num_records: 1000,
            bad_share: 0.01,
            framing: Framing::Concatenated,
            gzip: false,
            start_millis: 1_700_000_000_000,
            late_share: 0.0,
            strict: true,
        });
        assert_eq!(object.bad.len(), 10);
        assert_eq!(object.num_good, 990);
        for kind in BadRecordKind::ALL {
            assert!(object.bad.iter().any(|bad| bad.kind == kind), "{kind:?}");
        }
    }
}
