//! How ids and names are written for people and read from them.

/// A device id as people see it: its first eight characters.
pub(crate) fn short_device(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// User names as typed: `@bob` and `bob` both name the user bob.
pub(crate) fn user_names(list: &[String]) -> Vec<String> {
    list.iter().map(|u| u.strip_prefix('@').unwrap_or(u).to_owned()).collect()
}
