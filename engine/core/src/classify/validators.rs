//! Value validators of the system classifications: each says whether one
//! sampled value (already trimmed) is an instance. Checksums and number-plan
//! rules (Luhn, mod-97, SSN area/group/serial, NANP) are what keeps random
//! digit strings out.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An e-mail address: one `@`, a local part of common characters, a domain
/// of at least two labels with a letter-only top-level label.
pub fn email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else { return false };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 || domain.contains('@') {
        return false;
    }
    let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.');
    let label_ok =
        |l: &str| !l.is_empty() && !l.starts_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let top = domain.rsplit('.').next().unwrap_or("");
    let domain_ok = domain.contains('.')
        && domain.split('.').all(label_ok)
        && top.len() >= 2
        && top.chars().all(|c| c.is_ascii_alphabetic());
    local_ok && domain_ok
}

/// Up to 32 digit values, on the stack: validators run on every sampled
/// value, and allocating there was a visible share of a classified scan.
struct Digits {
    digits: [u8; 32],
    len: usize,
}

impl std::ops::Deref for Digits {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

/// Digits of `v` once spaces and dashes are removed; `None` if anything
/// else is there, or more than 32 digits.
fn digits_only(v: &str) -> Option<Digits> {
    let mut out = Digits { digits: [0; 32], len: 0 };
    for b in v.bytes() {
        match b {
            b'0'..=b'9' => {
                *out.digits.get_mut(out.len)? = b - b'0';
                out.len += 1;
            }
            b' ' | b'-' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// The Luhn checksum of a digit string.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card number: 13-19 digits (spaces or dashes allowed) with a
/// known issuer prefix (Visa, Mastercard, Amex, Discover, JCB, Diners) and a
/// valid Luhn checksum.
pub fn credit_card(v: &str) -> bool {
    let Some(d) = digits_only(v) else { return false };
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let prefix = |n: usize| d[..n].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    let known = d[0] == 4
        || (51..=55).contains(&prefix(2))
        || (2221..=2720).contains(&prefix(4))
        || matches!(prefix(2), 34 | 37 | 36 | 38 | 65 | 35)
        || prefix(4) == 6011;
    known && luhn(&d)
}

/// A US social security number, `AAA-GG-SSSS` (or 9 bare digits when
/// `bare` is allowed): area not 000, 666 or 900-999, group not 00, serial
/// not 0000.
pub fn ssn(v: &str, bare: bool) -> bool {
    let b = v.as_bytes();
    let dashed = b.len() == 11 && b[3] == b'-' && b[6] == b'-';
    if !(dashed || bare && b.len() == 9) {
        return false;
    }
    let mut digits = b.iter().enumerate().filter(|&(i, _)| !dashed || (i != 3 && i != 6)).map(|(_, c)| *c);
    if !digits.clone().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut n = |count: usize| digits.by_ref().take(count).fold(0u32, |a, c| a * 10 + u32::from(c - b'0'));
    let (area, group, serial) = (n(3), n(2), n(4));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// A US (NANP) phone number: `(212) 555-0143`, `212-555-0143`,
/// `212.555.0143`, `+1 212 555 0143`; 10 bare digits only when `bare`.
/// Area code and exchange start with 2-9.
pub fn us_phone(v: &str, bare: bool) -> bool {
    let mut s = v.trim();
    let mut international = false;
    if let Some(rest) = s.strip_prefix("+1") {
        s = rest.trim_start();
        international = true;
    }
    let separated = s.chars().any(|c| matches!(c, '(' | ')' | '-' | '.' | ' '));
    if !s.chars().all(|c| c.is_ascii_digit() || matches!(c, '(' | ')' | '-' | '.' | ' ')) {
        return false;
    }
    if s.contains('(') && !(s.starts_with('(') && s.get(4..5) == Some(")")) {
        return false;
    }
    let digits = || s.bytes().filter(u8::is_ascii_digit);
    digits().count() == 10
        && digits().next().is_some_and(|c| c >= b'2')
        && digits().nth(3).is_some_and(|c| c >= b'2')
        && (separated || international || bare)
}

/// An international number in E.164 form: `+`, a country code not starting
/// with 0, 8 to 15 digits in all (single spaces or dashes allowed).
pub fn e164(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('+') else { return false };
    let Some(d) = digits_only(rest) else { return false };
    (8..=15).contains(&d.len()) && d[0] != 0 && !rest.contains("  ") && !rest.starts_with([' ', '-'])
}

/// IBAN lengths by country (ISO 13616 registry, the common ones).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("ME", 22),
    ("MK", 19),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
];

/// An IBAN: a known country's length and a mod-97 remainder of 1 (spaces allowed).
pub fn iban(v: &str) -> bool {
    // Before any allocation: a country code first, and long enough.
    let b = v.as_bytes();
    if b.len() < 15 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
        return false;
    }
    let s: String = v.chars().filter(|c| *c != ' ').collect();
    if s.len() < 15 || !s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return false;
    }
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(cc, _)| s.starts_with(cc)) else { return false };
    if s.len() != len || !s[2..4].chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let rearranged = s[4..].chars().chain(s[..4].chars());
    let mut rem = 0u32;
    for c in rearranged {
        let n = c.to_digit(36).expect("checked alphanumeric");
        rem = if n >= 10 { (rem * 100 + n) % 97 } else { (rem * 10 + n) % 97 };
    }
    rem == 1
}

/// An IPv4 address in dotted-quad form, or an IPv6 address.
pub fn ip_address(v: &str) -> bool {
    (v.contains('.') && v.parse::<Ipv4Addr>().is_ok() && v.split('.').count() == 4)
        || (v.contains(':') && v.parse::<Ipv6Addr>().is_ok())
}

/// An absolute http(s) or ftp URL with a host.
pub fn url(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once("://") else { return false };
    if !["http", "https", "ftp", "ftps"].iter().any(|s| scheme.eq_ignore_ascii_case(s))
        || v.contains(char::is_whitespace)
    {
        return false;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    host.contains('.') || host == "localhost"
}

/// A GUID/UUID: 8-4-4-4-12 hex digits, optionally in braces.
pub fn guid(v: &str) -> bool {
    let s = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(v);
    s.len() == 36
        && s.split('-').count() == 5
        && s.split('-').zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A US ZIP code: 5 digits or ZIP+4, not 00000.
pub fn us_zip(v: &str) -> bool {
    let (five, plus4) = match v.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    five.len() == 5
        && five.chars().all(|c| c.is_ascii_digit())
        && five != "00000"
        && plus4.is_none_or(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_digit()))
}

/// A date (ISO `YYYY-MM-DD`, `MM/DD/YYYY`, `DD.MM.YYYY`, or a timestamp
/// starting with an ISO date) of a plausible birth year.
pub fn birth_date(v: &str) -> bool {
    let iso = |s: &str| -> Option<(u32, u32, u32)> {
        let b = s.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Some((s[0..4].parse().ok()?, s[5..7].parse().ok()?, s[8..10].parse().ok()?))
    };
    let other = |s: &str, sep: char, month_first: bool| -> Option<(u32, u32, u32)> {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 3 || parts[2].len() != 4 {
            return None;
        }
        let (a, b, y): (u32, u32, u32) = (parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?);
        Some(if month_first { (y, a, b) } else { (y, b, a) })
    };
    let date = iso(v).or_else(|| other(v, '/', true)).or_else(|| other(v, '.', false));
    date.is_some_and(|(y, m, d)| (1900..=2030).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
}

/// An Azure storage account key: 64 bytes in base64 (88 characters ending `==`).
pub fn azure_storage_key(v: &str) -> bool {
    v.len() == 88 && v.ends_with("==") && v[..86].chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

/// An Azure storage connection string with an account key or SAS.
pub fn azure_storage_connection_string(v: &str) -> bool {
    if !v.contains('=') {
        return false;
    }
    let has = |key: &str| v.as_bytes().windows(key.len()).any(|w| w.eq_ignore_ascii_case(key.as_bytes()));
    (has("accountname=") && has("accountkey="))
        || (has("blobendpoint=") && has("sharedaccesssignature="))
        || has("usedevelopmentstorage=true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_decoys() {
        assert!(email("ada.lovelace@example.com"));
        assert!(email("x+tag@mail.example.co.uk"));
        for bad in ["ada@", "@example.com", "ada@example", "ada@@example.com", "see ada@example.com", "a@b.c1"] {
            assert!(!email(bad), "{bad}");
        }
    }

    #[test]
    fn card_numbers_need_an_issuer_and_luhn() {
        assert!(credit_card("4111111111111111"));
        assert!(credit_card("5500 0000 0000 0004"));
        assert!(credit_card("3782-822463-10005"));
        assert!(!credit_card("4111111111111112"), "Luhn fails");
        assert!(!credit_card("1234567812345670"), "Luhn passes but no issuer starts with 1");
        assert!(!credit_card("41111111111"), "too short");
    }

    #[test]
    fn ssns_follow_area_group_serial_rules() {
        assert!(ssn("123-45-6789", false));
        for bad in ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000", "123456789"] {
            assert!(!ssn(bad, false), "{bad}");
        }
        assert!(ssn("123456789", true));
    }

    #[test]
    fn us_and_international_phones() {
        for ok in ["(212) 555-0143", "212-555-0143", "212.555.0143", "+1 212 555 0143"] {
            assert!(us_phone(ok, false), "{ok}");
        }
        assert!(!us_phone("2125550143", false), "bare digits need a phone column name");
        assert!(us_phone("2125550143", true));
        assert!(!us_phone("112-555-0143", false), "area code cannot start with 1");
        assert!(!us_phone("212-155-0143", false), "exchange cannot start with 1");
        assert!(e164("+442071838750"));
        assert!(e164("+49 30 901820"));
        assert!(!e164("442071838750"));
        assert!(!e164("+0123456789"));
        assert!(!e164("+12"));
    }

    #[test]
    fn ibans_check_length_and_mod_97() {
        assert!(iban("GB82WEST12345698765432"));
        assert!(iban("DE89 3704 0044 0532 0130 00"));
        assert!(!iban("GB82WEST12345698765433"), "checksum");
        assert!(!iban("XX82WEST12345698765432"), "country");
        assert!(!iban("GB82WEST1234569876543"), "length");
    }

    #[test]
    fn addresses_urls_guids() {
        assert!(ip_address("192.168.10.1"));
        assert!(ip_address("2001:db8::8a2e:370:7334"));
        assert!(!ip_address("256.1.1.1"));
        assert!(!ip_address("1.2.3"));
        assert!(!ip_address("12:30"));
        assert!(url("https://contoso.com/a?b=c"));
        assert!(!url("contoso.com"));
        assert!(!url("mailto:ada@example.com"));
        assert!(guid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
        assert!(guid("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"));
        assert!(!guid("3f2504e0-4f89-11d3-9a0c-0305e82c330"));
    }

    #[test]
    fn zips_dates_and_azure_secrets() {
        assert!(us_zip("98052"));
        assert!(us_zip("98052-6399"));
        assert!(!us_zip("9805"));
        assert!(!us_zip("00000"));
        assert!(birth_date("1984-02-29"));
        assert!(birth_date("02/29/1984"));
        assert!(birth_date("1984-02-29T00:00:00Z"));
        assert!(!birth_date("1784-02-29"));
        assert!(!birth_date("1984-13-01"));
        let key = format!("{}==", "A".repeat(86));
        assert!(azure_storage_key(&key));
        assert!(!azure_storage_key(&"A".repeat(88)));
        assert!(azure_storage_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc==;EndpointSuffix=core.windows.net"
        ));
        assert!(!azure_storage_connection_string("Server=tcp:x;Database=y"));
    }
}
