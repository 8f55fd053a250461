/*
 * Peer encoding of the gmem-verify Stateright model (model/src; the v13
 * in-place conversion series of virt/kvm/guest_memfd.c) in Promela,
 * the same restriction as gmem.tla (see README.md): designs inplace /
 * huge_whole, host processes writing pages, GUP-fast/slow FOLL_PIN users,
 * one to-private conversion; no guest, punch, LRU, populate, speculative walker,
 * -ENOMEM preallocation failure, copy-out or memory failure; one VM.
 *
 * ONE proctype; every Rust action (Action::Start(actor) / Action::Step(actor)
 * for which GmemModel::apply returns Some) is one d_step branch of the main
 * loop: its guard is "the action is enabled" and its body the Rust step, so
 * one Stateright transition = one SPIN transition and no intermediate state
 * is stored. Scratch variables are `hidden` (not in the state vector).
 *
 * Parameters (gcc -D...; defaults = peer_config(Design::Inplace, None)):
 *   N pages, NPROC (<= 2) host processes writing pages (p+j)%N, j < NOPS,
 *   NPIN (<= 3) GUP users pinning page k%N through process k%NPROC,
 *   HUGE (0 inplace, 1 huge_whole), BUG (0 none, 1 gup_fast_no_recheck,
 *   2 check_before_unmap), CONV_START/CONV_PAGES.
 * Build: spin -a gmem.pml && gcc -O2 -DSAFETY -DNOREDUCE [-DN=3 ...] -o pan pan.c
 *        ./pan -c0 -m1000000     (-c0: count every assertion violation, keep going)
 */

#ifndef N
#define N 2
#endif
#ifndef NPROC
#define NPROC 1
#endif
#ifndef NOPS
#define NOPS 1
#endif
#ifndef NPIN
#define NPIN 1
#endif
#ifndef HUGE
#define HUGE 0
#endif
#ifndef BUG
#define BUG 0
#endif
#ifndef CONV_START
#define CONV_START 0
#endif
#ifndef CONV_PAGES
#define CONV_PAGES N
#endif

#define LO CONV_START
#define HI (CONV_START + CONV_PAGES)
#define NONE 255
#define BIAS 1024
#define BUG_NORECHECK (BUG == 1)
#define BUG_CBU (BUG == 2)
#define BASELINE (HUGE -> N : 1)
#define PININC (HUGE -> 1 : BIAS)

/* ConvPc */
#define C_IDLE 0
#define C_LOCK 1
#define C_UNMAP 2
#define C_CHECK 3
#define C_INVBEGIN 4
#define C_FLIP 5
#define C_INVEND 6
#define C_DONE 7
/* Converter.result */
#define R_NONE 254
#define R_OK 253       /* else Eagain{error_index: cres} */
/* ProcPc */
#define P_IDLE 0
#define P_LOCKINV 1
#define P_LOOKUP 2
#define P_INSTALL 3
/* PinPc */
#define K_IDLE 0
#define K_FASTREADPTE 1
#define K_FASTTRYADD 2
#define K_FASTRECHECK 3
#define K_SLOWFOLLOW 4
#define K_SLOWLOCKINV 5
#define K_SLOWLOOKUP 6
#define K_SLOWINSTALL 7
#define K_HELD 8
#define K_ACCESSED 9
#define K_FINISHED 10
/* last_access.who */
#define W_NONE 0
#define W_HOST 1
#define W_GUP 2

#if NPROC > 0
#define NPROCA NPROC
#else
#define NPROCA 1
#endif

/* ---- State (bijection with the Rust State under these configurations) ---- */
bool priv[N];          /* Page.private */
byte pfolio[N] = NONE;      /* Page.folio (NONE = None) */
byte ptes[N];          /* Page.ptes bitmask of processes */
bool fused[N];         /* Folio.state PageCache (else Unused); N slots suffice (see gmem.tla) */
byte fidx[N];          /* Folio.index */
short fref[N];         /* Folio.refcount */
byte fpin[N];          /* Folio.pincount (large folios) */
bool inPool = 1;       /* Gigantic.in_pool */
bool writer;           /* invalidate_lock.writer == Some(0) */
byte readers;          /* invalidate_lock.readers bitmask by thread id */
byte cpc;              /* Converter.pc */
byte carg;             /*   its argument (Check(i)) */
byte cres = R_NONE;    /* Converter.result */
byte cbefore;          /* Converter.before */
byte cafter;           /* Converter.after */
bool csucc;            /* Converter.succeeded */
bool seqStale;         /* guests[0].seq_stale (set by InvEnd) */
byte pop[NPROCA];      /* Proc.op */
byte ppc[NPROCA];      /* Proc.pc */
byte pslot[NPROCA];    /*   Install(slot) */
byte kpc[NPIN];        /* Pinner.pc */
byte kslot[NPIN];      /*   its slot argument */
byte lwho;             /* last_access: who, id, folio, index (write is always true) */
byte lid;
byte lfolio;
byte lidx;

