//! Datetime input and output formats of `datetime` fields.
//!
//! Input formats are tried in the order the field lists them: `rfc3339`, `iso8601`, `rfc2822`,
//! `unix_timestamp` (seconds, milliseconds, microseconds or nanoseconds, inferred from the
//! magnitude) and strptime patterns (`%Y-%m-%d %H:%M:%S`). Output formats are the same plus
//! `unix_timestamp_{secs,millis,micros,nanos}`.
//!
//! ```
//! use hydrant_index::datetime::{DatetimeInputFormat, parse_datetime};
//!
//! let formats = [DatetimeInputFormat::parse("unix_timestamp").unwrap()];
//! let seconds = parse_datetime(&serde_json::json!(1_700_000_000), &formats).unwrap();
//! let millis = parse_datetime(&serde_json::json!(1_700_000_000_000i64), &formats).unwrap();
//! assert_eq!(seconds, millis);
//! ```

use serde_json::Value;
use tantivy::DateTime;
use time::format_description::OwnedFormatItem;
use time::format_description::well_known::{Iso8601, Rfc2822, Rfc3339};
use time::parsing::Parsed;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Timestamps below this magnitude are seconds (up to year 5138); each further factor of 1000
/// moves to milliseconds, microseconds, then nanoseconds.
const SECONDS_BELOW: f64 = 1e11;

/// One way to read a datetime.
#[derive(Clone, Debug)]
pub enum DatetimeInputFormat {
    Rfc3339,
    Iso8601,
    Rfc2822,
    UnixTimestamp,
    Strptime(StrptimeFormat),
}

impl DatetimeInputFormat {
    /// Parses a format name, or a strptime pattern (anything containing `%`).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "rfc3339" => Ok(DatetimeInputFormat::Rfc3339),
            "iso8601" => Ok(DatetimeInputFormat::Iso8601),
            "rfc2822" => Ok(DatetimeInputFormat::Rfc2822),
            "unix_timestamp" => Ok(DatetimeInputFormat::UnixTimestamp),
            pattern if pattern.contains('%') => {
                StrptimeFormat::new(pattern).map(DatetimeInputFormat::Strptime)
            }
            other => Err(format!(
                "unknown datetime input format `{other}` (expected rfc3339, iso8601, rfc2822, \
                 unix_timestamp or a strptime pattern)"
            )),
        }
    }
}

/// How a datetime is rendered in hits.
#[derive(Clone, Debug)]
pub enum DatetimeOutputFormat {
    Rfc3339,
    Iso8601,
    Rfc2822,
    UnixSecs,
    UnixMillis,
    UnixMicros,
    UnixNanos,
    Strptime(StrptimeFormat),
}

impl DatetimeOutputFormat {
    /// Parses a format name, or a strptime pattern.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "rfc3339" => Ok(DatetimeOutputFormat::Rfc3339),
            "iso8601" => Ok(DatetimeOutputFormat::Iso8601),
            "rfc2822" => Ok(DatetimeOutputFormat::Rfc2822),
            "unix_timestamp_secs" => Ok(DatetimeOutputFormat::UnixSecs),
            "unix_timestamp_millis" => Ok(DatetimeOutputFormat::UnixMillis),
            "unix_timestamp_micros" => Ok(DatetimeOutputFormat::UnixMicros),
            "unix_timestamp_nanos" => Ok(DatetimeOutputFormat::UnixNanos),
            pattern if pattern.contains('%') => {
                StrptimeFormat::new(pattern).map(DatetimeOutputFormat::Strptime)
            }
            other => Err(format!(
                "unknown datetime output format `{other}` (expected rfc3339, iso8601, rfc2822, \
                 unix_timestamp_secs, unix_timestamp_millis, unix_timestamp_micros, \
                 unix_timestamp_nanos or a strptime pattern)"
            )),
        }
    }

    /// Renders `datetime` as JSON: a number for unix timestamps, a string otherwise.
    pub fn format(&self, datetime: DateTime) -> Value {
        let nanos = datetime.into_timestamp_nanos();
        let utc = datetime.into_utc();
        let text = match self {
            DatetimeOutputFormat::UnixSecs => return Value::from(nanos.div_euclid(1_000_000_000)),
            DatetimeOutputFormat::UnixMillis => return Value::from(nanos.div_euclid(1_000_000)),
            DatetimeOutputFormat::UnixMicros => return Value::from(nanos.div_euclid(1_000)),
            DatetimeOutputFormat::UnixNanos => return Value::from(nanos),
            DatetimeOutputFormat::Rfc3339 => utc.format(&Rfc3339),
            DatetimeOutputFormat::Iso8601 => utc.format(&Iso8601::DEFAULT),
            DatetimeOutputFormat::Rfc2822 => utc.format(&Rfc2822),
            DatetimeOutputFormat::Strptime(strptime) => utc.format(&strptime.items),
        };
        // Formatting a valid UTC datetime only fails for years outside the format's range.
        Value::String(text.unwrap_or_else(|_| nanos.to_string()))
    }
}

