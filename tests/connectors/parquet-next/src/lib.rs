//! The built-in `parquet` connector, reporting version 9.9.9 and marking the
//! schemas it reads, so a test can see which of the two read a file.

use surveyor_connector_parquet::Parquet;
use surveyor_sdk::{Attribute, FileInput, FileReader, FileSchema, Format, PluginInfo, Result, Value};

pub struct ParquetNext;

impl Format for ParquetNext {
    type Config = <Parquet as Format>::Config;

    fn info() -> PluginInfo {
        let mut info = Parquet::info();
        info.version = "9.9.9".into();
        info.description = "test build of the parquet connector with a higher version".into();
        info
    }

    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Self::Config) -> Result<FileSchema> {
        let mut schema = Parquet::read_schema(input, file, config)?;
        schema.attributes.push(Attribute { key: "readBy".into(), value: Value::Text("parquet-next".into()) });
        Ok(schema)
    }
}

surveyor_sdk::export_format!(ParquetNext);
