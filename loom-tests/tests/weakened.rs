//! Each model can fail: with one deliberate bug switched on ([`Mutation`]: a weakened
//! ordering or a removed step), the model that covers that protocol must fail — a loom
//! causality violation, a deadlock, a failed assertion, or loom giving up on a spin that
//! never ends. A mutation its model does not catch fails this test.
//!
//! Each check runs the model in a child process (this binary again, running the ignored
//! `child` test): the mutation switch is process-wide, and a loom deadlock aborts the process
//! while it unwinds, which no `catch_unwind` survives.

#![cfg(feature = "loom")]

use ringtrace::loom_api::{set_mutation, Mutation};
use ringtrace_loom_tests as models;
use std::process::Command;

/// Every (mutation, model that must catch it).
const CHECKS: &[(&str, Mutation, fn())] = &[
    ("ring_publish", Mutation::RingPublish, models::ring_publish_consume_with_wraparound),
    ("ring_publish_real", Mutation::RingPublish, models::successive_passes_vs_drop_oldest_reclaim),
    (
        "announce_successive_reads",
        Mutation::AnnounceRelease,
        models::successive_active_reads_vs_take_oldest_and_wait_unread,
    ),
    ("announce_snapshot", Mutation::AnnounceRelease, models::snapshot_peek_vs_swap_and_drop_oldest_reclaim),
    ("withdraw_on_unwind", Mutation::NoWithdrawOnUnwind, models::drain_unwinding_mid_read_does_not_hold_a_producer),
    ("free_list_pop", Mutation::FreeListPopRelaxed, models::free_list_three_rings_three_threads),
    ("stale_state", Mutation::StaleStateRetry, models::a_state_decision_on_a_stale_word_is_not_applied),
    ("close_wait", Mutation::NoCloseWait, models::shutdown_vs_a_record_and_a_sleeping_drain),
    ("exit_release", Mutation::ExitRelaxed, models::thread_exit_vs_slot_recycling_and_a_new_thread),
    ("waiter_announce", Mutation::NoWaiterAnnounce, models::blocked_producer_is_woken_when_the_drain_frees_space),
    ("wake_on_release", Mutation::WakeOnlyOnRecords, models::blocked_producer_is_woken_by_a_ring_freed_without_records),
    ("notify_fence", Mutation::NoNotifyFence, models::nap_handshake_wakes_on_swap),
    ("snapshot_check", Mutation::NoSnapshotCheck, models::flush_request_reaches_a_sleeping_drain),
];

/// Runs the check named `name` in a child process and asserts that its model failed.
fn must_fail(name: &str) {
    let (_, m, _) = CHECKS.iter().find(|c| c.0 == name).expect("a listed check");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RINGTRACE_LOOM_CHECK", name)
        .output()
        .expect("run the child");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the model passed with {m:?} switched on: it cannot catch that bug\n{text}");
    assert!(text.contains("child: running"), "the child did not run the model:\n{text}");
    let why = ["Causality violation", "deadlock", "panicked at", "max_branches", "Model exceeded"]
        .iter()
        .find(|w| text.contains(*w))
        .unwrap_or_else(|| panic!("the child failed for no reason a model gives:\n{text}"));
    eprintln!("{name}: {m:?} caught ({why})");
}

/// The child: runs one check's model with its mutation on (see `must_fail`).
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    let name = std::env::var("RINGTRACE_LOOM_CHECK").expect("RINGTRACE_LOOM_CHECK");
    let (_, m, model) = CHECKS.iter().find(|c| c.0 == name).expect("a listed check");
    set_mutation(Some(*m));
    eprintln!("child: running {name} with {m:?}");
    model();
}

macro_rules! checks {
    ($($test:ident: $name:literal,)*) => {$(
        #[test]
        fn $test() {
            must_fail($name);
        }
    )*};
}

checks! {
    a_relaxed_ring_publish_is_caught: "ring_publish",
    a_relaxed_ring_publish_is_caught_on_the_real_drain_and_producer: "ring_publish_real",
    a_relaxed_reading_announcement_is_caught_by_the_successive_reads_model: "announce_successive_reads",
    a_relaxed_reading_announcement_is_caught_by_the_snapshot_model: "announce_snapshot",
    an_announcement_left_behind_by_an_unwinding_drain_is_caught: "withdraw_on_unwind",
    a_relaxed_free_list_pop_is_caught: "free_list_pop",
    a_decision_on_a_stale_state_word_is_caught: "stale_state",
    a_shutdown_that_does_not_wait_for_producers_is_caught: "close_wait",
    a_relaxed_exit_is_caught: "exit_release",
    a_waiter_that_does_not_announce_itself_is_caught: "waiter_announce",
    waking_waiters_only_when_records_were_read_is_caught: "wake_on_release",
    a_swap_notification_without_its_fence_is_caught: "notify_fence",
    a_drain_that_sleeps_through_a_snapshot_request_is_caught: "snapshot_check",
}

#[test]
fn every_check_has_a_test() {
    let src = include_str!("weakened.rs");
    for (name, _, _) in CHECKS {
        assert!(src.contains(&format!(": \"{name}\",")), "check {name} has no test");
    }
}
