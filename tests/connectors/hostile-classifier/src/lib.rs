//! A classifier plugin that misbehaves on purpose, by column name, for the
//! host's tests: it loops, allocates without end, traps with a sampled
//! value in its panic message, floods labels, returns or logs a sampled
//! value, and makes up names. On a column named `ok` it behaves, so a test
//! sees that the scan (and a fresh instance after a trap) goes on.

use surveyor_sdk::{Classification, Classifier, ClassifierInfo, ColumnInput, Error, LogLevel, Result};

pub struct Hostile;

impl Classifier for Hostile {
    fn describe() -> ClassifierInfo {
        ClassifierInfo::new("hostile-classifier", "0.1.0", ["HOSTILE.OK", "HOSTILE.FLOOD"])
    }

    fn classify(column: &ColumnInput) -> Result<Vec<Classification>> {
        let first = column.values[0].clone();
        let label = |name: &str| Classification { name: name.into(), matched: 1, min_share: 0.000_001 };
        match column.name() {
            "loop" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("cannot classify {first}"),
            // A million labels do not fit its 64 MiB: it runs out of memory
            // building them, or the host refuses them, either way one column.
            "flood" => Ok((0..1_000_000).map(|_| label("HOSTILE.FLOOD")).collect()),
            "many" => Ok((0..17).map(|_| label("HOSTILE.FLOOD")).collect()),
            "echo" => Err(Error::malformed(format!("bad value {first}"))),
            "made_up" => Ok(vec![label(&first)]),
            "log" => {
                surveyor_sdk::log(LogLevel::Error, &format!("saw {first}"));
                Ok(vec![label("HOSTILE.OK")])
            }
            "ok" => Ok(vec![label("HOSTILE.OK")]),
            _ => Ok(vec![]),
        }
    }
}

surveyor_sdk::export_classifier!(Hostile);
