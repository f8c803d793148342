/// Container format of a recorded file, as exported in the `format` label.
public enum FileFormat: String, CaseIterable, Sendable, Codable, Hashable {
    case mp4, hls, mp3, flv, aac, jpg, other

    /// Derives the format from a vendor's format string or a file name (`x.m3u8` is HLS, `x.ts` too).
    public init(vendorValue: String) {
        let lower = vendorValue.lowercased()
        if let known = FileFormat(rawValue: lower) {
            self = known
            return
        }
        let ext = lower.split(separator: ".").last.map(String.init) ?? lower
        switch ext {
        case "mp4": self = .mp4
        case "m3u8", "ts", "hls": self = .hls
        case "mp3": self = .mp3
        case "flv": self = .flv
        case "aac", "m4a": self = .aac
        case "jpg", "jpeg": self = .jpg
        default: self = .other
        }
    }
}

/// Where a file is on its way to storage. Only some vendors report it per file (ZEGO); others via callbacks.
public enum UploadState: String, CaseIterable, Sendable, Codable, Hashable {
    case recording
    case uploading
    case uploaded
    case backupUploaded = "backup_uploaded"
    case failed
}

/// One recorded file as a vendor reports it, normalised. Optional fields are unknown for that vendor.
public struct RecordingFile: Sendable, Codable, Hashable {
    public var name: String
    public var format: FileFormat
    public var uploadState: UploadState?
    public var sizeBytes: Int64?
    public var durationSeconds: Double?
    /// Unix seconds.
    public var startTime: Double?

    public init(name: String, format: FileFormat, uploadState: UploadState? = nil, sizeBytes: Int64? = nil,
                durationSeconds: Double? = nil, startTime: Double? = nil) {
        self.name = name
        self.format = format
        self.uploadState = uploadState
        self.sizeBytes = sizeBytes
        self.durationSeconds = durationSeconds
        self.startTime = startTime
    }
}
