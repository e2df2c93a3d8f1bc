//! User resource-set rules, as Purview's advanced resource-set rules: a path
//! pattern with typed, named replacers and an optional display name, or a
//! prefix never to group.
//!
//! ```toml
//! enabled = true            # false: every file is its own asset
//!
//! [[rule]]
//! pattern = "sales/{region:string}/{day:date}/data_{part:int}.parquet"
//! name = "Sales by region"
//!
//! [[rule]]
//! do_not_group = "raw/"
//! ```
//!
//! Replacers: `{name:int}` digits, `{name:string}` anything but `/`,
//! `{name:date}` `yyyy-MM-dd`, `yyyyMMdd` or `yyyy_MM_dd`, `{name:year}`,
//! `{name:month}`, `{name:day}`, `{name:hour}`, `{name:guid}`, `{name:hex}`,
//! `{name:locale}`. `*` matches anything but `/` without naming it. Rules are
//! tried in order, before the built-in heuristics.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The grouping configuration of a scan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

fn yes() -> bool {
    true
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig { enabled: true, rules: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub pattern: Option<String>,
    pub name: Option<String>,
    pub do_not_group: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("resource-set rule {index}: {message}")]
pub struct RuleError {
    pub index: usize,
    pub message: String,
}

/// A compiled rule.
#[derive(Debug)]
pub enum Rule {
    Pattern {
        /// The whole path.
        regex: Regex,
        /// Folder prefixes of the pattern that contain a replacer: folders
        /// matching one are inside the set.
        folders: Vec<Regex>,
        pattern: String,
        name: Option<String>,
        keys: Vec<String>,
    },
    DoNotGroup {
        prefix: String,
    },
}

pub fn compile(config: &GroupingConfig) -> Result<Vec<Rule>, RuleError> {
    config
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let index = i + 1;
            let err = |message: String| RuleError { index, message };
            match (&rule.pattern, &rule.do_not_group) {
                (Some(pattern), None) => compile_pattern(pattern, rule.name.clone()).map_err(err),
                (None, Some(prefix)) => {
                    if rule.name.is_some() {
                        return Err(err("`name` applies to `pattern` rules only".into()));
                    }
                    Ok(Rule::DoNotGroup { prefix: prefix.trim_start_matches('/').to_string() })
                }
                _ => Err(err("give exactly one of `pattern` or `do_not_group`".into())),
            }
        })
        .collect()
}

fn replacer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "int" => r"\d+",
        "string" => r"[^/]+",
        "date" => r"\d{4}-\d{2}-\d{2}|\d{4}_\d{2}_\d{2}|\d{8}",
        "year" => r"\d{4}",
        "month" | "day" | "hour" | "minute" => r"\d{1,2}",
        "guid" => r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}",
        "hex" => r"[0-9a-fA-F]+",
        "locale" => r"[a-zA-Z]{2}[-_][a-zA-Z]{2}",
        _ => return None,
    })
}

/// Translates one path segment of a pattern into a regex fragment.
fn segment_regex(segment: &str, keys: &mut Vec<String>) -> Result<(String, bool), String> {
    let mut out = String::new();
    let mut rest = segment;
    let mut has_replacer = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or_else(|| format!("unclosed '{{' in {segment:?}"))?;
            let (name, kind) = after[..end].split_once(':').ok_or_else(|| {
                format!("replacer {{{}}} needs a type: {{name:int}}, {{name:string}}, {{name:date}}...", &after[..end])
            })?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("replacer name {name:?} must be letters, digits or '_'"));
            }
            if keys.iter().any(|k| k == name) {
                return Err(format!("replacer name {name:?} is used twice"));
            }
            let re = replacer(kind).ok_or_else(|| {
                format!("unknown replacer type {kind:?} (int, string, date, year, month, day, hour, minute, guid, hex, locale)")
            })?;
            out.push_str(&format!("(?P<{name}>{re})"));
            keys.push(name.to_string());
            has_replacer = true;
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('*') {
            out.push_str("[^/]*");
            has_replacer = true;
            rest = after;
        } else {
            let next = rest.find(['{', '*']).unwrap_or(rest.len());
            out.push_str(&regex::escape(&rest[..next]));
            rest = &rest[next..];
        }
    }
    Ok((out, has_replacer))
}

fn compile_pattern(pattern: &str, name: Option<String>) -> Result<Rule, String> {
    let trimmed = pattern.trim_start_matches('/');
    if trimmed.is_empty() {
        return Err("empty pattern".into());
    }
    let mut keys = Vec::new();
    let mut parts = Vec::new();
    let mut folders = Vec::new();
    let mut any = false;
    let segments: Vec<&str> = trimmed.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let (re, replaced) = segment_regex(segment, &mut keys)?;
        parts.push(re);
        any |= replaced;
        if any && i + 1 < segments.len() {
            let prefix = format!("^{}$", parts.join("/"));
            folders.push(Regex::new(&prefix).map_err(|e| e.to_string())?);
        }
    }
    if !any {
        return Err(format!("pattern {pattern:?} has no replacer, so it would group nothing"));
    }
    let regex = Regex::new(&format!("^{}$", parts.join("/"))).map_err(|e| e.to_string())?;
    Ok(Rule::Pattern { regex, folders, pattern: trimmed.to_string(), name, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml_text: &str) -> Result<Vec<Rule>, RuleError> {
        compile(&toml::from_str::<GroupingConfig>(toml_text).unwrap())
    }

    #[test]
    fn typed_replacers_capture_named_keys() {
        let rules = rules(
            r#"
            [[rule]]
            pattern = "sales/{region:string}/{day:date}/data_{part:int}.parquet"
            name = "Sales"
            "#,
        )
        .unwrap();
        let Rule::Pattern { regex, folders, keys, .. } = &rules[0] else { panic!() };
        let caps = regex.captures("sales/eu/2023-01-15/data_7.parquet").unwrap();
        assert_eq!(&caps["region"], "eu");
        assert_eq!(&caps["day"], "2023-01-15");
        assert_eq!(keys, &["region", "day", "part"]);
        assert!(!regex.is_match("sales/eu/yesterday/data_7.parquet"));
        assert!(folders.iter().any(|f| f.is_match("sales/eu")));
        assert!(folders.iter().any(|f| f.is_match("sales/eu/2023-01-15")));
        assert!(!folders.iter().any(|f| f.is_match("sales")));
    }

    #[test]
    fn mistakes_are_reported_with_the_rule_number() {
        let e = rules("[[rule]]\npattern = \"a/{x}/b\"").unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.message.contains("needs a type"), "{e}");
        let e = rules("[[rule]]\ndo_not_group = \"raw/\"\n[[rule]]\npattern = \"a/{x:blob}\"").unwrap_err();
        assert_eq!(e.index, 2);
        assert!(e.message.contains("unknown replacer type"), "{e}");
        assert!(rules("[[rule]]\npattern = \"a/b.csv\"").unwrap_err().message.contains("no replacer"));
        assert!(rules("[[rule]]\nname = \"x\"").unwrap_err().message.contains("exactly one"));
    }
}
