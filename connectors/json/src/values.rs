//! Column samples for the host's classification: the scalar values of the
//! first records, by their path through nested objects (arrays are not
//! sampled: their elements are not one value per record).

use std::collections::BTreeMap;
use surveyor_sdk::{ColumnSample, SampleBuilder, SampleLimits};

pub struct Samples {
    limits: SampleLimits,
    records: u32,
    columns: BTreeMap<Vec<String>, SampleBuilder>,
}

impl Samples {
    pub fn new(limits: &SampleLimits) -> Self {
        Samples {
            limits: SampleLimits { max_rows: limits.max_rows, max_bytes_per_column: limits.max_bytes_per_column },
            records: 0,
            columns: BTreeMap::new(),
        }
    }

    /// Adds one record's values while fewer than `max_rows` records were seen.
    pub fn add(&mut self, record: &str) {
        if self.records >= self.limits.max_rows {
            return;
        }
        self.records += 1;
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(record) {
            self.walk(&map, &mut Vec::new());
        }
    }

    fn walk(&mut self, map: &serde_json::Map<String, serde_json::Value>, path: &mut Vec<String>) {
        for (key, value) in map {
            path.push(key.clone());
            let text = match value {
                serde_json::Value::Object(inner) => {
                    self.walk(inner, path);
                    path.pop();
                    continue;
                }
                serde_json::Value::Array(_) => {
                    path.pop();
                    continue;
                }
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            let limits = &self.limits;
            let builder = self.columns.entry(path.clone()).or_insert_with(|| SampleBuilder::new(path.clone(), limits));
            builder.push(text.as_deref());
            path.pop();
        }
    }

    pub fn finish(self) -> Vec<ColumnSample> {
        self.columns.into_values().map(SampleBuilder::finish).collect()
    }
}
