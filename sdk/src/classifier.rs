//! Classifier plugins: the [`Classifier`] trait, its builders, and
//! [`export_classifier!`](crate::export_classifier).
//!
//! A classifier sees one sampled column per call and nothing else. The host
//! checks what it returns (names declared in [`ClassifierInfo::emits`],
//! counts within the sample, at most 16 per column) and never shows the text
//! of an error it returns or of what it logs: those could quote a value.

pub use crate::bindings::classifier::exports::surveyor::connector::column_classifier::{
    Classification, ClassifierInfo, ColumnInput,
};

/// A classifier plugin.
pub trait Classifier {
    /// Name, version and the classification names it may return.
    fn describe() -> ClassifierInfo;
    /// The classifications of one sampled column (empty: none).
    fn classify(column: &ColumnInput) -> crate::Result<Vec<Classification>>;
}

impl ClassifierInfo {
    /// A classifier called `name` that may return the classifications `emits`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        version: impl Into<String>,
        emits: I,
    ) -> Self {
        ClassifierInfo {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            emits: emits.into_iter().map(Into::into).collect(),
        }
    }
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
}

impl ColumnInput {
    /// The column's name: the last element of its path.
    pub fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or("")
    }

    /// `name` when at least `min_share` of the values satisfy `matches`
    /// (the reference product's rules use 0.6), with the count of matches.
    pub fn share_rule(&self, name: &str, min_share: f64, matches: impl Fn(&str) -> bool) -> Option<Classification> {
        let matched = self.values.iter().filter(|v| matches(v)).count() as u32;
        let enough = matched > 0 && f64::from(matched) >= min_share * self.values.len() as f64 - 1e-9;
        enough.then(|| Classification { name: name.to_string(), matched, min_share })
    }
}

/// Exports a [`Classifier`] implementation as the component's `classifier`
/// world (contract 0.1.2).
#[macro_export]
macro_rules! export_classifier {
    ($classifier:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SurveyorClassifier;
            impl $crate::bindings::classifier::exports::surveyor::connector::column_classifier::Guest
                for __SurveyorClassifier
            {
                fn describe() -> $crate::ClassifierInfo {
                    <$classifier as $crate::Classifier>::describe()
                }
                fn classify(
                    column: $crate::ColumnInput,
                ) -> $crate::Result<$crate::__private::Vec<$crate::Classification>> {
                    <$classifier as $crate::Classifier>::classify(&column)
                }
            }
            $crate::bindings::classifier::__export_classifier_world!(
                __SurveyorClassifier with_types_in $crate::bindings::classifier
            );
        };
    };
}

/// Logs through the host. The host counts a classifier's messages but does
/// not write their text (it could quote a sampled value); native test
/// builds drop them.
pub fn log(level: crate::LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::classifier::surveyor::connector::log::{Level, log};
        let level = match level {
            crate::LogLevel::Trace => Level::Trace,
            crate::LogLevel::Debug => Level::Debug,
            crate::LogLevel::Info => Level::Info,
            crate::LogLevel::Warn => Level::Warn,
            crate::LogLevel::Error => Level::Error,
        };
        log(level, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}
