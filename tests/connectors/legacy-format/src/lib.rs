//! A format connector for `.legacy` files built against contract 0.1.0 (a
//! copy of its WIT in `wit/`), without the SDK: one column per line of the
//! file's tail, named by the line. A 0.1.1 host loads it and gets no samples.

wit_bindgen::generate!({ path: "wit", world: "surveyor:connector/format@0.1.0", generate_all });

use exports::surveyor::connector::format_connector::{FileInput, FileSchema, Guest as FormatGuest};
use exports::surveyor::connector::plugin::Guest as PluginGuest;
use surveyor::connector::types::{Column, ConnectorError, PluginInfo, PluginKind, Repetition};

struct Legacy;

impl PluginGuest for Legacy {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "legacy".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Format,
            handles: vec!["legacy".into()],
            description: "test: a contract 0.1.0 format connector".into(),
            config_schema: "{}".into(),
        }
    }
}

impl FormatGuest for Legacy {
    fn read_schema(input: FileInput) -> Result<FileSchema, ConnectorError> {
        let text = String::from_utf8_lossy(&input.tail);
        let columns = text
            .lines()
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, name)| Column {
                path: vec![name.to_string()],
                physical_type: "text".into(),
                logical_type: None,
                data_type: "string".into(),
                repetition: Repetition::Optional,
                nullable: true,
                ordinal: i as u32,
                attributes: vec![],
            })
            .collect();
        Ok(FileSchema { columns, attributes: vec![] })
    }
}

export!(Legacy);
