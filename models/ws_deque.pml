/*
 * ws_deque.pml: a Promela model of bobbin::detail::ws_deque (include/bobbin/detail/task/ws_deque.hpp),
 * the growable Chase-Lev deque, checked with spin for the exactly-once property.
 *
 * One owner process does a nondeterministic interleaving of NPUSH push() and NPOP pop()
 * calls (pushes of the distinct values 1..NPUSH) while two thieves each make NSTEAL steal()
 * attempts; thief 1 uses the predicate variant. When every thief is done, the owner pops
 * until the deque is empty. A pop is pop_in_place() (claim()) and then copy_out(): for the
 * last value, the owner reads the slot only after its CAS on top has won (only the owner
 * writes slots). Then the model asserts that
 *   - no call returned a value that was never pushed (a slot's initial 0: a torn/stale read
 *     accepted as a success), and
 *   - every pushed value was returned exactly once, by pop() or by a successful steal().
 * Values are counted as they are taken and checked at the end only (see
 * OLD_RELAXED_FAILURE below for why).
 *
 * The deque starts with capacity 2 (the constructor's minimum), so the third value present
 * at once makes push() grow it to 4 (and the fifth to 8, with NARR 3).
 *
 * Memory model, chosen with one of -DSC, -DTSO, -DRA (see models/README.md):
 *   SC   every access is atomic and immediately visible (Promela's own semantics).
 *   TSO  x86-TSO: the owner's plain stores (relaxed and release: a mov on x86) go to a FIFO
 *        store buffer that a separate process drains to memory one store at a time, whenever
 *        it likes; the owner's loads look in its own buffer first. The seq_cst store (an
 *        xchg), the CAS (lock cmpxchg) and a seq_cst fence (mfence) wait until the buffer is
 *        empty. The thieves do no plain stores, so only the owner has a buffer.
 *   RA   weaker than TSO for everything that is not seq_cst, after C++20's release/acquire
 *        rules. Stores of bottom keep TSO's FIFO buffer (store->load reordering). array_ and
 *        the slots are "message" locations: each keeps the history of the values written to
 *        it, stamped with the owner's clock. A thief may read any write to a location that
 *        is not older than the newest write its view covers (nor older than what it read
 *        there before: coherence). Its view grows only by synchronisation: an acquire read
 *        of a release store (grow()'s array_, push()'s bottom, pop()'s seq_cst bottom) or of
 *        top, which carries the views of every CAS on it (a chain of RMWs is one release
 *        sequence). Relaxed stores carry no view: under C++20 a plain store after a release
 *        store is not part of its release sequence (P0982). push()'s acquire load of top may
 *        read a stale value (any top the owner has not already seen passed).
 *   Not modelled in any mode: non-multi-copy-atomic visibility of top/bottom (ARM/POWER
 *   IRIW), reordering of loads other than the one below, the full C++ memory model.
 *
 * The fence-free pop, -DLIGHT (with -DTSO or -DRA): the owner pops with
 * pop_in_place(no_thief) as the work_stealing policy does (deque.hpp lines 135-142, then
 * claim() and copy_out() as in the plain pop; policy/work_stealing.hpp pop_own, lines
 * 164-167, enter_thieving, lines 168-173, leave_thieving, lines 174-177). A shared counter
 * thieves_ holds the announced thieves. Each thief, before its first steal of an episode,
 * announces itself (thieves_.fetch_add(1, seq_cst): a lock xadd) and then runs
 * asymmetric_fence::heavy() (membarrier: every running thread of the process executes a full
 * barrier during the call); after any steal it may withdraw (thieves_.fetch_sub(1, release))
 * and announce again before a later steal. The owner stores bottom with release (a plain mov:
 * into its buffer), light() is only a compiler barrier, then it loads thieves_ and fences
 * (mfence: waits for an empty buffer) only if that is not 0; claim() and copy_out() follow
 * as in the plain pop. heavy() is modelled as one atomic step that drains the owner's whole
 * store buffer (see heavy() below for why one point is enough). In RA, heavy() is also a
 * seq_cst fence in each thread, with C++20's fence-fence rule: the thief then reads no owner
 * write older than those made before that point (see README: membarrier itself is outside the
 * C++ memory model).
 *
 * Variants (each changes one ordering of the code to show the model notices it):
 *   BUG_POP_STORE     pop_in_place()'s seq_cst store of bottom (line 132) as a plain store:
 *                     no store->load order before the load of top. Expected: failure (the
 *                     owner and a thief both take one value). Meaningful with TSO or RA.
 *   BUG_PUSH_RELAXED  push()'s release store of bottom (line 105) as relaxed. RA only.
 *                     Expected: failure (a thief copies a slot not yet written).
 *   BUG_GROW_RELAXED  grow()'s release store of array_ (line 244) as relaxed. RA only.
 *                     Expected: failure (a thief reads the new array before the copies).
 *   OLD_RELAXED_FAILURE  fix (a) of finding F1 undone: claim()'s CAS on top (line 159) with a
 *                     relaxed failure order, as before the fix. A failed CAS is then a relaxed
 *                     load, and C++ lets the relaxed store of bottom after it (line 160) become
 *                     visible first (load buffering). Modelled as the owner doing line 160
 *                     before line 159 when that CAS then fails (a path where it would succeed
 *                     is infeasible and is cut off); a failed CAS reads no slot, before the fix
 *                     or after. RA only. Expected: failure (F1). The code's
 *                     seq_cst failure order (fix (a)) is an acquire read of the thief's CAS,
 *                     which forbids this reordering: the plain RA model is the code's.
 *   FIX_RELEASE       fix (b) of F1, not adopted: claim()'s stores of bottom at lines 150 and
 *                     160 as release stores. With OLD_RELAXED_FAILURE: no error.
 *   BUG_STEAL_ORDER   steal() loads bottom before top (lines 182 and 183 swapped).
 *                     Expected: failure, in every memory model.
 *   With LIGHT:
 *   BUG_NO_HEAVY      a thief announces itself but skips heavy(). TSO. Expected: failure.
 *   BUG_HEAVY_FIRST   a thief runs heavy() before it announces itself. TSO. Expected: failure.
 *   BUG_IGNORE_ANNOUNCE  the owner never fences, whatever thieves_ says. TSO. Expected: failure.
 *   OLD_LIGHT_RELAXED the fence-free pop's store of bottom (line 138) relaxed, as it was before
 *                     finding F2 (see README). RA. Expected: failure.
 *
 * Sizes: -DNPUSH=n (values pushed, at most 7), -DNPOP=n (owner pops during the run), -DNSTEAL=n
 * (steal attempts per thief), -DNARR=n (arrays the deque may grow through: capacity 2, 4,
 * 8; default 2, 3 when NPUSH > 4).
 */

