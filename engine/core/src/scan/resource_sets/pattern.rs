//! Built-in resource-set heuristics: a path becomes a pattern by replacing,
//! segment by segment, what varies between partitions and shards.
//!
//! Folder names: `key=value` (the key stays: `year={Year}`, `region={Value}`),
//! dates across folders (`2023/01/15` → `{Year}/{Month}/{Day}`, then
//! `{Hour}`, `{Minute}`), dates within a name (`2023-01-15` →
//! `{Year}-{Month}-{Day}`, also `20230115` and `2023_01_15`), GUIDs, locales
//! (`en-us`, `de_CH`) and names made only of digits.
//!
//! File names: Spark part files (`part-00012-<uuid>-c000.snappy.parquet` →
//! `part-{N}-{GUID}-c000.snappy.parquet`), and within the name (not its
//! extension): GUIDs, dates with an optional time, hex strings of 8 or more
//! characters, locales, and any run of digits (`export_00017.csv` →
//! `export_{N}.csv`, `file3.csv` → `file{N}.csv`).
//!
//! Departure from Purview, on purpose: digits inside a *folder* name that
//! also has letters (`table_001`, `batch_7`) are kept. Purview replaces them
//! and so merges distinct tables (`table_001`, `table_002`) into one set;
//! here they stay separate tables. A user rule restores the merge where that
//! is wanted.

/// A path with its varying parts replaced, and the values they had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub pattern: String,
    /// Partition keys and the values this path had (`year` → `2023`).
    pub keys: Vec<(String, String)>,
}

/// The pattern of a file's path, or `None` when nothing in it varies.
pub fn file_pattern(path: &str) -> Option<Matched> {
    let (dirs, file) = match path.rsplit_once('/') {
        Some((dirs, file)) => (Some(dirs), file),
        None => (None, path),
    };
    let mut m = Matched { pattern: String::with_capacity(path.len() + 16), keys: Vec::new() };
    let mut changed = false;
    if let Some(dirs) = dirs {
        changed |= folders_into(dirs, &mut m);
        m.pattern.push('/');
    }
    changed |= file_name_into(file, &mut m);
    changed.then_some(m)
}

/// The pattern of a folder's path, or `None` when nothing in it varies.
pub fn folder_pattern(path: &str) -> Option<Matched> {
    let mut m = Matched { pattern: String::with_capacity(path.len() + 16), keys: Vec::new() };
    folders_into(path, &mut m).then_some(m)
}

#[derive(Clone, Copy, PartialEq)]
enum DatePart {
    None,
    Year,
    Month,
    Day,
    Hour,
}

fn folders_into(dirs: &str, m: &mut Matched) -> bool {
    let mut changed = false;
    let mut previous = DatePart::None;
    for (i, segment) in dirs.split('/').enumerate() {
        if i > 0 {
            m.pattern.push('/');
        }
        let (replaced, part) = folder_segment(segment, previous, m);
        previous = part;
        changed |= replaced;
    }
    changed
}

fn folder_segment(segment: &str, previous: DatePart, m: &mut Matched) -> (bool, DatePart) {
    if let Some((key, value)) = segment.split_once('=')
        && is_key(key)
        && !value.is_empty()
    {
        m.pattern.push_str(key);
        m.pattern.push('=');
        m.pattern.push_str(typed_value(key, value));
        m.keys.push((key.to_string(), value.to_string()));
        return (true, DatePart::None);
    }
    let all_digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        let n: u32 = segment.parse().unwrap_or(u32::MAX);
        let next = match previous {
            DatePart::None if segment.len() == 4 && (1900..=2199).contains(&n) => {
                Some((DatePart::Year, "{Year}", "Year"))
            }
            DatePart::Year if segment.len() <= 2 && (1..=12).contains(&n) => {
                Some((DatePart::Month, "{Month}", "Month"))
            }
            DatePart::Month if segment.len() <= 2 && (1..=31).contains(&n) => Some((DatePart::Day, "{Day}", "Day")),
            DatePart::Day if segment.len() <= 2 && n <= 23 => Some((DatePart::Hour, "{Hour}", "Hour")),
            DatePart::Hour if segment.len() <= 2 && n <= 59 => Some((DatePart::None, "{Minute}", "Minute")),
            _ => None,
        };
        if let Some((part, placeholder, key)) = next {
            m.pattern.push_str(placeholder);
            m.keys.push((key.to_string(), segment.to_string()));
            return (true, part);
        }
        m.pattern.push_str("{N}");
        return (true, DatePart::None);
    }
    if let Some(len) = date_at(segment.as_bytes(), 0)
        && len == segment.len()
    {
        m.pattern.push_str("{Year}-{Month}-{Day}");
        m.keys.push(("Date".to_string(), segment.to_string()));
        return (true, DatePart::None);
    }
    if guid_at(segment.as_bytes(), 0) == Some(segment.len()) {
        m.pattern.push_str("{GUID}");
        return (true, DatePart::None);
    }
    if locale_at(segment.as_bytes(), 0) == Some(segment.len()) {
        m.pattern.push_str("{LOC}");
        m.keys.push(("Locale".to_string(), segment.to_string()));
        return (true, DatePart::None);
    }
    m.pattern.push_str(segment);
    (false, DatePart::None)
}