/// A strptime pattern, compiled to `time` format items.
#[derive(Clone, Debug)]
pub struct StrptimeFormat {
    pattern: String,
    items: OwnedFormatItem,
}

impl StrptimeFormat {
    /// Compiles a strptime pattern. Supported: `%Y %C %y %m %b %h %B %d %e %j %H %k %I %l %M %S
    /// %f %p %z %a %A %u %w %U %W %V %G %g %s %F %T %D %R %n %t %%`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let mut description = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                match c {
                    '[' | ']' | '\\' => {
                        description.push('\\');
                        description.push(c);
                    }
                    _ => description.push(c),
                }
                continue;
            }
            let Some(specifier) = chars.next() else {
                return Err(format!("strptime pattern `{pattern}` ends with a lone `%`"));
            };
            let item = match specifier {
                'Y' => "[year]",
                'C' => "[year repr:century]",
                'y' => "[year repr:last_two]",
                'm' => "[month]",
                'b' | 'h' => "[month repr:short]",
                'B' => "[month repr:long]",
                'd' => "[day]",
                'e' => "[day padding:space]",
                'j' => "[ordinal]",
                'H' => "[hour]",
                'k' => "[hour padding:space]",
                'I' => "[hour repr:12]",
                'l' => "[hour repr:12 padding:space]",
                'M' => "[minute]",
                'S' => "[second]",
                'f' => "[subsecond]",
                'p' => "[period]",
                'z' => "[offset_hour sign:mandatory][optional [:]][offset_minute]",
                'a' => "[weekday repr:short]",
                'A' => "[weekday repr:long]",
                'u' => "[weekday repr:monday]",
                'w' => "[weekday repr:sunday one_indexed:false]",
                'U' => "[week_number repr:sunday]",
                'W' => "[week_number repr:monday]",
                'V' => "[week_number]",
                'G' => "[year base:iso_week]",
                'g' => "[year base:iso_week repr:last_two]",
                's' => "[unix_timestamp]",
                'F' => "[year]-[month]-[day]",
                'T' => "[hour]:[minute]:[second]",
                'D' => "[month]/[day]/[year repr:last_two]",
                'R' => "[hour]:[minute]",
                'n' | 't' => " ",
                '%' => "%",
                other => {
                    return Err(format!(
                        "strptime pattern `{pattern}`: unsupported specifier `%{other}`"
                    ));
                }
            };
            description.push_str(item);
        }
        let items = time::format_description::parse_owned::<2>(&description)
            .map_err(|error| format!("strptime pattern `{pattern}`: {error}"))?;
        Ok(StrptimeFormat {
            pattern: pattern.to_string(),
            items,
        })
    }

    /// Parses `text`; missing time parts are zero and a missing offset is UTC.
    pub fn parse(&self, text: &str) -> Result<OffsetDateTime, String> {
        let mut parsed = Parsed::new();
        let remaining = parsed
            .parse_item(text.as_bytes(), &self.items)
            .map_err(|error| error.to_string())?;
        if !remaining.is_empty() {
            return Err("trailing characters".to_string());
        }
        if parsed.unix_timestamp_nanos().is_none() {
            if parsed.hour_24().is_none() && parsed.hour_12().is_none() {
                parsed.set_hour_24(0);
            }
            if parsed.minute().is_none() {
                parsed.set_minute(0);
            }
            if parsed.second().is_none() {
                parsed.set_second(0);
            }
            if parsed.offset_hour().is_none() {
                parsed.set_offset_hour(0);
            }
        }
        OffsetDateTime::try_from(parsed).map_err(|error| error.to_string())
    }

    /// The original pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// The formats a datetime written in a query may take, tried in order: RFC 3339, RFC 2822, a