#if defined(SC) + defined(TSO) + defined(RA) != 1
#error "choose exactly one memory model: -DSC, -DTSO or -DRA"
#endif
#if defined(LIGHT) && defined(SC)
#error "the fence-free pop needs a store buffer: -DLIGHT with -DTSO or -DRA"
#endif
#if defined(LIGHT) && defined(OLD_RELAXED_FAILURE)
#error "LIGHT models the code with fix (a): no OLD_RELAXED_FAILURE"
#endif

#ifndef NPUSH
#define NPUSH 3
#endif
#ifndef NPOP
#define NPOP 1
#endif
#ifndef NSTEAL
#define NSTEAL 2
#endif
#ifndef NARR
#if NPUSH > 4
#define NARR 3
#else
#define NARR 2
#endif
#endif

#define NTHIEF 2
#define CAP(A) (2 << (A))                 /* array A holds 2, 4, 8 slots */
#define SLOT(A, I) (1 + CAP(A) - 2 + ((I) & (CAP(A) - 1)))   /* location of a->slots[I & mask] */
#define LOC_ARR 0                         /* location of array_ (its value: which array) */
#if NARR == 1
#define NLOC 3                            /* array_ + every array's slots */
#elif NARR == 2
#define NLOC 7
#elif NARR == 3
#define NLOC 15
#else
#error "NARR is 1, 2 or 3"
#endif
#define MAX(X, Y) ((X) > (Y) -> (X) : (Y))

