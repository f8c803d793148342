import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecSimulators
import CloudRecTestSupport
import Logging
import Testing

@Suite("Sharding in the engine")
struct ShardEngineTests {
    static func config(tasks: Int) -> ExporterConfig {
        var config = ExporterConfig()
        config.accounts = [
            AccountSpec(name: "agora-a", vendor: .agora, endpoint: "http://simulator.invalid", rateLimit: 10, pollInterval: 30,
                        fields: ["app_id": "0123456789abcdef0123456789abcdef"],
                        credentials: ["customer_id": Secret("c"), "customer_secret": Secret("s")]),
            AccountSpec(name: "zego-b", vendor: .zego, endpoint: "http://simulator.invalid", rateLimit: 10, pollInterval: 30,
                        fields: ["app_id": "1234567890"], credentials: ["server_secret": Secret("s")]),
        ]
        config.tasks = (0..<tasks).map { index in
            index % 2 == 0
                ? TaskSpec(account: "agora-a", id: "sid-\(index)", fields: ["resource_id": "r", "mode": "mix"])
                : TaskSpec(account: "zego-b", id: "task-\(index)")
        }
        return config
    }

    static func engine(_ shard: ShardSelector) -> PollingEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let simulator = AgoraSimulator(book: SimTaskBook(clock: SimClock()), appID: "x", customerID: "c", customerSecret: "s")
        return PollingEngine(tracker: TaskTracker(store: TaskSeriesStore()), metrics: ExporterMetrics(version: "", revision: ""),
                             transport: CountingSimulatorTransport(simulator: simulator), logger: logger, ownership: ShardOwnership(shard))
    }

    @Test("each replica tracks exactly its shard's tasks; together they track every task once")
    func filtersByShard() {
        let config = Self.config(tasks: 600)
        var seen: [TaskKey: Int] = [:]
        for index in 0..<3 {
            let shard = ShardSelector(shard: index, totalShards: 3)!
            let engine = Self.engine(shard)
            engine.apply(config)
            let tracked = Set(engine.tracker.all.map(\.key))
            let expected = Set(config.tasks.map(\.key).filter { ShardSelector.shard(of: $0, totalShards: 3) == index })
            #expect(tracked == expected)
            #expect(engine.tracker.store.count == expected.count, "only the shard's tasks have series")
            #expect(tracked.count > 150 && tracked.count < 250, "roughly a third each: \(tracked.count)")
            for key in tracked { seen[key, default: 0] += 1 }
        }
        #expect(seen.count == 600)
        #expect(seen.values.allSatisfy { $0 == 1 })
    }

    @Test("tasks registered at run time are filtered the same way")
    func trackFilters() throws {
        let engine = Self.engine(ShardSelector(shard: 1, totalShards: 2)!)
        engine.apply(Self.config(tasks: 0))
        var accepted = 0
        for index in 0..<100 {
            let spec = TaskSpec(account: "zego-b", id: "late-\(index)")
            let ours = ShardSelector.shard(of: spec.key, totalShards: 2) == 1
            if ours {
                #expect(try engine.track(spec, source: .api))
            } else {
                #expect(throws: OtherShard.self) { try engine.track(spec, source: .api) }
            }
            #expect((engine.tracker.task(spec.key) != nil) == ours)
            if ours { accepted += 1 }
        }
        #expect(accepted > 30 && accepted < 70)
    }

    @Test("each replica polls within its share of the account's rate_limit")
    func budgetShare() {
        let sharded = Self.engine(ShardSelector(shard: 0, totalShards: 4)!)
        sharded.apply(Self.config(tasks: 0))
        #expect(sharded.poller(for: "agora-a")?.budget.limit == 10.0 / 4)
        let single = Self.engine(.unsharded)
        single.apply(Self.config(tasks: 0))
        #expect(single.poller(for: "agora-a")?.budget.limit == 10)
    }

    @Test("cloudrec_shard_info{shard,total_shards} is exposed with value 1, also when unsharded")
    func shardInfo() {
        for (shard, text) in [(ShardSelector(shard: 2, totalShards: 5)!, #"cloudrec_shard_info{shard="2",total_shards="5"} 1"#),
                              (ShardSelector.unsharded, #"cloudrec_shard_info{shard="0",total_shards="1"} 1"#)] {
            let engine = Self.engine(shard)
            let exposition = MetricsExposition(store: engine.tracker.store, families: engine.scrapeFamilies())
            for format in ExpositionFormat.allCases {
                let body = String(decoding: exposition.render(format), as: UTF8.self)
                #expect(body.contains("# TYPE cloudrec_shard_info gauge\n"))
                #expect(body.contains("\n" + text + "\n"), "\(body)")
                #expect(body.components(separatedBy: "cloudrec_shard_info{").count == 2, "one sample")
            }
        }
    }
}