/* ---- scratch (not part of the state) ---- */
hidden byte zi, zj, zs, zt, zbits, znxt, zcnt;
hidden short zexpc;
hidden byte zbusy, zok1, zok2, zok3, zok4;

/* converter.rs private_bits() -> bits */
inline privbits() {
  zbits = 0;
  for (zi : LO .. HI - 1) { if :: priv[zi] -> zbits = zbits | (1 << (zi - LO)) :: else fi }
}
/* converter.rs next_check(from) -> nxt (NONE if none) */
inline nextcheck(from) {
  znxt = NONE;
  for (zi : LO .. HI - 1) {
    if
    :: znxt == NONE && zi >= from && pfolio[zi] != NONE ->
       zbusy = 0;
       for (zj : LO .. HI - 1) { if :: zj < zi && pfolio[zj] == pfolio[zi] -> zbusy = 1 :: else fi }
       if :: !zbusy -> znxt = zi :: else fi
    :: else
    fi
  }
  zbusy = 0
}
/* popcount of PTEs mapping slot x on all pages -> cnt */
inline ptesum(x) {
  zcnt = 0;
  for (zi : 0 .. N - 1) {
    if
    :: pfolio[zi] == x ->
       for (zj : 0 .. NPROCA - 1) { if :: ptes[zi] & (1 << zj) -> zcnt++ :: else fi }
    :: else
    fi
  }
}
/* converter.rs finish(r) */
inline finish(r) {
  writer = 0; privbits(); cafter = zbits; cres = r;
  if :: r == R_OK -> csucc = 1 :: else fi;
  cpc = C_DONE; carg = 0
}
/* converter.rs begin_attempt() */
inline begin_attempt() {
  privbits(); cbefore = zbits; cafter = 0; cres = R_NONE; cpc = C_LOCK; carg = 0
}
/* mm::alloc() as the fault path's Lookup calls it (page x shared) -> s */
inline lookup_slot(x) {
  if
  :: priv[x] -> zs = NONE
  :: !priv[x] && pfolio[x] != NONE -> zs = pfolio[x]
  :: !priv[x] && pfolio[x] == NONE && HUGE -> if :: inPool -> zs = 0 :: else -> zs = NONE fi
  :: !priv[x] && pfolio[x] == NONE && !HUGE ->
     zs = NONE;
     for (zj : 0 .. N - 1) { if :: zs == NONE && !fused[zj] -> zs = zj :: else fi }  /* lowest Unused */
  fi
}
/* host.rs fault_step(FaultPc::Lookup), memory part, thread tid, page x -> s */
inline lookup_mem(tid, x) {
  lookup_slot(x);
  readers = readers & ~(1 << tid);
  if
  :: zs == NONE -> skip
  :: zs != NONE && pfolio[x] != NONE -> fref[zs] = fref[zs] + 1
  :: zs != NONE && pfolio[x] == NONE && HUGE ->
     inPool = 0; fused[0] = 1; fidx[0] = 0; fref[0] = N + 1;
     for (zj : 0 .. N - 1) { pfolio[zj] = 0 }
  :: zs != NONE && pfolio[x] == NONE && !HUGE ->
     fused[zs] = 1; fidx[zs] = x; fref[zs] = 2; pfolio[x] = zs
  fi
}
/* host.rs fault_step(FaultPc::Install(sl)) for process pr on page x; busy = retry */
inline install_mem(x, pr, sl) {
  zbusy = (pfolio[x] != sl);
  if
  :: zbusy || (ptes[x] & (1 << pr)) -> fref[sl] = fref[sl] - 1
  :: else -> ptes[x] = ptes[x] | (1 << pr)
  fi
}
/* mm::unmap_mapping_pages(lo, hi) */
inline unmap(lo, hi) {
  for (zi : lo .. hi - 1) {
    if
    :: ptes[zi] != 0 ->
       zcnt = 0;
       for (zj : 0 .. NPROCA - 1) { if :: ptes[zi] & (1 << zj) -> zcnt++ :: else fi }
       ptes[zi] = 0;
       fref[pfolio[zi]] = fref[pfolio[zi]] - zcnt
    :: else
    fi
  }
}
inline no_access() { lwho = W_NONE; lid = 0; lfolio = 0; lidx = 0 }

