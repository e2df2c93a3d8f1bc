//! The plugins available to a run: built-in ones, and those in the plugins
//! folder, each compiled (through the cache), checked and pre-instantiated.
//!
//! A folder plugin with the same name as a built-in one replaces it only with
//! a higher version. A file that is not a component, speaks another version
//! of the contract, asks for imports the sandbox does not give, or duplicates
//! another plugin is rejected with the file and the reason; nothing else changes.

use super::bindings::source::SourcePre;
use super::bindings::types::{PluginInfo, PluginKind};
use super::classifier::ClassifierPlugin;
use super::format::{FormatInstance, FormatPre};
use super::source::{SourceCapabilities, SourceInstance, SourceState};
use super::{Limits, PluginError, Runtime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The contract version this host speaks.
pub const CONTRACT: &str = "surveyor:connector@0.1.5";
const SOURCE_EXPORT: &str = "surveyor:connector/source-connector@0.1.5";
const FORMAT_EXPORT: &str = "surveyor:connector/format-connector@0.1.5";
const CLASSIFIER_EXPORT: &str = "surveyor:connector/column-classifier@0.1.5";

/// Whether `export` is `wanted` at a compatible version (`0.1.x`: 0.1.1 to
/// 0.1.5 only added to 0.1.0, and wasmtime links `0.1.x` names to each other).
fn compatible(export: &str, wanted: &str) -> bool {
    let base = |n: &str| n.rsplit_once('@').map(|(name, v)| (name.to_string(), v.to_string()));
    match (base(export), base(wanted)) {
        (Some((a, va)), Some((b, _))) => {
            a == b && semver::Version::parse(&va).is_ok_and(|v| v.major == 0 && v.minor == 1)
        }
        _ => false,
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    Folder(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Folder(path) => write!(f, "{}", path.display()),
        }
    }
}

enum Pre {
    Source(SourcePre<SourceState>),
    Format(FormatPre),
}

/// A loaded, checked, pre-instantiated plugin.
pub struct Plugin {
    pub info: PluginInfo,
    pub origin: Origin,
    /// SHA-256 of the component's bytes.
    pub sha256: String,
    pre: Pre,
}

impl Plugin {
    pub fn kind(&self) -> PluginKind {
        self.info.kind
    }

    /// Whether this format connector returns samples for classification
    /// (built against contract 0.1.1 or later, with a sampler).
    pub fn samples(&self) -> bool {
        matches!(&self.pre, Pre::Format(pre) if pre.samples())
    }

    /// A fresh instance of this source connector with the given capabilities.
    pub fn source_instance(
        &self,
        runtime: &Runtime,
        caps: SourceCapabilities,
        limits: Limits,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<SourceInstance, PluginError> {
        match &self.pre {
            Pre::Source(pre) => SourceInstance::new(runtime, self, pre, caps, limits, cancel),
            Pre::Format(_) => Err(self.wrong_kind("source")),
        }
    }

    /// A fresh instance of this format connector.
    pub fn format_instance(
        &self,
        runtime: &Runtime,
        limits: Limits,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<FormatInstance, PluginError> {
        match &self.pre {
            Pre::Format(pre) => FormatInstance::new(runtime, self, pre, limits, cancel),
            Pre::Source(_) => Err(self.wrong_kind("format")),
        }
    }

    fn wrong_kind(&self, wanted: &str) -> PluginError {
        PluginError::Instantiate { plugin: self.info.name.clone(), message: format!("not a {wanted} connector") }
    }

    fn version(&self) -> semver::Version {
        semver::Version::parse(&self.info.version).expect("checked at load")
    }
}

/// A plugin file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: PathBuf,
    pub reason: String,
}

/// The plugins of one run.
#[derive(Default)]
pub struct Registry {
    plugins: BTreeMap<String, Arc<Plugin>>,
    /// Format plugins by handled extension (lowercase, without the dot).
    extensions: BTreeMap<String, Arc<Plugin>>,
    /// Classifier plugins (contract 0.1.2), by name; never built in.
    classifiers: BTreeMap<String, Arc<ClassifierPlugin>>,
    rejected: Vec<Rejected>,
}

/// What a component file turned out to be.
enum Loaded {
    Connector(Plugin),
    Classifier(ClassifierPlugin),
}

impl Registry {
    /// The built-in plugins, then those in `folder` (when given and present).
    pub fn load(runtime: &Runtime, folder: Option<&Path>) -> Registry {
        let mut registry = Registry::default();
        for super::builtin::Builtin { name, wasm, sha256 } in super::builtin::BUILTIN {
            match load_plugin(runtime, wasm, sha256.to_string(), Origin::BuiltIn) {
                Ok(Loaded::Connector(plugin)) => registry.insert(plugin),
                Ok(Loaded::Classifier(_)) => registry.rejected.push(Rejected {
                    file: PathBuf::from(format!("<built-in {name}>")),
                    reason: "built-in classifier plugins are not supported".into(),
                }),
                // A built-in that fails to load is a build defect: say so loudly.
                Err(reason) => {
                    registry.rejected.push(Rejected { file: PathBuf::from(format!("<built-in {name}>")), reason })
                }
            }
        }
        if let Some(folder) = folder {
            registry.load_folder(runtime, folder);
        }
        registry.index();
        registry
    }

    fn load_folder(&mut self, runtime: &Runtime, folder: &Path) {
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.rejected.push(Rejected {
                    file: folder.to_path_buf(),
                    reason: format!("cannot read the plugins folder: {e}"),
                });
                return;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        for file in files {
            let loaded = std::fs::read(&file).map_err(|e| format!("cannot read: {e}")).and_then(|wasm| {
                let sha256 = super::cache::sha256_hex(&wasm);
                load_plugin(runtime, &wasm, sha256, Origin::Folder(file.clone()))
            });
            match loaded {
                Ok(Loaded::Connector(plugin)) => {
                    if let Err(reason) = self.admit(plugin) {
                        self.rejected.push(Rejected { file, reason });
                    }
                }
                Ok(Loaded::Classifier(plugin)) => {
                    if let Err(reason) = self.admit_classifier(plugin) {
                        self.rejected.push(Rejected { file, reason });
                    }
                }
                Err(reason) => self.rejected.push(Rejected { file, reason }),
            }
        }
    }

    /// Admits a classifier plugin unless another plugin of that name wins.
    fn admit_classifier(&mut self, plugin: ClassifierPlugin) -> Result<(), String> {
        if let Some(existing) = self.plugins.get(&plugin.info.name) {
            return Err(format!(
                "plugin '{}' is already loaded from {} as another kind of plugin",
                plugin.info.name, existing.origin
            ));
        }
        if let Some(existing) = self.classifiers.get(&plugin.info.name) {
            if plugin.version() <= existing.version() {
                return Err(format!(
                    "duplicate: plugin '{}' {} is already loaded from {} at version {}; a replacement needs a higher version",
                    plugin.info.name, plugin.info.version, existing.origin, existing.info.version
                ));
            }
            tracing::info!(plugin = %plugin.info.name, from = %existing.info.version, to = %plugin.info.version, origin = %plugin.origin, "plugin replaced by a newer version");
        }
        self.classifiers.insert(plugin.info.name.clone(), Arc::new(plugin));
        Ok(())
    }

    /// Admits a folder plugin unless another plugin of that name wins.
    fn admit(&mut self, plugin: Plugin) -> Result<(), String> {
        if let Some(existing) = self.classifiers.get(&plugin.info.name) {
            return Err(format!(
                "plugin '{}' is already loaded from {} as a classifier plugin",
                plugin.info.name, existing.origin
            ));
        }
        if let Some(existing) = self.plugins.get(&plugin.info.name) {
            let (new, old) = (plugin.version(), existing.version());
            if new <= old {
                return Err(format!(
                    "duplicate: plugin '{}' {} is already loaded from {} at version {}; a replacement needs a higher version",
                    plugin.info.name, plugin.info.version, existing.origin, existing.info.version
                ));
            }
            if existing.info.kind != plugin.info.kind {
                return Err(format!("plugin '{}' is already loaded as another kind of connector", plugin.info.name));
            }
            tracing::info!(plugin = %plugin.info.name, from = %existing.info.version, to = %plugin.info.version, origin = %plugin.origin, "plugin replaced by a newer version");
        }
        self.insert(plugin);
        Ok(())
    }

    fn insert(&mut self, plugin: Plugin) {
        self.plugins.insert(plugin.info.name.clone(), Arc::new(plugin));
    }

    fn index(&mut self) {
        self.extensions.clear();
        for plugin in self.plugins.values().filter(|p| p.info.kind == PluginKind::Format) {
            for ext in &plugin.info.handles {
                self.extensions.insert(ext.trim_start_matches('.').to_ascii_lowercase(), plugin.clone());
            }
        }
    }

    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }

    /// The classifier plugins, by name.
    pub fn classifiers(&self) -> impl Iterator<Item = &Arc<ClassifierPlugin>> {
        self.classifiers.values()
    }

    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    /// The source connector handling `source_type`.
    pub fn source(&self, source_type: &str) -> Option<&Arc<Plugin>> {
        self.plugins
            .values()
            .find(|p| p.info.kind == PluginKind::Source && p.info.handles.iter().any(|h| h == source_type))
    }

    /// The format connector for a file, by its longest matching extension
    /// (`data.csv.gz` prefers a `csv.gz` handler over a `gz` one).
    pub fn format_for(&self, path: &str) -> Option<&Arc<Plugin>> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        let mut rest = name.as_str();
        while let Some((_, ext)) = rest.split_once('.') {
            if let Some(plugin) = self.extensions.get(ext) {
                return Some(plugin);
            }
            rest = ext;
        }
        None
    }
}

