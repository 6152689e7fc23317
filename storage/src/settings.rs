//! Deployment settings read from the environment: the one reader the indexer, the searcher and
//! the S3 client share, so that every variable is trimmed, parsed and refused the same way.
//!
//! Settings are read once, at start-up, through a lookup function (the process environment in
//! production, a map in tests: nothing calls `set_var`). A bad value is one error naming the
//! variable, what it must be and what it was, before any work starts.
//!
//! ```
//! use std::time::Duration;
//! use hydrant_storage::settings::Settings;
//!
//! let settings = Settings::new(|name| match name {
//!     "HYDRANT_INDEX_URI" => Some(" s3://index-bucket ".to_string()),
//!     "HYDRANT_GRACE" => Some("15 minutes".to_string()),
//!     "HYDRANT_BLANK" => Some("  ".to_string()),
//!     _ => None,
//! });
//! assert_eq!(settings.index_uri().unwrap().to_string(), "s3://index-bucket");
//! assert_eq!(settings.duration("HYDRANT_GRACE", Duration::ZERO).unwrap(), Duration::from_secs(900));
//! assert_eq!(settings.get("HYDRANT_BLANK"), None, "blank is unset");
//! assert!(settings.parse::<u32>("HYDRANT_GRACE", "a number").unwrap_err().contains("HYDRANT_GRACE must be a number"));
//! ```

use std::str::FromStr;
use std::time::Duration;

use crate::StorageUri;

/// The longest duration a config or setting may give: 100 years.
pub const MAX_DURATION_SECS: u64 = 100 * 365 * 86_400;

/// The variable naming the index storage, which every Hydrant process needs.
pub const INDEX_URI_VARIABLE: &str = "HYDRANT_INDEX_URI";

/// Settings looked up by variable name. Errors are messages naming the variable; each crate
/// wraps them in its own configuration error.
pub struct Settings<F> {
    lookup: F,
}

impl Settings<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn from_env() -> Self {
        Settings::new(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub fn new(lookup: F) -> Self {
        Settings { lookup }
    }

    /// The variable's value, trimmed; unset and blank are the same.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }

    /// The variable parsed as `T`, or `None` when unset; `expected` says what it must be.
    pub fn parse<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| format!("{name} must be {expected}, got `{text}`")),
        }
    }

    /// A duration (`30s`, `15 minutes`), or `default` when unset.
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => parse_duration(&text).map_err(|message| format!("{name}: {message}")),
        }
    }

    /// A comma-separated list, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|value| {
                value
                    .split(',')
                    .map(|item| item.trim().to_string())
                    .filter(|item| !item.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `HYDRANT_INDEX_URI`, required.
    pub fn index_uri(&self) -> Result<StorageUri, String> {
        self.get(INDEX_URI_VARIABLE)
            .ok_or_else(|| {
                format!(
                    "{INDEX_URI_VARIABLE} is not set: it names the index storage, e.g. \
                     s3://my-index-bucket"
                )
            })?
            .parse::<StorageUri>()
            .map_err(|error| format!("{INDEX_URI_VARIABLE}: {error}"))
    }
}

/// Parses `"90 days"`, `"1 hour"`, `"30s"`, `"2w"` into a duration of at most
/// [`MAX_DURATION_SECS`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: u64 = text[..digits_end]
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `90 days`"))?;
    let seconds_per_unit = match text[digits_end..].trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "month" | "months" => 30 * 86_400,
        "y" | "year" | "years" => 365 * 86_400,
        unit => return Err(format!("unknown time unit `{unit}` in `{text}`")),
    };
    // Callers add durations to timestamps in i64 seconds and nanoseconds: bound them so that
    // no arithmetic on them can overflow.
    amount
        .checked_mul(seconds_per_unit)
        .filter(|secs| *secs <= MAX_DURATION_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is longer than the longest duration accepted, 100 years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90 days").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            parse_duration("1 hour").unwrap(),
            Duration::from_secs(3_600)
        );
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("soon").is_err());
        // Huge amounts are refused, never wrapped.
        assert_eq!(
            parse_duration("100 years").unwrap().as_secs(),
            MAX_DURATION_SECS
        );
        for huge in [
            "101 years",
            "18446744073709551615 years",
            "99999999999999999999 s",
        ] {
            let error = parse_duration(huge).unwrap_err();
            assert!(
                error.contains("100 years") || error.contains("not a duration"),
                "{huge}: {error}"
            );
        }
    }
}
