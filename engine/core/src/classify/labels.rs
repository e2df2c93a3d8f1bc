//! Classification labels as they travel with a column: the reserved column
//! attribute [`ATTRIBUTE`], holding the sample size and, per label, the
//! count of matching values — names and counts only, never a value.

use crate::host::bindings::types::{Attribute, Column, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reserved column attribute. The host sets it; a connector's own
/// attribute of that name is dropped.
pub const ATTRIBUTE: &str = "surveyor:classifications";

/// The labels of one column, from one sample (or, for a resource set, the
/// sum of its members' samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnLabels {
    /// Non-null values classified.
    pub sampled: u32,
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    /// Sampled values that matched.
    pub matched: u32,
    /// The share the classification needed.
    #[serde(rename = "minShare")]
    pub min_share: f64,
}

impl Label {
    /// Share of the sampled values that matched, rounded to 3 decimals.
    pub fn share(&self, sampled: u32) -> f64 {
        if sampled == 0 { 0.0 } else { (f64::from(self.matched) / f64::from(sampled) * 1000.0).round() / 1000.0 }
    }
}

impl ColumnLabels {
    pub fn to_attribute(&self) -> Attribute {
        Attribute { key: ATTRIBUTE.into(), value: Value::Json(serde_json::to_string(self).expect("labels encode")) }
    }

    /// The labels a column carries, if it was classified.
    pub fn of(column: &Column) -> Option<ColumnLabels> {
        column.attributes.iter().find(|a| a.key == ATTRIBUTE).and_then(|a| match &a.value {
            Value::Json(text) => serde_json::from_str(text).ok(),
            _ => None,
        })
    }
}

/// Drops connector-set attributes under the reserved name (a connector
/// cannot classify a column by naming the attribute itself).
pub fn strip(columns: &mut [Column]) {
    for c in columns {
        c.attributes.retain(|a| a.key != ATTRIBUTE);
    }
}

/// Sums the labels of the same column over several samples (a resource
/// set's members): a label stays when its matches over all the samples
/// reach its share. A member whose sample fell under a label's share adds
/// its sample size but no matches, so the set's share is a lower bound.
/// Serializable: an open resource set is put aside in a file with its sums.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Aggregate {
    sampled: u64,
    labels: BTreeMap<String, (u64, f64)>,
}

impl Aggregate {
    pub fn add(&mut self, labels: &ColumnLabels) {
        self.sampled += u64::from(labels.sampled);
        for l in &labels.labels {
            let e = self.labels.entry(l.name.clone()).or_insert((0, l.min_share));
            e.0 += u64::from(l.matched);
        }
    }

    pub fn finish(&self) -> Option<ColumnLabels> {
        if self.sampled == 0 {
            return None;
        }
        // Scaled to u32 for the attribute; shares are preserved.
        let scale = (self.sampled as f64 / f64::from(u32::MAX)).max(1.0);
        let sampled = (self.sampled as f64 / scale) as u32;
        let labels = self
            .labels
            .iter()
            .filter(|(_, (matched, min))| *matched as f64 >= min * self.sampled as f64 - 1e-9)
            .map(|(name, (matched, min))| Label {
                name: name.clone(),
                matched: (*matched as f64 / scale) as u32,
                min_share: *min,
            })
            .collect();
        Some(ColumnLabels { sampled, labels })
    }
}

/// Path of a column as the aggregation keys it.
pub fn column_key(column: &Column) -> String {
    column.path.join("\u{1f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(sampled: u32, matched: u32) -> ColumnLabels {
        ColumnLabels { sampled, labels: vec![Label { name: "X".into(), matched, min_share: 0.6 }] }
    }

    #[test]
    fn a_set_keeps_a_label_its_members_reach_together() {
        let mut a = Aggregate::default();
        a.add(&labels(100, 100));
        a.add(&labels(100, 70));
        let out = a.finish().unwrap();
        assert_eq!((out.sampled, out.labels.len()), (200, 1));
        assert_eq!(out.labels[0].share(out.sampled), 0.85);
        // A third member without the label: 170 of 300 is under 60%.
        a.add(&ColumnLabels { sampled: 100, labels: vec![] });
        assert!(a.finish().unwrap().labels.is_empty());
        assert!(Aggregate::default().finish().is_none(), "nothing sampled, nothing to say");
    }
}
