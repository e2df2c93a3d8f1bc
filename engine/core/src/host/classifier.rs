//! One instance of a classifier plugin (contract 0.1.2): it gets one sampled
//! column per call and nothing else. Its only import is `log`, and what it
//! logs is counted, not written: a message could quote a sampled value.

use super::bindings::classifier::Classifier as ClassifierWorld;
use super::bindings::classifier::ClassifierIndices;
pub use super::bindings::classifier::exports::surveyor::connector::column_classifier::{
    Classification, ClassifierInfo, ColumnInput,
};
use super::bindings::log;
use super::error::PluginError;
use super::sandbox::{Limits, SandboxContext, Sandboxed, new_store};
use super::{Origin, Runtime};
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

/// Store data of a classifier instance.
pub struct ClassifierState {
    sandbox: SandboxContext,
    plugin: String,
}

impl Sandboxed for ClassifierState {
    fn sandbox(&mut self) -> &mut SandboxContext {
        &mut self.sandbox
    }
}

impl wasmtime_wasi::WasiView for ClassifierState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox.ctx()
    }
}

pub(super) fn link(linker: &mut Linker<ClassifierState>) -> wasmtime::Result<()> {
    ClassifierWorld::add_to_linker::<ClassifierState, HasSelf<ClassifierState>>(linker, |s| s)
}

/// A classifier plugin, pre-instantiated.
pub struct ClassifierPre {
    instance_pre: wasmtime::component::InstancePre<ClassifierState>,
    indices: ClassifierIndices,
}

pub(super) fn pre(runtime: &Runtime, component: &wasmtime::component::Component) -> wasmtime::Result<ClassifierPre> {
    let instance_pre = runtime.classifier_linker.instantiate_pre(component)?;
    let indices = ClassifierIndices::new(&instance_pre)?;
    Ok(ClassifierPre { instance_pre, indices })
}

/// A classifier instance, reused for the columns of a run; after a trap it
/// must be dropped (see [`PluginError::poisons_instance`]).
pub struct ClassifierInstance {
    store: Store<ClassifierState>,
    bindings: ClassifierWorld,
    plugin: String,
}

impl ClassifierInstance {
    pub(super) fn new(runtime: &Runtime, name: &str, pre: &ClassifierPre, limits: Limits) -> Result<Self, PluginError> {
        let sandbox = SandboxContext::new(limits);
        let mut store = new_store(runtime.engine(), ClassifierState { sandbox, plugin: name.to_string() });
        store.data_mut().sandbox.start_call();
        let trap = |e, store: &Store<ClassifierState>| PluginError::from_trap(name, e, &store.data().sandbox);
        let instance = pre.instance_pre.instantiate(&mut store).map_err(|e| trap(e, &store))?;
        let bindings = pre.indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?;
        Ok(ClassifierInstance { store, bindings, plugin: name.to_string() })
    }

    pub fn describe(&mut self) -> Result<ClassifierInfo, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_column_classifier().call_describe(&mut self.store);
        r.map_err(|e| PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox))
    }

    /// Classifies one column. The plugin's own error comes back whole;
    /// callers must not show its text (see [`crate::classify::plugins`]).
    pub fn classify(&mut self, column: &ColumnInput) -> Result<Vec<Classification>, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_column_classifier().call_classify(&mut self.store, column);
        match r {
            Ok(Ok(labels)) => Ok(labels),
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)),
        }
    }
}

/// A loaded, checked, pre-instantiated classifier plugin. Kept apart from
/// [`super::Plugin`] (sources and formats): it describes itself with
/// [`ClassifierInfo`], not `plugin-info`.
pub struct ClassifierPlugin {
    pub info: ClassifierInfo,
    pub origin: Origin,
    /// SHA-256 of the component's bytes.
    pub sha256: String,
    pre: ClassifierPre,
}

impl ClassifierPlugin {
    /// Describes the component and checks what it says about itself.
    pub(super) fn load(runtime: &Runtime, pre: ClassifierPre, origin: Origin, sha256: String) -> Result<Self, String> {
        let info = ClassifierInstance::new(runtime, "classifier", &pre, Limits::classifier())
            .and_then(|mut i| i.describe())
            .map_err(|e| format!("describe() failed: {e}"))?;
        super::registry::check_name_version(&info.name, &info.version)?;
        if info.emits.is_empty() || info.emits.len() > 256 {
            return Err(format!("describe() must list 1-256 classification names it emits (got {})", info.emits.len()));
        }
        if let Some(bad) = info.emits.iter().find(|n| !crate::classify::plugin_label_name(n)) {
            return Err(format!(
                "describe() lists the classification name {bad:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with MICROSOFT."
            ));
        }
        Ok(ClassifierPlugin { info, origin, sha256, pre })
    }

    pub(super) fn version(&self) -> semver::Version {
        semver::Version::parse(&self.info.version).expect("checked at load")
    }

    /// A fresh instance of this classifier plugin.
    pub fn instance(&self, runtime: &Runtime, limits: Limits) -> Result<ClassifierInstance, PluginError> {
        ClassifierInstance::new(runtime, &self.info.name, &self.pre, limits)
    }
}

impl log::Host for ClassifierState {
    /// Counted at debug level, text withheld: a classifier's messages are
    /// about the values it is looking at.
    fn log(&mut self, level: log::Level, _message: String) {
        self.sandbox.touch();
        tracing::debug!(plugin = %self.plugin, ?level, "classifier plugin logged a message (text withheld: it may quote sampled values)");
    }
}

impl super::bindings::types::Host for ClassifierState {}
