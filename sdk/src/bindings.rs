//! Generated bindings for the WIT contract in `wit/`.
//!
//! The shared types are generated once, in [`types`]; the world bindings are
//! generated per feature and point back at them, so that a connector's
//! component carries the type information of its own world only.

/// Shared types of `surveyor:connector/types`.
pub mod types {
    wit_bindgen::generate!({
        path: "../wit",
        inline: "package surveyor:sdk; world types-only { import surveyor:connector/types@0.1.5; }",
        world: "surveyor:sdk/types-only",
        generate_all,
        generate_unused_types: true,
        additional_derives: [Clone, PartialEq],
    });
    pub use surveyor::connector::types::*;
}

/// Bindings for the `source` world.
#[cfg(feature = "source")]
pub mod source {
    wit_bindgen::generate!({
        path: "../wit",
        world: "surveyor:connector/source@0.1.5",
        with: { "surveyor:connector/types@0.1.5": crate::bindings::types::surveyor::connector::types },
        generate_all,
        additional_derives: [Clone, PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_source_world",
        default_bindings_module: "::surveyor_sdk::bindings::source",
    });
}

/// Bindings for the `packed-schema-format` world (a format connector, with every sampler and the packed schema).
#[cfg(all(feature = "format", not(feature = "source")))]
pub mod format {
    wit_bindgen::generate!({
        path: "../wit",
        world: "surveyor:connector/packed-schema-format@0.1.5",
        with: { "surveyor:connector/types@0.1.5": crate::bindings::types::surveyor::connector::types },
        generate_all,
        additional_derives: [Clone, PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_format_world",
        default_bindings_module: "::surveyor_sdk::bindings::format",
    });
}

/// Bindings for the `format` world (native builds with both features: no public export macro).
#[cfg(all(feature = "format", feature = "source"))]
pub mod format {
    wit_bindgen::generate!({
        path: "../wit",
        world: "surveyor:connector/packed-schema-format@0.1.5",
        with: { "surveyor:connector/types@0.1.5": crate::bindings::types::surveyor::connector::types },
        generate_all,
        additional_derives: [Clone, PartialEq],
        pub_export_macro: false,
        export_macro_name: "__export_format_world",
        default_bindings_module: "::surveyor_sdk::bindings::format",
    });
}

/// Bindings for the `classifier` world (contract 0.1.2): imports `log` only.
#[cfg(feature = "classifier")]
pub mod classifier {
    wit_bindgen::generate!({
        path: "../wit",
        world: "surveyor:connector/classifier@0.1.5",
        with: { "surveyor:connector/types@0.1.5": crate::bindings::types::surveyor::connector::types },
        generate_all,
        additional_derives: [Clone, PartialEq],
        pub_export_macro: true,
        export_macro_name: "__export_classifier_world",
        default_bindings_module: "::surveyor_sdk::bindings::classifier",
    });
}

#[cfg(all(target_arch = "wasm32", feature = "classifier", any(feature = "source", feature = "format")))]
compile_error!("a classifier plugin implements one world: enable only the `classifier` feature of surveyor-sdk");

#[cfg(all(target_arch = "wasm32", feature = "source", feature = "format"))]
compile_error!(
    "a connector implements one world: enable either the `source` or the `format` feature of surveyor-sdk, not both"
);