/* Reachability probes: built with -DPROBES, pan reads the environment variable PROBE; with
 * PROBE=n it must find the path to probe n (an assertion that fails there), which shows the
 * interesting interleavings are not pruned away (PROBE unset or 0: the plain check):
 *   1 the owner loses the last value to a thief (pop()'s CAS fails)
 *   2 a successful steal from a grown array
 *   3 a successful steal from a retired array (read before the grow became visible)
 *   4 the predicate refuses a value
 *   5 a thief reads bottom while a store of it waits in the owner's buffer (TSO, RA)
 *   6 a thief drops a garbage copy (an empty slot: its CAS fails)
 *   7 a thief copies a slot's older value while a newer one exists (RA)
 * and with LIGHT:
 *   8 heavy() drains a store of bottom from the owner's buffer
 *   9 a steal succeeds while the owner is in a pop that skipped the fence
 *  10 a thief that withdrew announces itself again (a second heavy())
 *  11 the owner reads 0 from thieves_ while a thief is announced (an older value, RA) */
#ifdef PROBES
byte probe = 0;
#define REACHED(N) assert(probe != N)
#else
#define REACHED(N) skip
#endif

/* Orders of the owner's stores. */
#define RLX 0
#define REL 1
#define SEQ 2

#ifdef BUG_POP_STORE
#define POP_STORE_ORDER REL                /* line 132 as a plain store (a mov on x86) */
#else
#define POP_STORE_ORDER SEQ                /* line 132: seq_cst */
#endif
#ifdef BUG_PUSH_RELAXED
#define PUSH_STORE_ORDER RLX
#else
#define PUSH_STORE_ORDER REL               /* line 105: release */
#endif
#ifdef BUG_GROW_RELAXED
#define GROW_STORE_ORDER RLX
#else
#define GROW_STORE_ORDER REL               /* line 244: release */
#endif
#ifdef FIX_RELEASE
#define RESTORE_ORDER REL
#else
#define RESTORE_ORDER RLX                  /* lines 150 and 160: relaxed */
#endif
#ifdef OLD_LIGHT_RELAXED
#define LIGHT_STORE_ORDER RLX              /* line 138 before finding F2: relaxed */
#else
#define LIGHT_STORE_ORDER REL              /* line 138: release */
#endif

/* ---- shared state ---------------------------------------------------------------------- */

short top = 0;          /* top_ (in memory) */
short bot = 0;          /* bottom_ (in memory) */
byte taken[NPUSH + 1];  /* taken[v]: how often value v was returned; v = 0: garbage */
byte thieves_done = 0;
bit owner_done = 0;

#ifdef LIGHT
/* thieves_ of policy/work_stealing.hpp. The owner never writes it, so it is never in the
 * owner's buffer, and the thieves' writes are locked RMWs: TSO keeps one value in memory. */
byte thieves = 0;         /* its newest value: the thieves announced */
#ifdef RA
/* RA: the owner's acquire load may also read an older value, in the modification order,
 * down to a floor: the announcement of the newest thief whose heavy() came before the load
 * (the fence-fence rule, see heavy()). The load only decides whether pop() fences, and a pop
 * that fences can do nothing that one that does not cannot (the drainer may empty the buffer
 * first), so the model keeps only whether a 0 is readable, and the owner fences exactly when
 * none is. Not modelled: coherence between the owner's successive loads of thieves_ (a load
 * that read a non-zero value forbids older values to later loads); leaving it out only
 * allows more executions. */
bit zfloor = 1;          /* a 0 is readable: written at or after the floor */
bit zafter[NTHIEF];      /* a 0 was written after thief ID's newest announcement */
bit above[NTHIEF];       /* thief ID's newest announcement is newer than the floor */
bit lastann = 0;         /* the thief that announced last */
#endif
#ifdef PROBES
bit lightpop = 0;        /* the owner is in a pop that skipped the fence (probe 9) */
#endif
#endif

/* The owner's FIFO store buffer. TSO: every store but the seq_cst ones; RA: stores of
 * bottom only. Entry: address (0 = bottom, 1 + L = location L), value, view (RA). */
#ifdef LIGHT
#define QN (4 * NPUSH + 2 * NPOP + 10) /* every store of the run: pops may not drain it */
#else
#define QN (3 * NPUSH + 4)        /* enough for every store between two drains */
#endif
byte qa[QN];
short qv[QN];
byte qw[QN];
byte qn = 0;

#ifdef RA
/* Message locations: history of each location's writes, oldest first; entry 0 is the
 * initial value 0 (array 0; an empty slot), stamped 0. */
