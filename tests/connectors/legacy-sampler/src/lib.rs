//! A format connector for `.sampled` files built against contract 0.1.2 (a
//! copy of its WIT in `wit/`), without the SDK: it exports `format-sampler`
//! but not 0.1.3's `packed-sampler`. Each line of the file's tail is a
//! column, `name: value, value, ...`; the values are its sample. A 0.1.3
//! host must still classify them.

wit_bindgen::generate!({ path: "wit", world: "surveyor:connector/sampling-format@0.1.2", generate_all });

use exports::surveyor::connector::format_connector::{FileInput, FileSchema, Guest as FormatGuest};
use exports::surveyor::connector::format_sampler::{ColumnSample, Guest as SamplerGuest, SampleLimits, SampledSchema};
use exports::surveyor::connector::plugin::Guest as PluginGuest;
use surveyor::connector::types::{Column, ConnectorError, PluginInfo, PluginKind, Repetition};

struct LegacySampler;

/// `(column, values)` of each non-empty line.
fn lines(input: &FileInput) -> Vec<(String, Vec<String>)> {
    String::from_utf8_lossy(&input.tail)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(name, values)| (name.trim().to_string(), values.split(',').map(|v| v.trim().to_string()).collect()))
        .collect()
}

impl PluginGuest for LegacySampler {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "legacy-sampler".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Format,
            handles: vec!["sampled".into()],
            description: "test: a contract 0.1.2 format connector with format-sampler".into(),
            config_schema: "{}".into(),
        }
    }
}

impl FormatGuest for LegacySampler {
    fn read_schema(input: FileInput) -> Result<FileSchema, ConnectorError> {
        let columns = lines(&input)
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| Column {
                path: vec![name],
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

impl SamplerGuest for LegacySampler {
    fn read_sample(input: FileInput, limits: SampleLimits) -> Result<SampledSchema, ConnectorError> {
        let samples = lines(&input)
            .into_iter()
            .map(|(name, values)| ColumnSample {
                path: vec![name],
                values: values.into_iter().take(limits.max_rows as usize).collect(),
                nulls: 0,
            })
            .collect();
        Ok(SampledSchema { schema: Self::read_schema(input)?, samples })
    }
}

export!(LegacySampler);
