//! Qualified names: the stable, globally unique, URL-like identity of an asset.
//!
//! Catalogs match assets across runs by qualified name alone, so every
//! connector and the host build them the same way, here.

/// `root` joined with a `/`-separated relative `path`, each segment escaped so
/// that the result stays one URL: `%`, space, `#` and `?` are percent-encoded,
/// everything else (non-Latin letters included) is kept as it is, as Purview does.
pub fn join(root: &str, path: &str) -> String {
    let mut out = String::with_capacity(root.len() + path.len() + 1);
    out.push_str(root.trim_end_matches('/'));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        escape_into(segment, &mut out);
    }
    out
}

fn escape_into(segment: &str, out: &mut String) {
    if segment.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'#' | b'?')) {
        out.push_str(segment);
        return;
    }
    for ch in segment.chars() {
        match ch {
            '%' => out.push_str("%25"),
            ' ' => out.push_str("%20"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
}

/// The path of a `file://host/...` root URI, as the node sees it
/// (`file://node1/data/my%20lake` → `/data/my lake`).
pub fn file_uri_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let path = &rest[rest.find('/')?..];
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(Some(h)), Some(Some(l))) =
                (bytes.get(i + 1).map(|b| hex(*b)), bytes.get(i + 2).map(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The qualified name of a dataset's schema, after Purview's convention
/// (`<dataset>#__tabular_schema`).
pub fn tabular_schema(dataset: &str) -> String {
    format!("{dataset}#__tabular_schema")
}

/// The qualified name of a column of a dataset's schema:
/// `<dataset>#__tabular_schema//<path>`, nested path segments joined by `/`
/// (a `/` inside a name is escaped as `%2F`).
pub fn column(dataset: &str, path: &[String]) -> String {
    let mut out = tabular_schema(dataset);
    out.push('/');
    for segment in path {
        out.push('/');
        for ch in segment.chars() {
            match ch {
                '/' => out.push_str("%2F"),
                '%' => out.push_str("%25"),
                c => out.push(c),
            }
        }
    }
    out
}

/// The last segment of a `/`-separated path.
pub fn file_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_escapes_only_what_breaks_a_url() {
        assert_eq!(join("file://h/data/", "a b/c#1.parquet"), "file://h/data/a%20b/c%231.parquet");
        assert_eq!(join("file://h/data", "日本/表.parquet"), "file://h/data/日本/表.parquet");
        assert_eq!(join("file://h/data", ""), "file://h/data");
    }

    #[test]
    fn file_uris_give_back_their_path() {
        let uri = join("file://node1", "/data/my lake/#1");
        assert_eq!(file_uri_path(&uri).as_deref(), Some("/data/my lake/#1"));
        assert_eq!(file_uri_path("https://x/y"), None);
    }

    #[test]
    fn column_names_are_nested_under_the_schema() {
        let path = vec!["a/b".to_string(), "c".to_string()];
        assert_eq!(column("x://d/f", &path), "x://d/f#__tabular_schema//a%2Fb/c");
        assert_eq!(file_name("a/b/c.parquet"), "c.parquet");
    }
}