#define H (NPUSH + 3)
byte hval[NLOC * H];
byte hts[NLOC * H];      /* the owner's clock at that write */
bit hrel[NLOC * H];      /* a release store: an acquire read of it takes its view */
byte hn[NLOC];           /* writes so far, initial one included */
byte oc = 0;             /* owner's clock: stamp of its newest write (its whole view) */
byte botv = 0;           /* view carried by the value of bottom in memory */
byte topv = 0;           /* view carried by top (join of every CAS's) */
byte tview[NTHIEF];      /* each thief's view */
byte tfloor[NTHIEF * NLOC];  /* each thief's newest history entry read, per location */
short topseen = 0;       /* newest top the owner has read (coherence for its loads) */
#else
byte mem[NLOC];          /* array_ and the slots, in memory */
#endif

#ifdef RA
#define CUR_ARR hval[LOC_ARR * H + hn[LOC_ARR] - 1]
#else
#define CUR_ARR mem[LOC_ARR]
#endif

/* ---- the owner's memory accesses --------------------------------------------------------- */

inline buf_put(A, V, W) {
  assert(qn < QN);
  qa[qn] = A; qv[qn] = V; qw[qn] = W; qn++
}

/* Load of bottom by the owner (its only writer): its own newest store. */
inline own_ld_bot(out) {
  out = bot; j = 0;
  do
  :: j < qn -> if :: qa[j] == 0 -> out = qv[j] :: else fi; j++
  :: else -> break
  od;
  j = 0
}

/* Relaxed load of array_ or a slot by the owner (their only writer): its newest store. */
inline own_ld(L, out) {
#ifdef RA
  out = hval[(L) * H + hn[L] - 1]
#elif defined(TSO)
  out = mem[L]; j = 0;
  do
  :: j < qn -> if :: qa[j] == 1 + (L) -> out = qv[j] :: else fi; j++
  :: else -> break
  od;
  j = 0
#else
  out = mem[L]
#endif
}

/* Store to array_ or a slot by the owner. */
inline own_st(L, V, ORD) {
#if defined(SC)
  mem[L] = V
#elif defined(TSO)
  buf_put(1 + (L), V, 0)
#else
  assert(hn[L] < H);
  oc++;
  hval[(L) * H + hn[L]] = V; hts[(L) * H + hn[L]] = oc; hrel[(L) * H + hn[L]] = (ORD != RLX);
  hn[L]++
#endif
}

/* Store of bottom by the owner. A seq_cst store waits for an empty buffer (x86: xchg). */
inline own_st_bot(V, ORD) {
#if defined(SC)
  bot = V
#else
  if
  :: ORD == SEQ -> qn == 0; bot = V;
#ifdef RA
     botv = oc
#else
     skip
#endif
  :: else ->
#ifdef RA
     if
     :: ORD != RLX -> buf_put(0, V, oc)                 /* carries the owner's view */
     :: else -> buf_put(0, V, 0)                        /* carries none */
     fi
#else
     buf_put(0, V, 0)
#endif
  fi
#endif
}

/* ---- the thieves' memory accesses -------------------------------------------------------- */

/* Load of array_ (ACQ: acquire) or of a slot (relaxed) by thief ID. */
inline thief_ld(ID, L, out, ACQ) {
#ifdef RA
  /* The newest write the thief's view covers... */
  k = 0;
  do
  :: k + 1 < hn[L] && hts[(L) * H + k + 1] <= tview[ID] -> k++
  :: else -> break
  od;
  /* ...or what it read there last, if newer (read-read coherence)... */
  if :: tfloor[(ID) * NLOC + (L)] > k -> k = tfloor[(ID) * NLOC + (L)] :: else fi;
  /* ...or any write after it. */
  do
  :: k + 1 < hn[L] -> k++
  :: break
  od;
  tfloor[(ID) * NLOC + (L)] = k;
  out = hval[(L) * H + k];
  if :: !ACQ && k + 1 < hn[L] -> REACHED(7) :: else fi;
  if :: ACQ && hrel[(L) * H + k] -> tview[ID] = MAX(tview[ID], hts[(L) * H + k]) :: else fi;
  k = 0
#else
  out = mem[L]
#endif
}

/* Writes the oldest store in the owner's buffer to memory (K: a scratch variable). */
inline drain_one(K) {
  if
  :: qa[0] == 0 -> bot = qv[0];
#ifdef RA
     botv = qw[0]
#else
     skip
#endif
#ifndef RA
  :: else -> mem[qa[0] - 1] = qv[0]
#endif
  fi;
  K = 0;
  do
  :: K + 1 < qn -> qa[K] = qa[K + 1]; qv[K] = qv[K + 1]; qw[K] = qw[K + 1]; K++
  :: else -> break
  od;
  qn--; qa[qn] = 0; qv[qn] = 0; qw[qn] = 0; K = 0
}

