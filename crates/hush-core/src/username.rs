//! Usernames: 3 to 32 characters, lowercase ASCII letters, digits, `_`, `-` and `.`,
//! starting with a letter. Lowercase-only so that `Alice` and `alice` can't be two people.

/// Why a username is not acceptable, as one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsernameError(pub &'static str);

/// Checks a username against the rules.
pub fn validate(name: &str) -> Result<(), UsernameError> {
    let len = name.chars().count();
    if len < 3 {
        return Err(UsernameError("a username needs at least 3 characters"));
    }
    if len > 32 {
        return Err(UsernameError("a username has at most 32 characters"));
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err(UsernameError("a username starts with a lowercase letter (a-z)"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
    {
        return Err(UsernameError(
            "a username may contain only lowercase letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_and_refuses() {
        for ok in ["alice", "bob_2", "c.d-e", "abc"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "Alice", "1bob", "bob!", "bøb", &"a".repeat(33), "al ice"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
