use super::*;

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn names(c: &Classifier, name: &str, values: &[&str]) -> Vec<String> {
    let path = vec![name.to_string()];
    c.classify(&path, &owned(values)).map(|l| l.labels.into_iter().map(|l| l.name).collect()).unwrap_or_default()
}

fn system() -> Classifier {
    Classifier::new(&ClassificationConfig::default()).unwrap()
}

#[test]
fn each_system_classification_finds_its_column() {
    let c = system();
    let cases: &[(&str, &[&str], &str)] = &[
        ("contact", &["ada@example.com", "alan@example.org", "grace@navy.mil"], "MICROSOFT.PERSONAL.EMAIL"),
        ("pan", &["4111111111111111", "5500000000000004", "340000000000009"], "MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER"),
        ("tax_id", &["123-45-6789", "234-56-7890", "345-67-8901"], "MICROSOFT.GOVERNMENT.US.SOCIAL_SECURITY_NUMBER"),
        ("ssn", &["123456789", "234567890", "345678901"], "MICROSOFT.GOVERNMENT.US.SOCIAL_SECURITY_NUMBER"),
        ("contact", &["(212) 555-0143", "415-555-0199", "206.555.0100"], "MICROSOFT.PERSONAL.US.PHONE_NUMBER"),
        (
            "contact",
            &["+442071838750", "+49 30 901820", "+33 1 42 68 53 00"],
            "SURVEYOR.PERSONAL.INTERNATIONAL_PHONE_NUMBER",
        ),
        (
            "acct",
            &["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606"],
            "MICROSOFT.FINANCIAL.INTERNATIONAL_BANKING_ACCOUNT_NUMBER",
        ),
        ("client", &["10.0.0.1", "2001:db8::1", "192.168.1.20"], "MICROSOFT.PERSONAL.IPADDRESS"),
        ("link", &["https://contoso.com", "http://example.org/a", "https://x.io/?q=1"], "SURVEYOR.MISCELLANEOUS.URL"),
        (
            "id",
            &["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"],
            "SURVEYOR.MISCELLANEOUS.GUID",
        ),
        ("where", &["Germany", "France", "United Kingdom"], "MICROSOFT.MISCELLANEOUS.COUNTRY_OR_REGION"),
        ("country_code", &["DE", "FR", "US"], "MICROSOFT.MISCELLANEOUS.COUNTRY_OR_REGION"),
        ("where", &["Texas", "Ohio", "New York"], "MICROSOFT.GOVERNMENT.US.STATE"),
        ("state", &["TX", "OH", "NY"], "MICROSOFT.GOVERNMENT.US.STATE"),
        ("zip", &["98052", "10001-1234", "60601"], "MICROSOFT.GOVERNMENT.US.ZIP_CODE"),
        ("date_of_birth", &["1984-02-29", "1990-12-01", "1975-07-04"], "MICROSOFT.PERSONAL.DATE_OF_BIRTH"),
        ("who", &["Ada Lovelace", "Alan Turing", "Grace Hopper"], "MICROSOFT.PERSONAL.NAME"),
        ("last_name", &["Okonkwo", "Haddad", "Lindqvist"], "MICROSOFT.PERSONAL.NAME"),
    ];
    for (name, values, expected) in cases {
        let got = names(&c, name, values);
        assert!(got.iter().any(|g| g == expected), "{name} {values:?}: expected {expected}, got {got:?}");
    }
    let key = format!("{}==", "Ab3+".repeat(21) + "xy");
    assert_eq!(names(&c, "k", &[&key, &key]), ["MICROSOFT.SECURITY.AZURE_STORAGE_ACCOUNT_KEY"]);
    let cs = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b==;EndpointSuffix=core.windows.net";
    assert_eq!(names(&c, "k", &[cs]), ["MICROSOFT.SECURITY.AZURE_STORAGE_ACCOUNT_CONNECTION_STRING"]);
}

