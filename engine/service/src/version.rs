//! The build's version and release date, and when the build expires.
//!
//! A build is supported for one year after its release date. From 90 days
//! before that, the service warns (log line, metric, API field); after it,
//! it says the build has expired. The release date is set at build time by
//! the `SURVEYOR_RELEASE_DATE` environment variable (`YYYY-MM-DD`), else it
//! is [`DEFAULT_RELEASE_DATE`].

use jiff::civil::Date;
use serde::Serialize;

/// Release date of this source tree, when the build does not set one.
pub const DEFAULT_RELEASE_DATE: &str = "2026-11-25";

/// How long before expiry the service warns.
pub const WARN_DAYS: i64 = 90;

/// The release date of this build.
pub fn release_date() -> Date {
    option_env!("SURVEYOR_RELEASE_DATE")
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| DEFAULT_RELEASE_DATE.parse().expect("a valid date"))
}

/// Where a build stands on a given day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub struct VersionInfo {
    pub version: String,
    /// `YYYY-MM-DD`.
    pub release_date: String,
    /// `YYYY-MM-DD`: one year after the release date.
    pub expires_on: String,
    /// `supported`, `expiring` (within 90 days of expiry) or `expired`.
    pub status: String,
    /// Days until expiry (negative once expired).
    pub days_left: i64,
    /// A sentence for the operator when the status is not `supported`.
    pub warning: Option<String>,
}

/// The expiry status of a build released on `release`, as of `today`.
pub fn status(version: &str, release: Date, today: Date) -> VersionInfo {
    let expires = release.checked_add(jiff::Span::new().years(1)).unwrap_or(release);
    let days_left = today.until(expires).map(|s| s.get_days() as i64).unwrap_or(0);
    let (status, warning) = if days_left <= 0 {
        ("expired", Some(format!("surveyor {version} expired on {expires}: install a newer release")))
    } else if days_left <= WARN_DAYS {
        ("expiring", Some(format!("surveyor {version} expires on {expires} (in {days_left} days): plan an upgrade")))
    } else {
        ("supported", None)
    };
    VersionInfo {
        version: version.to_string(),
        release_date: release.to_string(),
        expires_on: expires.to_string(),
        status: status.to_string(),
        days_left,
        warning,
    }
}

/// This build's status today.
pub fn current() -> VersionInfo {
    status(surveyor_engine::VERSION, release_date(), jiff::Zoned::now().date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_build_warns_from_90_days_before_its_first_birthday_and_then_expires() {
        let release = date(2026, 3, 1);
        let s = status("1.0.0", release, date(2026, 3, 2));
        assert_eq!((s.status.as_str(), s.warning.is_none()), ("supported", true));
        assert_eq!(s.expires_on, "2027-03-01");
        let s = status("1.0.0", release, date(2026, 11, 30));
        assert_eq!(s.status, "supported", "91 days left");
        assert_eq!(s.days_left, 91);
        let s = status("1.0.0", release, date(2026, 12, 1));
        assert_eq!(s.status, "expiring");
        assert_eq!(s.days_left, 90);
        assert!(s.warning.unwrap().contains("expires on 2027-03-01"));
        let s = status("1.0.0", release, date(2027, 3, 1));
        assert_eq!(s.status, "expired");
        assert!(s.warning.unwrap().contains("expired on 2027-03-01"));
        assert_eq!(status("1.0.0", release, date(2027, 4, 1)).days_left, -31);
    }

    #[test]
    fn the_release_date_of_this_build_parses() {
        assert!(release_date() >= date(2026, 1, 1));
    }
}
