import Foundation
import Testing

/// `--shard` / `--total-shards` validation in the built binary.
@Suite("Shard flags")
struct ShardFlagTests {
    @Test("out-of-range shard settings are refused with a usage error", arguments: [
        (["--shard=2", "--total-shards=2"], "--shard must be between 0 and --total-shards - 1 = 1 (got 2)"),
        (["--shard=-1", "--total-shards=3"], "--shard must be between 0 and --total-shards - 1 = 2 (got -1)"),
        (["--total-shards=0"], "--total-shards must be at least 1 (got 0)"),
    ])
    func refused(flags: [String], message: String) throws {
        let result = try CommandLineTests.run(["serve", "--demo"] + flags)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