inline take(V) {
  taken[V]++
}

/* ---- the announcement of thieves (LIGHT) --------------------------------------------------- */

#ifdef LIGHT
/* The owner's thieves_.load(acquire) (no_thief(), deque.hpp line 140; work_stealing.hpp
 * pop_own, line 166). */
inline own_ld_thieves(out) {
#ifdef RA
  if
  :: zfloor -> out = 0;                                 /* a 0 is readable: reads it */
     if :: thieves > 0 -> REACHED(11) :: else fi
  :: else -> out = 1                                    /* some non-zero value */
  fi
#else
  out = thieves                                         /* memory: never in its buffer */
#endif
}

/* enter_thieving(): thieves_.fetch_add(1, seq_cst) (work_stealing.hpp line 169), a lock
 * xadd; the thief has no pending stores of its own in the model (it has in the pool, as owner
 * of its own deque: the locked instruction drains them, which changes nothing here). */
inline announce_rmw(ID) {
  thieves++
#ifdef RA
  ; zafter[ID] = 0; above[ID] = 1; lastann = ID
#endif
}

/* leave_thieving(): thieves_.fetch_sub(1, release) (work_stealing.hpp line 175), a lock
 * xadd. In RA its release is not modelled: the owner's only use of it would be a newer floor
 * for its loads of top, which are seq_cst (pop, read in memory) or harmlessly stale (push). */
inline withdraw_rmw(ID) {
  thieves--
#ifdef RA
  ; if
  :: thieves == 0 -> zfloor = 1; zafter[0] = 1; zafter[1] = 1
  :: else
  fi
#endif
}

/* asymmetric_fence::heavy(): membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED). The kernel makes
 * the owner execute a full barrier (or a context switch, which is one) at some point P of its
 * instruction stream while the call runs. At P its store buffer is empty: every store it made
 * before P is in memory, and its loads after P happen after P. The model collapses the call
 * to one atomic step, taken at P: it writes the whole buffer to memory. That is sound and
 * complete because the thief does nothing else between entering and leaving the call: in
 * any real execution, move the thief's whole call to the moment the owner passes P. The
 * owner's instructions before P then come before the step and those after P after it, the
 * thief's own accesses keep their order around the call, and every load returns what it
 * did. Conversely, a step with a non-empty buffer is the owner taking its barrier then.
 * In RA, P is a seq_cst fence in the owner and the call a seq_cst fence in the thief, and
 * C++20's fence-fence rule ([atomics.order]: a write before fence X, X before fence Y in
 * S, a read after Y does not read older than the write) gives:
 *   - the thief reads no owner write to array_ or a slot older than those before P: its view
 *     takes the owner's. The rule asks for happens-before (not sequenced-before) between
 *     each fence and the access, so a thief that acquires this thief's view through top
 *     has the same floor: the view may be passed on;
 *   - the owner's loads of thieves_ after P read this thief's announcement or a newer value
 *     (the floor: zfloor);
 *   - the owner's stores of bottom before P are in memory for the thief's seq_cst loads. */
inline heavy(ID) {
  d_step {
#ifdef PROBES
    k = 0;
    do
    :: k < qn -> if :: qa[k] == 0 -> REACHED(8) :: else fi; k++
    :: else -> break
    od;
    if :: n > 1 -> REACHED(10) :: else fi;
#endif
    do
    :: qn > 0 -> drain_one(k)
    :: else -> break
    od;
#ifdef RA
    tview[ID] = MAX(tview[ID], oc);
    if
    :: above[ID] ->                                     /* the floor moves up to its announcement */
       zfloor = zafter[ID]; above[ID] = 0; above[1 - ID] = (lastann != ID)
    :: else
    fi;
#endif
    k = 0
  }
}

/* The thief's part of the protocol before a steal: work_stealing.hpp, queues::pop_elsewhere(),
 * line 97, "if (light_pops_ && !me.thief) enter_thieving(me)". */
