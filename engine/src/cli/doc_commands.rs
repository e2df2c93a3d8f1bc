//! The documentation and the command line cannot drift apart: every
//! `surveyor …` command line in a fenced block of `README.md` and
//! `docs/*.md` goes through the CLI's own parser. Usage synopses
//! (`[--out DIR]`, `<PATH>`, `show|set|clear`, `doctor ... --json`) are not
//! command lines and are skipped.

use super::Cli;
use clap::Parser;
use std::path::{Path, PathBuf};

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The text outside single and double quotes (to tell a synopsis from a
/// quoted JSON argument).
fn unquoted(line: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// Drops a trailing `# comment` (outside quotes, after a space).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// (file:line, arguments) of every documented command line.
fn documented_commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("readable doc");
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut in_fence = false;
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            if raw.trim_start().starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            if !in_fence {
                continue;
            }
            let line = without_comment(raw).trim_end();
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            // `cargo run … --bin surveyor -- <args>` runs the CLI too.
            let line = match line.split_once("--bin surveyor -- ") {
                Some((_, args)) => format!("surveyor {args}"),
                None => line,
            };
            let outside = unquoted(&line);
            if outside.contains('[')
                || outside.contains('<')
                || outside.contains('|')
                || outside.contains('…')
                || outside.contains("...")
            {
                continue;
            }
            let Some(words) = shlex::split(&line) else { continue };
            // Skip `VAR=value` assignments and `sudo`; the command must be the binary.
            let start = words.iter().position(|w| (w.starts_with('-') || !w.contains('=')) && w != "sudo");
            let Some(start) = start else { continue };
            if words[start] != "surveyor" {
                continue;
            }
            out.push((format!("{name}:{}", n + 1), words[start..].to_vec()));
        }
    }
    out
}

#[test]
fn every_command_line_in_the_docs_parses() {
    let commands = documented_commands();
    assert!(commands.len() >= 30, "found only {} command lines: {commands:?}", commands.len());
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|(at, args)| match Cli::try_parse_from(args) {
            Ok(_) => None,
            Err(e)
                if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) =>
            {
                None
            }
            Err(e) => {
                Some(format!("{at}: `{}`: {}", args.join(" "), e.render().to_string().lines().next().unwrap_or("")))
            }
        })
        .collect();
    assert!(failures.is_empty(), "documented command lines the CLI refuses:\n{}", failures.join("\n"));
}

#[test]
fn synopses_and_quoted_json_are_told_apart() {
    assert!(unquoted(r#"scans create x --trigger '{"hours":[2]}'"#).find('[').is_none());
    assert_eq!(without_comment("surveyor ir create x   # a runtime"), "surveyor ir create x   ");
    assert_eq!(without_comment("surveyor x --key 'a#b'"), "surveyor x --key 'a#b'");
}
