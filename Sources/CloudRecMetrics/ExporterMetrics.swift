import CloudRecCore
import Synchronization

/// The exporter's own metric families (bounded: accounts × outcomes). Per-task series live in `TaskSeriesStore`.
public final class ExporterMetrics: Sendable {
    public static let requestDurationBuckets: [Double] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public let apiRequests = CounterFamily(
        name: "cloudrec_api_requests_total",
        help: "Vendor status API calls by outcome (success, throttled, not_found, auth_error, client_error, server_error, timeout, transport_error, decode_error).",
        labelNames: ["vendor", "account", "api", "outcome"])
    public let apiErrors = CounterFamily(
        name: "cloudrec_api_errors_total", help: "Vendor API calls that returned an error, by the vendor's own error code.",
        labelNames: ["vendor", "account", "api", "code"])
    public let apiThrottled = CounterFamily(
        name: "cloudrec_api_throttled_total", help: "Vendor API calls rejected by the vendor's rate limit.",
        labelNames: ["vendor", "account", "api"])
    public let apiDuration = HistogramFamily(
        name: "cloudrec_api_request_duration_seconds", help: "Duration of vendor API calls in seconds.",
        labelNames: ["vendor", "account", "api"], buckets: requestDurationBuckets)
    public let configReloadSuccessful = GaugeFamily(
        name: "cloudrec_config_last_reload_successful", help: "Whether the last configuration reload attempt was successful.", labelNames: [])
    public let configReloadTimestamp = GaugeFamily(
        name: "cloudrec_config_last_reload_success_timestamp_seconds", help: "Timestamp of the last successful configuration reload.",
        labelNames: [])
    public let configReloads = CounterFamily(
        name: "cloudrec_config_reloads_total", help: "Configuration reload attempts (SIGHUP, POST /-/reload) by result: success or failure.",
        labelNames: ["result"])
    public let configHash = GaugeFamily(
        name: "cloudrec_config_hash", help: "Hash of the running configuration file's bytes (48 bits of FNV-1a 64); changes when a reload applies a different file.",
        labelNames: [])
    public let buildInfo = GaugeFamily(
        name: "cloudrec_exporter_build_info", help: "A metric with a constant '1' value labeled by version and revision of cloudrec_exporter.",
        labelNames: ["version", "revision"])

    /// Configured accounts. A call still in flight when its account is removed finishes later: it must not bring
    /// the account's series back, so calls are recorded only for accounts in this set, under its lock.
    private let accounts = Mutex<Set<String>>([])

    public init(version: String, revision: String) {
        buildInfo.set([version, revision], 1)
        for result in ["success", "failure"] { configReloads.touch([result]) }
        scrapeRenders.touch([])
    }

    /// Makes every outcome series of an account visible at zero, so `rate()` and alerts see the first increment.
    public func registerAccount(vendor: Vendor, account: String, api: String) {
        accounts.withLock { registered in
            registered.insert(account)
            touch(vendor: vendor, account: account, api: api)
        }
    }

    /// Makes a further API of a configured account visible at zero (the list API of a discovering account); does
    /// nothing once the account is gone.
    public func registerAPI(vendor: Vendor, account: String, api: String) {
        accounts.withLock { registered in
            if registered.contains(account) { touch(vendor: vendor, account: account, api: api) }
        }
    }

    private func touch(vendor: Vendor, account: String, api: String) {
        for outcome in PollOutcome.allCases {
            apiRequests.touch([vendor.rawValue, account, api, outcome.rawValue])
        }
        apiThrottled.touch([vendor.rawValue, account, api])
        apiDuration.touch([vendor.rawValue, account, api])
    }

    /// Forgets an account's series (after it was removed from the configuration).
    public func unregisterAccount(_ account: String) {
        let matches: ([String]) -> Bool = { $0.count > 1 && $0[1] == account }
        accounts.withLock { registered in
            registered.remove(account)
            apiRequests.removeAll(where: matches)
            apiErrors.removeAll(where: matches)
            apiThrottled.removeAll(where: matches)
            apiDuration.removeAll(where: matches)
        }
    }

    public func recordCall(vendor: Vendor, account: String, api: String, result: PollResult, seconds: Double) {
        accounts.withLock { registered in
            if registered.contains(account) { record(vendor: vendor, account: account, api: api, result: result, seconds: seconds) }
        }
    }

    private func record(vendor: Vendor, account: String, api: String, result: PollResult, seconds: Double) {
        let base = [vendor.rawValue, account, api]
        apiRequests.increment(base + [result.outcome.rawValue])
        apiDuration.observe(base, seconds)
        if result.outcome == .throttled { apiThrottled.increment(base) }
        if result.outcome != .success {
            apiErrors.increment(base + [result.vendorCode ?? result.outcome.rawValue])
        }
    }

    /// Scrape bodies rendered; scrapes that shared or reused another's render (`ScrapeCoalescer`) are not counted.
    public let scrapeRenders = CounterFamily(
        name: "cloudrec_scrape_renders_total",
        help: "Scrape bodies rendered (scrapes that shared or reused another scrape's render are not counted).", labelNames: [])

    public var families: [any ExposedFamily] {
        [buildInfo, configReloadSuccessful, configReloadTimestamp, configReloads, configHash, apiRequests, apiErrors, apiThrottled, apiDuration,
         scrapeRenders]
    }
}
