//! What every command's `--help` must show: a one-line purpose, a description of each
//! argument, and an `Examples:` block (clap's `after_help`) of real invocations, one per
//! indented line:
//!
//! ```text
//! Examples:
//!   chanhub --datadir ~/.chanhub info
//!   chanhub --datadir ~/.chanhub info --json
//! ```
//!
//! [`problems`] finds what is missing; the binary's tests run it on the whole command tree
//! and parse every example with the real parser.

/// The heading the examples follow.
pub const EXAMPLES: &str = "Examples:";

/// The example invocations in a command's `after_help`: the indented lines under `Examples:`
/// up to the first line that is not, a trailing `# comment` removed.
pub fn examples(cmd: &clap::Command) -> Vec<String> {
    let Some(text) = cmd.get_after_help().map(|t| t.to_string()) else {
        return Vec::new();
    };
    text.lines()
        .skip_while(|l| l.trim() != EXAMPLES)
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.trim().is_empty())
        .map(|l| match l.find(" #") {
            Some(i) => l[..i].trim().to_string(),
            None => l.trim().to_string(),
        })
        .collect()
}

/// Splits an example into arguments like a shell: on spaces, with `"…"` and `'…'` quoting.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Everything `cmd` and its subcommands (recursively) lack: a purpose, help on an argument,
/// examples, or an example that does not invoke the command it documents. `path` is how the
/// command is invoked (`["chanhub", "chain"]`), for the messages and the example check.
pub fn problems(cmd: &clap::Command, path: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let name = path.join(" ");
    if blank(cmd.get_about()) {
        out.push(format!("{name}: no one-line purpose"));
    }
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if !arg.is_hide_set() && !["help", "version"].contains(&id) && arg.get_help().is_none() {
            out.push(format!("{name}: argument {id} has no help"));
        }
    }
    let examples = examples(cmd);
    if examples.is_empty() {
        out.push(format!("{name}: no {EXAMPLES} block"));
    }
    for e in &examples {
        let words = split_words(e);
        // `chanhub [--global-flags VALUE]... sub sub ...`: the command's own words in order.
        let mut wanted = path.iter().skip(1).peekable();
        for w in words.iter().skip(1) {
            if wanted.peek().is_some_and(|p| **p == w) {
                wanted.next();
            }
        }
        if words.first().map(String::as_str) != path.first().copied() || wanted.peek().is_some() {
            out.push(format!("{name}: example {e:?} does not run {name}"));
        }
    }
    for sub in cmd.get_subcommands() {
        let mut p = path.to_vec();
        p.push(sub.get_name());
        out.extend(problems(sub, &p));
    }
    out
}

fn blank(text: Option<&clap::builder::StyledStr>) -> bool {
    text.map_or(true, |t| t.to_string().trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn good() -> Command {
        Command::new("chanhub")
            .about("A hub")
            .after_help("Examples:\n  chanhub pay lnbc1  # pays\n  chanhub pay 'a b'\n\nMore")
            .subcommand(
                Command::new("pay")
                    .about("Pay")
                    .arg(Arg::new("bolt11").help("The invoice"))
                    .after_help("Examples:\n  chanhub pay lnbc1"),
            )
    }

    #[test]
    fn a_complete_tree_has_no_problems() {
        assert_eq!(problems(&good(), &["chanhub"]), Vec::<String>::new());
        assert_eq!(
            examples(&good()),
            vec!["chanhub pay lnbc1".to_string(), "chanhub pay 'a b'".into()]
        );
        assert_eq!(
            split_words("chanhub invoice --amount-msat 5 \"two words\" it's'' x"),
            [
                "chanhub",
                "invoice",
                "--amount-msat",
                "5",
                "two words",
                "its x"
            ]
        );
    }

    #[test]
    fn what_is_missing_is_named() {
        let cmd = good().subcommand(
            Command::new("mine")
                .arg(Arg::new("blocks"))
                .after_help("Example: chanhub mine 1"),
        );
        let found = problems(&cmd, &["chanhub"]);
        assert_eq!(
            found,
            [
                "chanhub mine: no one-line purpose",
                "chanhub mine: argument blocks has no help",
                "chanhub mine: no Examples: block",
            ]
        );
        let wrong = good().subcommand(
            Command::new("mine")
                .about("Mine")
                .after_help("Examples:\n  chanhub info"),
        );
        assert_eq!(
            problems(&wrong, &["chanhub"]),
            ["chanhub mine: example \"chanhub info\" does not run chanhub mine"]
        );
    }
}
