//! The system classifications: Purview's names where Purview has one
//! (`MICROSOFT.…`), Surveyor's (`SURVEYOR.…`) otherwise. Each is a value
//! validator, optional column-name keywords, and whether it applies only to
//! columns whose name carries a keyword (values that look alike in any
//! column: 5-digit ZIP codes, dates, 2-letter codes).

use super::dictionaries::{COUNTRIES, COUNTRY_CODES, FIRST_NAMES, SURNAMES, US_STATE_CODES, US_STATES};
use super::validators as v;
use std::sync::LazyLock;

/// One system classification.
pub struct SystemClassifier {
    pub name: &'static str,
    pub description: &'static str,
    /// Normalised column-name keywords (lowercase, letters and digits only,
    /// matched as substrings).
    pub keywords: &'static [&'static str],
    /// Applies only to columns whose name carries a keyword.
    pub name_required: bool,
    /// Whether one value matches; the flag says the column's name carries a keyword.
    pub matches: fn(&str, bool) -> bool,
}

/// The one system classification of dates and times (see
/// [`super::Classifier::selection`]).
pub const DATE_OF_BIRTH: &str = "MICROSOFT.PERSONAL.DATE_OF_BIRTH";

pub const SYSTEM: &[SystemClassifier] = &[
    SystemClassifier {
        name: "MICROSOFT.PERSONAL.EMAIL",
        description: "E-mail address",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::email(x),
    },
    SystemClassifier {
        name: "MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER",
        description: "Payment card number (issuer prefix and Luhn checksum)",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::credit_card(x),
    },
    SystemClassifier {
        name: "MICROSOFT.GOVERNMENT.US.SOCIAL_SECURITY_NUMBER",
        description: "U.S. social security number (area, group and serial rules; 9 bare digits only in an SSN column)",
        keywords: &["ssn", "socialsecurity"],
        name_required: false,
        matches: v::ssn,
    },
    SystemClassifier {
        name: "MICROSOFT.PERSONAL.US.PHONE_NUMBER",
        description: "U.S. phone number (NANP; 10 bare digits only in a phone column)",
        keywords: &["phone", "mobile", "fax", "cell"],
        name_required: false,
        matches: v::us_phone,
    },
    SystemClassifier {
        name: "SURVEYOR.PERSONAL.INTERNATIONAL_PHONE_NUMBER",
        description: "International phone number in E.164 form (+ and 8-15 digits)",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::e164(x),
    },
    SystemClassifier {
        name: "MICROSOFT.FINANCIAL.INTERNATIONAL_BANKING_ACCOUNT_NUMBER",
        description: "IBAN (country length and mod-97 checksum)",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::iban(x),
    },
    SystemClassifier {
        name: "MICROSOFT.PERSONAL.IPADDRESS",
        description: "IPv4 or IPv6 address",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::ip_address(x),
    },
    SystemClassifier {
        name: "SURVEYOR.MISCELLANEOUS.URL",
        description: "http(s) or ftp URL",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::url(x),
    },
    SystemClassifier {
        name: "SURVEYOR.MISCELLANEOUS.GUID",
        description: "GUID / UUID",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::guid(x),
    },
    SystemClassifier {
        name: "MICROSOFT.MISCELLANEOUS.COUNTRY_OR_REGION",
        description: "Country or region name (any column), ISO 3166 code (in a country column)",
        keywords: &["country", "nation", "region"],
        name_required: false,
        matches: |x, named| {
            contains_folded(&COUNTRY_NAMES, x) || (named && COUNTRY_CODES.contains(&x.to_ascii_uppercase().as_str()))
        },
    },
    SystemClassifier {
        name: "MICROSOFT.GOVERNMENT.US.STATE",
        description: "U.S. state name (any column), two-letter code (in a state column)",
        keywords: &["state"],
        name_required: false,
        matches: |x, named| contains_folded(&US_STATE_NAMES, x) || (named && US_STATE_CODES.contains(&x)),
    },
    SystemClassifier {
        name: "MICROSOFT.GOVERNMENT.US.ZIP_CODE",
        description: "U.S. ZIP or ZIP+4 code, in a ZIP or postal-code column",
        keywords: &["zip", "postal", "postcode"],
        name_required: true,
        matches: |x, _| v::us_zip(x),
    },
    SystemClassifier {
        name: DATE_OF_BIRTH,
        description: "Date of birth: a date in a column whose name says birth",
        keywords: &["birth", "dob", "born"],
        name_required: true,
        matches: |x, _| v::birth_date(x),
    },
    SystemClassifier {
        name: "MICROSOFT.PERSONAL.NAME",
        description: "Person's name: capitalised words with a known first name or surname, or any capitalised words in a name column",
        keywords: &[
            "firstname",
            "lastname",
            "givenname",
            "familyname",
            "fullname",
            "surname",
            "forename",
            "middlename",
            "personname",
            "customername",
            "employeename",
            "contactname",
            "username",
        ],
        name_required: false,
        matches: person_name,
    },
    SystemClassifier {
        name: "MICROSOFT.SECURITY.AZURE_STORAGE_ACCOUNT_KEY",
        description: "Azure storage account key (88 base64 characters)",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::azure_storage_key(x),
    },
    SystemClassifier {
        name: "MICROSOFT.SECURITY.AZURE_STORAGE_ACCOUNT_CONNECTION_STRING",
        description: "Azure storage connection string with a key or SAS",
        keywords: &[],
        name_required: false,
        matches: |x, _| v::azure_storage_connection_string(x),
    },
];

