//! The one-pass footer decoder ([`crate::footer`] + [`crate::tree`]) against
//! the `parquet` crate's own metadata reader, on every file of Apache's
//! parquet-testing corpus and on a generated lake: the same columns, the same
//! facts, the same first row group for sampling, and the same files refused.

use super::*;
use crate::tests::{corpus_dir, corpus_files};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData};

fn listed(root: &parquet::schema::types::Type) -> Vec<surveyor_sdk::Column> {
    let mut columns = Vec::new();
    schema::columns(root, &mut columns);
    columns
}

/// What the connector reported before the one-pass decoder: the schema from
/// `decode_schema`, the facts from the full `ParquetMetaData`.
fn reference(footer: &[u8]) -> Result<(String, Option<String>, Option<String>), String> {
    let descr = ParquetMetaDataReader::decode_schema(footer).map_err(|e| e.to_string())?;
    let columns = format!("{:?}", listed(descr.root_schema()));
    // Some corpus files have row groups the crate refuses; their schema is still compared.
    let metadata = ParquetMetaDataReader::decode_metadata(footer).ok();
    let facts = metadata.as_ref().map(|m| reference_facts(m, descr.num_columns()));
    let first = metadata.as_ref().and_then(|m| m.row_groups().first()).map(|rg| chunks(rg, |_| true));
    Ok((columns, facts, first))
}

/// What the column readers use of a row group's chunks; chunks that
/// `readable` rules out show as `-`.
fn chunks(rg: &RowGroupMetaData, readable: impl Fn(usize) -> bool) -> String {
    let mut out = format!("rows={}", rg.num_rows());
    for (i, c) in rg.columns().iter().enumerate() {
        if !readable(i) {
            out += " -";
            continue;
        }
        let codec = format!("{:?}", c.compression());
        out += &format!(
            " {}:{}:{}:{}:{:?}",
            codec.split('(').next().unwrap(),
            c.num_values(),
            c.compressed_size(),
            c.data_page_offset(),
            c.dictionary_page_offset()
        );
    }
    out
}

fn reference_facts(m: &ParquetMetaData, leaves: usize) -> String {
    let f = m.file_metadata();
    let chunks = || m.row_groups().iter().flat_map(|rg| rg.columns());
    let codecs: std::collections::BTreeSet<String> =
        chunks().map(|c| format!("{:?}", c.compression()).split('(').next().unwrap().to_string()).collect();
    let keys: Vec<&str> =
        f.key_value_metadata().map(|kv| kv.iter().map(|kv| kv.key.as_str()).collect()).unwrap_or_default();
    format!(
        "rows={} groups={} compressed={} uncompressed={} codecs={codecs:?} version={} columns={leaves} created_by={:?} keys={keys:?}",
        f.num_rows(),
        m.num_row_groups(),
        chunks().map(|c| c.compressed_size()).sum::<i64>(),
        chunks().map(|c| c.uncompressed_size()).sum::<i64>(),
        f.version(),
        f.created_by(),
    )
}

fn new_path(footer: &[u8]) -> Result<(String, String, Option<sample::FirstRowGroup>), String> {
    let facts = footer::read(footer, true, None).map_err(|e| e.to_string())?;
    let tree = tree::build(&facts.schema)?;
    let listed = listed(&tree.root);
    // Packed for 0.1.5 hosts, the same columns.
    let mut packer = surveyor_sdk::packed::SchemaPacker::default();
    schema::columns(&tree.root, &mut packer);
    let unpacked = FileSchema { columns: listed.clone(), attributes: Vec::new() };
    assert_eq!(packer.finish(Vec::new()), surveyor_sdk::packed::pack(unpacked), "packed and listed columns differ");
    let columns = format!("{listed:?}");
    let codecs: std::collections::BTreeSet<String> = facts.codecs.iter().map(|c| c.to_string()).collect();
    let summary = format!(
        "rows={} groups={} compressed={} uncompressed={} codecs={codecs:?} version={} columns={} created_by={:?} keys={:?}",
        facts.num_rows,
        facts.row_groups,
        facts.compressed,
        facts.uncompressed,
        facts.version,
        tree.leaves,
        facts.created_by.as_deref(),
        facts.key_value_keys,
    );
    let first = facts.first_row_group.as_ref().and_then(|rows| sample::row_group(&tree.root, rows));
    Ok((columns, summary, first))
}

/// The footer of a whole Parquet file, or `None` when the trailer is not `PAR1`.
fn footer_of(bytes: &[u8]) -> Option<&[u8]> {
    let n = bytes.len();
    if n < 12 || &bytes[n - 4..] != b"PAR1" {
        return None;
    }
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    (len <= n - 12).then(|| &bytes[n - 8 - len..n - 8])
}

/// Compares both paths on one file; returns whether the file gave a schema.
fn compare(name: &str, bytes: &[u8]) -> bool {
    let Some(footer) = footer_of(bytes) else { return false };
    match (reference(footer), new_path(footer)) {
        (Ok((want_columns, want_facts, want_first)), Ok((columns, facts, first))) => {
            assert_eq!(columns, want_columns, "{name}: columns differ");
            if let Some(want_facts) = want_facts {
                assert_eq!(facts, want_facts, "{name}: facts differ");
            }
            // Chunks the sampler skips are not compared; those it reads must match.
            if let Some(want) = want_first {
                let first = first.unwrap_or_else(|| panic!("{name}: no first row group, the crate has {want}"));
                let got = chunks(first.metadata(), |i| first.is_readable(i));
                let want: Vec<&str> = want.split(' ').collect();
                for (i, part) in got.split(' ').enumerate() {
                    assert!(part == "-" || part == want[i], "{name}: first row group differs: {got} != {want:?}");
                }
            }
            true
        }
        (Err(_), Err(_)) => false,
        (want, got) => {
            panic!("{name}: the parquet crate gives {:?}, the one-pass decoder {:?}", want.map(drop), got.map(drop))
        }
    }
}

#[test]
fn one_pass_decoder_matches_the_parquet_crate_on_the_whole_corpus() {
    let mut files = Vec::new();
    corpus_files(&corpus_dir(), &mut files);
    assert!(files.len() > 80, "corpus looks incomplete: {} files", files.len());
    let compared = files.iter().filter(|p| compare(&p.display().to_string(), &std::fs::read(p).unwrap())).count();
    assert!(compared >= 80, "only {compared} corpus files compared");
}

#[test]
fn one_pass_decoder_matches_the_parquet_crate_on_a_generated_lake() {
    let root = std::env::temp_dir().join(format!("surveyor-parquet-equivalence-{}", std::process::id()));
    let spec = surveyor_lakegen::LakeSpec { files: 300, ..Default::default() };
    let written = surveyor_lakegen::write_lake(&root, &spec).unwrap();
    for file in &written {
        assert!(compare(&file.path, &std::fs::read(root.join(&file.path)).unwrap()), "{}: no schema", file.path);
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every single-byte corruption of a footer gives a schema or an error, never
/// a panic or a runaway allocation.
#[test]
fn corrupted_footers_never_panic() {
    let dir = corpus_dir().join("data");
    for name in ["alltypes_plain.parquet", "nested_maps.snappy.parquet", "decimal_in_fixed_basic.parquet"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else { continue };
        let footer = footer_of(&bytes).unwrap().to_vec();
        for i in 0..footer.len() {
            for flip in [0x01u8, 0x0f, 0x80, 0xff] {
                let mut bad = footer.clone();
                bad[i] ^= flip;
                let _ = new_path(&bad);
            }
        }
    }
}