#[test]
fn decoys_are_not_classified() {
    let c = system();
    let decoys: &[(&str, &[&str])] = &[
        // Luhn-invalid card numbers, random 16-digit numbers.
        ("pan", &["4111111111111112", "5500000000000005", "4000123412341235", "1234567890123456"]),
        // Free text that mentions an e-mail address in one row of five.
        ("notes", &["call me", "mail ada@example.com", "no thanks", "later", "fine"]),
        // 9-digit numbers outside an SSN column; dates outside a birth column; 5 digits outside a ZIP column.
        ("amount", &["123456789", "234567890", "345678901"]),
        ("created", &["1984-02-29", "1990-12-01", "1975-07-04"]),
        ("quantity", &["98052", "10001", "60601"]),
        // Cities, product names, two-letter codes outside a country/state column.
        ("city", &["Springfield", "Lyon", "Osaka"]),
        ("product", &["Widget Pro", "Gadget Max", "Flux Capacitor"]),
        ("size", &["XL", "MD", "SM"]),
        ("version", &["1.2.3", "10.0", "2.1.0.4"]),
    ];
    for (name, values) in decoys {
        assert_eq!(names(&c, name, values), Vec::<String>::new(), "{name} {values:?}");
    }
    assert!(c.classify(&["empty".into()], &[] as &[&str]).is_none(), "an all-null column has nothing to say");
    assert!(c.classify(&["blank".into()], &owned(&["", "  "])).is_none());
}

#[test]
fn the_threshold_is_sixty_percent_of_sampled_values() {
    let c = system();
    let three_of_five = ["a@x.com", "b@x.com", "c@x.com", "nope", "no"];
    assert_eq!(names(&c, "c", &three_of_five), ["MICROSOFT.PERSONAL.EMAIL"]);
    let two_of_five = ["a@x.com", "b@x.com", "maybe", "nope", "no"];
    assert!(names(&c, "c", &two_of_five).is_empty());
    let labels = c.classify(&["c".into()], &owned(&three_of_five)).unwrap();
    assert_eq!((labels.sampled, labels.labels[0].matched), (5, 3));
    assert_eq!(labels.labels[0].share(labels.sampled), 0.6);
}

#[test]
fn include_exclude_and_custom_rules() {
    let config = ClassificationConfig {
        exclude: vec!["MICROSOFT.PERSONAL.EMAIL".into()],
        rules: vec![
            CustomRule {
                name: "CONTOSO.EMPLOYEE_ID".into(),
                value: Some("^E[0-9]{6}$".into()),
                column: None,
                min_share: 0.8,
                min_distinct: 2,
            },
            CustomRule {
                name: "CONTOSO.SALARY".into(),
                value: None,
                column: Some("(?i)^salary".into()),
                min_share: 0.6,
                min_distinct: 1,
            },
        ],
        ..Default::default()
    };
    let c = Classifier::new(&config).unwrap();
    assert!(names(&c, "c", &["a@x.com", "b@x.com"]).is_empty(), "excluded");
    assert_eq!(names(&c, "emp", &["E000001", "E000002", "E000003"]), ["CONTOSO.EMPLOYEE_ID"]);
    assert!(names(&c, "emp", &["E000001", "E000001", "E000001"]).is_empty(), "fewer distinct values than asked");
    assert!(names(&c, "emp", &["E000001", "E000002", "X"]).is_empty(), "2 of 3 is under 80%");
    assert_eq!(names(&c, "Salary_EUR", &["1000", "2000"]), ["CONTOSO.SALARY"]);
    let only = ClassificationConfig { include: vec!["SURVEYOR.MISCELLANEOUS.GUID".into()], ..Default::default() };
    let c = Classifier::new(&only).unwrap();
    assert!(names(&c, "c", &["a@x.com"]).is_empty());
}

