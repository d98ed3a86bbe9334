//! String assertions with libcnb-test's names, for build logs and command output: on failure
//! they print the whole text as written (multi-line logs stay readable) and escaped.

/// Asserts that `$haystack` contains `$needle` (anything `str::contains` takes), with an
/// optional message like `assert!`'s.
///
/// ```
/// use libcnb_exec_env_test::assert_contains;
/// assert_contains!("===> BUILD\nInstalling npm packages", "npm packages");
/// ```
///
/// ```should_panic
/// use libcnb_exec_env_test::assert_contains;
/// assert_contains!("===> BUILD", "DETECT", "the log has no detect phase");
/// ```
#[macro_export]
macro_rules! assert_contains {
    ($haystack:expr, $needle:expr $(,)?) => {{
        match (&$haystack, $needle) { (haystack, needle) => {
        if !haystack.contains(needle) {
            ::std::panic!(
                "assertion failed: the text does not contain {:?}\n--- text:\n{}\n--- text (escaped): {:?}",
                needle, haystack, haystack,
            );
        }
        }}
    }};
    ($haystack:expr, $needle:expr, $($message:tt)+) => {{
        match (&$haystack, $needle) { (haystack, needle) => {
        if !haystack.contains(needle) {
            ::std::panic!(
                "assertion failed: the text does not contain {:?}: {}\n--- text:\n{}\n--- text (escaped): {:?}",
                needle, ::std::format_args!($($message)+), haystack, haystack,
            );
        }
        }}
    }};
}

/// Asserts that `$haystack` does not contain `$needle`.
///
/// ```
/// use libcnb_exec_env_test::assert_not_contains;
/// assert_not_contains!("Installing npm packages", "ERROR");
/// ```
///
/// ```should_panic
/// use libcnb_exec_env_test::assert_not_contains;
/// assert_not_contains!("npm ERR! missing lockfile", "ERR!");
/// ```
#[macro_export]
macro_rules! assert_not_contains {
    ($haystack:expr, $needle:expr $(,)?) => {{
        match (&$haystack, $needle) { (haystack, needle) => {
        if haystack.contains(needle) {
            ::std::panic!(
                "assertion failed: the text contains {:?}\n--- text:\n{}\n--- text (escaped): {:?}",
                needle, haystack, haystack,
            );
        }
        }}
    }};
    ($haystack:expr, $needle:expr, $($message:tt)+) => {{
        match (&$haystack, $needle) { (haystack, needle) => {
        if haystack.contains(needle) {
            ::std::panic!(
                "assertion failed: the text contains {:?}: {}\n--- text:\n{}\n--- text (escaped): {:?}",
                needle, ::std::format_args!($($message)+), haystack, haystack,
            );
        }
        }}
    }};
}

/// Asserts that `$value` is empty (anything with `is_empty`).
///
/// ```
/// use libcnb_exec_env_test::assert_empty;
/// assert_empty!("");
/// assert_empty!(Vec::<u8>::new(), "no bytes expected");
/// ```
///
/// ```should_panic
/// use libcnb_exec_env_test::assert_empty;
/// assert_empty!("warning: something");
/// ```
#[macro_export]
macro_rules! assert_empty {
    ($value:expr $(,)?) => {{
        match &$value { value => {
        if !value.is_empty() {
            ::std::panic!(
                "assertion failed: not empty\n--- value:\n{:?}",
                value,
            );
        }
        }}
    }};
    ($value:expr, $($message:tt)+) => {{
        match &$value { value => {
        if !value.is_empty() {
            ::std::panic!(
                "assertion failed: not empty: {}\n--- value:\n{:?}",
                ::std::format_args!($($message)+), value,
            );
        }
        }}
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn contains_passes_and_fails_with_the_text() {
        assert_contains!(String::from("a\nb"), "b");
        let failure = std::panic::catch_unwind(|| assert_contains!("a\nb", "c", "need {}", "c"))
            .expect_err("must panic");
        let message = failure
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            message.contains("does not contain \"c\": need c"),
            "{message}"
        );
        assert!(message.contains("--- text:\na\nb"), "{message}");
    }

    #[test]
    fn not_contains_and_empty_fail_when_they_should() {
        assert_not_contains!("abc", "d");
        assert!(std::panic::catch_unwind(|| assert_not_contains!("abc", "b")).is_err());
        assert_empty!(String::new());
        assert!(std::panic::catch_unwind(|| assert_empty!("x")).is_err());
    }
}
