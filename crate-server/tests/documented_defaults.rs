//! Every default the documentation states is the server's real one, and every flag with a
//! default has it stated somewhere: SECURITY.md's table of limits is parsed row by row,
//! and every "`--flag` VALUE" in the prose of README.md, SECURITY.md and docs/ is checked
//! against clap's own defaults (which `--help` prints), so a change on either side fails.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use ferrosocket_server::{Budgets, Config};

const DOCS: [(&str, &str); 4] = [
    ("README.md", include_str!("../../README.md")),
    ("SECURITY.md", include_str!("../../SECURITY.md")),
    ("docs/HARDENING.md", include_str!("../../docs/HARDENING.md")),
    ("docs/DEPLOY.md", include_str!("../../docs/DEPLOY.md")),
];

/// Flags with a default that no document states, and why that is acceptable.
const UNSTATED: [(&str, &str); 1] = [(
    "www",
    "a path, relative to where the server starts; README shows it in its run command",
)];

/// `--flag` (without dashes) -> its default as `--help` prints it, for flags that have one.
fn clap_defaults() -> BTreeMap<String, String> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| {
            let default = arg.get_default_values().first()?.to_str()?.to_owned();
            Some((arg.get_long()?.to_owned(), default))
        })
        .collect()
}

/// Flags without a default (`--tls-cert`, `--admin-addr`...).
fn flags_without_default() -> BTreeSet<String> {
    Config::command()
        .get_arguments()
        .filter(|arg| arg.get_default_values().is_empty())
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect()
}

/// The `--flags` quoted in backticks in `text`, in order.
fn quoted_flags(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| quoted.strip_prefix("--"))
        .map(|flag| flag.split([' ', '=']).next().unwrap().to_owned())
        .collect()
}

/// A stated quantity: "1 MiB", "10 s", "10,000", "20/s", "215 KiB".
#[derive(Debug, Clone, Copy)]
struct Quantity {
    value: f64,
    /// Bytes, seconds or items per unit written.
    scale: f64,
}

/// Every quantity in `text`, in order ("256 / 1 MiB" is two).
fn quantities(text: &str) -> Vec<Quantity> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
            .unwrap_or(tail.len());
        let number = tail[..end].trim_end_matches([',', '.']);
        rest = &tail[end..];
        // "127.0.0.1" and the like are not quantities.
        let Ok(value) = number.replace(',', "").parse::<f64>() else {
            continue;
        };
        let after = tail[number.len()..].trim_start();
        let scale = if after.starts_with("KiB") {
            1024.0
        } else if after.starts_with("MiB") {
            1024.0 * 1024.0
        } else {
            1.0
        };
        found.push(Quantity { value, scale });
    }
    found
}

fn assert_states(place: &str, flag: &str, stated: Quantity, default: &str) {
    let actual: f64 = default.parse().unwrap_or_else(|_| {
        panic!("{place}: --{flag} states a number, its default is {default:?}")
    });
    assert_eq!(
        stated.value * stated.scale,
        actual,
        "{place}: --{flag} is documented as {stated:?}, its default is {default}"
    );
}

#[test]
fn every_default_in_the_security_table_is_the_real_one() {
    let defaults = clap_defaults();
    let without = flags_without_default();
    let security = DOCS[1].1;
    let mut rows = security
        .lines()
        .skip_while(|line| !line.starts_with("| threat | defence | default |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .peekable();
    assert!(rows.peek().is_some(), "SECURITY.md has no table of limits");
    let mut checked = 0;
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let (defence, stated) = (cells[1], cells[2]);
        let place = format!("SECURITY.md row {:?}", cells[0]);
        let flags = quoted_flags(defence);
        if flags.iter().any(|flag| flag == "rate-bytes") {
            // Derived, not a clap default: "burst B KiB, R KiB/s", rounded to whole KiB.
            let budgets = Budgets::new(&Config::default()).unwrap();
            let [burst, rate] = quantities(stated)[..] else {
                panic!("{place}: expected a burst and a rate in {stated:?}");
            };
            for (figure, actual) in [
                (burst, budgets.send_burst_bytes),
                (rate, budgets.send_rate_bytes),
            ] {
                assert_eq!(
                    figure.value,
                    (actual as f64 / figure.scale).round(),
                    "{place}: {stated:?}, the budgets are {actual} bytes"
                );
            }
            // --help: "Default: half a burst per second".
            assert_eq!(budgets.send_rate_bytes, budgets.send_burst_bytes / 2);
            checked += 2;
            continue;
        }
        let with_default: Vec<&String> = flags
            .iter()
            .filter(|flag| defaults.contains_key(*flag))
            .collect();
        let figures = quantities(stated);
        if figures.is_empty() {
            // "own origin only", "off (served on `--addr`)", or nothing stated.
            if !stated.is_empty() {
                for flag in &flags {
                    assert!(
                        without.contains(flag),
                        "{place}: --{flag} is documented as {stated:?} but defaults to {:?}",
                        defaults.get(flag)
                    );
                    checked += 1;
                }
            }
            continue;
        }
        assert_eq!(
            with_default.len(),
            figures.len(),
            "{place}: flags {with_default:?} but figures {stated:?}"
        );
        for (flag, figure) in with_default.into_iter().zip(figures) {
            assert_states(&place, flag, figure, &defaults[flag]);
            checked += 1;
        }
    }
    // A table that stops parsing must not pass by checking nothing.
    assert!(
        checked >= 20,
        "only {checked} defaults found in SECURITY.md"
    );
}

#[test]
fn every_default_stated_in_the_prose_is_the_real_one_and_every_default_is_stated() {
    let defaults = clap_defaults();
    // The table's flags with a stated default (checked by the test above) count as stated.
    let mut stated: BTreeSet<String> = DOCS[1]
        .1
        .lines()
        .filter(|line| line.starts_with("| "))
        .map(|row| {
            row.trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.len() >= 4 && !cells[2].is_empty())
        .flat_map(|cells| quoted_flags(cells[1]))
        .collect();
    for (name, text) in DOCS {
        // The table's rows are the other test's; here: "`--flag` VALUE" and "(`--flag` VALUE".
        for (index, _) in text.match_indices("`--") {
            let after = &text[index + 1..];
            let Some(close) = after.find('`') else {
                continue;
            };
            let flag = after[2..close].split([' ', '=']).next().unwrap();
            let value = after[close + 1..].strip_prefix(' ').unwrap_or("");
            let value = value.strip_prefix('(').unwrap_or(value);
            let token = value.split([' ', '\n', ',', ';', ')']).next().unwrap_or("");
            if !token.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            // "fits `--outbound-bytes` 10 times": a multiple, not a value.
            if value
                .split_whitespace()
                .nth(1)
                .is_some_and(|word| word.starts_with("times"))
            {
                continue;
            }
            let line = text[..index].lines().count();
            let place = format!("{name}:{line}");
            let default = defaults
                .get(flag)
                .unwrap_or_else(|| panic!("{place}: --{flag} is given a value but has no default"));
            if token.contains(':') {
                assert_eq!(token, default, "{place}: --{flag}");
            } else {
                let figure = quantities(value)[0];
                assert_states(&place, flag, figure, default);
            }
            stated.insert(flag.to_owned());
        }
    }
    let unstated: Vec<&String> = defaults
        .keys()
        .filter(|flag| !stated.contains(*flag))
        .filter(|flag| !UNSTATED.iter().any(|(known, _)| known == flag))
        .collect();
    assert!(
        unstated.is_empty(),
        "defaults no document states: {unstated:?} (state them, e.g. in SECURITY.md)"
    );
}
