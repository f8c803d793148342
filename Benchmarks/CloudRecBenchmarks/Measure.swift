#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Monotonic seconds.
func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// User + system CPU seconds of this process.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Voluntary + involuntary context switches of this process's threads (a thread woken and put to sleep again).
func processContextSwitches() -> Int {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_nvcsw + usage.ru_nivcsw
}

/// VmRSS and VmHWM (peak) from /proc/self/status, in bytes.
func residentMemory() -> (current: Double, peak: Double) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Double {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
        let digits = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return digits * 1024
    }
    return (field("VmRSS"), field("VmHWM"))
}

struct Summary: Codable {
    var n: Int
    var median: Double
    var p99: Double
    var min: Double
    var max: Double

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        n = sorted.count
        median = Summary.quantile(sorted, 0.5)
        p99 = Summary.quantile(sorted, 0.99)
        min = sorted.first ?? 0
        max = sorted.last ?? 0
    }

    /// Nearest-rank quantile.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }
}

/// Runs `body` `repetitions` times (after `warmup` unmeasured runs) and summarises the wall times in seconds.
func measure(repetitions: Int, warmup: Int = 2, _ body: () throws -> Void) rethrows -> Summary {
    for _ in 0..<warmup { try body() }
    var samples: [Double] = []
    samples.reserveCapacity(repetitions)
    for _ in 0..<repetitions {
        let start = monotonic()
        try body()
        samples.append(monotonic() - start)
    }
    return Summary(samples)
}

/// Keeps the optimiser from discarding a computed value.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

func ms(_ seconds: Double) -> String { String(format: seconds < 0.01 ? "%.3f ms" : "%.1f ms", seconds * 1000) }
func mib(_ bytes: Double) -> String { String(format: "%.1f MiB", bytes / 1_048_576) }
func count(_ n: Int) -> String {
    let digits = String(n)
    var out = ""
    for (i, c) in digits.reversed().enumerated() {
        if i > 0, i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// Everything the run reports, printed as Markdown and saved as JSON.
final class Report: @unchecked Sendable {
    private var lines: [String] = []
    var json: [String: Any] = [:]

    func heading(_ text: String) { emit("\n### \(text)\n") }
    func line(_ text: String) { emit(text) }
    func table(_ header: [String], _ rows: [[String]]) {
        emit("| " + header.joined(separator: " | ") + " |")
        emit("|" + header.map { _ in " --- " }.joined(separator: "|") + "|")
        for row in rows { emit("| " + row.joined(separator: " | ") + " |") }
        emit("")
    }

    private func emit(_ text: String) {
        lines.append(text)
        print(text)
        fflush(nil)
    }

    var markdown: String { lines.joined(separator: "\n") + "\n" }
}

/// Progress on stderr, so stdout stays the report.
func progress(_ text: String) {
    FileHandle.standardError.write(Data("… \(text)\n".utf8))
}