/// Compiles, checks and pre-instantiates one component.
fn load_plugin(runtime: &Runtime, wasm: &[u8], sha256: String, origin: Origin) -> Result<Loaded, String> {
    let component =
        runtime.compile(wasm, &sha256).map_err(|e| format!("not a valid WebAssembly component: {}", root_cause(&e)))?;
    let exports: Vec<String> =
        component.component_type().exports(runtime.engine()).map(|(name, _)| name.to_string()).collect();
    let pre = if exports.iter().any(|e| compatible(e, SOURCE_EXPORT)) {
        Pre::Source(super::source::pre(runtime, &component).map_err(|e| import_problem(&e))?)
    } else if exports.iter().any(|e| compatible(e, FORMAT_EXPORT)) {
        Pre::Format(super::format::pre(runtime, &component).map_err(|e| import_problem(&e))?)
    } else if exports.iter().any(|e| compatible(e, CLASSIFIER_EXPORT)) {
        let pre = super::classifier::pre(runtime, &component).map_err(|e| import_problem(&e))?;
        return ClassifierPlugin::load(runtime, pre, origin, sha256).map(Loaded::Classifier);
    } else if let Some(other) = exports.iter().find(|e| e.starts_with("surveyor:connector/")) {
        let version = other.rsplit('@').next().unwrap_or("?");
        return Err(format!("incompatible: built for surveyor:connector@{version}; this host speaks {CONTRACT}"));
    } else {
        return Err(format!(
            "not a Surveyor plugin: exports none of {SOURCE_EXPORT}, {FORMAT_EXPORT}, {CLASSIFIER_EXPORT}"
        ));
    };
    let mut plugin = Plugin {
        info: PluginInfo {
            name: String::new(),
            version: String::new(),
            kind: PluginKind::Source,
            handles: vec![],
            description: String::new(),
            config_schema: String::new(),
        },
        origin,
        sha256,
        pre,
    };
    let info = match &plugin.pre {
        Pre::Source(_) => plugin
            .source_instance(runtime, SourceCapabilities::none(), Limits::format(), None)
            .and_then(|mut i| i.info()),
        Pre::Format(_) => plugin.format_instance(runtime, Limits::format(), None).and_then(|mut i| i.info()),
    }
    .map_err(|e| format!("info() failed: {e}"))?;
    check_info(&info, matches!(plugin.pre, Pre::Source(_)))?;
    plugin.info = info;
    Ok(Loaded::Connector(plugin))
}