/// unix timestamp, then `%Y-%m-%dT%H:%M:%S`, `%Y-%m-%d %H:%M:%S.%f`, `%Y-%m-%d %H:%M:%S`,
/// `%Y-%m-%d` and `%Y/%m/%d` in UTC: the set Quickwit's query language accepts.
///
/// ```
/// use hydrant_index::datetime::{parse_datetime_str, query_datetime_formats};
///
/// let day = parse_datetime_str("2023/05/25", query_datetime_formats()).unwrap();
/// let midnight = parse_datetime_str("2023-05-25T00:00:00Z", query_datetime_formats()).unwrap();
/// assert_eq!(day, midnight);
/// ```
pub fn query_datetime_formats() -> &'static [DatetimeInputFormat] {
    static FORMATS: std::sync::LazyLock<Vec<DatetimeInputFormat>> =
        std::sync::LazyLock::new(|| {
            let mut formats = vec![
                DatetimeInputFormat::Rfc3339,
                DatetimeInputFormat::Rfc2822,
                DatetimeInputFormat::UnixTimestamp,
            ];
            formats.extend(
                [
                    "%Y-%m-%dT%H:%M:%S",
                    "%Y-%m-%d %H:%M:%S.%f",
                    "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%d",
                    "%Y/%m/%d",
                ]
                .into_iter()
                .map(|pattern| {
                    DatetimeInputFormat::Strptime(
                        StrptimeFormat::new(pattern).expect("a valid built-in pattern"),
                    )
                }),
            );
            formats
        });
    &FORMATS
}

/// Reads a JSON value as a datetime, trying `formats` in order.
pub fn parse_datetime(value: &Value, formats: &[DatetimeInputFormat]) -> Result<DateTime, String> {
    let accepts_unix = formats
        .iter()
        .any(|format| matches!(format, DatetimeInputFormat::UnixTimestamp));
    match value {
        Value::Number(number) => {
            if !accepts_unix {
                return Err(format!(
                    "number {number} given, but unix_timestamp is not an input format"
                ));
            }
            if let Some(integer) = number.as_i64() {
                unix_timestamp_to_datetime(integer as f64, Some(integer))
            } else if let Some(float) = number.as_f64() {
                unix_timestamp_to_datetime(float, None)
            } else {
                Err(format!("timestamp {number} is out of range"))
            }
        }
        Value::String(text) => parse_datetime_str(text, formats),
        other => Err(format!(
            "expected a datetime, got {}",
            crate::json_type_name(other)
        )),
    }
}

/// Reads a datetime from a string, trying `formats` in order.
pub fn parse_datetime_str(text: &str, formats: &[DatetimeInputFormat]) -> Result<DateTime, String> {
    let text = text.trim();
    for format in formats {
        let parsed = match format {
            DatetimeInputFormat::Rfc3339 => OffsetDateTime::parse(text, &Rfc3339).ok(),
            DatetimeInputFormat::Rfc2822 => OffsetDateTime::parse(text, &Rfc2822).ok(),
            DatetimeInputFormat::Iso8601 => parse_iso8601(text),
            DatetimeInputFormat::Strptime(strptime) => strptime.parse(text).ok(),
            DatetimeInputFormat::UnixTimestamp => {
                if let Ok(integer) = text.parse::<i64>() {
                    return unix_timestamp_to_datetime(integer as f64, Some(integer));
                }
                if let Ok(float) = text.parse::<f64>() {
                    return unix_timestamp_to_datetime(float, None);
                }
                None
            }
        };
        if let Some(datetime) = parsed {
            return Ok(DateTime::from_utc(datetime.to_offset(UtcOffset::UTC)));
        }
    }
    let names: Vec<String> = formats.iter().map(format_name).collect();
    Err(format!(
        "`{text}` matches none of the input formats [{}]",
        names.join(", ")
    ))
}

fn parse_iso8601(text: &str) -> Option<OffsetDateTime> {
    if let Ok(datetime) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(datetime);
    }
    if let Ok(datetime) = PrimitiveDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(datetime.assume_utc());
    }
    time::Date::parse(text, &Iso8601::DEFAULT)
        .ok()
        .map(|date| date.midnight().assume_utc())
}

fn format_name(format: &DatetimeInputFormat) -> String {
    match format {
        DatetimeInputFormat::Rfc3339 => "rfc3339".to_string(),
        DatetimeInputFormat::Iso8601 => "iso8601".to_string(),
        DatetimeInputFormat::Rfc2822 => "rfc2822".to_string(),
        DatetimeInputFormat::UnixTimestamp => "unix_timestamp".to_string(),
        DatetimeInputFormat::Strptime(strptime) => strptime.pattern.clone(),
    }
}