fn is_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The placeholder for a partition value, typed by the key's name or the value's shape.
fn typed_value(key: &str, value: &str) -> &'static str {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    match key.to_ascii_lowercase().as_str() {
        "year" | "yyyy" | "yr" if digits && value.len() == 4 => return "{Year}",
        "month" | "mm" | "mon" if digits && value.len() <= 2 => return "{Month}",
        "day" | "dd" if digits && value.len() <= 2 => return "{Day}",
        "hour" | "hh" | "hr" if digits && value.len() <= 2 => return "{Hour}",
        "minute" | "min" if digits && value.len() <= 2 => return "{Minute}",
        _ => {}
    }
    if date_at(value.as_bytes(), 0) == Some(value.len()) {
        "{Year}-{Month}-{Day}"
    } else if digits {
        "{N}"
    } else if guid_at(value.as_bytes(), 0) == Some(value.len()) {
        "{GUID}"
    } else {
        "{Value}"
    }
}

/// Splits a file name into its stem and its extension chain (`.snappy.parquet`,
/// `.csv.gz`): the trailing dot-separated parts that hold a letter and no `-`/`_`.
fn split_extension(name: &str) -> (&str, &str) {
    let mut cut = name.len();
    while let Some(dot) = name[..cut].rfind('.') {
        let part = &name[dot + 1..cut];
        let is_ext = !part.is_empty()
            && part.len() <= 12
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
            && part.bytes().any(|b| b.is_ascii_alphabetic());
        if !is_ext || dot == 0 {
            break;
        }
        cut = dot;
    }
    name.split_at(cut)
}

fn file_name_into(name: &str, m: &mut Matched) -> bool {
    if let Some(rest) = spark_part(name, m) {
        m.pattern.push_str(rest);
        return true;
    }
    let (stem, ext) = split_extension(name);
    let changed = stem_into(stem, m);
    m.pattern.push_str(ext);
    changed
}

/// `part-00012-<uuid>-c000.snappy.parquet` → `part-{N}-{GUID}`, returning the literal rest.
fn spark_part<'a>(name: &'a str, m: &mut Matched) -> Option<&'a str> {
    let rest = name.strip_prefix("part-")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut rest = &rest[digits..];
    m.pattern.push_str("part-{N}");
    if let Some(after) = rest.strip_prefix('-')
        && guid_at(after.as_bytes(), 0) == Some(36)
    {
        m.pattern.push_str("-{GUID}");
        rest = &after[36..];
    }
    Some(rest)
}

fn stem_into(stem: &str, m: &mut Matched) -> bool {
    let b = stem.as_bytes();
    let mut i = 0;
    let mut changed = false;
    let mut literal_from = 0;
    while i < b.len() {
        let at_boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let mut replaced: Option<(usize, &str)> = None;
        if at_boundary {
            if let Some(len) = guid_at(b, i) {
                replaced = Some((len, "{GUID}"));
            } else if let Some(len) = date_time_at(b, i) {
                m.keys.push(("Date".into(), stem[i..i + len].to_string()));
                replaced = Some((len, if len > 10 { "{Year}-{Month}-{Day}T{Time}" } else { "{Year}-{Month}-{Day}" }));
            } else if let Some(len) = locale_at(b, i) {
                replaced = Some((len, "{LOC}"));
            } else if let Some(len) = hex_at(b, i) {
                replaced = Some((len, "{HEX}"));
            }
        }
        if replaced.is_none() && b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            replaced = Some((len, "{N}"));
        }
        match replaced {
            Some((len, placeholder)) => {
                m.pattern.push_str(&stem[literal_from..i]);
                m.pattern.push_str(placeholder);
                i += len;
                literal_from = i;
                changed = true;
            }
            None => i += 1,
        }
    }
    m.pattern.push_str(&stem[literal_from..]);
    changed
}

