//! Runs every loom model (`src/lib.rs`) on the correct code.

#![cfg(feature = "loom")]

#[test]
fn ring_publish_consume_with_wraparound() {
    ringtrace_loom_tests::ring_publish_consume_with_wraparound();
}

#[test]
fn free_list_never_hands_a_ring_to_two_owners() {
    ringtrace_loom_tests::free_list_never_hands_a_ring_to_two_owners();
}

#[test]
fn chain_take_is_decided_by_one_cas() {
    ringtrace_loom_tests::chain_take_is_decided_by_one_cas();
}

#[test]
fn deep_sleep_handshake_loses_no_wakeup() {
    ringtrace_loom_tests::deep_sleep_handshake_loses_no_wakeup();
}

#[test]
fn nap_handshake_wakes_on_swap() {
    ringtrace_loom_tests::nap_handshake_wakes_on_swap();
}

#[test]
fn active_read_vs_drop_oldest_reclaim() {
    ringtrace_loom_tests::active_read_vs_drop_oldest_reclaim();
}

#[test]
fn state_transition_race_has_one_winner() {
    ringtrace_loom_tests::state_transition_race_has_one_winner();
}

#[test]
fn registry_claim_and_recycle_vs_traversal() {
    ringtrace_loom_tests::registry_claim_and_recycle_vs_traversal();
}

#[test]
fn snapshot_peek_vs_swap_and_drop_oldest_reclaim() {
    ringtrace_loom_tests::snapshot_peek_vs_swap_and_drop_oldest_reclaim();
}

#[test]
fn successive_passes_vs_drop_oldest_reclaim() {
    ringtrace_loom_tests::successive_passes_vs_drop_oldest_reclaim();
}

#[test]
fn successive_active_reads_vs_take_oldest_and_wait_unread() {
    ringtrace_loom_tests::successive_active_reads_vs_take_oldest_and_wait_unread();
}

#[test]
fn drain_unwinding_mid_read_does_not_hold_a_producer() {
    ringtrace_loom_tests::drain_unwinding_mid_read_does_not_hold_a_producer();
}

#[test]
fn free_list_three_rings_three_threads() {
    ringtrace_loom_tests::free_list_three_rings_three_threads();
}

#[test]
fn a_state_decision_on_a_stale_word_is_not_applied() {
    ringtrace_loom_tests::a_state_decision_on_a_stale_word_is_not_applied();
}

#[test]
fn shutdown_vs_a_record_and_a_sleeping_drain() {
    ringtrace_loom_tests::shutdown_vs_a_record_and_a_sleeping_drain();
}

#[test]
fn flush_request_reaches_a_sleeping_drain() {
    ringtrace_loom_tests::flush_request_reaches_a_sleeping_drain();
}

#[test]
fn thread_exit_vs_slot_recycling_and_a_new_thread() {
    ringtrace_loom_tests::thread_exit_vs_slot_recycling_and_a_new_thread();
}

#[test]
fn blocked_producer_is_woken_when_the_drain_frees_space() {
    ringtrace_loom_tests::blocked_producer_is_woken_when_the_drain_frees_space();
}

#[test]
fn blocked_producer_is_woken_by_a_ring_freed_without_records() {
    ringtrace_loom_tests::blocked_producer_is_woken_by_a_ring_freed_without_records();
}
