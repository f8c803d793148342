import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecVendors

/// A deterministic fleet of tracked tasks spread over one account per vendor, with the status mix, file lists and
/// upload states a busy deployment shows. Task ids have the vendors' real lengths (Agora's sid is 32 hex chars).
enum Fleet {
    static let accounts: [(Vendor, String)] = [
        (.agora, "agora-prod"), (.zego, "zego-prod"), (.tencentTRTC, "trtc-prod"),
        (.alibabaLive, "alibaba-live-prod"), (.alibabaIMS, "alibaba-ims-prod"),
    ]
    static let baseTime = 1_763_700_000.0

    static func taskID(_ index: Int) -> String {
        let a = ShardSelector.fnv1a64("task-\(index)")
        let b = ShardSelector.fnv1a64("sid-\(index)")
        return hex(a) + hex(b)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func spec(_ index: Int) -> (spec: TaskSpec, vendor: Vendor) {
        let (vendor, account) = accounts[index % accounts.count]
        let id = taskID(index)
        let fields: [String: String] = vendor == .agora ? ["resource_id": "rid-\(id)", "mode": "mix"] : [:]
        return (TaskSpec(account: account, id: id, fields: fields), vendor)
    }

    /// The status mix: mostly running, some in transition, a few finished (retained for a while) and unknown.
    static func status(_ index: Int) -> TaskStatus {
        switch index % 100 {
        case 0..<70: return .running
        case 70..<78: return .initializing
        case 78..<83: return .paused
        case 83..<88: return .stopping
        case 88..<95: return .completed
        case 95..<98: return .failed
        default: return .unknown
        }
    }

    static func observation(_ index: Int, vendor: Vendor) -> TaskObservation {
        let status = status(index)
        let start = baseTime - Double(index % 7200)
        let reportsUploads = vendor == .zego
        var files: [RecordingFile] = []
        if status != .initializing && status != .unknown {
            let segments = 1 + index % 3
            for segment in 0..<segments {
                let upload: UploadState? = reportsUploads ? (status == .completed ? .uploaded : (status == .failed ? .failed : .recording)) : nil
                files.append(RecordingFile(name: "\(taskID(index))_\(segment).mp4", format: .mp4, uploadState: upload,
                                           sizeBytes: Int64(50_000_000 + index % 1000 * 7919), durationSeconds: Double(300 + index % 600) + 0.5,
                                           startTime: start))
                files.append(RecordingFile(name: "\(taskID(index))_\(segment).m3u8", format: .hls, uploadState: upload,
                                           sizeBytes: Int64(20_000 + index % 100), durationSeconds: Double(300 + index % 600) + 0.5,
                                           startTime: start))
            }
        }
        let vendorStatus: String
        switch vendor {
        case .agora: vendorStatus = ["running": "5", "initializing": "4", "paused": "5", "stopping": "6", "completed": "8",
                                     "failed": "20", "unknown": "404"][status.rawValue] ?? "5"
        case .zego: vendorStatus = ["running": "2", "initializing": "1", "paused": "2", "stopping": "3", "completed": "3",
                                    "failed": "4", "unknown": "300001000"][status.rawValue] ?? "2"
        default: vendorStatus = status.rawValue.capitalized
        }
        return TaskObservation(vendorStatus: vendorStatus, status: status, files: files, reportsUploadStates: reportsUploads,
                               startTime: start)
    }

    /// Tracks `count` tasks and applies one successful poll to each, as the exporter holds them after a cycle.
    static func populate(_ tracker: TaskTracker, count: Int, offset: Int = 0) {
        for index in offset..<(offset + count) {
            let (spec, vendor) = spec(index)
            _ = try? tracker.track(spec, vendor: vendor, source: .config)
            tracker.record(spec.key, result: .success(observation(index, vendor: vendor)), now: baseTime + Double(index % 30) + 0.125,
                           notFoundGrace: 0)
        }
    }

    static func accountSpecs(endpoint: (Vendor) -> String = { _ in "https://127.0.0.1:9" }) -> [AccountSpec] {
        accounts.map { vendor, name in
            let schema = VendorCatalog.schema(for: vendor)
            var fields: [String: String] = [:]
            for field in schema.accountFields where field.required {
                fields[field.name] = field.kind == .numericID ? "1400000001" : (field.name == "region" ? "cn-shanghai" : "x")
            }
            var credentials: [String: Secret] = [:]
            for name in schema.credentialFields { credentials[name] = Secret("bench-\(name)") }
            return AccountSpec(name: name, vendor: vendor, endpoint: endpoint(vendor), rateLimit: schema.defaultRateLimit,
                               pollInterval: 30, fields: fields, credentials: credentials)
        }
    }
}
