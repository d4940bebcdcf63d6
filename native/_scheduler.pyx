# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled DQP scheduler: queues of one site and the matching of contacts to agents.

It mirrors `native/pyscheduler.py` line for line in behaviour (same API, same decisions,
same handle numbers); read the twin's module docstring for the ordering rules. Contacts
live in vectors of plain structs indexed by handle, linked into per-class FIFO lists, so
enqueue, remove and route cost O(1) in the number of queued contacts; available agents
sit in C++ ordered sets keyed by the skill's selection policy.

With a million contacts queued, their structs are far bigger than the CPU caches, and a
random access into them is a cache miss costing more than the whole Python call around
it. Hence the layout below (Link, Key, _states), and that `remove` defers its unlinking
(see _lag_unlink) and unlinking a head leaves the new head's `prev` unwritten (see Link).
"""

cimport cython
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libcpp.set cimport set as cset
from libcpp.vector cimport vector
from cython.operator cimport dereference as deref

from native.constants import (
    CALL_SELECT_GREATEST_NEED as _CALL_SELECT_GREATEST_NEED,
    CALL_SELECT_SKILL_LEVEL as _CALL_SELECT_SKILL_LEVEL,
)

BACKEND = "native"

cdef extern from *:
    """
    #include <sys/mman.h>
    #include <cstdlib>
    #include <new>

    // A std::vector allocator that puts big arrays on transparent huge pages (Linux's THP
    // in "madvise" mode, the common default, only gives them to regions that ask): at a
    // million contacts, random accesses into tens of MB of 4 KiB pages miss the TLB as
    // well as the cache, 2 MiB pages keep the whole array within the TLB's reach. Arrays
    // under 2 MiB come from malloc; bigger ones get their own 2 MiB-aligned mapping
    // (std::vector's growth moves to a new one, as it would with malloc).
    template <class T>
    struct HugePageAllocator {
        typedef T value_type;
        static const std::size_t HUGE_PAGE = 2u << 20;
        HugePageAllocator() noexcept {}
        template <class U> HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
        static std::size_t mapped_bytes(std::size_t n) {
            return (n * sizeof(T) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        }
        T* allocate(std::size_t n) {
            if (n * sizeof(T) < HUGE_PAGE) {
                void* p = std::malloc(n * sizeof(T));
                if (!p) throw std::bad_alloc();
                return static_cast<T*>(p);
            }
            std::size_t bytes = mapped_bytes(n);
            // Map one huge page more than needed, then trim to a 2 MiB-aligned range.
            char* raw = static_cast<char*>(mmap(nullptr, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE,
                                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
            if (raw == MAP_FAILED) throw std::bad_alloc();
            std::size_t lead = (HUGE_PAGE - reinterpret_cast<std::size_t>(raw) % HUGE_PAGE) % HUGE_PAGE;
            if (lead) munmap(raw, lead);
            munmap(raw + lead + bytes, HUGE_PAGE - lead);
    #ifdef MADV_HUGEPAGE
            madvise(raw + lead, bytes, MADV_HUGEPAGE);  // only a hint: fine if it fails
    #endif
            return reinterpret_cast<T*>(raw + lead);
        }
        void deallocate(T* p, std::size_t n) noexcept {
            if (n * sizeof(T) < HUGE_PAGE) std::free(p);
            else munmap(p, mapped_bytes(n));
        }
    };
    template <class T, class U>
    bool operator==(const HugePageAllocator<T>&, const HugePageAllocator<U>&) { return true; }
    template <class T, class U>
    bool operator!=(const HugePageAllocator<T>&, const HugePageAllocator<U>&) { return false; }

    static inline void prefetch(const void* address) { __builtin_prefetch(address); }
    static inline void prefetch_for_write(const void* address) { __builtin_prefetch(address, 1); }

    struct AgentKey {
        double primary;
        double secondary;
        int agent;
        bool operator<(const AgentKey& other) const {
            if (primary != other.primary) return primary < other.primary;
            if (secondary != other.secondary) return secondary < other.secondary;
            return agent < other.agent;
        }
    };
    """
    cdef cppclass HugePageAllocator[T]:
        pass
    void prefetch(const void* address)
    void prefetch_for_write(const void* address)
    cdef cppclass AgentKey:
        double primary
        double secondary
        int agent

# Kept equal to native/constants.py (a unit test checks it); compile-time here so the
# hot path compares plain integers.
cdef enum:
    PRIORITY_COUNT = 4
    CHANNEL_COUNT = 6
    MAX_SO_CLASSES = 16
    MIN_LEVEL = 1
    MAX_LEVEL = 16
    QUEUEING_DQP = 0
    QUEUEING_FIFO = 1
    SELECT_LONGEST_IDLE = 0
    SELECT_LEAST_OCCUPIED = 1
    SELECT_BEST_SKILL = 2
    SELECT_ROUND_ROBIN = 3
    CALL_SELECT_SKILL_LEVEL = 1
    FREE = 0
    QUEUED = 1
    DETACHED = 2
    NONE = -1
    QUEUES_PER_SKILL = 6 * 4 * 16

cdef enum:
    UNLINK_LAG = 16         # queued removals between a contact's `remove` and its unlinking
    LAG_RING = 32           # a power of two > UNLINK_LAG
    STATES_PER_BYTE = 4     # 2 bits each

# A contact is split in two structs, each in its own vector indexed by handle, by what
# touches it: unlinking touches the contact's Link and its neighbours' (16 bytes: one cache
# line each, never two), routing reads class heads' Keys.
#
# `prev` is kept only for contacts that are not their class's head: a head has no
# predecessor, and every reader asks the ClassQueue whether a contact is its head. So
# unlinking a head need not write the new head's Link, a store that would miss the cache
# and stall the caller (route takes heads, one after another).
cdef struct Link:
    int32_t prev
    int32_t next
    int32_t skill
    uint8_t channel
    uint8_t priority
    uint8_t so_class

cdef struct Key:
    double arrival
    double service_objective
    int64_t seq

cdef struct ClassQueue:
    int32_t head
    int32_t tail
    int32_t count

cdef struct SkillRecord:
    int queueing
    int agent_selection
    int widen_level
    double widen_after_s
    int class_count
    double so_classes[MAX_SO_CLASSES]
    int64_t counts[PRIORITY_COUNT]
    int64_t round_robin_clock

cdef struct AgentRecord:
    int call_selection
    int channels_mask
    double idle_since
    double occupancy
    int32_t first_entry
    int32_t entry_count

cdef struct AgentSkillEntry:
    int32_t skill
    int32_t level
    int64_t round_robin_stamp
    bint indexed
    double key_primary
    double key_secondary


cdef inline int _check_channel_priority(int channel, int priority) except -1:
    if channel < 0 or channel >= CHANNEL_COUNT:
        raise ValueError(f"channel must be 0..{CHANNEL_COUNT - 1}, got {channel!r}")
    if priority < 0 or priority >= PRIORITY_COUNT:
        raise ValueError(f"priority must be 0..{PRIORITY_COUNT - 1}, got {priority!r}")
    return 0


cdef inline double _finite(str name, object value) except? -1.0:
    cdef double number = float(value)
    if not isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number!r}")
    return number


cdef class Scheduler:
    """Queues of one site (or shard) and its available agents; see native/pyscheduler.py."""

    # The internal cdef methods are `noexcept` where they cannot raise (else Cython checks
    # PyErr_Occurred() after every call), and those not inlined are @cython.final (called
    # directly, not through the vtable): the hot paths are a few dozen instructions.

    cdef vector[Link, HugePageAllocator[Link]] _links
    cdef vector[Key, HugePageAllocator[Key]] _keys
    # FREE, QUEUED or DETACHED per handle, 2 bits each (see _state_of): `remove` must read
    # it before anything else, and at 1e6 contacts 250 KB can stay in the L2 cache.
    cdef vector[uint8_t] _states
    # The handles of the last queued removals, at _removals % LAG_RING; the last
    # _lag_count of them are still linked (see _lag_unlink).
    cdef int32_t _lagging[LAG_RING]
    cdef unsigned int _removals
    cdef unsigned int _lag_count
    cdef vector[int32_t] _free_handles
    cdef vector[SkillRecord] _skills
    cdef vector[ClassQueue] _queues          # QUEUES_PER_SKILL per skill
    cdef vector[uint16_t] _class_masks       # non-empty classes per (skill, channel, priority)
    cdef vector[AgentRecord] _agents
    cdef vector[AgentSkillEntry] _entries
    cdef vector[cset[AgentKey]] _ready       # (skill, channel, widened) -> ordered agents
    cdef int64_t _next_seq
    cdef int64_t _live

    def __cinit__(self):
        self._next_seq = 0
        self._live = 0
        self._removals = 0
        self._lag_count = 0

    # ---- skills -------------------------------------------------------------------
    def add_skill(self, int queueing, int agent_selection, int widen_level=MAX_LEVEL,
                  widen_after_s=0.0):
        cdef SkillRecord record
        cdef ClassQueue empty
        cdef int i
        if queueing != QUEUEING_DQP and queueing != QUEUEING_FIFO:
            raise ValueError(f"queueing must be 0 (dqp) or 1 (fifo), got {queueing!r}")
        if agent_selection < SELECT_LONGEST_IDLE or agent_selection > SELECT_ROUND_ROBIN:
            raise ValueError(f"agent_selection must be 0..3, got {agent_selection!r}")
        if widen_level < MIN_LEVEL or widen_level > MAX_LEVEL:
            raise ValueError(f"widen_level must be {MIN_LEVEL}..{MAX_LEVEL}, got {widen_level!r}")
        cdef double widen_after = _finite("widen_after_s", widen_after_s)
        if widen_after < 0:
            raise ValueError(f"widen_after_s must be >= 0, got {widen_after!r}")
        record.queueing = queueing
        record.agent_selection = agent_selection
        record.widen_level = widen_level
        record.widen_after_s = widen_after
        record.class_count = 0
        record.round_robin_clock = 0
        for i in range(PRIORITY_COUNT):
            record.counts[i] = 0
        self._skills.push_back(record)
        empty.head = NONE
        empty.tail = NONE
        empty.count = 0
        for i in range(QUEUES_PER_SKILL):
            self._queues.push_back(empty)
        for i in range(CHANNEL_COUNT * PRIORITY_COUNT):
            self._class_masks.push_back(0)
        self._ready.resize(self._ready.size() + CHANNEL_COUNT * 2)
        return <int>self._skills.size() - 1

    def skill_count(self):
        return self._skills.size()

    cdef inline int _check_skill(self, int skill) except -1:
        if skill < 0 or skill >= <int>self._skills.size():
            raise KeyError(f"unknown skill {skill!r}")
        return 0

    # ---- contacts -----------------------------------------------------------------
    def enqueue(self, int skill, int channel, int priority, service_objective_s, arrival_time):
        self._check_skill(skill)
        _check_channel_priority(channel, priority)
        cdef double so = _finite("service_objective_s", service_objective_s)
        if so <= 0:
            raise ValueError(f"service_objective_s must be > 0, got {so!r}")
        cdef double arrival = _finite("arrival_time", arrival_time)
        cdef SkillRecord* record = &self._skills[skill]
        cdef int so_class = 0
        cdef int i
        if record.queueing == QUEUEING_DQP:
            so_class = -1
            for i in range(record.class_count):
                if record.so_classes[i] == so:
                    so_class = i
                    break
            if so_class < 0:
                if record.class_count >= MAX_SO_CLASSES:
                    raise ValueError(
                        f"skill {skill} already has {MAX_SO_CLASSES} service objective classes")
                so_class = record.class_count
                record.so_classes[so_class] = so
                record.class_count += 1
        cdef int32_t handle
        cdef Link link
        cdef Key key
        key.arrival = arrival
        key.service_objective = so
        key.seq = self._next_seq
        link.skill = skill
        link.channel = channel
        link.priority = priority
        link.so_class = so_class
        self._unlink_pending()
        if self._free_handles.size():
            handle = self._free_handles.back()
            self._free_handles.pop_back()
            self._links[handle] = link
            self._keys[handle] = key
            self._set_state(handle, QUEUED)
        else:
            handle = <int32_t>self._links.size()
            self._links.push_back(link)
            self._keys.push_back(key)
            if handle % STATES_PER_BYTE == 0:
                self._states.push_back(0)      # four FREE
            self._set_state(handle, QUEUED)
        self._next_seq += 1
        self._live += 1
        self._link_tail(handle)
        return handle

    cdef inline int _queue_index(self, Link* link) noexcept nogil:
        return (link.skill * QUEUES_PER_SKILL
                + (link.channel * PRIORITY_COUNT + link.priority) * MAX_SO_CLASSES
                + link.so_class)

    cdef inline int _mask_index(self, int skill, int channel, int priority) noexcept nogil:
        return (skill * CHANNEL_COUNT + channel) * PRIORITY_COUNT + priority

    @cython.final
    cdef void _link_tail(self, int32_t handle) noexcept:
        cdef Link* link = &self._links[handle]
        cdef ClassQueue* queue = &self._queues[self._queue_index(link)]
        link.next = NONE
        link.prev = queue.tail
        if queue.tail == NONE:
            queue.head = handle
        else:
            self._links[queue.tail].next = handle
        queue.tail = handle
        self._note_linked(link, queue)

    cdef inline void _note_linked(self, Link* link, ClassQueue* queue) noexcept:
        queue.count += 1
        self._skills[link.skill].counts[link.priority] += 1
        self._class_masks[self._mask_index(link.skill, link.channel, link.priority)] |= (
            1 << link.so_class)

    @cython.final
    cdef void _unlink(self, int32_t handle) noexcept:
        cdef Link* link = &self._links[handle]
        cdef ClassQueue* queue = &self._queues[self._queue_index(link)]
        if queue.head == handle:
            queue.head = link.next
            if link.next == NONE:
                queue.tail = NONE
            else:
                # The new head's `prev` is left stale (see Link). Routing reads its Key
                # next and its Link when it takes it: start fetching both while the
                # caller's Python code runs.
                prefetch(&self._keys[link.next])
                prefetch(&self._links[link.next])
        else:
            self._links[link.prev].next = link.next
            if link.next == NONE:
                queue.tail = link.prev
            else:
                self._links[link.next].prev = link.prev
        queue.count -= 1
        self._skills[link.skill].counts[link.priority] -= 1
        if queue.count == 0:
            self._class_masks[self._mask_index(link.skill, link.channel, link.priority)] &= (
                ~(1 << link.so_class))

    # `handle` >= 0 and < _links.size(); unsigned, so that / and % are shifts and masks.
    cdef inline int _state_of(self, unsigned int handle) noexcept nogil:
        cdef unsigned int shift = handle % STATES_PER_BYTE * 2
        return self._states[handle / STATES_PER_BYTE] >> shift & 3

    cdef inline void _set_state(self, unsigned int handle, int state) noexcept nogil:
        cdef unsigned int shift = handle % STATES_PER_BYTE * 2
        cdef uint8_t* byte = &self._states[handle / STATES_PER_BYTE]
        byte[0] = (byte[0] & ~(3 << shift)) | (state << shift)

    cdef inline int _state(self, int handle) except -1:
        cdef int state = FREE
        if 0 <= handle < <int>self._links.size():
            state = self._state_of(handle)
        if state == FREE:
            raise KeyError(f"unknown contact handle {handle!r}")
        return state

    def remove(self, int handle):
        """Forget a queued or detached contact (abandoned, finished, interflowed)."""
        cdef int state = self._state(handle)
        self._set_state(handle, FREE)
        self._free_handles.push_back(handle)
        self._live -= 1
        if state == QUEUED:
            self._lag_unlink(handle)

    # Unlinking reads the contact's Link and then writes its two neighbours': with many
    # contacts queued each is a cache miss, and the second waits for the first. So `remove`
    # only marks the contact free and unlinks it UNLINK_LAG queued removals later, as a
    # software pipeline: its Link is prefetched now, its neighbours halfway, and by the
    # time it is unlinked they are in cache, fetched while the caller's Python code ran.
    # Until then it stays in its class list and in the counts, unseen: every method that
    # reads those (and enqueue, which may reuse its handle) first unlinks the lagging ones
    # (_unlink_pending).
    cdef inline void _lag_unlink(self, int32_t handle) noexcept:
        cdef unsigned int n = self._removals
        prefetch(&self._links[handle])
        self._lagging[n % LAG_RING] = handle
        self._removals = n + 1
        if self._lag_count >= UNLINK_LAG // 2:
            self._prefetch_neighbours(self._lagging[(n - UNLINK_LAG // 2) % LAG_RING])
        if self._lag_count == UNLINK_LAG:
            self._unlink(self._lagging[(n - UNLINK_LAG) % LAG_RING])
        else:
            self._lag_count += 1

    cdef inline void _prefetch_neighbours(self, int32_t handle) noexcept:
        cdef Link* link = &self._links[handle]
        # Only a hint: the unlink reads the links as they are then. (A head's `prev` is
        # stale, see Link; fetching it is harmless.)
        if link.prev != NONE:
            prefetch_for_write(&self._links[link.prev])
        if link.next != NONE:
            prefetch_for_write(&self._links[link.next])

    cdef inline void _unlink_pending(self) noexcept:
        if self._lag_count:
            self._unlink_lagging()

    @cython.final
    cdef void _unlink_lagging(self) noexcept:
        # Counters wrap around: only their differences, taken % LAG_RING, are used.
        cdef unsigned int first = self._removals - self._lag_count
        cdef unsigned int i
        # Two passes, so that the neighbours' cache misses are in flight together.
        for i in range(self._lag_count):
            self._prefetch_neighbours(self._lagging[(first + i) % LAG_RING])
        for i in range(self._lag_count):
            self._unlink(self._lagging[(first + i) % LAG_RING])
        self._lag_count = 0

    def detach(self, int handle):
        """Take a queued contact out of its queue (it is being offered); it keeps its place key."""
        if self._state(handle) != QUEUED:
            raise KeyError(f"contact handle {handle!r} is not queued")
        self._unlink(handle)          # lagging neighbours or not: unlinking is local
        self._set_state(handle, DETACHED)

    def requeue(self, int handle):
        """Put a detached contact back at its original position (never the tail)."""
        if self._state(handle) != DETACHED:
            raise KeyError(f"contact handle {handle!r} is not detached")
        self._unlink_pending()
        cdef Link* link = &self._links[handle]
        cdef ClassQueue* queue = &self._queues[self._queue_index(link)]
        cdef int64_t seq = self._keys[handle].seq
        # An offered contact was a head, so only the few contacts older than it are walked.
        cdef int32_t after = queue.head
        while after != NONE and self._keys[after].seq <= seq:
            after = self._links[after].next
        if after == NONE:
            self._link_tail(handle)
        else:
            link.next = after
            if after == queue.head:
                queue.head = handle
            else:
                link.prev = self._links[after].prev
                self._links[link.prev].next = handle
            self._links[after].prev = handle
            self._note_linked(link, queue)
        self._set_state(handle, QUEUED)

    def set_priority(self, int handle, int priority):
        """Move a queued or detached contact to another priority, placed by its waiting time.

        A routing plan raises or lowers a waiting contact (SPEC §10 `priority`). It keeps
        its arrival and sequence, so among the new priority's contacts it stands where its
        wait puts it, never at the tail. A detached (offered) contact goes back there if
        its offer is withdrawn."""
        cdef int state = self._state(handle)
        _check_channel_priority(0, priority)
        if state == QUEUED:
            self._unlink(handle)
            self._set_state(handle, DETACHED)
        self._links[handle].priority = priority
        if state == QUEUED:
            self.requeue(handle)

    def is_queued(self, int handle):
        return 0 <= handle < <int>self._links.size() and self._state_of(handle) == QUEUED

    def contact_count(self):
        return self._live

    def queued_count(self, int skill, int priority):
        self._check_skill(skill)
        _check_channel_priority(0, priority)
        self._unlink_pending()
        return self._skills[skill].counts[priority]

    def queued_total(self, int skill):
        self._check_skill(skill)
        self._unlink_pending()
        cdef int64_t total = 0
        cdef int priority
        for priority in range(PRIORITY_COUNT):
            total += self._skills[skill].counts[priority]
        return total

    def oldest_arrival(self, int skill):
        """Arrival time of the longest-waiting queued contact of a skill, or None."""
        self._check_skill(skill)
        self._unlink_pending()
        cdef bint found = False
        cdef double oldest = 0.0
        cdef int channel, priority, so_class
        cdef uint16_t mask
        cdef double arrival
        for channel in range(CHANNEL_COUNT):
            for priority in range(PRIORITY_COUNT):
                mask = self._class_masks[self._mask_index(skill, channel, priority)]
                so_class = 0
                while mask:
                    if mask & 1:
                        arrival = self._keys[self._queues[
                            skill * QUEUES_PER_SKILL
                            + (channel * PRIORITY_COUNT + priority) * MAX_SO_CLASSES
                            + so_class].head].arrival
                        if not found or arrival < oldest:
                            oldest = arrival
                            found = True
                    mask >>= 1
                    so_class += 1
        return oldest if found else None

    def head(self, int skill, int channel, int priority, now):
        """The contact a DQP/FIFO skill serves next on one channel and priority, or -1."""
        self._check_skill(skill)
        _check_channel_priority(channel, priority)
        cdef double time = _finite("now", now)
        cdef double need
        self._unlink_pending()
        return self._head_of(skill, channel, priority, time, -1.0, &need)

    @cython.final
    cdef int32_t _head_of(self, int skill, int channel, int priority, double now,
                          double min_wait, double* need_out) noexcept:
        """Best class head of one (skill, channel, priority) and its need, or -1."""
        cdef uint16_t mask = self._class_masks[self._mask_index(skill, channel, priority)]
        cdef int base = skill * QUEUES_PER_SKILL + (channel * PRIORITY_COUNT + priority) * MAX_SO_CLASSES
        cdef int32_t best = NONE
        cdef double best_need = 0.0
        cdef int64_t best_seq = 0
        cdef int so_class = 0
        cdef int32_t handle
        cdef Key* key
        cdef double wait, need
        while mask:
            if mask & 1:
                handle = self._queues[base + so_class].head
                key = &self._keys[handle]
                wait = now - key.arrival
                if wait >= min_wait:
                    need = wait / key.service_objective
                    if best == NONE or need > best_need or (need == best_need and key.seq < best_seq):
                        best = handle
                        best_need = need
                        best_seq = key.seq
            mask >>= 1
            so_class += 1
        need_out[0] = best_need
        return best

    # ---- agents -------------------------------------------------------------------
    def add_agent(self, skills, int call_selection=_CALL_SELECT_GREATEST_NEED):
        """Register an agent with [(skill, level), ...]; it starts unavailable."""
        if call_selection != _CALL_SELECT_GREATEST_NEED and call_selection != _CALL_SELECT_SKILL_LEVEL:
            raise ValueError(f"call_selection must be 0 or 1, got {call_selection!r}")
        pairs = []
        seen = set()
        for skill, level in skills:
            self._check_skill(skill)
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ValueError(f"level must be {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}")
            if skill in seen:
                raise ValueError(f"skill {skill} listed twice for one agent")
            seen.add(skill)
            pairs.append((skill, level))
        cdef AgentRecord record
        cdef AgentSkillEntry entry
        record.call_selection = call_selection
        record.channels_mask = 0
        record.idle_since = 0.0
        record.occupancy = 0.0
        record.first_entry = <int32_t>self._entries.size()
        record.entry_count = len(pairs)
        for skill, level in pairs:
            entry.skill = skill
            entry.level = level
            entry.round_robin_stamp = 0
            entry.indexed = False
            entry.key_primary = 0.0
            entry.key_secondary = 0.0
            self._entries.push_back(entry)
        self._agents.push_back(record)
        return <int>self._agents.size() - 1

    def agent_count(self):
        return self._agents.size()

    cdef inline int _check_agent(self, int agent) except -1:
        if agent < 0 or agent >= <int>self._agents.size():
            raise KeyError(f"unknown agent {agent!r}")
        return 0

    cdef inline int _ready_index(self, int skill, int channel, int widened) noexcept nogil:
        return (skill * CHANNEL_COUNT + channel) * 2 + widened

    @cython.final
    cdef void _unindex(self, int agent) noexcept:
        cdef AgentRecord* record = &self._agents[agent]
        cdef AgentSkillEntry* entry
        cdef AgentKey key
        cdef int i, channel, widened
        key.agent = agent
        for i in range(record.first_entry, record.first_entry + record.entry_count):
            entry = &self._entries[i]
            if not entry.indexed:
                continue
            key.primary = entry.key_primary
            key.secondary = entry.key_secondary
            widened = 1 if entry.level > self._skills[entry.skill].widen_level else 0
            for channel in range(CHANNEL_COUNT):
                if record.channels_mask >> channel & 1:
                    self._ready[self._ready_index(entry.skill, channel, widened)].erase(key)
            entry.indexed = False

    @cython.final
    cdef void _index(self, int agent) noexcept:
        cdef AgentRecord* record = &self._agents[agent]
        if not record.channels_mask:
            return
        cdef AgentSkillEntry* entry
        cdef AgentKey key
        cdef int i, channel, widened, policy
        key.agent = agent
        for i in range(record.first_entry, record.first_entry + record.entry_count):
            entry = &self._entries[i]
            policy = self._skills[entry.skill].agent_selection
            if policy == SELECT_LONGEST_IDLE:
                key.primary = record.idle_since
                key.secondary = 0.0
            elif policy == SELECT_LEAST_OCCUPIED:
                key.primary = record.occupancy
                key.secondary = record.idle_since
            elif policy == SELECT_BEST_SKILL:
                key.primary = <double>entry.level
                key.secondary = record.idle_since
            else:
                key.primary = <double>entry.round_robin_stamp
                key.secondary = 0.0
            entry.key_primary = key.primary
            entry.key_secondary = key.secondary
            entry.indexed = True
            widened = 1 if entry.level > self._skills[entry.skill].widen_level else 0
            for channel in range(CHANNEL_COUNT):
                if record.channels_mask >> channel & 1:
                    self._ready[self._ready_index(entry.skill, channel, widened)].insert(key)

    def set_agent_availability(self, int agent, int channels_mask, idle_since=0.0, occupancy=0.0):
        """Which channels the agent can take now (0 = none) and its selection figures."""
        self._check_agent(agent)
        if channels_mask < 0 or channels_mask >= (1 << CHANNEL_COUNT):
            raise ValueError(
                f"channels_mask must be 0..{(1 << CHANNEL_COUNT) - 1}, got {channels_mask!r}")
        cdef double idle = _finite("idle_since", idle_since)
        cdef double occupied = _finite("occupancy", occupancy)
        self._unindex(agent)
        cdef AgentRecord* record = &self._agents[agent]
        record.channels_mask = channels_mask
        record.idle_since = idle
        record.occupancy = occupied
        self._index(agent)

    def note_assignment(self, int agent, int skill):
        """Round-robin bookkeeping: the agent just got a contact of this skill."""
        self._check_agent(agent)
        self._check_skill(skill)
        cdef AgentRecord* record = &self._agents[agent]
        cdef int i
        cdef int found = -1
        for i in range(record.first_entry, record.first_entry + record.entry_count):
            if self._entries[i].skill == skill:
                found = i
                break
        if found < 0:
            raise KeyError(f"agent {agent} has no skill {skill}")
        self._unindex(agent)
        self._skills[skill].round_robin_clock += 1
        self._entries[found].round_robin_stamp = self._skills[skill].round_robin_clock
        self._index(agent)

    def agent_channels(self, int agent):
        self._check_agent(agent)
        return self._agents[agent].channels_mask

    def best_agent(self, int skill, int channel, bint widened=False):
        """The available agent a new contact of this skill/channel goes to, or -1."""
        self._check_skill(skill)
        _check_channel_priority(channel, 0)
        cdef cset[AgentKey]* ready = &self._ready[self._ready_index(skill, channel, 1 if widened else 0)]
        if ready.empty():
            return NONE
        return deref(ready.begin()).agent

    def available_count(self, int skill, int channel, bint widened=False):
        self._check_skill(skill)
        _check_channel_priority(channel, 0)
        return self._ready[self._ready_index(skill, channel, 1 if widened else 0)].size()

    @cython.final
    cdef int32_t _best_contact(self, int agent, double now) noexcept:
        self._unlink_pending()
        cdef AgentRecord* record = &self._agents[agent]
        cdef int mask = record.channels_mask
        if not mask:
            return NONE
        cdef bint skill_level_first = record.call_selection == CALL_SELECT_SKILL_LEVEL
        cdef int32_t best = NONE
        cdef int best_level = 0, best_priority = 0
        cdef double best_need = 0.0
        cdef int64_t best_seq = 0
        cdef int i, channel, priority, level, skill
        cdef int32_t handle
        cdef double need, min_wait
        cdef SkillRecord* skill_record
        cdef int64_t seq
        for i in range(record.first_entry, record.first_entry + record.entry_count):
            skill = self._entries[i].skill
            level = self._entries[i].level
            skill_record = &self._skills[skill]
            min_wait = skill_record.widen_after_s if level > skill_record.widen_level else -1.0
            if not skill_level_first:
                level = 0
            for channel in range(CHANNEL_COUNT):
                if not (mask >> channel & 1):
                    continue
                for priority in range(PRIORITY_COUNT):
                    if not self._class_masks[self._mask_index(skill, channel, priority)]:
                        continue
                    handle = self._head_of(skill, channel, priority, now, min_wait, &need)
                    if handle == NONE:
                        continue
                    seq = self._keys[handle].seq
                    # Lexicographic (level, priority, -need, seq), as the twin's tuple key.
                    if (best == NONE or level < best_level
                            or (level == best_level and (priority < best_priority
                                or (priority == best_priority and (need > best_need
                                    or (need == best_need and seq < best_seq)))))):
                        best = handle
                        best_level = level
                        best_priority = priority
                        best_need = need
                        best_seq = seq
                    break
        return best

    def best_contact(self, int agent, now):
        """The queued contact this available agent should take next, or -1 (a peek)."""
        self._check_agent(agent)
        return self._best_contact(agent, _finite("now", now))

    def take_best_contact(self, int agent, now):
        """best_contact, detached from its queue (the caller offers it)."""
        self._check_agent(agent)
        cdef int32_t handle = self._best_contact(agent, _finite("now", now))
        if handle != NONE:
            self._unlink(handle)
            self._set_state(handle, DETACHED)
        return handle

    def contact_info(self, int handle):
        """(skill, channel, priority, service_objective_s, arrival_time, seq) of a live handle."""
        self._state(handle)
        cdef Link* link = &self._links[handle]
        cdef Key* key = &self._keys[handle]
        return (link.skill, link.channel, link.priority, key.service_objective, key.arrival,
                key.seq)
