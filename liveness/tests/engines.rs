//! The compact engine (`check`) against the reference engine (`reference::check`) on many
//! pseudo-random graphs with weak and strong fairness classes, unfair edges, self-loops,
//! several initial states, boundaries and state caps: the same verdict and the same lasso
//! (or the same `Incomplete`) every time. The gate rows compare them on the real model,
//! but only under weak fairness; this covers the strong-fairness refinement too.

mod common;

use common::GraphModel;
use liveness::{check, reference, Options};

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }
}

fn random_graph(seed: u64) -> (GraphModel, u8) {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let n = 3 + r.next(10) as u8;
    let classes = [10u16, 20, 30];
    let mut edges = Vec::new();
    for _ in 0..(n as u64 * (1 + r.next(3))) {
        let (a, b) = (r.next(n as u64) as u8, r.next(n as u64) as u8);
        let class = match r.next(4) {
            0 => None,
            k => Some(classes[k as usize - 1]),
        };
        edges.push((a, b, class));
    }
    let inits: Vec<u8> = (0..1 + r.next(2)).map(|_| r.next(n as u64) as u8).collect();
    let mut m = GraphModel::new(&inits, &edges);
    for (k, &c) in classes.iter().enumerate() {
        m = if r.next(2) == 0 {
            m.weak(c, &format!("c{k}"))
        } else {
            m.strong(c, &format!("c{k}"))
        };
    }
    if r.next(4) == 0 {
        m.boundary = Some(1 + r.next(n as u64) as u8);
    }
    (m, n)
}

#[test]
fn compact_and_reference_engines_agree_on_random_fair_graphs() {
    let mut violated = 0;
    for seed in 0..3000u64 {
        let (m, n) = random_graph(seed);
        let cut = (seed % 7) as u8;
        let pending = move |s: &u8| !s.wrapping_mul(7).wrapping_add(cut).is_multiple_of(3);
        let opts = Options {
            max_states: (seed % 5 == 0).then_some(1 + (seed as usize % n as usize)),
            ..Default::default()
        };
        let new = check(&m, pending, &opts);
        let old = reference::check(&m, pending, &opts);
        assert_eq!(new.verdict, old.verdict, "seed {seed}");
        assert_eq!(
            (
                new.states,
                new.edges,
                new.pending_states,
                new.truncated_states
            ),
            (
                old.states,
                old.edges,
                old.pending_states,
                old.truncated_states
            ),
            "seed {seed}"
        );
        if new.lasso().is_some() {
            violated += 1;
        }
    }
    // Both outcomes are well represented.
    assert!(
        (300..2700).contains(&violated),
        "{violated} of 3000 violated"
    );
}

/// One enumeration for many predicates (`check_all`) gives each predicate the report
/// `check` gives it alone: the same verdict, lasso, counts and SCCs examined. 1 to 20
/// predicates, so the chunking beyond 15 per enumeration is exercised too.
#[test]
fn check_all_gives_each_predicate_its_own_report() {
    for seed in 0..600u64 {
        let (m, n) = random_graph(seed);
        let count = 1 + (seed % 20) as u8;
        let preds: Vec<_> = (0..count)
            .map(|k| move |s: &u8| !(s ^ k).wrapping_mul(5).wrapping_add(k).is_multiple_of(3))
            .collect();
        let refs: Vec<liveness::Predicate<u8>> =
            preds.iter().map(|p| p as liveness::Predicate<u8>).collect();
        let opts = Options {
            max_states: (seed % 5 == 0).then_some(1 + (seed as usize % n as usize)),
            ..Default::default()
        };
        let all = liveness::check_all(&m, &refs, &opts);
        assert_eq!(all.len(), refs.len(), "seed {seed}");
        for (k, (r, p)) in all.iter().zip(&refs).enumerate() {
            let one = check(&m, p, &opts);
            assert_eq!(r.verdict, one.verdict, "seed {seed}, predicate {k}");
            assert_eq!(
                (
                    r.states,
                    r.edges,
                    r.pending_states,
                    r.truncated_states,
                    r.sccs_examined
                ),
                (
                    one.states,
                    one.edges,
                    one.pending_states,
                    one.truncated_states,
                    one.sccs_examined
                ),
                "seed {seed}, predicate {k}"
            );
        }
    }
}
