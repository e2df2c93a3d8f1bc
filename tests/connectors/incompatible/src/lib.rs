//! Exports `surveyor:connector/format-connector@0.2.0`, which this host does not speak.

wit_bindgen::generate!({ path: "wit", world: "format" });

struct Future;

impl exports::surveyor::connector::plugin::Guest for Future {
    fn info() -> String {
        "future".into()
    }
}

impl exports::surveyor::connector::format_connector::Guest for Future {
    fn read_schema(path: String) -> String {
        path
    }
}

export!(Future);
