import CloudRecCore
import CloudRecMetrics
import CloudRecStorage
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// HA mode: holds this replica's fair share of the shard leases, hands shards over as replicas join and leave, and
/// brings task changes written by other replicas to the engine.
///
/// **Share.** Every round (a third of the lease duration) the replica renews its leases and reads the live
/// replicas. With n live replicas sorted by id, replica i's target is 64/n shards, plus one for the first 64 mod n;
/// replicas beyond 64 hold none (standbys). Above target it gives the highest shards back; below, it takes free or
/// expired ones. Replicas converge in a few rounds without talking to each other.
///
/// **Fencing.** A lease is used only until `renewal sent + lease − margin` by this replica's monotonic clock; the
/// database's expiry (`now() + lease` when the renewal arrived) is later, so another replica can only take a shard
/// after this one stopped polling and exporting it. When renewals fail for that long (database unreachable), every
/// shard is let go: the replica cannot know whether others took them, and two replicas must never poll one task.
///
/// **Budget.** Polling within `rate_limit × held / 64` per account. Giving shards back lowers the budget first,
/// waits one rate window, and only then releases the leases; the taker raises its budget after taking them. So the
/// replicas' budgets together never exceed `rate_limit`, handovers included.
public final class ShardLeaseKeeper: Service, Sendable {
    public struct Settings: Sendable {
        public var leaseSeconds: Double = 15
        public var resyncSeconds: Double = 30
        public init(leaseSeconds: Double = 15, resyncSeconds: Double = 30) {
            self.leaseSeconds = leaseSeconds
            self.resyncSeconds = resyncSeconds
        }
        var renewEvery: Double { leaseSeconds / 3 }
        /// How long before the database's expiry this replica stops using a lease.
        var margin: Double { max(1.5, leaseSeconds * 0.15) }
        /// Loading the rows of newly taken shards may take longer than a renewal, never past the new leases' fence.
        var loadTimeout: Double { max(renewEvery, leaseSeconds - margin) }
    }

    private let leases: any ShardLeases
    private let store: any TaskStore
    private let changes: AsyncStream<TaskKey>
    private let engine: PollingEngine
    private let settings: Settings
    private let logger: Logger
    private struct State {
        var held = Set<Int>()
        var validUntil = ContinuousClock.now
        var reachable = true
        var unowned = StoredTask.shardCount
        var replicas = 0
    }
    private let state = Mutex(State())
    let renewals = CounterFamily(name: "cloudrec_ha_lease_renewals_total",
                                 help: "Lease renewal rounds against the shared database, by result (ok, failed).", labelNames: ["result"])
    let handovers = CounterFamily(name: "cloudrec_ha_shard_handovers_total",
                                  help: "Shards this replica took (acquired), gave back (released) or lost when its leases ran out (expired).",
                                  labelNames: ["change"])
    let resyncs = CounterFamily(name: "cloudrec_ha_resyncs_total",
                                help: "Full reloads of the held shards' tasks from the shared database (periodic, or after the notification connection came back).",
                                labelNames: [])

    public init(leases: any ShardLeases, store: any TaskStore, changes: AsyncStream<TaskKey>, engine: PollingEngine,
                settings: Settings, logger: Logger) {
        self.leases = leases
        self.store = store
        self.changes = changes
        self.engine = engine
        self.settings = settings
        self.logger = logger
        for result in ["ok", "failed"] { renewals.touch([result]) }
        for change in ["acquired", "released", "expired"] { handovers.touch([change]) }
        resyncs.touch([])
    }

