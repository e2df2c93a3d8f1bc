//! Which columns a classified scan samples (the contract's `sample-request`,
//! since 0.1.4), read the same way by the host (for SQL tables, and for
//! connectors built against an older contract) and by format connectors
//! (before they decode a column).

/// A kind of column no system classification can match by its values alone,
/// told apart by its normalised type (`column.data-type`); the contract's
/// `column-kinds` flags. Everything else is [`ColumnKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `boolean`.
    Boolean,
    /// `date`, `date32`, `time[…]`, `timestamp[…]`, `datetime…`, `interval`.
    Temporal,
    /// `decimal(p,s)` with `s` above 0: every value has a fractional part.
    FractionalDecimal,
    Other,
}

impl ColumnKind {
    pub fn of(data_type: &str) -> Self {
        let t = data_type.trim();
        let family = t.split(['(', '[', ' ']).next().unwrap_or("");
        let is = |names: &[&str]| names.iter().any(|n| family.eq_ignore_ascii_case(n));
        if is(&["boolean", "bool"]) {
            ColumnKind::Boolean
        } else if is(&[
            "date",
            "date32",
            "date64",
            "time",
            "time32",
            "time64",
            "timestamp",
            "timestamptz",
            "datetime",
            "datetime2",
            "datetimeoffset",
            "smalldatetime",
            "interval",
            "duration",
        ]) {
            ColumnKind::Temporal
        } else if is(&["decimal", "numeric"]) {
            let scale = t.strip_suffix(')').and_then(|t| t.rsplit_once(',')).map(|(_, s)| s.trim());
            match scale.and_then(|s| s.parse::<u32>().ok()) {
                Some(s) if s > 0 => ColumnKind::FractionalDecimal,
                _ => ColumnKind::Other,
            }
        } else {
            ColumnKind::Other
        }
    }
}

/// What to sample: the contract's `sample-request` without its limits. The
/// default samples every column (what hosts before 0.1.4 ask for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Kinds never sampled.
    pub skip: Vec<ColumnKind>,
    /// Kinds sampled only when the column's name carries one of `keywords`.
    pub named_only: Vec<ColumnKind>,
    /// As [`normalise_name`] leaves them: lower-case ASCII letters and digits.
    pub keywords: Vec<String>,
}

impl Selection {
    /// Whether a column of type `data_type` named `name` (the last element
    /// of its path) is sampled.
    pub fn wants(&self, data_type: &str, name: &str) -> bool {
        let kind = ColumnKind::of(data_type);
        if kind == ColumnKind::Other {
            return true;
        }
        if self.skip.contains(&kind) {
            return false;
        }
        if !self.named_only.contains(&kind) {
            return true;
        }
        let name = normalise_name(name);
        self.keywords.iter().any(|k| name.contains(k.as_str()))
    }
}

impl Selection {
    /// The paths of the `columns` (a schema's, as data type and path) not
    /// wanted: what a connector need not decode, or a host keep.
    pub fn unwanted<'c>(&self, columns: impl IntoIterator<Item = (&'c str, &'c [String])>) -> Vec<&'c [String]> {
        if *self == Selection::default() {
            return Vec::new();
        }
        (columns.into_iter())
            .filter(|(data_type, path)| !self.wants(data_type, path.last().map_or("", String::as_str)))
            .map(|(_, path)| path)
            .collect()
    }

    /// Drops from `samples` (each with its column's path) those of the
    /// `columns` not wanted.
    pub fn retain<'c, S>(
        &self,
        columns: impl IntoIterator<Item = (&'c str, &'c [String])>,
        samples: &mut Vec<S>,
        path: impl Fn(&S) -> &[String],
    ) {
        let unwanted = self.unwanted(columns);
        if !unwanted.is_empty() {
            samples.retain(|s| !unwanted.contains(&path(s)));
        }
    }
}

/// A column name as keywords see it: lower-case, ASCII letters and digits
/// only (`Date_Of_Birth` → `dateofbirth`).
pub fn normalise_name(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_from_the_normalised_type() {
        for t in ["boolean", "bool", "BOOLEAN"] {
            assert_eq!(ColumnKind::of(t), ColumnKind::Boolean, "{t}");
        }
        for t in ["date", "date32", "time[us]", "timestamp[ms, UTC]", "timestamp[us]", "datetime2(7)", "interval"] {
            assert_eq!(ColumnKind::of(t), ColumnKind::Temporal, "{t}");
        }
        for t in ["decimal(10,2)", "decimal(19, 4)", "numeric(5,1)"] {
            assert_eq!(ColumnKind::of(t), ColumnKind::FractionalDecimal, "{t}");
        }
        // Whole-number decimals can hold a ZIP code or a card number; so can
        // integers and floats (`5551234567` as a double).
        for t in ["decimal(10,0)", "decimal", "int64", "float64", "string", "uuid", "list<date>", "struct"] {
            assert_eq!(ColumnKind::of(t), ColumnKind::Other, "{t}");
        }
    }

    #[test]
    fn a_selection_skips_kinds_and_keeps_named_ones() {
        let selection = Selection {
            skip: vec![ColumnKind::Boolean, ColumnKind::FractionalDecimal],
            named_only: vec![ColumnKind::Temporal],
            keywords: vec!["birth".into(), "dob".into()],
        };
        assert!(!selection.wants("boolean", "is_active"));
        assert!(!selection.wants("decimal(10,2)", "amount"));
        assert!(!selection.wants("timestamp[us, UTC]", "created_at"));
        assert!(selection.wants("date", "Date_Of_Birth"));
        assert!(selection.wants("date32", "DOB"));
        assert!(selection.wants("string", "created_at"));
        assert!(Selection::default().wants("boolean", "is_active"));
    }
}