inline enter_thieving(ID) {
  if
  :: !announced ->
#if defined(BUG_HEAVY_FIRST)
     heavy(ID);                                         /* wrong order: heavy() first */
     atomic { announce_rmw(ID); announced = 1 }
#elif defined(BUG_NO_HEAVY)
     atomic { announce_rmw(ID); announced = 1 }         /* no heavy() */
#else
     atomic { announce_rmw(ID); announced = 1 };        /* 169: thieves_.fetch_add(1, seq_cst) */
     heavy(ID)                                          /* 170: asymmetric_fence::heavy() */
#endif
  :: else
  fi
}
#endif

/* ---- the deque's operations ---------------------------------------------------------------- */
/* Each atomic block below holds at most one access another process can observe (a load of
 * top or bottom, a visible store, a CAS), together with the owner's purely local work around
 * it (loads of what only it writes, stores into its own buffer), so no interleaving that
 * matters is lost. grow()'s copies into the new array count as one with the store of array_
 * that publishes them: no thief can reach the new array before it. Locals that are dead
 * afterwards are reset to 0, so that states differing only in stale scratch values are not
 * counted twice. */

/* push(v): deque.hpp lines 98-106, with grow() lines 233-247. The owner reaches its current
 * array through own_slots_ and own_mask_ (lines 253-254), its own copy of array_ that grow()
 * sets (lines 245-246): in the model, its newest store of array_, own_ld(LOC_ARR). */
inline push(V) {
  atomic {
    own_ld_bot(b);                                      /* 99: b = bottom_.load(relaxed) */
    /* 101: t = top_.load(acquire) */
#ifdef RA
    t = topseen;
    do                                                  /* any top not older than seen */
    :: t < top -> t++
    :: break
    od;
    topseen = t
#else
    t = top
#endif
  };
  atomic {
    own_ld(LOC_ARR, a);                                 /* own_slots_, own_mask_ */
    if
    :: b - t > CAP(a) - 1 ->                            /* 102: b - t > own_mask_: grow(t, b) */
       assert(a + 1 < NARR);                            /* 234-235: old = array_.load(relaxed), */
       j2 = t;                                          /*   bigger = new array(2 * capacity) */
       do                                               /* 236-240: copy [t, b) */
       :: j2 < b ->
          own_ld(SLOT(a, j2), x);                       /* 238: get(old->at(i), v) */
          own_st(SLOT(a + 1, j2), x, RLX);              /* 239: put(bigger->at(i), v) */
          j2++
       :: else -> break
       od;
       own_st(LOC_ARR, a + 1, GROW_STORE_ORDER);        /* 244: array_.store(a, release) */
       a = a + 1; j2 = 0; x = 0                         /* 245-246: own_slots_, own_mask_ */
    :: else
    fi
  };
#ifdef SC
  atomic { own_st(SLOT(a, b), V, RLX) };                /* 103: put(own_slot(b), v): relaxed */
  atomic {
    own_st_bot(b + 1, PUSH_STORE_ORDER);                /* 105: bottom_.store(b + 1, release) */
    b = 0; t = 0; a = 0
  }
#else
  atomic {                                              /* (both into the store buffer) */
    own_st(SLOT(a, b), V, RLX);                         /* 103: put(own_slot(b), v): relaxed */
    own_st_bot(b + 1, PUSH_STORE_ORDER);                /* 105: bottom_.store(b + 1, release) */
    b = 0; t = 0; a = 0
  }
#endif
}

/* The CAS on top of claim() (line 159): top_.compare_exchange_strong(t, t + 1, seq_cst),
 * seq_cst on failure too (fix (a) of F1); a lock cmpxchg on x86, which first drains the store
 * buffer. In RA a failed CAS is an acquire read of top; what it acquires would matter only to
 * the owner's reads of locations others write, and its only such reads are of top (topseen). */
inline pop_cas() {
#ifdef TSO
  qn == 0;
#endif
  if
  :: top == t -> top = t + 1; ok = 1
#ifdef RA
     ; topv = MAX(topv, oc)                             /* release: the owner's view */
#endif
  :: else -> ok = 0;
     if :: !final -> REACHED(1) :: else fi
  fi
#ifdef RA
  ; topseen = top
#endif
}

