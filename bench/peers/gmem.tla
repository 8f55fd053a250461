------------------------------- MODULE gmem -------------------------------
(***************************************************************************)
(* Peer encoding of the gmem-verify Stateright model (model/src; the v13     *)
(* in-place conversion series, virt/kvm/guest_memfd.c), restricted          *)
(* to the configurations of `model::gate::peer_config` (and the scaled and  *)
(* liveness families of bench/peers/README.md):                            *)
(*   designs inplace / huge_whole, no guest, no punch/close, no LRU, no     *)
(*   populate, no speculative walker; host processes writing pages; GUP     *)
(*   users (FOLL_PIN or FOLL_PIN|FOLL_LONGTERM, fast or slow path); one      *)
(*   to-private conversion (optionally retried until it succeeds); one VM,  *)
(*   no -ENOMEM preallocation failure, no copy-out, no memory failure.      *)
(*                                                                         *)
(* One Rust action (Action::Start(actor) / Action::Step(actor) for which    *)
(* `GmemModel::apply` returns Some) = one disjunct of Next, and the TLA+    *)
(* state is in bijection with the Rust `State` restricted to these          *)
(* configurations (fields that are constant there are omitted; see README). *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    N,             \* pages (Config::pages)
    NPROC,         \* host processes; process p's script: Write page (p+j)%N, j < NOPS
    NOPS,          \* operations per host process
    NPIN,          \* GUP users; user k pins page k%N through process k%NPROC
    HUGE,          \* TRUE: design huge_whole (one large folio), FALSE: inplace
    BUG,           \* "none" | "gup_fast_no_recheck" | "check_before_unmap"
    PINKIND,       \* "pin" (FOLL_PIN) | "longterm" (FOLL_PIN|FOLL_LONGTERM)
    PINPATH,       \* "fast" (GUP-fast, falling back to slow) | "slow"
    HOLD_FOREVER,  \* the GUP users never release (PinnerCfg::hold_forever)
    CONV_START,    \* the to-private conversion's range: CONV_START ..
    CONV_PAGES,    \*   CONV_START + CONV_PAGES - 1
    RETRY          \* Config::retry_until_ok

Pages == 0 .. N-1
\* Folio arena. Rust has MAX_FOLIOS = 17 slots; without punch/close every page
\* allocates at most once, so slots >= N stay Unused (and huge_whole uses only
\* slot 0 = mm::WHOLE): N slots are enough and slot numbers coincide.
Slots == 0 .. N-1
Procs == 0 .. NPROC-1
Pins == 0 .. NPIN-1
LO == CONV_START
HI == CONV_START + CONV_PAGES
Range == LO .. HI-1
NONE == -1
BIAS == 1024                        \* GUP_PIN_COUNTING_BIAS
ProcTid(p) == 1 + p                 \* Actor::tid
PinTid(k) == 3 + k
ProcPage(p, j) == (p + j) % N
PinPage(k) == k % N
PinProc(k) == IF NPROC = 0 THEN 0 ELSE k % NPROC
\* mm::baseline: a large folio (huge_whole) is referenced once per page.
Baseline == IF HUGE THEN N ELSE 1
\* gup.rs grab(): FOLL_PIN adds 1024 to a small folio, 1 (+1 _pincount) to a large one.
PinInc == IF HUGE THEN 1 ELSE BIAS
NoAccess == [who |-> "none", id |-> 0, folio |-> 0, index |-> 0, write |-> FALSE]
Idle == [pc |-> "Idle", s |-> 0]
Pc(name, s) == [pc |-> name, s |-> s]
Min(S) == CHOOSE x \in S : \A y \in S : x <= y

VARIABLES
    priv,      \* Page.private
    pfolio,    \* Page.folio (NONE = None)
    ptes,      \* Page.ptes (set of processes = the bitmask)
    fused,     \* Folio.state: TRUE = PageCache, FALSE = Unused (no other state is reachable)
    fidx,      \* Folio.index
    fref,      \* Folio.refcount
    fpin,      \* Folio.pincount (Folio.large = HUGE /\ fused)
    inPool,    \* Gigantic.in_pool
    writer,    \* invalidate_lock.writer = Some(0) (only the converter writes)
    readers,   \* invalidate_lock.readers (set of thread ids = the bitmask)
    cpc,       \* Converter.pc (name) ...
    carg,      \* ... and its argument (Check(i)); 0 otherwise
    cres,      \* Converter.result: -2 None, -1 Ok, e >= 0 Eagain{error_index: e}
    cbefore,   \* Converter.before
    cafter,    \* Converter.after
    csucc,     \* Converter.succeeded
    seqStale,  \* guests[0].seq_stale (set by the converter's InvEnd)
    pop,       \* Proc.op
    ppc,       \* Proc.pc: Idle | LockInv | Lookup | Install(s)
    kpc,       \* Pinner.pc
    last       \* State.last_access (history: set by the accessing step, cleared by every other)

vars == <<priv, pfolio, ptes, fused, fidx, fref, fpin, inPool, writer, readers,
          cpc, carg, cres, cbefore, cafter, csucc, seqStale, pop, ppc, kpc, last>>
mem == <<pfolio, fused, fidx, fref, fpin, inPool>>
conv == <<cpc, carg, cres, cbefore, cafter, csucc, seqStale>>

Init ==
    /\ priv = [i \in Pages |-> FALSE]          \* init_shared
    /\ pfolio = [i \in Pages |-> NONE]
    /\ ptes = [i \in Pages |-> {}]
    /\ fused = [s \in Slots |-> FALSE]
    /\ fidx = [s \in Slots |-> 0]
    /\ fref = [s \in Slots |-> 0]
    /\ fpin = [s \in Slots |-> 0]
    /\ inPool = TRUE
    /\ writer = FALSE
    /\ readers = {}
    /\ cpc = "Idle" /\ carg = 0 /\ cres = -2 /\ cbefore = 0 /\ cafter = 0
    /\ csucc = FALSE /\ seqStale = FALSE
    /\ pop = [p \in Procs |-> 0]
    /\ ppc = [p \in Procs |-> Idle]
    /\ kpc = [k \in Pins |-> Idle]
    /\ last = NoAccess

----------------------------------------------------------------------------
(* Helpers (model/src/mm.rs, converter.rs)                                   *)

\* Present PTEs on pages lo..hi-1 that map folio s (each holds a reference).
PteSum(s, lo, hi) ==
    LET f[i \in lo .. hi] == IF i = hi THEN 0
                             ELSE (IF pfolio[i] = s THEN Cardinality(ptes[i]) ELSE 0) + f[i+1]
    IN f[lo]

\* converter.rs private_bits(): bit i-lo set iff page i of the range is private.
PrivBits ==
    LET f[i \in LO .. HI] == IF i = HI THEN 0
                             ELSE (IF priv[i] THEN 2^(i - LO) ELSE 0) + f[i+1]
    IN f[LO]

\* converter.rs next_check(): first page >= from of the range with a folio no
\* earlier page of the range shares.
NextCheck(from) ==
    LET c == {i \in Range : i >= from /\ pfolio[i] # NONE
                            /\ \A j \in LO .. (i-1) : pfolio[j] # pfolio[i]}
    IN IF c = {} THEN NONE ELSE Min(c)

\* converter.rs expected(): the refcount the check tolerates.
Expected(s) == Baseline + (IF BUG = "check_before_unmap" THEN PteSum(s, 0, N) ELSE 0)

\* The slot mm::alloc() returns for page i (NONE: nothing allocatable); the
\* fault path's Lookup only calls it on a shared page.
LookupSlot(i) ==
    IF priv[i] THEN NONE
    ELSE IF pfolio[i] # NONE THEN pfolio[i]
    ELSE IF HUGE THEN (IF inPool THEN 0 ELSE NONE)
    ELSE IF \E x \in Slots : ~fused[x] THEN Min({x \in Slots : ~fused[x]})   \* lowest Unused slot
    ELSE NONE

\* host.rs fault_step(FaultPc::Lookup), memory part: alloc if absent, folio_get, unlock.
LookupMem(t, i) ==
    LET s == LookupSlot(i) IN
    /\ readers' = readers \ {t}
    /\ fpin' = fpin
    /\ IF s = NONE THEN UNCHANGED <<pfolio, fused, fidx, fref, inPool>>
       ELSE IF pfolio[i] # NONE
       THEN /\ fref' = [fref EXCEPT ![s] = @ + 1]
            /\ UNCHANGED <<pfolio, fused, fidx, inPool>>
       ELSE IF HUGE
       THEN \* the gigantic page leaves the pool as one large folio at slot WHOLE = 0
            /\ inPool' = FALSE
            /\ fused' = [fused EXCEPT ![0] = TRUE]
            /\ fidx' = [fidx EXCEPT ![0] = 0]
            /\ fref' = [fref EXCEPT ![0] = N + 1]          \* baseline N, +1 fault reference
            /\ pfolio' = [j \in Pages |-> 0]
       ELSE /\ fused' = [fused EXCEPT ![s] = TRUE]
            /\ fidx' = [fidx EXCEPT ![s] = i]
            /\ fref' = [fref EXCEPT ![s] = 2]              \* page cache 1, +1 fault reference
            /\ pfolio' = [pfolio EXCEPT ![i] = s]
            /\ inPool' = inPool

\* The folio lock (mm.rs folio_locked(), derived rather than stored): a fault
\* path holds it from its Lookup to finish_fault(), i.e. exactly while it sits
\* at Install(s). virt/kvm/guest_memfd.c: kvm_gmem_fault_user_mapping() gets
\* the folio from kvm_gmem_get_folio() (filemap_lock_folio()) and returns
\* VM_FAULT_LOCKED; mm/memory.c: finish_fault() installs the PTE and
\* do_read_fault() / do_shared_fault() unlock the folio after it, as for any
\* file fault (mm/filemap.c: filemap_fault()). GUP's slow path faults through
\* the same handler (mm/gup.c: faultin_page() -> handle_mm_fault()).
FolioLocked(s) ==
    \/ \E p \in Procs : ppc[p].pc = "Install" /\ ppc[p].s = s
    \/ \E k \in Pins : kpc[k].pc = "SlowInstall" /\ kpc[k].s = s

\* host.rs fault_step(FaultPc::Lookup) is blocked (apply returns None: no
\* transition) while page i's folio is locked by another fault; the blocked
\* fault sleeps in filemap_lock_folio() still holding the invalidate lock
\* shared. The model tests the lock before the attribute (the kernel reads the
\* attribute first); the order is unobservable here, since a page cannot turn
\* private while a fault holds its transient reference at Install(s).
LookupBlocked(i) == pfolio[i] # NONE /\ FolioLocked(pfolio[i])

\* host.rs fault_step(FaultPc::Install(s)) for process `proc` on page i:
\* "retry" if the folio was truncated meanwhile (unreachable here), else drop
\* the reference if the PTE is already present, else the reference becomes the PTE's.
InstallRetry(i, s) == pfolio[i] # s
InstallMem(i, proc, s) ==
    /\ IF InstallRetry(i, s) \/ proc \in ptes[i]
       THEN fref' = [fref EXCEPT ![s] = @ - 1] /\ ptes' = ptes
       ELSE ptes' = [ptes EXCEPT ![i] = @ \cup {proc}] /\ fref' = fref
    /\ UNCHANGED <<pfolio, fused, fidx, fpin, inPool>>

\* mm::unmap_mapping_pages(lo, hi): zap every PTE, drop its reference. (put()
\* frees only Orphaned folios: none without punch/close.)
Unmap(lo, hi) ==
    /\ ptes' = [i \in Pages |-> IF i >= lo /\ i < hi THEN {} ELSE ptes[i]]
    /\ fref' = [s \in Slots |-> fref[s] - PteSum(s, lo, hi)]

\* converter.rs finish(): release the write lock, snapshot, return.
Finish(r) ==
    /\ writer' = FALSE
    /\ cafter' = PrivBits
    /\ cres' = r
    /\ csucc' = (csucc \/ r = -1)
    /\ cpc' = "Done" /\ carg' = 0

\* converter.rs begin_attempt().
BeginAttempt ==
    /\ cbefore' = PrivBits /\ cafter' = 0 /\ cres' = -2
    /\ cpc' = "Lock" /\ carg' = 0

PteMaps(k, s) == PinProc(k) \in ptes[PinPage(k)] /\ pfolio[PinPage(k)] = s

----------------------------------------------------------------------------
(* Converter: actors/converter.rs (Actor::Converter, tid 0)                  *)

\* Action::Start(Converter): converter.rs can_start (pc Idle) + start -> begin_attempt.
ConvStart ==
    /\ cpc = "Idle"
    /\ BeginAttempt /\ csucc' = FALSE
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, seqStale, pop, ppc, kpc>>

\* Action::Step(Converter), pc Done with retry_until_ok and result Eagain:
\* converter.rs step(ConvPc::Done) -> begin_attempt (the VMM retries).
ConvRetry ==
    /\ cpc = "Done" /\ RETRY /\ cres >= 0
    /\ BeginAttempt
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, csucc, seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::Lock): filemap_invalidate_lock() (blocked while
\* any reader or writer holds it); early exit if already private. The maple-tree
\* preallocation (ConvPc::Prealloc) is a step only when Config::enomem, which
\* model::gate::base() clears: here Lock goes straight on to Unmap / Check.
ConvLock ==
    /\ cpc = "Lock" /\ ~writer /\ readers = {}
    /\ IF \A i \in Range : priv[i]
       THEN Finish(-1) /\ UNCHANGED cbefore
       ELSE /\ writer' = TRUE
            /\ IF BUG = "check_before_unmap"
               THEN IF NextCheck(0) # NONE
                    THEN cpc' = "Check" /\ carg' = NextCheck(0)
                    ELSE cpc' = "Unmap" /\ carg' = 0
               ELSE cpc' = "Unmap" /\ carg' = 0
            /\ UNCHANGED <<cres, cbefore, cafter, csucc>>
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, readers, seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::Unmap): unmap_mapping_pages() (huge_whole: the
\* whole large folio), then after_unmap().
ConvUnmap ==
    /\ cpc = "Unmap"
    /\ IF HUGE THEN Unmap(0, N) ELSE Unmap(LO, HI)
    /\ IF BUG = "check_before_unmap" \/ NextCheck(0) = NONE
       THEN cpc' = "InvBegin" /\ carg' = 0
       ELSE cpc' = "Check" /\ carg' = NextCheck(0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, pfolio, fused, fidx, fpin, inPool, writer, readers,
                   cres, cbefore, cafter, csucc, seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::Check(i)): folio refcount at expected(), else -EAGAIN
\* with error_index = max(folio->index, start). v13's
\* kvm_gmem_has_outstanding_references() (virt/kvm/guest_memfd.c) fails a
\* folio_maybe_dma_pinned() || folio_mapped() folio at once and drains the LRU
\* batches (mm/swap.c: lru_cache_drain_for_folio()) only for the others. In the
\* model that test only decides whether a busy folio is drained first; with
\* no LRU (peer_config) a busy folio fails at once either way, and here a pin
\* or a PTE always raises the refcount above expected(), so "busy" is exactly
\* the refcount test.
ConvCheck ==
    /\ cpc = "Check"
    /\ LET i == carg
           s == pfolio[i]
           busy == s # NONE /\ fref[s] # Expected(s)
       IN IF ~busy
          THEN /\ IF NextCheck(i + 1) # NONE
                  THEN cpc' = "Check" /\ carg' = NextCheck(i + 1)
                  ELSE IF BUG = "check_before_unmap"
                       THEN cpc' = "Unmap" /\ carg' = 0
                       ELSE cpc' = "InvBegin" /\ carg' = 0
               /\ UNCHANGED <<writer, cres, cafter, csucc>>
          ELSE Finish(IF fidx[s] > LO THEN fidx[s] ELSE LO)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, readers, cbefore, seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::InvBegin): kvm_gmem_invalidate_start() (the typed
\* stage-2 zap in every bound VM: no stage-2 entries without a guest; no
\* make_shared on a to-private conversion).
ConvInvBegin ==
    /\ cpc = "InvBegin"
    /\ cpc' = "Flip" /\ carg' = 0
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, cres, cbefore, cafter, csucc,
                   seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::Flip): the attribute store.
