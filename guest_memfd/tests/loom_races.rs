//! The concurrency harnesses of `races/` under loom: every interleaving (and
//! the C11 memory model's weak behaviours) up to LOOM_MAX_PREEMPTIONS.
//!
//! LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" \
//!   cargo test --release -p guest_memfd --test loom_races --target-dir target/loom

#![cfg(loom)]

mod races;

use guest_memfd::{Bug, Design, PinKind};

/// Run `f` under loom (default preemption bound 2) and return how many
/// executions loom explored, so a harness that explores nothing is noticed.
fn model(f: fn()) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    b.check(move || {
        n2.fetch_add(1, Ordering::Relaxed);
        f()
    });
    let n = n.load(Ordering::Relaxed);
    eprintln!("loom explored {n} executions");
    assert!(n > 1, "loom explored a single execution");
    n
}

#[test]
fn gup_fast_pin_vs_convert() {
    model(|| races::gup_fast_vs_convert(PinKind::Pin));
}

#[test]
fn host_fault_vs_convert() {
    model(races::host_fault_vs_convert);
}

#[test]
fn split_merge_vs_gup_fast() {
    model(races::split_merge_vs_gup_fast);
}

#[test]
fn split_freeze_vs_lookup() {
    model(races::split_freeze_vs_lookup);
}

/// Design wait: a concurrent unpin wakes the sleeping converter. Regression
/// for the busy-wait (see shuttle_races.rs `wait_converter_sleeps_under_pct`):
/// the converter used to wake itself with its own folio puts, never slept,
/// and loom stopped with "Model exceeded maximum number of branches ...
/// spin locks".
#[test]
fn wait_wakeup() {
    model(races::wait_wakeup);
}

/// Does loom find an execution in which `f` fails?
fn caught(f: fn()) -> bool {
    std::panic::catch_unwind(|| {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(2);
        }
        b.check(f);
    })
    .is_err()
}

#[test]
fn guest_fault_vs_convert() {
    model(|| races::guest_fault_vs_convert(&[]));
}

/// v13: a vCPU's private fault (get_pfn drops its reference) vs a punch.
#[test]
fn guest_fault_vs_punch() {
    model(|| races::guest_fault_vs_punch(&[]));
}

/// A secondary MMU (ODP) vs to-private: the interval notifier and the
/// driver's read_retry, with no folio reference.
#[test]
fn odp_vs_convert() {
    model(|| races::odp_vs_convert(Design::Inplace, &[]));
}

/// The racy bug switches (shuttle_races.rs covers every switch): loom
/// finds the interleaving that exposes each.
#[test]
fn racy_bug_switches_are_caught() {
    assert!(
        caught(|| races::gup_fast_vs_convert_bugs(PinKind::Pin, &[Bug::GupFastNoRecheck])),
        "gup_fast_no_recheck"
    );
    assert!(
        caught(|| races::gup_fast_vs_convert_bugs(PinKind::Get, &[Bug::CheckBeforeUnmap])),
        "check_before_unmap"
    );
    assert!(
        caught(|| races::guest_fault_vs_convert(&[Bug::GuestCheckBeforeSeq])),
        "guest_check_before_seq"
    );
    assert!(
        caught(|| races::guest_fault_vs_punch(&[Bug::InstallNoRetry])),
        "install_no_retry"
    );
    assert!(
        caught(|| races::gup_fast_vs_convert_bugs(PinKind::Pin, &[Bug::GupFastRecheckBeforeAdd])),
        "gup_fast_recheck_before_add"
    );
    assert!(
        caught(|| races::odp_vs_convert(Design::Inplace, &[Bug::OdpNoRetry])),
        "odp_no_retry"
    );
}