/* pop(out): deque.hpp line 110, copy_out(pop_in_place(), out): pop_in_place(), lines 128-134,
 * then claim(), lines 147-164, then copy_out(), lines 165-169. With LIGHT, the fence-free
 * pop(out, no_thief), lines 119-122: pop_in_place(no_thief), lines 135-142, with no_thief()
 * of work_stealing.hpp's pop_own (line 166), then the same claim() and copy_out(). Sets ok;
 * counts the value taken when ok.
 * claim() decides (ok) and returns the slot's words; copy_out() reads them in the last step,
 * after all of claim(): for the last value (t == b), only once the CAS on top has won and
 * bottom has been restored, in the code's order [CAS; store bottom; read the slot]. A thief
 * never writes a slot, so that read sees the owner's own newest store to it. The pool's
 * callers of pop_in_place() read the words later, but before the owner's next push: the
 * same values, for the same reason. */
inline pop() {
#ifdef LIGHT
  atomic {
    own_ld_bot(b); b = b - 1;                           /* 137: b = bottom_.load(relaxed) - 1 */
    own_st_bot(b, LIGHT_STORE_ORDER)                    /* 138: bottom_.store(b, release) */
  };                                                    /* 139: light(): a compiler barrier */
  atomic { own_ld_thieves(th) };                        /* 140: no_thief(): thieves_.load(acquire) == 0 */
  atomic {
#ifndef BUG_IGNORE_ANNOUNCE
    (th == 0 || qn == 0) ->                             /* 140: else seq_cst_fence(): waits for */
#endif                                                  /*      an empty buffer (mfence) */
#ifdef PROBES
    lightpop = (th == 0);
#endif
    th = 0;
    t = top;                                            /* 148: t = top_.load(seq_cst) */
#ifdef RA
    topseen = t
#else
    skip
#endif
  };
#else
  atomic {
    own_ld_bot(b); b = b - 1;                           /* 129: b = bottom_.load(relaxed) - 1 */
    own_st_bot(b, POP_STORE_ORDER)                      /* 132: bottom_.store(b, seq_cst) */
  };
  atomic {
    t = top;                                            /* 148: t = top_.load(seq_cst) */
#ifdef RA
    topseen = t
#else
    skip
#endif
  };
#endif
  if
  :: atomic {
       t > b ->                                         /* 149: empty */
       own_st_bot(b + 1, RESTORE_ORDER);                /* 150: bottom_.store(b + 1, relaxed) */
       ok = 0                                           /* 151: nullptr */
     }
  :: atomic { t < b -> ok = 1 }                         /* 163: own_slot(b).w */
  :: t == b ->                                          /* 153: the last value */
     if
     :: atomic { pop_cas() };                           /* 159: won = the CAS on top */
        atomic { own_st_bot(b + 1, RESTORE_ORDER) }     /* 160: bottom_.store(b + 1, relaxed) */
                                                        /* 161: !won: nullptr; else 163 */
#ifdef OLD_RELAXED_FAILURE
     :: !final ->                                       /* load buffering: 160 visible before 159 */
        atomic { own_st_bot(b + 1, RESTORE_ORDER) };    /* 160 */
        atomic {                                        /* 159, as a failed CAS only */
          if
          :: top == t -> goto end_infeasible            /* it would succeed: no such execution */
          :: else -> pop_cas()
          fi
        }                                               /* 161: nullptr */
#endif
     fi
  fi;
  atomic {                                              /* copy_out(w, out), lines 165-169 */
    if
    :: ok ->                                            /* 166: w != nullptr */
       own_ld(LOC_ARR, a);                              /* 163: own_slot(b), own_slots_/own_mask_ */
       own_ld(SLOT(a, b), x);                           /* 167: get(w, out): relaxed loads, after */
       take(x)                                          /*      the CAS for the last value */
    :: else
    fi;
#if defined(LIGHT) && defined(PROBES)
    lightpop = 0;
#endif
    b = 0; t = 0; a = 0; x = 0;
    if :: !final -> ok = 0 :: else fi
  }
}

/* steal()'s seq_cst load of top (line 182). */
inline steal_ld_top(ID) {
  atomic {
    t = top;
#ifdef RA
    tview[ID] = MAX(tview[ID], topv)                    /* acquire: views of every CAS */
#else
    skip
#endif
  }
}

/* steal()'s seq_cst load of bottom (line 183). */
inline steal_ld_bot(ID) {
  atomic {
    b = bot;
#ifdef RA
    tview[ID] = MAX(tview[ID], botv);                   /* acquire: view of a release store */
#endif
#ifdef PROBES
    k = 0;
    do
    :: k < qn -> if :: qa[k] == 0 -> REACHED(5) :: else fi; k++
    :: else -> break
    od;
    k = 0
#else
    skip
#endif
  }
}