ConvFlip ==
    /\ cpc = "Flip"
    /\ priv' = [i \in Pages |-> IF i \in Range THEN TRUE ELSE priv[i]]
    /\ cpc' = "InvEnd" /\ carg' = 0
    /\ last' = NoAccess
    /\ UNCHANGED <<ptes, mem, writer, readers, cres, cbefore, cafter, csucc,
                   seqStale, pop, ppc, kpc>>

\* converter.rs step(ConvPc::InvEnd): kvm_gmem_invalidate_end(): mmu_invalidate_seq++
\* in the one bound VM (guests[0].seq_stale), unlock, Ok.
ConvInvEnd ==
    /\ cpc = "InvEnd"
    /\ seqStale' = TRUE
    /\ Finish(-1)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, readers, cbefore, pop, ppc, kpc>>

ConvStep == ConvRetry \/ ConvLock \/ ConvUnmap \/ ConvCheck \/ ConvInvBegin
            \/ ConvFlip \/ ConvInvEnd

----------------------------------------------------------------------------
(* Host process p: actors/host.rs (Actor::Proc(p), tid 1+p)                  *)

ProcI(p) == ProcPage(p, pop[p])
HostAccess(p, s, i) == [who |-> "host", id |-> p, folio |-> s, index |-> i, write |-> TRUE]

