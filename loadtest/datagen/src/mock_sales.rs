//! The mock-sales dataset of Quickwit's serverless tutorial: sales records with a timestamp,
//! an id, a product name, a price, a quantity and a free-text description.

use crate::rng::Rng;

/// The tutorial's index config, verbatim.
pub const MOCK_SALES_CONFIG: &str = include_str!("../configs/mock-sales.yaml");

const PRODUCTS: [&str; 12] = [
    "apple", "banana", "cherry", "kettle", "lamp", "notebook", "pencil", "scarf", "teapot",
    "umbrella", "wallet", "yoyo",
];

const WORDS: [&str; 24] = [
    "the", "quality", "fresh", "handmade", "classic", "durable", "organic", "premium", "small",
    "large", "blue", "red", "green", "gift", "sale", "limited", "edition", "eco", "light", "heavy",
    "soft", "bright", "vintage", "modern",
];

/// Generates mock-sales records, deterministically from a seed.
#[derive(Clone, Debug)]
pub struct MockSales {
    rng: Rng,
    next_id: u64,
}

impl MockSales {
    /// A generator whose ids start at `first_id`.
    pub fn new(seed: u64, first_id: u64) -> Self {
        MockSales {
            rng: Rng::new(seed),
            next_id: first_id,
        }
    }

    /// One record as a JSON line (no newline), stamped `ts_millis`.
    pub fn record(&mut self, ts_millis: i64) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let name = self.rng.pick(&PRODUCTS);
        let price = (self.rng.below(100_000) as f64) / 100.0;
        let quantity = 1 + self.rng.below(10);
        let num_words = 3 + self.rng.below(8) as usize;
        let description: Vec<&str> = (0..num_words)
            .map(|_| WORDS[self.rng.zipf(WORDS.len())])
            .collect();
        format!(
            r#"{{"ts":{ts_millis},"id":{id},"name":"{name}","price":{price},"quantity":{quantity},"description":"{}"}}"#,
            description.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use hydrant_index::config::IndexConfig;
    use hydrant_index::doc_mapper::DocMapper;

    use super::*;

    #[test]
    fn records_fit_the_tutorial_mapping() {
        let config = IndexConfig::from_yaml(MOCK_SALES_CONFIG).unwrap();
        let doc_mapper = DocMapper::new(&config).unwrap();
        let mut generator = MockSales::new(42, 0);
        for i in 0..200 {
            let line = generator.record(1_700_000_000_000 + i);
            let record: serde_json::Value = serde_json::from_str(&line).unwrap();
            let parsed = doc_mapper
                .doc_from_json(record.as_object().unwrap().clone())
                .unwrap();
            assert_eq!(
                parsed.timestamp_nanos,
                Some((1_700_000_000_000 + i) * 1_000_000)
            );
        }
        assert_eq!(
            MockSales::new(1, 0).record(5),
            MockSales::new(1, 0).record(5)
        );
    }
}