/* ---- properties (invariants/src/props.rs over model/src/view.rs) ---- */
inline pinned_through(x) {   /* -> busy */
  zbusy = 0;
  for (zj : 0 .. NPIN - 1) {
    if
    :: zj % N == x && (kpc[zj] == K_HELD || kpc[zj] == K_ACCESSED) && pfolio[x] == kslot[zj] -> zbusy = 1
    :: else
    fi
  }
}

#ifdef DUMP
/* Debug: print every state reached (pan -DPRINTF), for diffing with `peers-ours dump`. */
inline dump() {
  printf("S priv=");  for (zi : 0 .. N - 1) { printf("%d", priv[zi]) };
  printf(" pf=");  for (zi : 0 .. N - 1) { printf("%d,", pfolio[zi]) };
  printf(" ptes=");  for (zi : 0 .. N - 1) { printf("%d,", ptes[zi]) };
  printf(" fo=");  for (zi : 0 .. N - 1) { printf("%d:%d:%d:%d,", fused[zi], fidx[zi], fref[zi], fpin[zi]) };
  printf(" pool=%d w=%d r=%d", inPool, writer, readers);
  printf(" conv=%d:%d:%d:", cpc, carg, cres);
  printf("%d:%d:%d:%d", cbefore, cafter, csucc, seqStale);
  printf(" procs=");  for (zi : 0 .. NPROC - 1) { printf("%d:%d:%d,", pop[zi], ppc[zi], pslot[zi]) };
  printf(" pins=");  for (zi : 0 .. NPIN - 1) { printf("%d:%d,", kpc[zi], kslot[zi]) };
  printf(" last=%d:%d:%d:%d\n", lwho, lid, lfolio, lidx)
}
#else
inline dump() { skip }
#endif

inline check_props() {
  zok1 = 1; zok2 = 1; zok3 = 1; zok4 = 1;
  for (zt : 0 .. N - 1) {
    if :: priv[zt] && ptes[zt] != 0 -> zok1 = 0 :: else fi;          /* no_private_host_mapping */
    pinned_through(zt);
    if :: priv[zt] && zbusy -> zok2 = 0 :: else fi                    /* no_private_pin */
  }
  if                                                             /* host_access_only_shared */
  :: lwho != W_NONE ->
     if :: !fused[lfolio] -> zok3 = 0; zok4 = 0 :: else fi;
     if :: pfolio[lidx] == lfolio && priv[lidx] -> zok3 = 0 :: else fi
  :: else
  fi;
  for (zt : 0 .. N - 1) {                                         /* refcount_conserved */
    if
    :: fused[zt] ->
       ptesum(zt); zexpc = BASELINE + zcnt; zcnt = 0;
       for (zj : 0 .. NPIN - 1) {
         if
         :: kslot[zj] == zt && (kpc[zj] == K_FASTRECHECK || kpc[zj] == K_HELD || kpc[zj] == K_ACCESSED) -> zcnt++
         :: else
         fi
       }
       zexpc = zexpc + zcnt * PININC;
       if :: HUGE && fpin[zt] != zcnt -> zok4 = 0 :: else fi;
       for (zj : 0 .. NPIN - 1) { if :: kpc[zj] == K_SLOWINSTALL && kslot[zj] == zt -> zexpc++ :: else fi }
       for (zj : 0 .. NPROC - 1) { if :: ppc[zj] == P_INSTALL && pslot[zj] == zt -> zexpc++ :: else fi }
       if :: fref[zt] != zexpc -> zok4 = 0 :: else fi
    :: else
    fi
  }
  assert(zok1); assert(zok2); assert(zok3); assert(zok4);
  dump();
  zok1 = 0; zok2 = 0; zok3 = 0; zok4 = 0; zbusy = 0; zexpc = 0; zcnt = 0
}

