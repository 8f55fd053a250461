//! The concurrency harnesses of `races/` under shuttle (randomised and PCT
//! schedules over the real code, every atomic treated as SeqCst).
//!
//! cargo test --release -p guest_memfd --features shuttle --test shuttle_races
//!
//! SHUTTLE_ITERATIONS (default 2000) sets the schedules per harness and
//! scheduler.

#![cfg(feature = "shuttle")]

mod races;

use guest_memfd::PinKind;

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn both(f: fn()) {
    shuttle::check_random(f, iterations());
    // PCT with bug depth 3: the races above need at most two preemptions.
    shuttle::check_pct(f, iterations(), 3);
}

#[test]
fn gup_fast_pin_vs_convert() {
    both(|| races::gup_fast_vs_convert(PinKind::Pin));
}

#[test]
fn gup_fast_get_vs_convert() {
    both(|| races::gup_fast_vs_convert(PinKind::Get));
}

#[test]
fn host_fault_vs_convert() {
    both(races::host_fault_vs_convert);
}

#[test]
fn split_merge_vs_gup_fast() {
    both(races::split_merge_vs_gup_fast);
}

#[test]
fn split_freeze_vs_lookup() {
    both(races::split_freeze_vs_lookup);
}

#[test]
fn wait_wakeup() {
    shuttle::check_random(races::wait_wakeup, iterations());
}

/// Regression for the busy-wait found here: design `wait`'s converter used
/// to wake itself with its own lookup-and-put (`first_busy` -> `folio_put`
/// -> `wake_put_waiters` bumped the generation it had just sampled), so it
/// never slept and spun under the invalidate lock; PCT (an unfair
/// scheduler) then starved the unpinning thread ("exceeded max_steps").
/// Its own put no longer wakes the queue, so it sleeps until the unpin.
#[test]
fn wait_converter_sleeps_under_pct() {
    shuttle::check_pct(races::wait_wakeup, iterations(), 3);
}
