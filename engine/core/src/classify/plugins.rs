//! Classifier plugins on a column's sample, after the system classifications
//! and the custom rules.
//!
//! Each plugin runs in its sandbox ([`Limits::classifier`]) with one column
//! per call. What it returns is checked before it is merged: at most
//! [`MAX_LABELS`] classifications, each with a name it declared in
//! `describe`, a count within the values it was given, a share it reaches.
//! Anything else fails that column for that plugin, as a [`PluginFailure`]
//! whose message is the host's own words: never the plugin's error text, its
//! printed output, or a name it made up, since any of those could quote a
//! sampled value.

use super::{Classifier, ColumnLabels, Label};
use crate::host::classifier::{ClassifierInstance, ColumnInput};
use crate::host::{ClassifierPlugin, Limits, PluginError, Registry, Runtime};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Classifications one plugin may return for one column.
pub const MAX_LABELS: usize = 16;

/// One plugin failed on one column. `message` names neither a value nor
/// anything the plugin wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    pub plugin: String,
    /// Error kind for the run report (`timeout`, `crashed`, `invalid-output`, ...).
    pub kind: String,
    pub message: String,
}

/// The enabled classifier plugins of a run, with one instance each, owned
/// by one thread (a schema worker). An instance that trapped is dropped and
/// the next column gets a fresh one.
pub struct PluginClassifiers<'a> {
    runtime: &'a Runtime,
    plugins: Vec<Arc<ClassifierPlugin>>,
    instances: HashMap<String, ClassifierInstance>,
    limits: Limits,
}

impl<'a> PluginClassifiers<'a> {
    /// The registry's classifier plugins that `classifier`'s rule set enables.
    pub fn new(runtime: &'a Runtime, registry: &Registry, classifier: &Classifier) -> Self {
        let plugins = registry.classifiers().filter(|p| classifier.uses_plugin(&p.info.name)).cloned().collect();
        PluginClassifiers { runtime, plugins, instances: HashMap::new(), limits: Limits::classifier() }
    }

    /// Other limits than [`Limits::classifier`] (tests).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The enabled plugins of `classifier`'s rule set, or `None` when there
    /// are none (a thread that would own them then skips them altogether).
    pub fn for_run(runtime: &'a Runtime, registry: &Registry, classifier: Option<&Classifier>) -> Option<Self> {
        classifier.map(|c| Self::new(runtime, registry, c)).filter(|p| !p.is_empty())
    }

    /// Runs every plugin on one column and merges what they find into
    /// `labels` (a name already there, from a system classification or a
    /// rule, stays as it was). `values` are the column's values as
    /// [`Classifier::prepare`] gives them. Returns the plugins that failed.
    pub fn classify(
        &mut self,
        path: &[String],
        data_type: &str,
        values: &[&str],
        nulls: u32,
        labels: &mut ColumnLabels,
    ) -> Vec<PluginFailure> {
        if values.is_empty() || self.plugins.is_empty() {
            return Vec::new();
        }
        let input = ColumnInput {
            path: path.to_vec(),
            data_type: data_type.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
            nulls,
        };
        let mut failures = Vec::new();
        for plugin in &self.plugins {
            let name = &plugin.info.name;
            let fail = |kind: &str, why: String| PluginFailure {
                plugin: name.clone(),
                kind: kind.to_string(),
                message: format!("classifier plugin '{name}' failed on column '{}': {why}", path.join(".")),
            };
            if !self.instances.contains_key(name) {
                match plugin.instance(self.runtime, self.limits.clone()) {
                    Ok(instance) => {
                        self.instances.insert(name.clone(), instance);
                    }
                    Err(e) => {
                        failures.push(fail(e.kind(), safe_reason(&e)));
                        continue;
                    }
                }
            }
            let instance = self.instances.get_mut(name).expect("just inserted");
            match instance.classify(&input) {
                Ok(found) => match check(plugin, &found, values.len() as u32) {
                    Ok(()) => merge(labels, found),
                    Err(why) => failures.push(fail("invalid-output", why)),
                },
                Err(e) => {
                    if e.poisons_instance() {
                        self.instances.remove(name);
                    }
                    failures.push(fail(e.kind(), safe_reason(&e)));
                }
            }
        }
        failures
    }
}

/// One column's labels from its sampled `values`: the system
/// classifications and custom rules of `classifier`, then the classifier
/// plugins (their failures are added to `failures`). `None` when no value
/// was sampled. Files and SQL tables alike go through here.
pub fn classify_column(
    classifier: &Classifier,
    plugins: Option<&mut PluginClassifiers<'_>>,
    path: &[String],
    data_type: &str,
    values: &[impl AsRef<str>],
    nulls: u32,
    failures: &mut Vec<PluginFailure>,
) -> Option<ColumnLabels> {
    let mut labels = classifier.classify(path, values)?;
    if let Some(plugins) = plugins {
        let prepared = classifier.prepare(values);
        failures.extend(plugins.classify(path, data_type, &prepared, nulls, &mut labels));
    }
    Some(labels)
}

/// The host's account of a failed call, without the plugin's own words.
fn safe_reason(e: &PluginError) -> String {
    match e {
        PluginError::Returned { .. } => {
            "it returned an error (its message is not shown: it may quote sampled values)".into()
        }
        PluginError::Crashed { .. } => {
            "it crashed (trapped); what it printed is not shown: it may quote sampled values".into()
        }
        PluginError::Timeout { limit, .. } | PluginError::Idle { limit, .. } => {
            format!("it ran longer than its limit of {limit:?} for one column")
        }
        PluginError::OutOfMemory { limit, .. } => {
            format!("it exceeded its memory limit of {} MiB", limit >> 20)
        }
        PluginError::Canceled { .. } => "the run was canceled".into(),
        PluginError::Instantiate { .. } => "it could not be started".into(),
        PluginError::Malformed { .. } => "its answer broke the contract".into(),
    }
}

/// Checks one plugin's answer for one column of `sampled` values.
fn check(
    plugin: &ClassifierPlugin,
    found: &[crate::host::classifier::Classification],
    sampled: u32,
) -> Result<(), String> {
    if found.len() > MAX_LABELS {
        return Err(format!(
            "it returned {} classifications; at most {MAX_LABELS} are accepted per column",
            found.len()
        ));
    }
    let mut seen = HashSet::new();
    for label in found {
        // Not echoed: an undeclared "name" may be a sampled value.
        if !plugin.info.emits.contains(&label.name) {
            return Err("it returned a classification name it does not declare in describe()".into());
        }
        if !seen.insert(label.name.as_str()) {
            return Err(format!("it returned {} twice", label.name));
        }
        if label.matched == 0 || label.matched > sampled {
            return Err(format!(
                "{}: {} matching values out of {sampled} sampled (must be 1 to {sampled})",
                label.name, label.matched
            ));
        }
        if !(label.min_share > 0.0 && label.min_share <= 1.0) {
            return Err(format!("{}: min-share {} is not in (0, 1]", label.name, label.min_share));
        }
        if !super::passes(label.matched, sampled, label.min_share) {
            return Err(format!(
                "{}: {} of {sampled} values is under its own min-share of {}",
                label.name, label.matched, label.min_share
            ));
        }
    }
    Ok(())
}

fn merge(labels: &mut ColumnLabels, found: Vec<crate::host::classifier::Classification>) {
    for label in found {
        if !labels.labels.iter().any(|l| l.name == label.name) {
            labels.labels.push(Label { name: label.name, matched: label.matched, min_share: label.min_share });
        }
    }
}