#[test]
fn bad_settings_name_what_is_wrong() {
    let rule = |value: Option<&str>, column: Option<&str>| ClassificationConfig {
        rules: vec![CustomRule {
            name: "CONTOSO.X".into(),
            value: value.map(String::from),
            column: column.map(String::from),
            min_share: 0.6,
            min_distinct: 1,
        }],
        ..Default::default()
    };
    let e = Classifier::new(&rule(Some("(unclosed"), None)).unwrap_err().to_string();
    assert!(e.contains("CONTOSO.X") && e.contains("value: invalid regular expression"), "{e}");
    let e = Classifier::new(&rule(None, None)).unwrap_err().to_string();
    assert!(e.contains("needs a `value` pattern"), "{e}");
    let e = Classifier::new(&ClassificationConfig { exclude: vec!["MICROSOFT.NOPE".into()], ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("MICROSOFT.NOPE") && e.contains("not a system classification"), "{e}");
    let toml_text = "threshold = 0.7\n[[rules]]\nname = \"A.B\"\nvalue = \"^x$\"\nbogus = 1\n";
    assert!(toml::from_str::<ClassificationConfig>(toml_text).unwrap_err().to_string().contains("bogus"));
}

#[test]
fn plugin_names_and_the_rule_set_switches() {
    assert!(plugin_label_name("CONTOSO.EMPLOYEE_ID"));
    for bad in ["", "MICROSOFT.PERSONAL.EMAIL", "has space", "ada@example.com", &"X".repeat(129)] {
        assert!(!plugin_label_name(bad), "{bad:?}");
    }
    assert!(system().uses_plugin("employee-id"), "plugins run by default");
    let off = Classifier::new(&ClassificationConfig { plugins: false, ..Default::default() }).unwrap();
    assert!(!off.uses_plugin("employee-id"));
    let config = ClassificationConfig { exclude_plugins: vec!["employee-id".into()], ..Default::default() };
    let some = Classifier::new(&config).unwrap();
    assert!(!some.uses_plugin("employee-id") && some.uses_plugin("other"));
}

#[test]
fn plugins_see_the_values_the_system_classifications_see() {
    let c = Classifier::new(&ClassificationConfig { max_rows: 2, ..Default::default() }).unwrap();
    assert_eq!(c.prepare(&owned(&["  a ", "", "   ", "b", "c"])), ["a", "b"]);
}

#[test]
fn stopping_at_the_first_hopeless_miss_gives_the_same_answer_as_counting_all() {
    // Every pattern of up to 10 values, at shares that round every way.
    for n in 1..=10u32 {
        for bits in 0..(1u32 << n) {
            let values: Vec<&str> = (0..n).map(|i| if bits >> i & 1 == 1 { "y" } else { "n" }).collect();
            for share in [0.05, 0.3, 0.5, 0.6, 0.61, 0.9, 1.0] {
                let matched = bits.count_ones();
                let want = super::passes(matched, n, share).then_some(matched);
                assert_eq!(super::count_passing(&values, share, |v| v == "y"), want, "{values:?} at {share}");
            }
        }
    }
}

/// What [`Classifier::selection`] leaves unsampled must be what no system
/// classification could have found: no value of a boolean, a fractional
/// decimal or a date or time, as the connectors write them, matches any
/// system classification but the date of birth, even in a column whose name
/// carries every keyword. (In a person-name column a capitalised `True` or
/// `FALSE` passes for a name: a false label on a boolean column, which the
/// selection drops.)
#[test]
fn the_kinds_left_unsampled_match_no_system_classification() {
    let unsampled: &[&str] = &[
        // Booleans (Parquet, CSV, SQL).
        "true",
        "false",
        "True",
        "FALSE",
        "0",
        "1",
        // Fractional decimals.
        "123.45",
        "0.10",
        "-5.25",
        "12345.00",
        "10001.0000",
        "192.168",
        "4111111111111111.00",
        "212555014.30",
        // Dates, times and timestamps.
        "2021-03-04",
        "1999-12-31",
        "0001-01-01",
        "12:30:45",
        "12:30:45.123456",
        "2021-03-04 05:06:07",
        "2021-03-04 05:06:07.123456",
        "2021-03-04 05:06:07.123 +00:00",
        "2021-03-04T05:06:07Z",
        "2021-03-04T05:06:07.1234567+02:00",
        "1 day 02:03:04",
        "00:00:00",
    ];
    for s in system::SYSTEM.iter().filter(|s| s.name != system::DATE_OF_BIRTH) {
        for v in unsampled {
            let boolean_as_a_name = s.name == "MICROSOFT.PERSONAL.NAME" && ["True", "FALSE"].contains(v);
            assert!(boolean_as_a_name || !(s.matches)(v, true), "{} matches {v:?}", s.name);
        }
    }
}

#[test]
fn system_classifications_alone_sample_only_the_kinds_they_can_match() {
    use surveyor_sdk::sampling::ColumnKind::{Boolean, FractionalDecimal, Temporal};
    let classifier = system();
    let selection = classifier.selection(false);
    assert_eq!(
        (selection.skip.as_slice(), selection.named_only.as_slice()),
        ([Boolean, FractionalDecimal].as_slice(), [Temporal].as_slice())
    );
    assert!(selection.wants("date", "birth_date") && !selection.wants("date", "created"));
    // Custom rules and classifier plugins may match anything.
    assert_eq!(*system().selection(true), Selection::default());
    let config: ClassificationConfig =
        serde_json::from_str(r#"{"rules":[{"name":"ACME.FLAG","column":"(?i)flag"}]}"#).unwrap();
    assert_eq!(*Classifier::new(&config).unwrap().selection(false), Selection::default());
    // Without the date of birth, no date or time is sampled.
    let config: ClassificationConfig =
        serde_json::from_str(r#"{"exclude":["MICROSOFT.PERSONAL.DATE_OF_BIRTH"]}"#).unwrap();
    let classifier = Classifier::new(&config).unwrap();
    let selection = classifier.selection(false);
    assert!(selection.skip.contains(&Temporal) && !selection.wants("date", "birth_date"));
}
