//! Issue 15, item 3: the pool file replaces only an earlier pool file. At the `pool_file` path,
//! an earlier pool file (a regular file with the `RTFLIGHT` magic) is moved to `PATH.prev`;
//! a directory, a FIFO, a character device (a node of /dev/null's number in a temporary
//! directory, never the system's: see that test), a symbolic link (to a file, or dangling) or a
//! user's regular file is an install error naming the path and what is there, and is left
//! exactly as it was. `PATH.prev` is replaced only if it is an earlier pool file too. Traces
//! written by `recover_file` (as snapshots are) never follow a link either.
//!
//! One runtime per process at a time: the tests that install take a lock.

// These tests use the real atomics and real pool files; under `--features loom` only the loom
// models run.
#![cfg(not(feature = "loom"))]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

static ONE_RUNTIME: Mutex<()> = Mutex::new(());

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-pool-path-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Installs a small flight recorder with its pool at `path`, records one event and shuts it
/// down; the install error's text if it fails.
fn run_with_pool(path: &Path) -> Result<(), String> {
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .max_record_size(1024)
        .ring_count(8)
        .max_rings_per_thread(2)
        .flight_recorder(true)
        .pool_file(path)
        .install()
        .map_err(|e| e.to_string())?;
    ringtrace::info!("into the pool");
    let report = guard.shutdown(Duration::from_secs(5));
    assert!(!report.timed_out);
    Ok(())
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_owned();
    o.push(s);
    PathBuf::from(o)
}

/// `err` names `path` and `kind`, and says nothing was replaced.
fn assert_refused(err: &str, path: &Path, kind: &str) {
    assert!(err.contains(&path.display().to_string()), "names the path: {err}");
    assert!(err.contains(kind), "names what is there ({kind}): {err}");
    assert!(err.contains("leaves"), "{err}");
}

#[test]
fn a_directory_is_refused_and_its_files_kept() {
    let dir = tempdir("dir");
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("app.log"), "keep\n").unwrap();
    let err = run_with_pool(&logs).unwrap_err();
    assert_refused(&err, &logs, "is a directory, not a ringtrace pool file");
    assert!(logs.is_dir());
    assert_eq!(std::fs::read_to_string(logs.join("app.log")).unwrap(), "keep\n");
    assert!(!with_suffix(&logs, ".prev").exists(), "nothing was moved");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_is_refused() {
    let dir = tempdir("fifo");
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a plain syscall with a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = run_with_pool(&fifo).unwrap_err();
    assert_refused(&err, &fifo, "is a FIFO");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(!with_suffix(&fifo, ".prev").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_character_device_is_refused() {
    // A node of its own with /dev/null's device number (1, 3), never /dev/null itself: run as
    // root, a regression (or the code this was written against) would rename the path and put
    // a pool file there, and /dev/null is the whole machine's.
    let dir = tempdir("chardev");
    let dev = dir.join("null");
    let c = std::ffi::CString::new(dev.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a plain syscall with a NUL-terminated path that lives across the call.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) } != 0 {
        eprintln!("skipped: cannot create a device node here ({})", std::io::Error::last_os_error());
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let err = run_with_pool(&dev).unwrap_err();
    assert_refused(&err, &dev, "is a character device");
    assert!(std::fs::symlink_metadata(&dev).unwrap().file_type().is_char_device());
    assert!(!with_suffix(&dev, ".prev").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_is_refused_and_never_followed() {
    let dir = tempdir("link");
    let target = dir.join("precious.txt");
    std::fs::write(&target, "user data\n").unwrap();
    let link = dir.join("pool-link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = run_with_pool(&link).unwrap_err();
    assert_refused(&err, &link, "is a symbolic link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "user data\n", "the target is untouched");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // A dangling link: not followed to create its target either.
    let missing = dir.join("would-be-created");
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(&missing, &dangling).unwrap();
    let err = run_with_pool(&dangling).unwrap_err();
    assert_refused(&err, &dangling, "is a symbolic link");
    assert!(!missing.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_users_regular_file_is_refused_and_kept() {
    let dir = tempdir("user-file");
    let file = dir.join("app.log");
    std::fs::write(&file, "keep\n").unwrap();
    let err = run_with_pool(&file).unwrap_err();
    assert_refused(&err, &file, "is a regular file of 5 bytes that is not a ringtrace pool file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    assert!(!with_suffix(&file, ".prev").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_earlier_pool_file_goes_to_prev_and_prev_is_replaced_only_if_it_is_one() {
    let dir = tempdir("prev");
    let pool = dir.join("flight.pool");
    let prev = with_suffix(&pool, ".prev");
    run_with_pool(&pool).unwrap();
    let first = std::fs::read(&pool).unwrap();
    assert_eq!(&first[..8], b"RTFLIGHT");
    run_with_pool(&pool).unwrap();
    assert_eq!(std::fs::read(&prev).unwrap(), first, "the earlier pool file was moved aside");
    let mode = std::fs::metadata(&pool).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A third run replaces the .prev pool file with the second one.
    let second = std::fs::read(&pool).unwrap();
    run_with_pool(&pool).unwrap();
    assert_eq!(std::fs::read(&prev).unwrap(), second);

    // .prev that is not a pool file: nothing moves.
    let current = std::fs::read(&pool).unwrap();
    std::fs::remove_file(&prev).unwrap();
    std::fs::write(&prev, "notes\n").unwrap();
    let err = run_with_pool(&pool).unwrap_err();
    assert_refused(&err, &prev, "is a regular file of 6 bytes that is not a ringtrace pool file");
    assert_eq!(std::fs::read_to_string(&prev).unwrap(), "notes\n");
    assert_eq!(std::fs::read(&pool).unwrap(), current);
    // .prev a symlink (to a user's file): refused, the target untouched.
    let target = dir.join("precious.txt");
    std::fs::write(&target, "user data\n").unwrap();
    std::fs::remove_file(&prev).unwrap();
    std::os::unix::fs::symlink(&target, &prev).unwrap();
    let err = run_with_pool(&pool).unwrap_err();
    assert_refused(&err, &prev, "is a symbolic link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "user data\n");
    assert!(std::fs::symlink_metadata(&prev).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&pool).unwrap(), current);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recovered_traces_replace_a_link_never_its_target_and_refuse_sockets() {
    let dir = tempdir("recover-out");
    let pool = dir.join("p.pool");
    run_with_pool(&pool).unwrap();
    // A link at the output path: the link is replaced by the trace; its target stays as it was.
    let target = dir.join("precious.txt");
    std::fs::write(&target, "user data\n").unwrap();
    let out = dir.join("out.rtrace");
    std::os::unix::fs::symlink(&target, &out).unwrap();
    ringtrace::flight::recover_file(&pool, &out).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "user data\n");
    let m = std::fs::symlink_metadata(&out).unwrap();
    assert!(m.file_type().is_file());
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    // A link planted at OUT.partial is removed, not followed.
    let out2 = dir.join("out2.rtrace");
    std::os::unix::fs::symlink(&target, with_suffix(&out2, ".partial")).unwrap();
    ringtrace::flight::recover_file(&pool, &out2).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "user data\n");
    assert!(std::fs::symlink_metadata(&out2).unwrap().file_type().is_file());
    // A socket is not somewhere to write a trace.
    let sock = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = ringtrace::flight::recover_file(&pool, &sock).unwrap_err();
    assert!(e.to_string().contains("is a socket"), "{e}");
    assert!(std::fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
    let _ = std::fs::remove_dir_all(&dir);
}