/* ---- host process P: actors/host.rs (Actor::Proc(P), tid 1+P) ---- */
#define PI(P) ((P + pop[P]) % N)
inline host_access(P, sl, x) { lwho = W_HOST; lid = P; lfolio = sl; lidx = x }

/* ---- GUP user K: actors/gup.rs (Actor::Pinner(K), tid 3+K) ---- */
#define KI(K) (K % N)
#define KPROC(K) (K % NPROCA)
#define PTE_MAPS(K, sl) ((ptes[KI(K)] & (1 << KPROC(K))) && pfolio[KI(K)] == sl)

/* The folio lock (mm.rs folio_locked(), derived, not stored): a fault path
 * holds it from its Lookup to finish_fault(), i.e. while it sits at
 * Install(sl). virt/kvm/guest_memfd.c: kvm_gmem_fault_user_mapping() gets the
 * folio locked from kvm_gmem_get_folio() (filemap_lock_folio()) and returns
 * VM_FAULT_LOCKED; mm/memory.c: finish_fault() installs the PTE, then
 * do_read_fault() / do_shared_fault() unlock it, as for any file fault
 * (mm/filemap.c: filemap_fault()); GUP's slow path faults through the same
 * handler (mm/gup.c: faultin_page()). */
#if NPROC > 1
#define PROCS_LOCK(sl) ((ppc[0] == P_INSTALL && pslot[0] == sl) || (ppc[1] == P_INSTALL && pslot[1] == sl))
#elif NPROC > 0
#define PROCS_LOCK(sl) (ppc[0] == P_INSTALL && pslot[0] == sl)
#else
#define PROCS_LOCK(sl) 0
#endif
#if NPIN > 2
#define PINS_LOCK(sl) ((kpc[0] == K_SLOWINSTALL && kslot[0] == sl) || (kpc[1] == K_SLOWINSTALL && kslot[1] == sl) || (kpc[2] == K_SLOWINSTALL && kslot[2] == sl))
#elif NPIN > 1
#define PINS_LOCK(sl) ((kpc[0] == K_SLOWINSTALL && kslot[0] == sl) || (kpc[1] == K_SLOWINSTALL && kslot[1] == sl))
#else
#define PINS_LOCK(sl) (kpc[0] == K_SLOWINSTALL && kslot[0] == sl)
#endif
/* host.rs fault_step(FaultPc::Lookup) on page x is blocked (apply() returns
 * None) while x's folio is locked; the sleeper keeps the invalidate lock shared. */
#define LOOKUP_BLOCKED(x) (pfolio[x] != NONE && (PROCS_LOCK(pfolio[x]) || PINS_LOCK(pfolio[x])))

/* Guards: the Rust action is enabled and apply() returns Some. */
#define PROC_STEP_OK(P) (ppc[P] != P_IDLE && !(ppc[P] == P_LOCKINV && writer) \
                         && !(ppc[P] == P_LOOKUP && LOOKUP_BLOCKED(PI(P))))
#define PIN_STEP_OK(K) (kpc[K] != K_IDLE && kpc[K] != K_FINISHED && !(kpc[K] == K_SLOWLOCKINV && writer) \
                        && !(kpc[K] == K_SLOWLOOKUP && LOOKUP_BLOCKED(KI(K))))

/* Action::Start(Proc(P)): host.rs start(HostOp::Write) */
inline proc_start(P) {
  zi = PI(P);
  if
  :: (ptes[zi] & (1 << P)) && pfolio[zi] != NONE ->
     host_access(P, pfolio[zi], zi); pop[P]++            /* mapped: the write hits */
  :: else -> ppc[P] = P_LOCKINV; no_access()           /* enter FaultPc::LockInv */
  fi
}
/* Action::Step(Proc(P)): host.rs step -> fault_step(ProcPc::Fault(..)) */
inline proc_step(P) {
  no_access();
  zt = PI(P);
  if
  :: ppc[P] == P_LOCKINV ->                            /* FaultPc::LockInv */
     readers = readers | (1 << (1 + P)); ppc[P] = P_LOOKUP
  :: ppc[P] == P_LOOKUP ->                             /* FaultPc::Lookup (folio unlocked: guard) */
     lookup_mem(1 + P, zt);
     if
     :: zs == NONE -> ppc[P] = P_IDLE; pop[P]++         /* SIGBUS: done */
     :: else -> ppc[P] = P_INSTALL; pslot[P] = zs
     fi
  :: ppc[P] == P_INSTALL ->                            /* FaultPc::Install(s) */
     zs = pslot[P];
     install_mem(zt, P, zs);
     if
     :: zbusy -> ppc[P] = P_LOCKINV; pslot[P] = 0
     :: else -> ppc[P] = P_IDLE; pslot[P] = 0; pop[P]++; host_access(P, zs, zt)
     fi
  fi
}

