//! Classification of sampled values (scan level L3), inside the process.
//!
//! A format connector that speaks contract 0.1.1 or later returns a bounded
//! sample of each column's values with the schema; [`Classifier::classify`]
//! turns one column's sample into classification labels (the system
//! classifications of [`system`] and the rule set's custom rules), then
//! [`plugins::PluginClassifiers`] adds those of the classifier plugins
//! (sandboxed, their answers checked), and the sample is dropped right
//! there, in the schema worker. Only the labels go on: they ride on the
//! column as the reserved attribute [`ATTRIBUTE`] (names and counts, never a
//! value) through unit results, state and the commit, where the Atlas sink
//! turns them into `classifications`.

mod dictionaries;
pub mod labels;
pub mod plugins;
pub mod system;
pub mod validators;

pub use labels::{ATTRIBUTE, ColumnLabels, Label};

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use surveyor_sdk::sampling::{ColumnKind, Selection, normalise_name};

/// Values the reference product samples per column, and the byte cap.
pub const DEFAULT_MAX_ROWS: u32 = 128;
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Share of a column's sampled values that must match (the reference's 60%).
pub const DEFAULT_THRESHOLD: f64 = 0.6;
/// Seconds a SQL table's sample query may take before it is an item error.
pub const DEFAULT_SQL_TIMEOUT_SECONDS: u32 = 10;
/// A sampled value longer than this is classified on its first bytes only.
const MAX_VALUE_CHARS: usize = 4096;

/// What a scan rule set says about classification. Every field has a
/// default, so `{}` (or an empty TOML file) means "the system
/// classifications, Purview's limits".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassificationConfig {
    /// Sample and classify at all; false turns sampling off.
    pub enabled: bool,
    /// Apply the system classifications.
    pub system: bool,
    /// Only these system classifications (empty: all of them).
    pub include: Vec<String>,
    /// System classifications not to apply.
    pub exclude: Vec<String>,
    /// Custom classification rules.
    pub rules: Vec<CustomRule>,
    /// Share of non-null sampled values that must match a system classification.
    pub threshold: f64,
    /// Rows sampled per column at most.
    pub max_rows: u32,
    /// Bytes of values sampled per column at most.
    pub max_bytes_per_column: u64,
    /// Run the classifier plugins of the plugins folder (after the system
    /// classifications and the custom rules); false runs none.
    pub plugins: bool,
    /// Classifier plugins not to run, by plugin name (`surveyor plugins list`).
    pub exclude_plugins: Vec<String>,
    /// Seconds one SQL table's sample query may take (tables and views of
    /// SQL sources); a slower one is an item error and the scan goes on.
    pub sql_timeout_seconds: u32,
}

impl Default for ClassificationConfig {
    fn default() -> Self {
        ClassificationConfig {
            enabled: true,
            system: true,
            include: Vec::new(),
            exclude: Vec::new(),
            rules: Vec::new(),
            threshold: DEFAULT_THRESHOLD,
            max_rows: DEFAULT_MAX_ROWS,
            max_bytes_per_column: DEFAULT_MAX_BYTES,
            plugins: true,
            exclude_plugins: Vec::new(),
            sql_timeout_seconds: DEFAULT_SQL_TIMEOUT_SECONDS,
        }
    }
}

/// A custom classification rule: a value pattern, a column-name pattern, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// The classification's name, e.g. `CONTOSO.EMPLOYEE_ID`.
    pub name: String,
    /// Regular expression a value must match (searched; anchor it with `^…$`).
    #[serde(default)]
    pub value: Option<String>,
    /// Regular expression the column's name must match.
    #[serde(default)]
    pub column: Option<String>,
    /// Share of non-null sampled values that must match `value` (default 0.6).
    #[serde(default = "default_threshold")]
    pub min_share: f64,
    /// Distinct values the sample must hold at least (default 1).
    #[serde(default = "one")]
    pub min_distinct: u32,
}

fn default_threshold() -> f64 {
    DEFAULT_THRESHOLD
}
fn one() -> u32 {
    1
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("classification rule {rule:?}: {message}")]
    Rule { rule: String, message: String },
    #[error("classification settings: {0}")]
    Settings(String),
    #[error("cannot read classification rules {path}: {message}")]
    File { path: String, message: String },
}

