import CloudRecCore
import CloudRecMetrics
import CloudRecVendors
import Foundation
import HeapModule
import Logging
import Synchronization

/// Settings the pollers share, replaced as a whole on reload.
public struct PollingSettings: Sendable, Hashable {
    public var requestTimeout: Double
    public var maxResponseBytes: Int
    /// Spread of each interval, ±fraction, so tasks registered together do not stay in lockstep.
    public var jitter: Double = 0.1

    public init(requestTimeout: Double = 10, maxResponseBytes: Int = 4 * 1024 * 1024) {
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// Polls every task of one account: earliest due first, one request per budget slot, so when the account has more
/// tasks than `rate_limit × poll_interval` every task's interval stretches evenly instead of some starving.
public final class AccountPoller: Sendable {
    struct Due: Comparable {
        var time: Double
        var sequence: UInt64
        var key: TaskKey
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.time, lhs.sequence) < (rhs.time, rhs.sequence) }
    }

    struct Schedule {
        var heap = Heap<Due>()
        /// The live entry per task; heap entries with another sequence number are stale and skipped.
        var current: [TaskKey: UInt64] = [:]
        var inFlight = Set<TaskKey>()
        var nextSequence: UInt64 = 0
        var lastLag: Double = 0
        var lastOutcome: PollOutcome?
        var health = AccountHealth()

        mutating func schedule(_ key: TaskKey, at time: Double) {
            nextSequence += 1
            current[key] = nextSequence
            heap.insert(Due(time: time, sequence: nextSequence, key: key))
        }

        /// Drops stale heap entries and returns the live head.
        mutating func head() -> Due? {
            while let top = heap.min {
                if current[top.key] == top.sequence { return top }
                _ = heap.removeMin()
            }
            return nil
        }
    }

    public let account: AccountSpec
    public let client: any VendorClient
    public let budget: RequestBudget
    /// Discovery tracks only the tasks this replica owns, and a replica that owns none (an HA standby) lists nothing.
    private let ownership: ShardOwnership
    /// Hands a listed task to the engine like every other source (`PollingEngine.track`); true when it is new.
    private let discovered: @Sendable (TaskSpec) -> Bool
    private let schedule = Mutex(Schedule())
    private let stopped = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let tracker: TaskTracker
    private let metrics: ExporterMetrics
    private let transport: any VendorTransport
    /// The transport's own executor (AsyncHTTPClientTransport: the account's event loop), looked up once.
    private let executor: EventLoopTaskExecutor?
    /// This account's calls in flight; its own, so a hanging vendor cannot take another account's slots.
    public let concurrency: ConcurrencyLimiter
    private let settings: @Sendable () -> PollingSettings
    private let logger: Logger

