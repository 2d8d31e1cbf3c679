//! Commands the demo prints for the user to run (`ringtrace decode …`, `ringtrace recover …`),
//! written so that they work as printed, pasted into a POSIX shell from any directory:
//!
//! - paths are absolute (`std::path::absolute`: from the working directory, links kept);
//! - a word holding anything but `[A-Za-z0-9/._,:@%+-]` is put in single quotes;
//! - the program is `ringtrace` only when that name on `PATH` is this very binary; otherwise
//!   it is this binary's own path (`cargo run` and `target/debug/ringtrace` users have no
//!   `ringtrace` on `PATH`, or an older one).
//!
//! A path that is not valid UTF-8 is printed lossily, and that command will not work.

use std::path::Path;

/// `ringtrace decode FILE`.
pub(super) fn decode_command(file: &Path) -> String {
    format!("{} decode {}", program(), shell_path(file))
}

/// How to call this binary: `ringtrace` when that name on `PATH` is this binary, otherwise the
/// binary's own path.
pub(super) fn program() -> String {
    let Ok(me) = std::env::current_exe() else { return "ringtrace".into() };
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("ringtrace")).find(|p| p.is_file()));
    match (canonical(&me), on_path.as_deref().and_then(canonical)) {
        (Some(a), Some(b)) if a == b => "ringtrace".into(),
        _ => shell_path(&me),
    }
}

/// A path, made absolute, as one shell word.
pub(super) fn shell_path(p: &Path) -> String {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    shell_word(&p.to_string_lossy())
}

/// `s` as one shell word: as it is when it holds only characters no shell treats specially,
/// otherwise in single quotes (a `'` in it written as `'\''`).
fn shell_word(s: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"/._,:@%+-".contains(&b);
    if !s.is_empty() && s.bytes().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/tmp/ringtrace-demo/ringtrace.flight"), "/tmp/ringtrace-demo/ringtrace.flight");
        assert_eq!(shell_word("/tmp/my demo/x"), "'/tmp/my demo/x'");
        assert_eq!(shell_word("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(shell_word("/tmp/$HOME;rm"), "'/tmp/$HOME;rm'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(shell_path(Path::new("x.rtrace")), shell_word(&cwd.join("x.rtrace").to_string_lossy()));
    }
}