/// A plugin's name and version, whatever its kind.
pub(super) fn check_name_version(name: &str, version: &str) -> Result<(), String> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_name {
        return Err(format!("invalid plugin name {name:?}: use 1-64 lowercase letters, digits and dashes"));
    }
    semver::Version::parse(version).map_err(|e| format!("invalid version {version:?}: {e}"))?;
    Ok(())
}

fn check_info(info: &PluginInfo, is_source: bool) -> Result<(), String> {
    check_name_version(&info.name, &info.version)?;
    if (info.kind == PluginKind::Source) != is_source {
        return Err("info() reports another kind of plugin than the world it exports".into());
    }
    if info.handles.is_empty() {
        return Err("info() lists nothing the plugin handles".into());
    }
    serde_json::from_str::<serde_json::Value>(&info.config_schema)
        .map_err(|e| format!("config schema is not valid JSON: {e}"))?;
    Ok(())
}

fn import_problem(e: &wasmtime::Error) -> String {
    let cause = root_cause(e);
    if cause.contains("wasi:sockets") {
        format!("asks for network sockets, which connectors are not given: {cause}")
    } else {
        format!("asks for imports this host does not provide: {cause}")
    }
}

fn root_cause(e: &wasmtime::Error) -> String {
    format!("{e:#}")
}