impl SystemClassifier {
    /// Whether the column name, as [`normalise_name`](surveyor_sdk::sampling::normalise_name)
    /// leaves it, carries one of the keywords (a
    /// column named exactly `name` counts for the person-name rule).
    pub fn named(&self, normalised: &str) -> bool {
        // Names and keywords are short: a plain scan beats building a
        // substring searcher per keyword and column (1% of a classified scan).
        self.keywords.iter().any(|k| normalised.as_bytes().windows(k.len()).any(|w| w == k.as_bytes()))
            || (self.name == "MICROSOFT.PERSONAL.NAME" && normalised == "name")
    }
}

/// Country and US state names, sorted case-folded for [`contains_folded`].
static COUNTRY_NAMES: LazyLock<Vec<&str>> = LazyLock::new(|| sorted_folded(COUNTRIES));
static US_STATE_NAMES: LazyLock<Vec<&str>> = LazyLock::new(|| sorted_folded(US_STATES));

fn folded(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().map(|b| b.to_ascii_lowercase())
}

fn sorted_folded(list: &[&'static str]) -> Vec<&'static str> {
    let mut names = list.to_vec();
    names.sort_by(|a, b| folded(a).cmp(folded(b)));
    names
}

/// Whether `value` is one of `sorted` (from [`sorted_folded`]), ignoring
/// ASCII case: a binary search, not a comparison with each of a few hundred
/// names per value.
fn contains_folded(sorted: &[&str], value: &str) -> bool {
    // Every name starts with a letter: most values are rejected here.
    value.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && sorted.binary_search_by(|name| folded(name).cmp(folded(value))).is_ok()
}

/// One to four capitalised alphabetic words (hyphens and apostrophes inside);
/// in a name column that is enough, elsewhere the first word must be a known
/// first name or the last a known surname. It cannot find names outside its
/// small dictionaries in columns not named for them, nor names in free text.
fn person_name(value: &str, named: bool) -> bool {
    if !value.chars().next().is_some_and(char::is_uppercase) {
        return false;
    }
    let words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
    let shaped = (1..=4).contains(&words.len())
        && words.iter().all(|w| {
            let mut chars = w.chars();
            chars.next().is_some_and(|c| c.is_uppercase())
                && chars.all(|c| c.is_alphabetic() || c == '-' || c == '\'' || c == '.')
        });
    if !shaped {
        return false;
    }
    named
        || (words.len() >= 2
            && (FIRST_NAMES.contains(&words[0]) || SURNAMES.contains(words.last().expect("at least two"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_and_state_name_is_found_in_any_case() {
        for (list, sorted) in [(COUNTRIES, &COUNTRY_NAMES), (US_STATES, &US_STATE_NAMES)] {
            for name in list {
                for form in [name.to_string(), name.to_ascii_lowercase(), name.to_ascii_uppercase()] {
                    assert!(contains_folded(sorted, &form), "{form}");
                }
            }
        }
        for other in ["Atlantis", "Germanyy", "Texa", "", "1Texas"] {
            assert!(!contains_folded(&COUNTRY_NAMES, other) && !contains_folded(&US_STATE_NAMES, other), "{other}");
        }
    }
}
