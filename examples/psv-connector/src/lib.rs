//! An example format connector: reads the header line of a pipe-separated
//! (`.psv`) file and reports one string column per field.

use serde::Deserialize;
use surveyor_sdk::{Column, Error, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind, Result};

pub struct Psv;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Read at most this many bytes looking for the header (default 64 KiB).
    max_header_bytes: Option<u64>,
}

impl Format for Psv {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("psv", env!("CARGO_PKG_VERSION"), PluginKind::Format)
            .handles(["psv"])
            .description("Pipe-separated values: one string column per header field")
            .config_schema(r#"{"type":"object","properties":{"max_header_bytes":{"type":"integer","minimum":1}},"additionalProperties":false}"#)
    }

    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<FileSchema> {
        // The header is at the start: one range read through the host.
        let want = input.size.min(config.max_header_bytes.unwrap_or(64 * 1024));
        let head = input.bytes(file, 0, want)?;
        let text = std::str::from_utf8(&head)
            .map_err(|_| Error::malformed("header is not UTF-8").with_item(input.path.clone()))?;
        let header = text.lines().next().filter(|l| !l.trim().is_empty());
        let header = header.ok_or_else(|| Error::malformed("no header line").with_item(input.path.clone()))?;
        let columns = header
            .split('|')
            .enumerate()
            .map(|(i, name)| Column::new([name.trim()], "text", "string").ordinal(i as u32))
            .collect();
        Ok(FileSchema { columns, attributes: vec![] })
    }
}

surveyor_sdk::export_format!(Psv);

#[cfg(test)]
mod tests {
    use super::*;
    use surveyor_sdk::testing::read_schema;

    #[test]
    fn header_fields_become_columns() {
        let (schema, reads) = read_schema::<Psv>("people.psv", b"id|name|city\n1|Ada|London\n", 8);
        let names: Vec<String> = schema.unwrap().columns.iter().map(|c| c.name().to_string()).collect();
        assert_eq!(names, ["id", "name", "city"]);
        assert_eq!(reads, 1, "the header is read with one range read");
    }

    #[test]
    fn an_empty_file_is_a_clear_error() {
        let (schema, _) = read_schema::<Psv>("empty.psv", b"", 8);
        assert!(schema.unwrap_err().message.contains("no header"));
    }
}