/* Action::Start(Pinner(K)): gup.rs start() (FOLL_PIN, fast path) */
inline pin_start(K) {
  no_access();
#ifdef PIN_SLOW
  kpc[K] = K_SLOWFOLLOW
#else
  kpc[K] = K_FASTREADPTE
#endif
}
/* Action::Step(Pinner(K)): gup.rs step() */
inline pin_step(K) {
  no_access();
  zt = KI(K);
  if
  :: kpc[K] == K_FASTREADPTE ->                        /* PinPc::FastReadPte */
     if
     :: pfolio[zt] != NONE && (ptes[zt] & (1 << KPROC(K))) -> kpc[K] = K_FASTTRYADD; kslot[K] = pfolio[zt]
     :: else -> kpc[K] = K_SLOWFOLLOW
     fi
  :: kpc[K] == K_FASTTRYADD ->                         /* PinPc::FastTryAdd(s) */
     zs = kslot[K];
     if
     :: fref[zs] <= 0 -> kpc[K] = K_SLOWFOLLOW; kslot[K] = 0
     :: else -> fref[zs] = fref[zs] + PININC;
        if :: HUGE -> fpin[zs]++ :: else fi;
        kpc[K] = K_FASTRECHECK
     fi
  :: kpc[K] == K_FASTRECHECK ->                        /* PinPc::FastRecheck(s) */
     zs = kslot[K];
     if
     :: BUG_NORECHECK || PTE_MAPS(K, zs) -> kpc[K] = K_HELD
     :: else -> fref[zs] = fref[zs] - PININC;
        if :: HUGE -> fpin[zs]-- :: else fi;
        kpc[K] = K_SLOWFOLLOW; kslot[K] = 0
     fi
  :: kpc[K] == K_SLOWFOLLOW ->                         /* PinPc::SlowFollow */
     zs = pfolio[zt];
     if
     :: zs != NONE && PTE_MAPS(K, zs) ->
        fref[zs] = fref[zs] + PININC;
        if :: HUGE -> fpin[zs]++ :: else fi;
        kpc[K] = K_HELD; kslot[K] = zs
     :: else -> kpc[K] = K_SLOWLOCKINV
     fi
  :: kpc[K] == K_SLOWLOCKINV ->                        /* PinPc::SlowFault(LockInv) */
     readers = readers | (1 << (3 + K)); kpc[K] = K_SLOWLOOKUP
  :: kpc[K] == K_SLOWLOOKUP ->                         /* PinPc::SlowFault(Lookup) (folio unlocked: guard) */
     lookup_mem(3 + K, zt);
     if
     :: zs == NONE -> kpc[K] = K_FINISHED               /* EFAULT */
     :: else -> kpc[K] = K_SLOWINSTALL; kslot[K] = zs
     fi
  :: kpc[K] == K_SLOWINSTALL ->                        /* PinPc::SlowFault(Install(s)) */
     zs = kslot[K];
     install_mem(zt, KPROC(K), zs);
     if
     :: zbusy -> kpc[K] = K_SLOWLOCKINV
     :: else -> kpc[K] = K_SLOWFOLLOW
     fi;
     kslot[K] = 0
  :: kpc[K] == K_HELD ->                               /* PinPc::Held(s): device write */
     kpc[K] = K_ACCESSED; lwho = W_GUP; lid = K; lfolio = kslot[K]; lidx = zt
  :: kpc[K] == K_ACCESSED ->                           /* PinPc::Accessed(s): unpin */
     zs = kslot[K];
     fref[zs] = fref[zs] - PININC;
     if :: HUGE -> fpin[zs]-- :: else fi;
     kpc[K] = K_FINISHED; kslot[K] = 0
  fi
}

/* ---- converter: actors/converter.rs (Actor::Converter, tid 0) ---- */
#define CONV_STEP_OK (cpc != C_IDLE && cpc != C_DONE && !(cpc == C_LOCK && (writer || readers != 0)))

