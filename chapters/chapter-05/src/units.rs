//! Parsing the human units of the settings: sizes (`1GiB`, `512KB`,
//! `1048576`), durations (`100ms`, `30s`, `7d`) and sync policies
//! (`os`, `always`, `every=1000`, `interval=100ms`).

use std::time::Duration;

use chapter_01::SyncPolicy;

/// Splits `1024KiB` into `1024` and `"KiB"`; `None` without leading digits.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// Parses a size: a whole number of bytes with an optional unit (B, KB, MB,
/// GB, KiB, MiB, GiB; any case).
///
/// # Errors
/// A message saying what is wrong, for the startup error line.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a size (try 1048576, 512KiB or 1GiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "{text:?}: unknown size unit {other:?} (use B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a duration: a whole number with a unit (ms, s, m, h, d).
///
/// # Errors
/// A message saying what is wrong, for the startup error line.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a duration (try 100ms, 30s, 5m, 12h or 7d)"))?;
    let seconds = |factor: u64| number.checked_mul(factor).map(Duration::from_secs);
    let duration = match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(60 * 60),
        "d" => seconds(24 * 60 * 60),
        "" => return Err(format!("{text:?} needs a unit (ms, s, m, h or d)")),
        other => {
            return Err(format!(
                "{text:?}: unknown duration unit {other:?} (use ms, s, m, h or d)"
            ));
        }
    };
    duration.ok_or_else(|| format!("{text:?} is too long"))
}

// ANCHOR: parse_sync
/// Parses a sync policy: `os`, `always`, `every=N` or `interval=DURATION`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_sync(text: &str) -> Result<SyncPolicy, String> {
    let unknown =
        || format!("unknown sync policy {text:?}: use os, always, every=N or interval=DURATION");
    match text.trim().split_once('=') {
        None if text.trim() == "os" => Ok(SyncPolicy::Os),
        None if text.trim() == "always" => Ok(SyncPolicy::Always),
        Some(("every", records)) => match records.trim().parse::<u64>() {
            Ok(records) if records > 0 => Ok(SyncPolicy::EveryRecords(records)),
            _ => Err(format!(
                "sync policy {text:?}: every= takes a whole number of records, at least 1"
            )),
        },
        Some(("interval", duration)) => match parse_duration(duration)? {
            interval if interval.is_zero() => Err(format!(
                "sync policy {text:?}: the interval must be longer than 0 (use always to sync every record)"
            )),
            interval => Ok(SyncPolicy::Interval(interval)),
        },
        _ => Err(unknown()),
    }
}
// ANCHOR_END: parse_sync

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("10 mib"), Ok(10 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert!(
            parse_size("1 TiB")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_size("lots").unwrap_err().contains("is not a size"));
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("1w")
                .unwrap_err()
                .contains("unknown duration unit")
        );
    }

    // ANCHOR: sync_tests
    #[test]
    fn sync_policies_parse_and_unknown_ones_are_named() {
        assert_eq!(parse_sync("os"), Ok(SyncPolicy::Os));
        assert_eq!(parse_sync("always"), Ok(SyncPolicy::Always));
        assert_eq!(parse_sync("every=100"), Ok(SyncPolicy::EveryRecords(100)));
        assert_eq!(
            parse_sync("interval=250ms"),
            Ok(SyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert!(parse_sync("every=0").is_err());
        assert!(
            parse_sync("interval=0ms")
                .unwrap_err()
                .contains("longer than 0")
        );
        assert_eq!(
            parse_sync("sometimes"),
            Err(
                "unknown sync policy \"sometimes\": use os, always, every=N or interval=DURATION"
                    .to_string()
            )
        );
    }
    // ANCHOR_END: sync_tests
}