\* Action::Start(Proc(p)): host.rs start(HostOp::Write): mapped -> access and
\* done; else enter the fault path at FaultPc::LockInv.
ProcStart(p) ==
    /\ ppc[p].pc = "Idle" /\ pop[p] < NOPS
    /\ LET i == ProcI(p) IN
       IF p \in ptes[i] /\ pfolio[i] # NONE
       THEN /\ last' = HostAccess(p, pfolio[i], i)
            /\ pop' = [pop EXCEPT ![p] = @ + 1]
            /\ ppc' = ppc
       ELSE /\ ppc' = [ppc EXCEPT ![p] = Pc("LockInv", 0)]
            /\ last' = NoAccess /\ pop' = pop
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, conv, kpc>>

\* Action::Step(Proc(p)), FaultPc::LockInv: filemap_invalidate_lock_shared()
\* (blocked while the converter holds it for write).
ProcLockInv(p) ==
    /\ ppc[p].pc = "LockInv" /\ ~writer
    /\ readers' = readers \cup {ProcTid(p)}
    /\ ppc' = [ppc EXCEPT ![p] = Pc("Lookup", 0)]
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, conv, pop, kpc>>

\* Action::Step(Proc(p)), FaultPc::Lookup: wait for the folio lock, attribute
\* check, folio lookup/alloc +1 (locked), unlock the invalidate lock; private
\* -> SIGBUS (operation done, nothing touched).
ProcLookup(p) ==
    /\ ppc[p].pc = "Lookup"
    /\ ~LookupBlocked(ProcI(p))
    /\ LET i == ProcI(p)
           s == LookupSlot(i)
       IN /\ LookupMem(ProcTid(p), i)
          /\ IF s = NONE
             THEN ppc' = [ppc EXCEPT ![p] = Idle] /\ pop' = [pop EXCEPT ![p] = @ + 1]
             ELSE ppc' = [ppc EXCEPT ![p] = Pc("Install", s)] /\ pop' = pop
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, writer, conv, kpc>>