inline conv_step() {
  no_access();
  if
  :: cpc == C_LOCK ->                                  /* ConvPc::Lock (no Prealloc step: enomem off) */
     zbusy = 1;
     for (zi : LO .. HI - 1) { if :: !priv[zi] -> zbusy = 0 :: else fi }
     if
     :: zbusy -> finish(R_OK)                           /* already private: early exit */
     :: else -> writer = 1;
        if
        :: BUG_CBU -> nextcheck(0);
           if :: znxt != NONE -> cpc = C_CHECK; carg = znxt :: else -> cpc = C_UNMAP fi
        :: else -> cpc = C_UNMAP
        fi
     fi
  :: cpc == C_UNMAP ->                                 /* ConvPc::Unmap */
     if :: HUGE -> unmap(0, N) :: else -> unmap(LO, HI) fi;
     nextcheck(0);
     if
     :: BUG_CBU || znxt == NONE -> cpc = C_INVBEGIN
     :: else -> cpc = C_CHECK; carg = znxt
     fi
  /* ConvPc::Check(i). v13's kvm_gmem_has_outstanding_references() fails a
   * pinned or mapped folio at once and drains the LRU only for the others;
   * without LRU a busy folio fails at once either way, and a pin or PTE here
   * always lifts the refcount above the expected one (see gmem.tla ConvCheck). */
  :: cpc == C_CHECK ->
     zt = carg; zs = pfolio[zt];
     zbusy = 0;
     if
     :: zs != NONE ->
        zexpc = BASELINE;
        if :: BUG_CBU -> ptesum(zs); zexpc = zexpc + zcnt :: else fi;
        zbusy = (fref[zs] != zexpc)
     :: else
     fi;
     if
     :: !zbusy -> nextcheck(zt + 1);
        if
        :: znxt != NONE -> cpc = C_CHECK; carg = znxt
        :: else -> carg = 0; if :: BUG_CBU -> cpc = C_UNMAP :: else -> cpc = C_INVBEGIN fi
        fi
     :: else -> if :: fidx[zs] > LO -> finish(fidx[zs]) :: else -> finish(LO) fi   /* -EAGAIN */
     fi
  :: cpc == C_INVBEGIN -> cpc = C_FLIP                 /* ConvPc::InvBegin (no stage-2, no make_shared) */
  :: cpc == C_FLIP ->                                  /* ConvPc::Flip */
     for (zi : LO .. HI - 1) { priv[zi] = 1 };
     cpc = C_INVEND
  :: cpc == C_INVEND -> seqStale = 1; finish(R_OK)     /* ConvPc::InvEnd */
  fi
}

active proctype gmem() {
end:
  do
  /* Action::Start(Converter): converter.rs start() -> begin_attempt() */
  :: d_step { cpc == C_IDLE -> no_access(); begin_attempt(); csucc = 0; check_props() }
#ifdef RETRY
  /* Action::Step(Converter) at ConvPc::Done with retry_until_ok and Eagain */
  :: d_step { cpc == C_DONE && cres < R_OK -> no_access(); begin_attempt(); check_props() }
#endif
  /* Action::Step(Converter) at Lock/Unmap/Check(i)/InvBegin/Flip/InvEnd */
  :: d_step { CONV_STEP_OK -> conv_step(); check_props() }
#if NPROC > 0
  :: d_step { ppc[0] == P_IDLE && pop[0] < NOPS -> proc_start(0); check_props() }
  :: d_step { PROC_STEP_OK(0) -> proc_step(0); check_props() }
#endif
#if NPROC > 1
  :: d_step { ppc[1] == P_IDLE && pop[1] < NOPS -> proc_start(1); check_props() }
  :: d_step { PROC_STEP_OK(1) -> proc_step(1); check_props() }
#endif
  :: d_step { kpc[0] == K_IDLE -> pin_start(0); check_props() }
  :: d_step { PIN_STEP_OK(0) -> pin_step(0); check_props() }
#if NPIN > 1
  :: d_step { kpc[1] == K_IDLE -> pin_start(1); check_props() }
  :: d_step { PIN_STEP_OK(1) -> pin_step(1); check_props() }
#endif
#if NPIN > 2
  :: d_step { kpc[2] == K_IDLE -> pin_start(2); check_props() }
  :: d_step { PIN_STEP_OK(2) -> pin_step(2); check_props() }
#endif
  od
}
