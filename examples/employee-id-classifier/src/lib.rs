//! An example classifier plugin: `CONTOSO.EMPLOYEE_ID` on columns whose
//! sampled values are, for at least 60%, employee IDs like `E-123456`.

use surveyor_sdk::{Classification, Classifier, ClassifierInfo, ColumnInput, Result};

pub struct EmployeeId;

/// `E-` and six digits.
fn is_employee_id(value: &str) -> bool {
    let digits = value.strip_prefix("E-").unwrap_or("");
    digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Classifier for EmployeeId {
    fn describe() -> ClassifierInfo {
        ClassifierInfo::new("employee-id", env!("CARGO_PKG_VERSION"), ["CONTOSO.EMPLOYEE_ID"])
            .description("Contoso employee IDs (E-123456)")
    }

    fn classify(column: &ColumnInput) -> Result<Vec<Classification>> {
        Ok(column.share_rule("CONTOSO.EMPLOYEE_ID", 0.6, is_employee_id).into_iter().collect())
    }
}

surveyor_sdk::export_classifier!(EmployeeId);

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> ColumnInput {
        let values = values.iter().map(|v| v.to_string()).collect();
        ColumnInput { path: vec!["staff".into()], data_type: "string".into(), values, nulls: 0 }
    }

    #[test]
    fn a_column_of_employee_ids_is_classified() {
        let found = EmployeeId::classify(&column(&["E-123456", "E-000001", "E-999999", "n/a"])).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].name.as_str(), found[0].matched), ("CONTOSO.EMPLOYEE_ID", 3));
    }

    #[test]
    fn look_alikes_are_not() {
        let decoys = ["E-12345", "E-1234567", "X-123456", "E-12a456", "e-123456"];
        assert!(EmployeeId::classify(&column(&decoys)).unwrap().is_empty());
    }
}