impl ClassificationConfig {
    /// Reads a rules file (TOML, the fields of [`ClassificationConfig`]).
    pub fn from_file(path: &Path) -> Result<Self, ClassifyError> {
        let file_error = |message: String| ClassifyError::File { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        toml::from_str(&text).map_err(|e| file_error(e.to_string()))
    }
}

struct CompiledRule {
    name: String,
    value: Option<Regex>,
    column: Option<Regex>,
    min_share: f64,
    min_distinct: u32,
}

/// The classifications a scan applies, compiled once per run.
pub struct Classifier {
    system: Vec<&'static system::SystemClassifier>,
    rules: Vec<CompiledRule>,
    threshold: f64,
    max_rows: u32,
    max_bytes: u64,
    plugins: bool,
    exclude_plugins: Vec<String>,
    sql_timeout: std::time::Duration,
    /// The rule set as given, for [`Classifier::fingerprint`].
    settings: String,
    /// What to sample when no classifier plugin runs.
    selection: Selection,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("system", &self.system.len())
            .field("rules", &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>())
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether a classifier plugin may use `name`: the custom rules' format,
/// and not a system classification's `MICROSOFT.` prefix.
pub fn plugin_label_name(name: &str) -> bool {
    valid_name(name) && !name.starts_with("MICROSOFT.")
}

impl Classifier {
    /// Checks and compiles `config`; an error names the rule and field at fault.
    pub fn new(config: &ClassificationConfig) -> Result<Self, ClassifyError> {
        if !(0.0..=1.0).contains(&config.threshold) || config.threshold == 0.0 {
            return Err(ClassifyError::Settings(format!("threshold must be in (0, 1], not {}", config.threshold)));
        }
        if config.max_rows == 0 || config.max_bytes_per_column == 0 {
            return Err(ClassifyError::Settings("max_rows and max_bytes_per_column must be at least 1".into()));
        }
        if !(1..=3600).contains(&config.sql_timeout_seconds) {
            return Err(ClassifyError::Settings(format!(
                "sql_timeout_seconds must be 1-3600, not {}",
                config.sql_timeout_seconds
            )));
        }
        for name in config.include.iter().chain(&config.exclude) {
            if !system::SYSTEM.iter().any(|s| s.name == name) {
                return Err(ClassifyError::Settings(format!(
                    "{name:?} is not a system classification (see `docs/classification.md`)"
                )));
            }
        }
        let system = if config.system {
            system::SYSTEM
                .iter()
                .filter(|s| config.include.is_empty() || config.include.iter().any(|n| n == s.name))
                .filter(|s| !config.exclude.iter().any(|n| n == s.name))
                .collect()
        } else {
            Vec::new()
        };
        let mut rules = Vec::new();
        let mut names = HashSet::new();
        for rule in &config.rules {
            let err = |message: String| ClassifyError::Rule { rule: rule.name.clone(), message };
            if !valid_name(&rule.name) {
                return Err(err("name: use 1-128 letters, digits, '.', '_' or '-'".into()));
            }
            if rule.name.starts_with("MICROSOFT.") || !names.insert(rule.name.clone()) {
                return Err(err("name: taken by a system classification or another rule".into()));
            }
            if rule.value.is_none() && rule.column.is_none() {
                return Err(err("needs a `value` pattern, a `column` pattern, or both".into()));
            }
            if !(rule.min_share > 0.0 && rule.min_share <= 1.0) {
                return Err(err(format!("min_share must be in (0, 1], not {}", rule.min_share)));
            }
            let compile = |field: &str, p: &Option<String>| {
                p.as_deref()
                    .map(|p| {
                        regex::RegexBuilder::new(p)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| err(format!("{field}: invalid regular expression: {e}")))
                    })
                    .transpose()
            };
            rules.push(CompiledRule {
                name: rule.name.clone(),
                value: compile("value", &rule.value)?,
                column: compile("column", &rule.column)?,
                min_share: rule.min_share,
                min_distinct: rule.min_distinct,
            });
        }
        Ok(Classifier {
            threshold: config.threshold,
            max_rows: config.max_rows,
            max_bytes: config.max_bytes_per_column,
            plugins: config.plugins,
            exclude_plugins: config.exclude_plugins.clone(),
            sql_timeout: std::time::Duration::from_secs(config.sql_timeout_seconds.into()),
            settings: serde_json::to_string(config).expect("the settings serialise"),
            selection: if rules.is_empty() { system_only(&system) } else { Selection::default() },
            system,
            rules,
        })
    }

    /// What decides a column's labels in a run, as a short hash: this
    /// build's system classifications, the rule set, and the classifier
    /// plugins of `registry` it lets run (name and version). The source's
    /// state keeps it: an incremental run under another fingerprint reads
    /// every file again, since unchanged files would otherwise keep labels
    /// made under other settings, or none.
    pub fn fingerprint(&self, registry: &crate::host::Registry) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for part in [env!("CARGO_PKG_VERSION"), &self.settings] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let mut plugins: Vec<String> = registry
            .classifiers()
            .filter(|p| self.uses_plugin(&p.info.name))
            .map(|p| format!("{}@{}", p.info.name, p.info.version))
            .collect();
        plugins.sort();
        hash.update(plugins.join(",").as_bytes());
        hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the rule set lets the classifier plugin `name` run.
    pub fn uses_plugin(&self, name: &str) -> bool {
        self.plugins && !self.exclude_plugins.iter().any(|n| n == name)
    }