fn ends_token(b: &[u8], end: usize) -> bool {
    end == b.len() || !b[end].is_ascii_alphanumeric()
}

fn hexdigits(b: &[u8], from: usize, n: usize) -> bool {
    b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_hexdigit)
}

/// `8-4-4-4-12` hex with dashes, or 32 hex digits, as a whole token.
fn guid_at(b: &[u8], i: usize) -> Option<usize> {
    let dashed = hexdigits(b, i, 8)
        && b.get(i + 8) == Some(&b'-')
        && hexdigits(b, i + 9, 4)
        && b.get(i + 13) == Some(&b'-')
        && hexdigits(b, i + 14, 4)
        && b.get(i + 18) == Some(&b'-')
        && hexdigits(b, i + 19, 4)
        && b.get(i + 23) == Some(&b'-')
        && hexdigits(b, i + 24, 12);
    if dashed && ends_token(b, i + 36) {
        return Some(36);
    }
    if hexdigits(b, i, 32) && ends_token(b, i + 32) {
        return Some(32);
    }
    None
}

fn num(b: &[u8], from: usize, n: usize) -> Option<u32> {
    if b.len() < from + n || !b[from..from + n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&b[from..from + n]).ok()?.parse().ok()
}

/// `yyyy-MM-dd`, `yyyy_MM_dd` or `yyyyMMdd` with plausible values, as a whole token.
fn date_at(b: &[u8], i: usize) -> Option<usize> {
    num(b, i, 4).filter(|y| (1900..=2199).contains(y))?;
    let valid = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    let sep = b.get(i + 4).copied();
    if matches!(sep, Some(b'-') | Some(b'_')) && b.get(i + 7).copied() == sep {
        let (m, d) = (num(b, i + 5, 2)?, num(b, i + 8, 2)?);
        return (valid(m, d) && date_end(b, i + 10)).then_some(10);
    }
    let (m, d) = (num(b, i + 4, 2)?, num(b, i + 6, 2)?);
    (valid(m, d) && date_end(b, i + 8)).then_some(8)
}

fn date_end(b: &[u8], end: usize) -> bool {
    end == b.len() || !b[end].is_ascii_digit()
}

/// A date, optionally followed by `T`/`_`/space and `HH[:]mm[[:]ss]`.
fn date_time_at(b: &[u8], i: usize) -> Option<usize> {
    let len = date_at(b, i)?;
    let t = i + len;
    if matches!(b.get(t), Some(b'T') | Some(b'_') | Some(b' ')) {
        let mut j = t + 1;
        let mut parts = 0;
        while parts < 3 && num(b, j, 2).is_some() {
            j += 2;
            parts += 1;
            if parts < 3 && matches!(b.get(j), Some(b':') | Some(b'-')) && num(b, j + 1, 2).is_some() {
                j += 1;
            }
        }
        if parts >= 2 && date_end(b, j) {
            return Some(j - i);
        }
    }
    Some(len)
}

/// 8+ hex characters with both a digit and a letter, as a whole token.
fn hex_at(b: &[u8], i: usize) -> Option<usize> {
    let len = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let run = &b[i..i + len];
    let mixed = run.iter().any(u8::is_ascii_digit) && run.iter().any(u8::is_ascii_alphabetic);
    (len >= 8 && mixed && ends_token(b, i + len)).then_some(len)
}

const LANGUAGES: &[&str] = &[
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "he", "hi", "hr", "hu", "id", "it", "ja", "ko",
    "lt", "lv", "ms", "nb", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "th", "tr", "uk", "vi", "zh",
];
const REGIONS: &[&str] = &[
    "ae", "ar", "at", "au", "be", "bg", "br", "ca", "ch", "cl", "cn", "co", "cz", "de", "dk", "ee", "eg", "es", "fi",
    "fr", "gb", "gr", "hk", "hr", "hu", "id", "ie", "il", "in", "it", "jp", "kr", "lt", "lu", "lv", "mx", "my", "ng",
    "nl", "no", "nz", "pe", "ph", "pl", "pt", "ro", "rs", "ru", "sa", "se", "sg", "si", "sk", "th", "tr", "tw", "ua",
    "uk", "us", "vn", "za",
];