/* steal(out[, accept]): deque.hpp lines 175-195. Expanded once per thief. */
inline steal(ID, PRED) {
#ifdef BUG_STEAL_ORDER
  steal_ld_bot(ID);                                     /* 183 before 182: the wrong order */
  steal_ld_top(ID);
#else
  steal_ld_top(ID);                                     /* 182: t = top_.load(seq_cst) */
  steal_ld_bot(ID);                                     /* 183: b = bottom_.load(seq_cst) */
#endif
  if
  :: atomic { t >= b -> t = 0; b = 0 }                  /* 184: empty */
  :: atomic {
       t < b ->
       thief_ld(ID, LOC_ARR, a, 1)                      /* 186: a = array_.load(acquire) */
     };
     atomic { thief_ld(ID, SLOT(a, t), x, 0) };         /* 186: get(a->at(t), out): relaxed loads */
     if
     :: atomic {
          PRED ->                                       /* 187-190: accept(out) refuses: empty */
          REACHED(4);                                   /*      (any answer, for any predicate) */
          t = 0; b = 0; a = 0; x = 0
        }
     :: atomic {                                        /* 191: top_.compare_exchange_strong(t, */
          if                                            /*        t + 1, seq_cst, relaxed) */
          :: top == t ->
             top = t + 1;
#ifdef RA
             tview[ID] = MAX(tview[ID], topv);          /*   acquire: views of earlier CASes */
             topv = tview[ID];                          /*   release: its own view */
#endif
             take(x);                                   /* 194: success */
#if defined(LIGHT) && defined(PROBES)
             if :: lightpop -> REACHED(9) :: else fi;
#endif
             if :: a > 0 -> REACHED(2) :: else fi;
             if :: a < CUR_ARR -> REACHED(3) :: else fi
          :: else ->                                    /* 192: lost_race */
             if :: x == 0 -> REACHED(6) :: else fi
          fi;
          t = 0; b = 0; a = 0; x = 0
        }
     fi
  fi
}

/* ---- processes --------------------------------------------------------------------------- */

proctype owner() {
  short b, t;
  byte a, x, j, j2, npush = 0, npop = 0;
#ifdef LIGHT
  byte th;                                              /* the value of thieves_ read */
#endif
  bit ok, final = 0;

  do
  :: npush < NPUSH -> npush++; push(npush)
  :: npop < NPOP -> npop++; pop()
  :: npush == NPUSH && npop == NPOP -> break
  od;

  thieves_done == NTHIEF;
  final = 1;                                            /* alone now: take what is left */
  do
  :: pop(); if :: ok -> skip :: else -> break fi
  od;

  assert(taken[0] == 0);                                /* nothing never pushed was returned */
  j = 1;
  do
  :: j <= NPUSH -> assert(taken[j] == 1); j++           /* each value returned exactly once */
  :: else -> break
  od;
  owner_done = 1;
  goto done;
end_infeasible:                                         /* OLD_RELAXED_FAILURE: cut-off path */
  (0);
done:
  skip
}

proctype thief(byte id; bit usepred) {
  short b, t;
  byte a, x, k, n = 0;
#ifdef LIGHT
  bit announced = 0;                                    /* own::thief */
#endif
  do
  :: n < NSTEAL -> n++;
#ifdef LIGHT
     enter_thieving(id);
#endif
     steal(id, usepred)
#ifdef LIGHT
     ; if                                               /* leave_thieving(): after any steal, */
       :: atomic { announced -> withdraw_rmw(id); announced = 0 }   /* for any reason */
       :: skip
       fi
#endif
  :: else -> break
  od;
  thieves_done++
}

/* Drains the owner's store buffer, one store at a time, when it likes. */
proctype drainer() {
  byte k;
end_drain:
  do
  :: d_step { qn > 0 -> drain_one(k) }
  :: qn == 0 && owner_done -> break
  od
}

init {
  byte k;
  atomic {
#ifdef PROBES
    c_code { char *e = getenv("PROBE"); now.probe = e ? atoi(e) : 0; };
#endif
#ifdef RA
    k = 0;
    do
    :: k < NLOC -> hn[k] = 1; k++
    :: else -> break
    od;
#endif
    run owner();
    run thief(0, 0);
    run thief(1, 1);
#ifndef SC
    run drainer();
#endif
    k = 0
  }
}
