//! One module per subcommand: thin glue from parsed arguments to the library.

pub mod drift;
pub mod emulator;
pub mod force_unlock;
pub mod import;
pub mod interrupt;
pub mod package;
pub mod plan_output;
pub mod reconcile;
pub mod schema;
pub mod state;
pub mod validate;

/// `word` as a POSIX shell reads it back: as it is when it is plain, else single-quoted
/// (every command a message suggests is built from these, so it runs as printed).
pub(crate) fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_read_back_as_written() {
        assert_eq!(shell_word("state/shop-prod.json"), "state/shop-prod.json");
        assert_eq!(shell_word("my stack"), "'my stack'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