    public var held: Set<Int> { state.withLock { $0.held } }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.changeLoop() }
            group.addTask { await self.resyncLoop() }
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                // Until the store has migrated the schema (it retries and logs on its own), there is nothing to renew.
                guard leases.isPrepared else {
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                await round()
                let wait = state.withLock { s -> Duration in
                    let untilFence = s.held.isEmpty ? Duration.seconds(settings.renewEvery) : s.validUntil - ContinuousClock.now
                    return min(Duration.seconds(settings.renewEvery), max(untilFence, .milliseconds(50)))
                }
                try? await Task.sleep(for: wait)
            }
            group.cancelAll()
        }
        await leaveGracefully()
    }

    /// Shutdown: stop polling, write what is pending, give every lease back so the others take over at once.
    private func leaveGracefully() async {
        let held = state.withLock { s in
            defer { s.held = [] }
            return s.held
        }
        engine.release(shards: held)
        engine.applyBudgetShare()
        await store.flush()
        do {
            try await leases.leave()
            if !held.isEmpty { handovers.increment(["released"], by: Double(held.count)) }
        } catch {
            logger.warning("could not give the shard leases back; they expire on their own",
                           metadata: ["error": .string("\(error)")])
        }
    }

    func round() async {
        let sent = ContinuousClock.now
        let lease = settings.leaseSeconds
        do {
            let view = try await Deadline.run(seconds: settings.renewEvery, "lease renewal") { [leases] in
                try await leases.renew(leaseSeconds: lease)
            }
            renewals.increment(["ok"])
            let (lost, wasReachable) = state.withLock { s -> (Set<Int>, Bool) in
                let lost = s.held.subtracting(view.held)
                s.held = view.held
                s.validUntil = sent + .seconds(lease - settings.margin)
                engine.ownership.fence(until: s.validUntil)
                s.unowned = view.unowned
                s.replicas = view.replicas.count
                defer { s.reachable = true }
                return (lost, s.reachable)
            }
            if !wasReachable { logger.info("shard leases renewed again", metadata: ["held": .stringConvertible(view.held.count)]) }
            letGo(expired: lost, "shard leases ran out before renewal; their tasks are polled by another replica", level: .warning)
            try await rebalance(view, sent: sent)
        } catch {
            renewals.increment(["failed"])
            let (expired, wasReachable) = state.withLock { s -> (Set<Int>, Bool) in
                defer { s.reachable = false }
                guard ContinuousClock.now >= s.validUntil else { return ([], s.reachable) }
                defer { s.held = [] }
                return (s.held, s.reachable)
            }
            if wasReachable {
                logger.error("cannot renew the shard leases: polling goes on from memory until they run out, then stops",
                             metadata: ["error": .string("\(error)")])
            }
            letGo(expired: expired, "shard leases ran out while the database was unreachable; polling of their tasks stopped", level: .error)
        }
    }

    /// Stops polling and exporting shards whose leases ran out, lowers the budget, counts and logs it.
    private func letGo(expired shards: Set<Int>, _ message: Logger.Message, level: Logger.Level) {
        guard !shards.isEmpty else { return }
        engine.release(shards: shards)
        engine.applyBudgetShare()
        handovers.increment(["expired"], by: Double(shards.count))
        logger.log(level: level, message, metadata: ["shards": .stringConvertible(shards.count)])
    }

    /// Shards taken in one round at most.
    static let maxShardsPerRound = 16

    /// The fair target for this replica among the live ones.
    static func target(replicas: [String], me: String) -> Int {
        guard let index = replicas.firstIndex(of: me) else { return 0 }
        let count = replicas.count
        return StoredTask.shardCount / count + (index < StoredTask.shardCount % count ? 1 : 0)
    }

    private func rebalance(_ view: LeaseRound, sent: ContinuousClock.Instant) async throws {
        let target = Self.target(replicas: view.replicas, me: leases.replicaID)
        let held = view.held
        if held.count > target {
            let extra = Set(held.sorted().suffix(held.count - target))
            // Stop polling them and lower the budget first; one rate window later, nobody else can share it.
            state.withLock { $0.held.subtract(extra) }
            engine.release(shards: extra)
            engine.applyBudgetShare()
            await store.flush()
            try? await Task.sleep(for: .seconds(RequestBudget.window + RequestBudget.windowGuard + 0.05))
            try await Deadline.run(seconds: settings.renewEvery, "lease release") { [leases] in try await leases.release(extra) }
            handovers.increment(["released"], by: Double(extra.count))
            logger.info("shards handed over", metadata: ["shards": .stringConvertible(extra.count), "held": .stringConvertible(target)])
        } else if held.count < target {
            try await acquire(upTo: target - held.count, held: held.count, sent: sent)
        }
    }

    /// Takes shards in batches of `maxShardsPerRound`, loading each batch's rows before the next: a replica joining
    /// a loaded database takes its share in steps instead of one long stall. More batches follow in the same round
    /// while the round is young (an empty database: every shard at once); otherwise the next round renews first.
    private func acquire(upTo missing: Int, held: Int, sent: ContinuousClock.Instant) async throws {
        var missing = missing
        var held = held
        while missing > 0 {
            let wanted = min(missing, Self.maxShardsPerRound)
            let taken = try await Deadline.run(seconds: settings.renewEvery, "lease acquisition") { [leases, settings] in
                try await leases.acquire(count: wanted, leaseSeconds: settings.leaseSeconds)
            }
            guard !taken.isEmpty else { return }
            let rows: [StoredTask]
            let retired: [TaskKey: Double]
            do {
                (rows, retired) = try await Deadline.run(seconds: settings.loadTimeout, "loading taken shards") { [store] in
                    (try await store.load(shards: taken), try await store.loadRetired())
                }
            } catch {
                // Without their rows the shards cannot be polled faithfully: give them back for now.
                try? await Deadline.run(seconds: settings.renewEvery, "lease release") { [leases] in try await leases.release(taken) }
                throw error
            }
            // Taken with a fresh expiry, so the fence set at this round's renewal (earlier) covers them too.
            state.withLock { $0.held.formUnion(taken) }
            engine.adopt(shards: taken, rows: rows, retired: retired)
            engine.applyBudgetShare()
            handovers.increment(["acquired"], by: Double(taken.count))
            held += taken.count
            missing -= taken.count
            logger.info("shards taken over", metadata: ["shards": .stringConvertible(taken.count), "tasks": .stringConvertible(rows.count),
                                                       "held": .stringConvertible(held)])
            guard ContinuousClock.now - sent < .seconds(settings.renewEvery / 2) else { return }
        }
    }

    /// Registrations and callbacks from any replica, as `NOTIFY` brings them.
    private func changeLoop() async {
        for await key in changes {
            if key == PostgresTaskStore.resyncMarker {
                await resync()
                continue
            }
            guard engine.ownership.keeps(key) else { continue }
            do {
                if let row = try await store.load(key) {
                    engine.applyShared(row)
                } else {
                    // The row is gone: no replica's registration is left.
                    engine.applyShared(StoredTask(key: key, vendor: "", sharedSources: [], localSources: [], fields: [:], labels: [:],
                                                  registeredAt: 0, status: "unknown", endedAt: nil, state: Data(), registrationVersion: 0))
                }
            } catch {
                logger.debug("task change not loaded; the next resync brings it", metadata: ["error": .string("\(error)")])
            }
        }
    }

    /// A lost notification costs at most one resync interval.
    private func resyncLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(settings.resyncSeconds))
            await resync()
        }
    }

    private func resync() async {
        let shards = engine.ownership.owned
        guard !shards.isEmpty, let rows = try? await store.load(shards: shards) else { return }
        resyncs.increment([])
        engine.reconcile(rows: rows.filter { shards.contains($0.shard) })
    }

    public var families: [any ExposedFamily] {
        [
            GaugeCallbackFamily(name: "cloudrec_ha_shards_owned", help: "Logical shards whose lease this replica holds (of cloudrec_ha_shards).",
                                labelNames: []) { [self] in [([], Double(held.count))] },
            GaugeCallbackFamily(name: "cloudrec_ha_shards", help: "Logical shards the tasks are split into (fixed).",
                                labelNames: []) { [([], Double(StoredTask.shardCount))] },
            GaugeCallbackFamily(name: "cloudrec_ha_shards_unowned",
                                help: "Shards nobody holds a valid lease on, as seen at this replica's last renewal (their tasks are not polled).",
                                labelNames: []) { [self] in [([], Double(state.withLock { $0.unowned }))] },
            GaugeCallbackFamily(name: "cloudrec_ha_replicas", help: "Live replicas (a heartbeat within one lease duration), as seen at the last renewal.",
                                labelNames: []) { [self] in [([], Double(state.withLock { $0.replicas }))] },
            renewals, handovers, resyncs,
        ]
    }
}