    /// The values that classification sees: trimmed, non-empty, each cut to
    /// its first 4096 characters, at most the rule set's rows. Classifier
    /// plugins get exactly these, so their counts compare with the system ones.
    pub fn prepare<'v>(&self, values: &'v [impl AsRef<str>]) -> Vec<&'v str> {
        values
            .iter()
            .map(|v| {
                let v = v.as_ref().trim();
                match v.char_indices().nth(MAX_VALUE_CHARS) {
                    Some((i, _)) => &v[..i],
                    None => v,
                }
            })
            .filter(|v| !v.is_empty())
            .take(self.max_rows as usize)
            .collect()
    }

    /// Which columns to sample: with system classifications alone, none of
    /// the kinds no system classification can match (booleans, fractional
    /// decimals, and dates and times unless named for a birth). Custom rules
    /// and classifier plugins (`plugins_in_use`) may match anything: then
    /// every column.
    pub fn selection(&self, plugins_in_use: bool) -> &Selection {
        static EVERY_COLUMN: Selection = Selection { skip: Vec::new(), named_only: Vec::new(), keywords: Vec::new() };
        if plugins_in_use { &EVERY_COLUMN } else { &self.selection }
    }

    /// Rows and bytes to sample per column.
    pub fn limits(&self) -> (u32, u64) {
        (self.max_rows, self.max_bytes)
    }

    /// How long one SQL table's sample query may take.
    pub fn sql_timeout(&self) -> std::time::Duration {
        self.sql_timeout
    }

    /// Names of the custom rules (their typedefs are written with the run).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Classifies one column from its sample: `path` is the column's path
    /// (its last element is the name that keywords and column patterns
    /// see), `values` its non-null sampled values. Returns `None` when no
    /// value was sampled. Nothing of `values` is kept or reported.
    pub fn classify(&self, path: &[String], values: &[impl AsRef<str>]) -> Option<ColumnLabels> {
        let values = self.prepare(values);
        if values.is_empty() {
            return None;
        }
        let sampled = values.len() as u32;
        let column_name = path.last().map(String::as_str).unwrap_or("");
        let normalised = normalise_name(column_name);
        let mut labels = Vec::new();
        for s in &self.system {
            let named = s.named(&normalised);
            if s.name_required && !named {
                continue;
            }
            if let Some(matched) = count_passing(&values, self.threshold, |v| (s.matches)(v, named)) {
                labels.push(Label { name: s.name.to_string(), matched, min_share: self.threshold });
            }
        }
        for rule in &self.rules {
            if rule.column.as_ref().is_some_and(|re| !re.is_match(column_name)) {
                continue;
            }
            let distinct = values.iter().collect::<HashSet<_>>().len() as u32;
            if distinct < rule.min_distinct {
                continue;
            }
            let matched = match &rule.value {
                Some(re) => count_passing(&values, rule.min_share, |v| re.is_match(v)),
                None => Some(sampled),
            };
            if let Some(matched) = matched {
                labels.push(Label { name: rule.name.clone(), matched, min_share: rule.min_share });
            }
        }
        Some(ColumnLabels { sampled, labels })
    }
}

/// What to sample for `system` classifications alone (see [`Classifier::selection`]).
fn system_only(system: &[&system::SystemClassifier]) -> Selection {
    let mut selection =
        Selection { skip: vec![ColumnKind::Boolean, ColumnKind::FractionalDecimal], ..Default::default() };
    match system.iter().find(|s| s.name == system::DATE_OF_BIRTH) {
        Some(birth) => {
            selection.named_only.push(ColumnKind::Temporal);
            selection.keywords = birth.keywords.iter().map(|k| k.to_string()).collect();
        }
        None => selection.skip.push(ColumnKind::Temporal),
    }
    selection
}

/// `matched / sampled >= min_share`, in integers so that 60% of 5 is 3.
fn passes(matched: u32, sampled: u32, min_share: f64) -> bool {
    matched > 0 && f64::from(matched) >= min_share * f64::from(sampled) - 1e-9
}

/// The values that match, when enough do to pass `min_share`; `None` as soon
/// as too many have missed for that. The same answer as counting them all,
/// but a classification a column does not have (nearly all of them, for
/// nearly every column) stops after a little over `1 - min_share` of its
/// values instead of going through them all: classification took 8.5× the
/// metadata-only time of a 10,000-file lake, mostly in the matchers.
fn count_passing(values: &[&str], min_share: f64, mut matches: impl FnMut(&str) -> bool) -> Option<u32> {
    let sampled = values.len() as u32;
    // The fewest matches that pass (at least one).
    let needed = ((min_share * f64::from(sampled) - 1e-9).ceil().max(1.0)) as u32;
    let allowed_misses = sampled.checked_sub(needed)?;
    let (mut matched, mut missed) = (0u32, 0u32);
    for v in values {
        if matches(v) {
            matched += 1;
        } else {
            missed += 1;
            if missed > allowed_misses {
                return None;
            }
        }
    }
    debug_assert!(passes(matched, sampled, min_share));
    Some(matched)
}

#[cfg(test)]
mod tests;
