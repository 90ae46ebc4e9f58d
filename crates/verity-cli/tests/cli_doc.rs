//! docs/cli.md's command table against clap: every command (found from `verity --help`,
//! so commands added later are caught) has exactly one row, whose flags are exactly the
//! command's long flags, and which documents a `--json` shape and its exit codes.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use common::{commands_of, help};

/// Every leaf command, as its words (`["chain", "deploy"]`).
fn commands() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in commands_of(&help(&[])) {
        let subs = commands_of(&help(&[&c]));
        if subs.is_empty() {
            out.push(vec![c]);
        } else {
            out.extend(subs.into_iter().map(|s| vec![c.clone(), s]));
        }
    }
    out
}

fn long_flags(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .filter_map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("-").filter(|r| r.chars().nth(1) == Some(',')).map(|r| r[2..].trim_start()).unwrap_or(t);
            t.strip_prefix("--").map(|r| format!("--{}", r.split(|c: char| !(c.is_alphanumeric() || c == '-')).next().unwrap()))
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

#[test]
fn the_command_table_matches_the_help() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `verity ")) {
        // Cells split on `|`, except escaped ones (`\|`) inside a cell.
        let line = line.replace("\\|", "\u{1}");
        let cells: Vec<String> = line.trim().trim_matches('|').split('|').map(|c| c.trim().replace('\u{1}', "|")).collect();
        let name = cells[0].trim_matches('`').trim_start_matches("verity ").to_string();
        assert!(rows.insert(name.clone(), cells).is_none(), "docs/cli.md has two rows for {name}");
    }
    let cmds = commands();
    assert!(cmds.len() >= 13, "{cmds:?}");
    for words in &cmds {
        let name = words.join(" ");
        let row = rows.remove(&name).unwrap_or_else(|| panic!("docs/cli.md has no row for `verity {name}`"));
        assert_eq!(row.len(), 5, "row for {name}: {row:?}");
        let documented: BTreeSet<String> = row[2].split('`').filter(|t| t.starts_with("--")).map(str::to_string).collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        let actual = long_flags(&help(&refs));
        assert_eq!(documented, actual, "docs/cli.md's flags for `verity {name}` differ from --help");
        assert!(actual.contains("--json"), "`verity {name}` has no --json");
        assert!(!row[3].is_empty(), "no --json shape for {name}");
        let codes: Vec<&str> = row[4].split(", ").collect();
        assert!(codes.contains(&"0") && codes.iter().all(|c| ["0", "1", "2", "3"].contains(c)), "exits of {name}: {codes:?}");
    }
    assert!(rows.is_empty(), "docs/cli.md documents commands that do not exist: {:?}", rows.keys().collect::<Vec<_>>());
}