    public init(account: AccountSpec, client: any VendorClient, tracker: TaskTracker, metrics: ExporterMetrics,
                transport: any VendorTransport, concurrencyLimit: Int = 32, settings: @escaping @Sendable () -> PollingSettings,
                logger: Logger, budgetShare: Double = 1, ownership: ShardOwnership = ShardOwnership(.unsharded),
                discovered: @escaping @Sendable (TaskSpec) -> Bool = { _ in false }) {
        self.ownership = ownership
        self.discovered = discovered
        self.account = account
        self.client = client
        // With sharding, every replica polls its share of the account's tasks within its share of rate_limit.
        self.budget = RequestBudget(limit: account.rateLimit * min(1, max(budgetShare, 1e-6)), maxRefusalPause: account.pollInterval / 2)
        self.tracker = tracker
        self.metrics = metrics
        self.transport = transport.forAccount(account)
        self.executor = (self.transport as? any PollingExecutorProvider)?.pollingExecutor as? EventLoopTaskExecutor
        self.concurrency = ConcurrencyLimiter(limit: concurrencyLimit)
        self.settings = settings
        var logger = logger
        logger[metadataKey: "account"] = .string(account.name)
        logger[metadataKey: "vendor"] = .string(account.vendor.rawValue)
        self.logger = logger
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }
    public var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Makes the scheduled set match `keys`: new tasks get a first poll spread over one interval (so a restart or a
    /// bulk registration does not fire every task at once); tasks no longer wanted are dropped.
    public func sync(keys: Set<TaskKey>, now: Double) {
        let interval = account.pollInterval
        schedule.withLock { s in
            for key in keys where s.current[key] == nil && !s.inFlight.contains(key) {
                s.schedule(key, at: now + Double.random(in: 0..<min(interval, 5)))
            }
            for key in Array(s.current.keys) where !keys.contains(key) { s.current.removeValue(forKey: key) }
        }
    }

    /// Tasks taken over from another replica (HA): each is due when its previous owner would have polled it next (its
    /// last poll plus one interval), or now when that time has passed or it was never polled, so a handover neither
    /// skips a poll nor adds one.
    public func adopt(_ tasks: [(key: TaskKey, lastPoll: Double?)], now: Double) {
        let interval = account.pollInterval
        schedule.withLock { s in
            for task in tasks where s.current[task.key] == nil && !s.inFlight.contains(task.key) {
                s.schedule(task.key, at: max(now, (task.lastPoll ?? now) + interval))
            }
        }
    }

    /// Schedules one task now (a new registration should be seen quickly).
    public func pollSoon(_ key: TaskKey, now: Double) {
        schedule.withLock { s in
            if !s.inFlight.contains(key) { s.schedule(key, at: now) }
        }
    }

    public func unschedule(_ key: TaskKey) { _ = schedule.withLock { $0.current.removeValue(forKey: key) } }

    /// Whether a task has a due time, or a call in flight (diagnostics and tests).
    public func scheduleState(_ key: TaskKey) -> (scheduled: Bool, inFlight: Bool) {
        schedule.withLock { ($0.current[key] != nil, $0.inFlight.contains(key)) }
    }

    public var lag: Double { schedule.withLock { $0.lastLag } }

    /// When a call last got through, and the last failure (for the landing page).
    public var health: AccountHealth { schedule.withLock { $0.health } }

    /// The poll loop. Only one loop runs per poller: a poller created before the engine runs reaches it twice (as
    /// an existing poller and through the new-poller stream), and two loops would race for the same budget slots.
    public func run() async {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        defer { running.store(false, ordering: .releasing) }
        // On the transport's own thread when it has one (AsyncHTTPClientTransport: the account's event loop), so a
        // poll runs start to end there instead of hopping between the cooperative pool and the event loop.
        await withTaskExecutorPreference(executor) { await self.loop() }
    }

    private func loop() async {
        await withDiscardingTaskGroup { group in
            if account.discover, let lister = VendorCatalog.makeLister(for: account) {
                group.addTask { await self.discoveryLoop(lister) }
            }
            while !isStopped, !Task.isCancelled {
                // The budget first: a slot that is not free yet is waited for before looking at the queue, so the
                // task sent is the most urgent one at the moment the slot opens.
                let now = Date().timeIntervalSince1970
                let sendAt = budget.nextSendTime(now: now)
                if sendAt > now {
                    await pause(min(sendAt - now, 0.25))
                    continue
                }
                // Peek and take in one critical section: a registration between the two must not become the
                // entry removed in place of the one we looked at (it would never be polled).
                let (due, head) = schedule.withLock { s -> (Due?, Due?) in
                    guard let head = s.head(), head.time <= now else { return (nil, s.head()) }
                    _ = s.heap.removeMin()
                    s.current.removeValue(forKey: head.key)
                    s.inFlight.insert(head.key)
                    return (head, head)
                }
                guard let next = due else {
                    // Nothing due: sleep until the head is due, re-checking often enough to see new registrations.
                    let wait = head.map { min($0.time - now, 0.25) } ?? 0.25
                    await pause(max(wait, 0.001))
                    continue
                }
                await concurrency.acquire()
                // HA fencing: a shard whose lease this replica can no longer prove is not polled, even if the
                // keeper has not released it yet. The task waits a second (a late renewal may prove the lease again);
                // a release unschedules it.
                guard ownership.keeps(next.key) else {
                    concurrency.release()
                    schedule.withLock { s in
                        s.inFlight.remove(next.key)
                        if s.current[next.key] == nil { s.schedule(next.key, at: now + 1) }
                    }
                    continue
                }
                let sentAt = Date().timeIntervalSince1970
                budget.recordSend(at: sentAt)
                schedule.withLock { $0.lastLag = max(0, sentAt - next.time) }
                group.addTask {
                    await self.poll(next.key, due: next.time, sentAt: sentAt)
                    self.concurrency.release()
                }
            }
        }
    }

    /// The poll loop's waits: on the transport's event loop timer when it has one (no Dispatch timer thread woken
    /// for each of the tens of waits a second), `Task.sleep` otherwise. Returns early when the task is cancelled.
    private func pause(_ seconds: Double) async {
        if let executor {
            await executor.sleep(seconds: seconds)
        } else {
            try? await Task.sleep(for: .seconds(seconds))
        }
    }

    /// One status call: build, send, classify, record, reschedule.
    func poll(_ key: TaskKey, due: Double? = nil, sentAt: Double? = nil) async {
        defer { _ = schedule.withLock { $0.inFlight.remove(key) } }
        guard let task = tracker.task(key) else { return }
        let current = settings()
        let started = Date().timeIntervalSince1970
        let result = await call(task.spec, settings: current)
        let finished = Date().timeIntervalSince1970
        metrics.recordCall(vendor: account.vendor, account: account.name, api: client.statusAPIName, result: result,
                           seconds: finished - started)
        switch result.outcome {
        case .throttled:
            budget.recordThrottled(sentAt: sentAt ?? started, now: finished, retryAfter: result.retryAfter)
            noteOutcome(result)
            // The refused call told us nothing about the task: it keeps its place in the queue.
            guard tracker.record(key, result: result, now: finished, notFoundGrace: client.notFoundGraceSeconds) != nil,
                  !isStopped else { return }
            schedule.withLock { s in
                if s.current[key] == nil { s.schedule(key, at: due ?? finished) }
            }
            return
        case .timeout, .transportError:
            break
        default:
            budget.recordAdmitted(sentAt: sentAt ?? started, now: finished)
        }
        noteOutcome(result)
        guard let updated = tracker.record(key, result: result, now: finished, notFoundGrace: client.notFoundGraceSeconds) else { return }
        if updated.status != task.status {
            logger.info("task status changed", metadata: [
                "task_id": .string(key.taskID), "from": .string(task.status.rawValue), "to": .string(updated.status.rawValue),
                "vendor_status": .string(updated.vendorStatus),
            ])
        }
        guard updated.needsPolling, !isStopped else { return }
        let interval = nextInterval(transitional: updated.status.isTransitional) * Double.random(in: (1 - current.jitter)...(1 + current.jitter))
        schedule.withLock { s in
            if s.current[key] == nil { s.schedule(key, at: finished + interval) }
        }
    }

    /// Seconds from a poll to the task's next due time, given how late the queue currently runs.
    func nextInterval(transitional: Bool) -> Double {
        Self.nextInterval(pollInterval: account.pollInterval, transitional: transitional, lateness: lag)
    }

    /// Tasks in a transitional state are due after a third of the interval (at least 1 s, at most the interval).
    /// When the account has more tasks than its budget covers in one interval, the queue (ordered by due time) runs
    /// `lateness` seconds behind and every task's interval stretches by that much, evenly; `cloudrec_poll_lag_seconds`
    /// shows it. A transitional task is then also moved ahead by two thirds of the lateness, so it is still served
    /// after about a third of the time a steady task waits. It is never put ahead of tasks already overdue (its due
    /// time stays after the head's), so nothing starves.
    static func nextInterval(pollInterval interval: Double, transitional: Bool, lateness: Double) -> Double {
        guard transitional else { return interval }
        return min(interval, max(1, interval / 3)) - 2 * max(0, lateness) / 3
    }

    /// Sends one status request and classifies what happened into exactly one outcome.
    public func call(_ spec: TaskSpec, settings: PollingSettings) async -> PollResult {
        switch await send(settings: settings, { try client.statusRequest(for: spec, context: $0) }) {
        case let .success(response): return client.interpretStatus(response, for: spec)
        case let .failure(failure): return failure.result
        }
    }

    /// Builds and sends a request; a build or transport failure is already classified into a `PollResult`.
    func send(settings: PollingSettings, _ build: (RequestContext) throws -> OutboundRequest) async -> Result<InboundResponse, PollFailure> {
        let request: OutboundRequest
        do {
            request = try build(RequestContext())
        } catch {
            return .failure(PollFailure(.failure(.clientError, code: "request_build", message: "\(error)")))
        }
        do {
            return .success(try await transport.send(request, timeout: settings.requestTimeout, maxResponseBytes: settings.maxResponseBytes))
        } catch {
            return .failure(PollFailure(Self.classify(error)))
        }
    }

    static func classify(_ error: any Error) -> PollResult {
        guard let failure = error as? TransportFailure else {
            return .failure(.transportError, code: nil, message: String(describing: type(of: error)))
        }
        switch failure {
        case .timeout: return .failure(.timeout, code: nil, message: failure.description)
        case .responseTooLarge: return .failure(.decodeError, code: "response_too_large", message: failure.description)
        case .connection: return .failure(.transportError, code: nil, message: failure.description)
        }
    }

    /// Lists the account's tasks on its own interval, inside the same request budget as the status polls, and
    /// tracks every task the vendor reports (source `discovery`). A throttled or failed listing is counted and
    /// retried next round.
    func discoveryLoop(_ lister: any TaskLister) async {
        metrics.registerAPI(vendor: account.vendor, account: account.name, api: lister.listAPIName)
        var since = Date().addingTimeInterval(-account.discoverInterval)
        while !isStopped, !Task.isCancelled {
            let roundStart = Date()
            var complete = true
            if ownership.share == 0 {
                try? await Task.sleep(for: .seconds(min(account.discoverInterval, 5)))
                continue
            }
            queries: for query in lister.queries(now: roundStart, since: since) {
                var page = 1
                // A bound on pages per query, so a misbehaving list cannot spin.
                for _ in 0..<200 {
                    let wait = budget.reserve(now: Date().timeIntervalSince1970)
                    if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
                    if isStopped || Task.isCancelled { return }
                    let started = Date().timeIntervalSince1970
                    let listed: ListPage
                    switch await send(settings: settings(), { try lister.listRequest(query, page: page, context: $0) }) {
                    case let .success(response): listed = lister.interpretList(response, query: query, page: page)
                    case let .failure(failure): listed = ListPage(result: failure.result)
                    }
                    let finished = Date().timeIntervalSince1970
                    metrics.recordCall(vendor: account.vendor, account: account.name, api: lister.listAPIName,
                                       result: listed.result, seconds: finished - started)
                    guard listed.result.outcome == .success else {
                        if listed.result.outcome == .throttled { budget.recordThrottled(now: finished, retryAfter: listed.result.retryAfter) }
                        noteOutcome(listed.result)
                        complete = false
                        break queries
                    }
                    for task in listed.tasks {
                        let spec = TaskSpec(account: account.name, id: task.id, fields: task.fields)
                        guard ownership.keeps(spec.key) else { continue }
                        if discovered(spec) {
                            logger.info("task discovered", metadata: ["task_id": .string(task.id)])
                        }
                    }
                    guard let next = listed.nextPage else { break }
                    page = next
                }
            }
            if complete { since = roundStart }
            try? await Task.sleep(for: .seconds(account.discoverInterval))
        }
    }

    /// Carries an already classified failure through `Result`.
    struct PollFailure: Error {
        var result: PollResult
        init(_ result: PollResult) { self.result = result }
    }

    /// Logs when the account's calls change between working and failing, not on every call (no log storms).
    private func noteOutcome(_ result: PollResult) {
        // A function, not a set literal: this runs on every poll.
        func isHealthy(_ outcome: PollOutcome) -> Bool { outcome == .success || outcome == .notFound }
        let now = Date().timeIntervalSince1970
        let previous = schedule.withLock { s -> PollOutcome? in
            let previous = s.lastOutcome
            s.lastOutcome = result.outcome
            if isHealthy(result.outcome) {
                s.health.lastSuccess = now
            } else {
                s.health.lastFailure = .init(at: now, outcome: result.outcome.rawValue, code: result.vendorCode)
            }
            return previous
        }
        guard previous != result.outcome else { return }
        let metadata: Logger.Metadata = [
            "outcome": .string(result.outcome.rawValue), "code": .string(result.vendorCode ?? ""),
            "message": .string(result.message ?? ""),
        ]
        if isHealthy(result.outcome) {
            if let previous, !isHealthy(previous) { logger.info("vendor calls succeed again", metadata: metadata) }
        } else {
            logger.warning("vendor call failed", metadata: metadata)
        }
    }
}