/// `ll-RR` or `ll_rr` with a known language and region, as a whole token.
fn locale_at(b: &[u8], i: usize) -> Option<usize> {
    if b.len() < i + 5 || !matches!(b[i + 2], b'-' | b'_') || !ends_token(b, i + 5) {
        return None;
    }
    let lang = std::str::from_utf8(&b[i..i + 2]).ok()?.to_ascii_lowercase();
    let region = std::str::from_utf8(&b[i + 3..i + 5]).ok()?.to_ascii_lowercase();
    (LANGUAGES.contains(&lang.as_str()) && REGIONS.contains(&region.as_str())).then_some(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Option<String> {
        file_pattern(path).map(|m| m.pattern)
    }

    #[test]
    fn spark_partitions_become_one_pattern() {
        let m = file_pattern(
            "sales/year=2023/month=01/part-00012-1b4e28ba-2fa1-11d2-883f-0016d3cca427-c000.snappy.parquet",
        )
        .unwrap();
        assert_eq!(m.pattern, "sales/year={Year}/month={Month}/part-{N}-{GUID}-c000.snappy.parquet");
        assert_eq!(m.keys, [("year".to_string(), "2023".to_string()), ("month".to_string(), "01".to_string())]);
    }

    #[test]
    fn dates_across_and_within_names() {
        assert_eq!(p("logs/2023/01/15/events.json").unwrap(), "logs/{Year}/{Month}/{Day}/events.json");
        assert_eq!(p("logs/2023/01/15/07/events.json").unwrap(), "logs/{Year}/{Month}/{Day}/{Hour}/events.json");
        assert_eq!(p("daily/2023-01-15/summary.csv").unwrap(), "daily/{Year}-{Month}-{Day}/summary.csv");
        assert_eq!(p("exports/report_2023-01-15.csv").unwrap(), "exports/report_{Year}-{Month}-{Day}.csv");
        assert_eq!(p("exports/report_20230115.csv").unwrap(), "exports/report_{Year}-{Month}-{Day}.csv");
        assert_eq!(
            p("exports/events.2023-01-15T10-30-00.json").unwrap(),
            "exports/events.{Year}-{Month}-{Day}T{Time}.json"
        );
    }

    #[test]
    fn numbers_guids_hex_and_locales_in_file_names() {
        assert_eq!(p("landing/export_00017.parquet").unwrap(), "landing/export_{N}.parquet");
        assert_eq!(p("file3.csv").unwrap(), "file{N}.csv");
        assert_eq!(p("d/9f8e7d6c5b4a39281706f5e4d3c2b1a0.avro").unwrap(), "d/{GUID}.avro");
        assert_eq!(p("d/blob-a1b2c3d4e5.bin").unwrap(), "d/blob-{HEX}.bin");
        assert_eq!(p("i18n/strings_en-us.json").unwrap(), "i18n/strings_{LOC}.json");
        assert_eq!(p("i18n/de_CH/strings.json").unwrap(), "i18n/{LOC}/strings.json");
    }

    #[test]
    fn key_value_folders_keep_the_key() {
        assert_eq!(
            p("t/region=eu-west/dt=2023-01-15/data.parquet").unwrap(),
            "t/region={Value}/dt={Year}-{Month}-{Day}/data.parquet"
        );
        assert_eq!(p("t/shard=17/data.parquet").unwrap(), "t/shard={N}/data.parquet");
    }

    #[test]
    fn plain_names_and_named_folders_are_not_patterns() {
        assert_eq!(p("warehouse/customers/data.parquet"), None);
        assert_eq!(p("README.md"), None);
        assert_eq!(p("warehouse/table_001/data.parquet"), None, "digits inside a folder name with letters are kept");
        assert_eq!(p("archive.tar.gz"), None);
        assert_eq!(p("warehouse/table_001/part-00001.parquet").unwrap(), "warehouse/table_001/part-{N}.parquet");
    }

    #[test]
    fn folders_inside_patterns_are_recognised() {
        assert_eq!(folder_pattern("sales/year=2023").unwrap().pattern, "sales/year={Year}");
        assert_eq!(folder_pattern("logs/2023/01").unwrap().pattern, "logs/{Year}/{Month}");
        assert_eq!(folder_pattern("warehouse/table_001"), None);
    }
}