\* Action::Step(Proc(p)), FaultPc::Install(s): finish_fault(); the restarted
\* instruction then writes (last_access) and the operation is done.
ProcInstall(p) ==
    /\ ppc[p].pc = "Install"
    /\ LET i == ProcI(p)
           s == ppc[p].s
       IN /\ InstallMem(i, p, s)
          /\ IF InstallRetry(i, s)
             THEN ppc' = [ppc EXCEPT ![p] = Pc("LockInv", 0)] /\ pop' = pop /\ last' = NoAccess
             ELSE /\ ppc' = [ppc EXCEPT ![p] = Idle] /\ pop' = [pop EXCEPT ![p] = @ + 1]
                  /\ last' = HostAccess(p, s, i)
    /\ UNCHANGED <<priv, writer, readers, conv, kpc>>

ProcStep(p) == ProcLockInv(p) \/ ProcLookup(p) \/ ProcInstall(p)

----------------------------------------------------------------------------
(* GUP user k: actors/gup.rs (Actor::Pinner(k), tid 3+k)                     *)

KI(k) == PinPage(k)
SetK(k, name, s) == kpc' = [kpc EXCEPT ![k] = Pc(name, s)]

\* Action::Start(Pinner(k)): gup.rs start(): GUP-fast unless FOLL_LONGTERM or slow.
PinStart(k) ==
    /\ kpc[k].pc = "Idle"
    /\ IF PINPATH = "fast" /\ PINKIND # "longterm"
       THEN SetK(k, "FastReadPte", 0) ELSE SetK(k, "SlowFollow", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, conv, pop, ppc>>

\* PinPc::FastReadPte: gup_fast_pte_range() lockless PTE read.
PinFastReadPte(k) ==
    /\ kpc[k].pc = "FastReadPte"
    /\ LET i == KI(k) IN
       IF pfolio[i] # NONE /\ PinProc(k) \in ptes[i]
       THEN SetK(k, "FastTryAdd", pfolio[i]) ELSE SetK(k, "SlowFollow", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, conv, pop, ppc>>

\* PinPc::FastTryAdd(s): try_grab_folio_fast() (folio_ref_try_add: fails at 0).
PinFastTryAdd(k) ==
    /\ kpc[k].pc = "FastTryAdd"
    /\ LET s == kpc[k].s IN
       IF fref[s] <= 0
       THEN SetK(k, "SlowFollow", 0) /\ UNCHANGED <<fref, fpin>>
       ELSE /\ fref' = [fref EXCEPT ![s] = @ + PinInc]
            /\ fpin' = IF HUGE THEN [fpin EXCEPT ![s] = @ + 1] ELSE fpin
            /\ SetK(k, "FastRecheck", s)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, pfolio, fused, fidx, inPool, writer, readers, conv, pop, ppc>>

\* PinPc::FastRecheck(s): re-read the PTE, keep or unpin and fall back
\* (BUG gup_fast_no_recheck keeps it unconditionally).
PinFastRecheck(k) ==
    /\ kpc[k].pc = "FastRecheck"
    /\ LET s == kpc[k].s IN
       IF BUG = "gup_fast_no_recheck" \/ PteMaps(k, s)
       THEN SetK(k, "Held", s) /\ UNCHANGED <<fref, fpin>>
       ELSE /\ fref' = [fref EXCEPT ![s] = @ - PinInc]
            /\ fpin' = IF HUGE THEN [fpin EXCEPT ![s] = @ - 1] ELSE fpin
            /\ SetK(k, "SlowFollow", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, pfolio, fused, fidx, inPool, writer, readers, conv, pop, ppc>>

\* PinPc::SlowFollow: follow_page_pte() grabs under the PTE lock, else fault in.
PinSlowFollow(k) ==
    /\ kpc[k].pc = "SlowFollow"
    /\ LET i == KI(k)
           s == pfolio[i]
       IN IF s # NONE /\ PteMaps(k, s)
          THEN /\ fref' = [fref EXCEPT ![s] = @ + PinInc]
               /\ fpin' = IF HUGE THEN [fpin EXCEPT ![s] = @ + 1] ELSE fpin
               /\ SetK(k, "Held", s)
          ELSE SetK(k, "SlowLockInv", 0) /\ UNCHANGED <<fref, fpin>>
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, pfolio, fused, fidx, inPool, writer, readers, conv, pop, ppc>>

\* PinPc::SlowFault(FaultPc::LockInv): the fault path's shared lock, thread 3+k.
PinSlowLockInv(k) ==
    /\ kpc[k].pc = "SlowLockInv" /\ ~writer
    /\ readers' = readers \cup {PinTid(k)}
    /\ SetK(k, "SlowLookup", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, mem, writer, conv, pop, ppc>>

\* PinPc::SlowFault(FaultPc::Lookup): as ProcLookup (folio lock included);
\* private -> EFAULT (Finished).
PinSlowLookup(k) ==
    /\ kpc[k].pc = "SlowLookup"
    /\ ~LookupBlocked(KI(k))
    /\ LET s == LookupSlot(KI(k)) IN
       /\ LookupMem(PinTid(k), KI(k))
       /\ IF s = NONE THEN SetK(k, "Finished", 0) ELSE SetK(k, "SlowInstall", s)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, writer, conv, pop, ppc>>

\* PinPc::SlowFault(FaultPc::Install(s)): installed -> retry follow_page_pte().
PinSlowInstall(k) ==
    /\ kpc[k].pc = "SlowInstall"
    /\ LET s == kpc[k].s IN
       /\ InstallMem(KI(k), PinProc(k), s)
       /\ IF InstallRetry(KI(k), s) THEN SetK(k, "SlowLockInv", 0) ELSE SetK(k, "SlowFollow", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, writer, readers, conv, pop, ppc>>

\* PinPc::Held(s): the device / O_DIRECT writes through the pin (last_access).
PinHeld(k) ==
    /\ kpc[k].pc = "Held"
    /\ SetK(k, "Accessed", kpc[k].s)
    /\ last' = [who |-> "gup", id |-> k, folio |-> kpc[k].s, index |-> KI(k), write |-> TRUE]
    /\ UNCHANGED <<priv, ptes, mem, writer, readers, conv, pop, ppc>>

\* PinPc::Accessed(s): unpin_user_page(), Finished (no step if held forever).
PinRelease(k) ==
    /\ kpc[k].pc = "Accessed" /\ ~HOLD_FOREVER
    /\ LET s == kpc[k].s IN
       /\ fref' = [fref EXCEPT ![s] = @ - PinInc]
       /\ fpin' = IF HUGE THEN [fpin EXCEPT ![s] = @ - 1] ELSE fpin
    /\ SetK(k, "Finished", 0)
    /\ last' = NoAccess
    /\ UNCHANGED <<priv, ptes, pfolio, fused, fidx, inPool, writer, readers, conv, pop, ppc>>

PinStep(k) == PinFastReadPte(k) \/ PinFastTryAdd(k) \/ PinFastRecheck(k) \/ PinSlowFollow(k)
              \/ PinSlowLockInv(k) \/ PinSlowLookup(k) \/ PinSlowInstall(k)
              \/ PinHeld(k) \/ PinRelease(k)

----------------------------------------------------------------------------
Next ==
    \/ ConvStart \/ ConvStep
    \/ \E p \in Procs : ProcStart(p) \/ ProcStep(p)
    \/ \E k \in Pins : PinStart(k) \/ PinStep(k)

Spec == Init /\ [][Next]_vars

\* model/src/live.rs: every actor is weakly fair on its Step actions; starts are not fair.
Fairness == /\ WF_vars(ConvStep)
            /\ \A p \in Procs : WF_vars(ProcStep(p))
            /\ \A k \in Pins : WF_vars(PinStep(k))
FairSpec == Spec /\ Fairness

----------------------------------------------------------------------------
(* Properties: invariants/src/props.rs over model/src/view.rs               *)

\* PageView.pins/longterm_pins of page i: completed pins taken through index i
\* on its current folio.
PinnedThrough(i) == \E k \in Pins : PinPage(k) = i /\ kpc[k].pc \in {"Held", "Accessed"}
                                    /\ pfolio[i] = kpc[k].s

NoPrivateHostMapping == \A i \in Pages : priv[i] => ptes[i] = {}
NoPrivatePin == \A i \in Pages : priv[i] => ~PinnedThrough(i)
\* The accessed folio exists (not Unused; Freed/Gone/Orphaned are unreachable
\* here) and, if it is still the page's folio, the page is shared.
HostAccessOnlyShared ==
    last.who # "none" =>
        /\ fused[last.folio]
        /\ pfolio[last.index] = last.folio => ~priv[last.index]
\* view.rs parts(): page cache + PTEs + pins (in flight after try-add, held)
\* + transient fault references; counter = encoding; large: pincount = pins.
RefcountConserved ==
    /\ \A s \in Slots : fused[s] =>
        LET pins == Cardinality({k \in Pins : kpc[k].pc \in {"FastRecheck", "Held", "Accessed"}
                                              /\ kpc[k].s = s})
            tr == Cardinality({p \in Procs : ppc[p].pc = "Install" /\ ppc[p].s = s})
                  + Cardinality({k \in Pins : kpc[k].pc = "SlowInstall" /\ kpc[k].s = s})
        IN /\ fref[s] = Baseline + PteSum(s, 0, N) + tr + pins * PinInc
           /\ HUGE => fpin[s] = pins
    /\ last.who # "none" => fused[last.folio]

\* Liveness independent_subpages (props.rs conversion_blocked_by_other_subpage_pin):
\* pending = a retried to-private request in progress or returned, not yet
\* succeeded, while a page outside its range holds a (long-term) pin.
IndependentSubpagesPending ==
    /\ RETRY /\ cpc # "Idle" /\ ~csucc
    /\ \E i \in Pages \ Range : PinnedThrough(i)
\* Violated iff some fair behaviour is pending from some point on forever.
IndependentSubpages == []<>(~IndependentSubpagesPending)
=============================================================================
