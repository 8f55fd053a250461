//! The concurrency harnesses of `races/` under shuttle (randomised and PCT
//! schedules over the real code, every atomic treated as SeqCst).
//!
//! cargo test --release -p guest_memfd --features shuttle --test shuttle_races
//!
//! SHUTTLE_ITERATIONS (default 2000) sets the schedules per harness and
//! scheduler.

#![cfg(feature = "shuttle")]

mod races;

use guest_memfd::{Bug, Design, PinKind};

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
    both(|| races::odp_vs_convert(Design::Inplace, &[]));
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

/// A secondary MMU mirroring a page while it converts to private: ODP on
/// v13, KVM's pfncache on VM_PFNMAP, a device on a no-direct-map file.
#[test]
fn odp_vs_convert() {
    both(|| races::odp_vs_convert(Design::Inplace, &[]));
    both(|| races::odp_vs_convert(Design::Pfnmap, &[]));
    both(|| races::odp_vs_convert(Design::NoDirectMap, &[]));
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

/// The same harnesses with the bug switch off pass (above, and here for the
/// new ones); with it on, some schedule must fail.
#[test]
fn harnesses_pass_without_bugs() {
    both(|| races::guest_fault_vs_convert(&[]));
    both(|| races::convert_range_vs_unpin(&[]));
    both(|| races::populate_vs_host(&[]));
    both(|| races::convert_after_fault_in_lru_batch(&[]));
    both(|| races::punch_vs_unpin_split(&[]));
    both(|| races::split_vs_pfn_walker(&[]));
    both(|| races::donate_vs_pin_thp(&[]));
    both(|| races::typed_invalidation_two_vms(&[]));
    both(|| races::hw_ownership_round_trip(&[]));
    both(|| races::guest_fault_vs_punch(&[]));
    both(|| races::copy_out_into_gmem(&[]));
    both(|| races::gup_fast_vs_convert(PinKind::Pin));
    both(|| races::hugetlb_store_vs_guest_fault(&[]));
    both(|| races::hugetlb_fresh_split_vs_guest(&[]));
    both(|| races::odp_vs_convert(Design::Inplace, &[]));
}

/// Does a random or PCT schedule make `f` fail (a panic, an invariant
/// violation or a deadlock)?
fn caught(f: impl Fn() + Send + Sync + Clone + 'static) -> bool {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let g = f.clone();
    catch_unwind(AssertUnwindSafe(|| shuttle::check_pct(g, iterations(), 3))).is_err()
        || catch_unwind(AssertUnwindSafe(|| shuttle::check_random(f, iterations()))).is_err()
}

/// Every bug switch the implementation has is caught by a harness.
#[test]
fn every_bug_switch_is_caught() {
    let cases: Vec<(Bug, Box<dyn Fn() -> bool>)> = vec![
        (
            Bug::GupFastNoRecheck,
            Box::new(|| {
                caught(|| races::gup_fast_vs_convert_bugs(PinKind::Pin, &[Bug::GupFastNoRecheck]))
            }),
        ),
        (
            Bug::CheckBeforeUnmap,
            Box::new(|| {
                caught(|| races::gup_fast_vs_convert_bugs(PinKind::Get, &[Bug::CheckBeforeUnmap]))
            }),
        ),
        (
            Bug::FaultNoRef,
            Box::new(|| caught(|| races::host_fault_vs_convert_bugs(&[Bug::FaultNoRef]))),
        ),
        (
            Bug::GuestCheckBeforeSeq,
            Box::new(|| caught(|| races::guest_fault_vs_convert(&[Bug::GuestCheckBeforeSeq]))),
        ),
        (
            Bug::PartialFlip,
            Box::new(|| caught(|| races::convert_range_vs_unpin(&[Bug::PartialFlip]))),
        ),
        (
            Bug::PopulateLockOrder,
            Box::new(|| caught(|| races::populate_vs_host(&[Bug::PopulateLockOrder]))),
        ),
        (
            Bug::NoLruDrain,
            Box::new(|| caught(|| races::convert_after_fault_in_lru_batch(&[Bug::NoLruDrain]))),
        ),
        (
            Bug::RestructureNoFreeze,
            Box::new(|| caught(|| races::split_vs_pfn_walker(&[Bug::RestructureNoFreeze]))),
        ),
        (
            Bug::PunchMergeNoCheck,
            Box::new(|| caught(|| races::punch_vs_unpin_split(&[Bug::PunchMergeNoCheck]))),
        ),
        (
            Bug::ExclusiveCasBias,
            Box::new(|| caught(|| races::donate_vs_pin_thp(&[Bug::ExclusiveCasBias]))),
        ),
        (
            Bug::ZapWrongFilter,
            Box::new(|| caught(|| races::typed_invalidation_two_vms(&[Bug::ZapWrongFilter]))),
        ),
        (
            Bug::InvalidateOneBinding,
            Box::new(|| caught(|| races::typed_invalidation_two_vms(&[Bug::InvalidateOneBinding]))),
        ),
        (
            Bug::NoMakeShared,
            Box::new(|| caught(|| races::hw_ownership_round_trip(&[Bug::NoMakeShared]))),
        ),
        (
            Bug::NoReclaimOnFree,
            Box::new(|| caught(|| races::hw_ownership_round_trip(&[Bug::NoReclaimOnFree]))),
        ),
        (
            Bug::InstallNoRetry,
            Box::new(|| caught(|| races::guest_fault_vs_punch(&[Bug::InstallNoRetry]))),
        ),
        (
            Bug::GupFastRecheckBeforeAdd,
            Box::new(|| {
                caught(|| {
                    races::gup_fast_vs_convert_bugs(PinKind::Pin, &[Bug::GupFastRecheckBeforeAdd])
                })
            }),
        ),
        (
            Bug::CopyOutUnderLock,
            Box::new(|| caught(|| races::copy_out_into_gmem(&[Bug::CopyOutUnderLock]))),
        ),
        (
            Bug::StoreAfterInvEnd,
            Box::new(|| caught(|| races::hugetlb_store_vs_guest_fault(&[Bug::StoreAfterInvEnd]))),
        ),
        (
            Bug::HugeMapMixed,
            Box::new(|| caught(|| races::hugetlb_fresh_split_vs_guest(&[Bug::HugeMapMixed]))),
        ),
        (
            Bug::OdpNoRetry,
            Box::new(|| caught(|| races::odp_vs_convert(Design::Inplace, &[Bug::OdpNoRetry]))),
        ),
    ];
    let mut missed = Vec::new();
    for (bug, run) in &cases {
        if !run() {
            missed.push(bug.name());
        }
    }
    let covered: Vec<Bug> = cases.iter().map(|(b, _)| *b).collect();
    // Every switch has a harness here: the implementation has the code of
    // every guard the model's switches remove.
    for b in Bug::ALL {
        assert!(covered.contains(&b), "{}: needs a harness", b.name());
    }
    assert!(missed.is_empty(), "bug switches not caught: {missed:?}");
}
