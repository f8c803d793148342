#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The standard `process_*` metrics, read from /proc on Linux (no Swift library in our set provides them).
public enum ProcessMetrics {
    public static func families() -> [any ExposedFamily] {
        [
            CounterCallbackFamily(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.") {
                cpuSeconds()
            },
            GaugeCallbackFamily(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", labelNames: []) {
                [([], residentBytes())]
            },
            GaugeCallbackFamily(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.", labelNames: []) {
                [([], virtualBytes())]
            },
            GaugeCallbackFamily(name: "process_open_fds", help: "Number of open file descriptors.", labelNames: []) {
                [([], openFDs())]
            },
            GaugeCallbackFamily(name: "process_max_fds", help: "Maximum number of open file descriptors.", labelNames: []) {
                [([], maxFDs())]
            },
            GaugeCallbackFamily(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.",
                                labelNames: []) { [([], startTime)] },
        ]
    }

    /// Boot time plus the process's start tick count (/proc/self/stat field 22).
    static let startTime: Double = {
        let fields = statFields()
        guard fields.count > 19, let ticks = Double(fields[19]),
              let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) else {
            return Date().timeIntervalSince1970
        }
        return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }()

    static func statFields() -> [Substring] {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return [] }
        // Fields after the command name; index 0 here is field 3 (state).
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    public static func cpuSeconds() -> Double {
        let fields = statFields()
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    public static func residentBytes() -> Double {
        statmPages(index: 1) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    public static func virtualBytes() -> Double {
        statmPages(index: 0) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func statmPages(index: Int) -> Double {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = statm.split(separator: " ")
        return parts.count > index ? Double(parts[index]) ?? 0 : 0
    }

    public static func openFDs() -> Double {
        Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
    }

    public static func maxFDs() -> Double {
        var limit = rlimit()
        #if canImport(Glibc)
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        #else
        guard getrlimit(RLIMIT_NOFILE, &limit) == 0 else { return 0 }
        #endif
        return Double(limit.rlim_cur)
    }
}