/// A unix timestamp whose unit is inferred from its magnitude. `exact` carries the integer when
/// there is one, so that nanosecond values keep every digit.
fn unix_timestamp_to_datetime(value: f64, exact: Option<i64>) -> Result<DateTime, String> {
    if !value.is_finite() {
        return Err(format!("timestamp {value} is not a number"));
    }
    let magnitude = value.abs();
    let nanos_per_unit: i64 = if magnitude < SECONDS_BELOW {
        1_000_000_000
    } else if magnitude < SECONDS_BELOW * 1e3 {
        1_000_000
    } else if magnitude < SECONDS_BELOW * 1e6 {
        1_000
    } else {
        1
    };
    let nanos = match exact {
        Some(integer) => integer.checked_mul(nanos_per_unit),
        None => {
            let nanos = value * nanos_per_unit as f64;
            (nanos.abs() < i64::MAX as f64).then_some(nanos as i64)
        }
    };
    nanos
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| format!("timestamp {value} is out of range"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn formats(names: &[&str]) -> Vec<DatetimeInputFormat> {
        names
            .iter()
            .map(|name| DatetimeInputFormat::parse(name).unwrap())
            .collect()
    }

    const EXPECTED_NANOS: i64 = 1_700_000_000_123_000_000;

    #[test]
    fn unix_timestamp_precision_is_inferred() {
        let unix = formats(&["unix_timestamp"]);
        let seconds = parse_datetime(&json!(1_700_000_000), &unix).unwrap();
        assert_eq!(seconds.into_timestamp_nanos(), 1_700_000_000_000_000_000);
        for value in [
            json!(1_700_000_000_123i64),
            json!(1_700_000_000_123_000i64),
            json!(1_700_000_000_123_000_000i64),
            json!("1700000000123"),
        ] {
            assert_eq!(
                parse_datetime(&value, &unix)
                    .unwrap()
                    .into_timestamp_nanos(),
                EXPECTED_NANOS,
                "{value}"
            );
        }
        let float = parse_datetime(&json!(1_700_000_000.5), &unix).unwrap();
        assert_eq!(float.into_timestamp_nanos(), 1_700_000_000_500_000_000);
    }

    #[test]
    fn string_formats() {
        let all = formats(&["rfc3339", "rfc2822", "iso8601", "%Y-%m-%d %H:%M:%S"]);
        let cases = [
            ("2023-11-14T22:13:20.123Z", EXPECTED_NANOS),
            ("2023-11-14T23:13:20.123+01:00", EXPECTED_NANOS),
            ("Tue, 14 Nov 2023 22:13:20 +0000", 1_700_000_000_000_000_000),
            ("2023-11-14T22:13:20", 1_700_000_000_000_000_000),
            ("2023-11-14", 1_699_920_000_000_000_000),
        ];
        for (text, nanos) in cases {
            let parsed = parse_datetime(&json!(text), &all).unwrap();
            assert_eq!(parsed.into_timestamp_nanos(), nanos, "{text}");
        }
        let error = parse_datetime(&json!("yesterday"), &all).unwrap_err();
        assert!(error.contains("yesterday"), "{error}");
        let error = parse_datetime(&json!(12), &formats(&["rfc3339"])).unwrap_err();
        assert!(error.contains("unix_timestamp"), "{error}");
    }

    #[test]
    fn strptime_patterns() {
        let strptime = StrptimeFormat::new("%Y-%m-%d %H:%M:%S %z").unwrap();
        let parsed = strptime.parse("2023-11-14 23:13:20 +0100").unwrap();
        assert_eq!(parsed.unix_timestamp(), 1_700_000_000);
        let date_only = StrptimeFormat::new("%d/%m/%Y").unwrap();
        assert_eq!(
            date_only.parse("14/11/2023").unwrap().unix_timestamp(),
            1_699_920_000
        );
        let with_fraction = StrptimeFormat::new("%Y%m%dT%H%M%S.%f").unwrap();
        let parsed = with_fraction.parse("20231114T221320.123").unwrap();
        assert_eq!(parsed.unix_timestamp_nanos(), EXPECTED_NANOS as i128);
        assert!(StrptimeFormat::new("%Q").is_err());
        assert!(
            StrptimeFormat::new("[%F]")
                .unwrap()
                .parse("[2023-11-14]")
                .is_ok()
        );
    }

    #[test]
    fn output_formats() {
        let datetime = DateTime::from_timestamp_nanos(EXPECTED_NANOS);
        let render = |name: &str| DatetimeOutputFormat::parse(name).unwrap().format(datetime);
        assert_eq!(render("unix_timestamp_secs"), json!(1_700_000_000));
        assert_eq!(render("unix_timestamp_millis"), json!(1_700_000_000_123i64));
        assert_eq!(
            render("unix_timestamp_micros"),
            json!(1_700_000_000_123_000i64)
        );
        assert_eq!(render("unix_timestamp_nanos"), json!(EXPECTED_NANOS));
        assert_eq!(render("rfc3339"), json!("2023-11-14T22:13:20.123Z"));
        assert_eq!(render("%Y-%m-%d"), json!("2023-11-14"));
    }
}
